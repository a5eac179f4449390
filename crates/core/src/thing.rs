//! Things: the registry records that jobs target.

use crate::time::Timestamp;
use std::collections::BTreeMap;

/// What CreateThing asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewThing {
    pub thing_name: String,
    pub thing_type_name: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub billing_group_name: Option<String>,
}

/// A thing as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thing {
    pub thing_name: String,
    /// Opaque id (a UUID), stable for the thing's life.
    pub thing_id: String,
    pub thing_type_name: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub billing_group_name: Option<String>,
    /// Registry version: 1 at creation (a separate counter from execution versions).
    pub version: i64,
    pub created_at: Timestamp,
}

impl Thing {
    /// A thing as CreateThing records it: registry version 1.
    pub fn create(new: &NewThing, thing_id: &str, now: Timestamp) -> Thing {
        Thing {
            thing_name: new.thing_name.clone(),
            thing_id: thing_id.to_owned(),
            thing_type_name: new.thing_type_name.clone(),
            attributes: new.attributes.clone(),
            billing_group_name: new.billing_group_name.clone(),
            version: 1,
            created_at: now,
        }
    }

    /// CreateThing is idempotent when repeated with the same configuration; a different
    /// configuration under the same name is ResourceAlreadyExistsException.
    pub fn same_configuration(&self, new: &NewThing) -> bool {
        self.thing_type_name == new.thing_type_name
            && self.attributes == new.attributes
            && self.billing_group_name == new.billing_group_name
    }

    /// The `expectedVersion` check of the registry's write operations (DeleteThing):
    /// a mismatch is VersionConflictException.
    pub fn check_version(&self, expected: Option<i64>) -> Result<(), crate::JobsError> {
        check_registry_version(expected, self.version)
    }
}

/// The registry's optimistic locking (things and thing groups): a given
/// `expectedVersion` must be the stored version, else VersionConflictException.
pub(crate) fn check_registry_version(
    expected: Option<i64>,
    found: i64,
) -> Result<(), crate::JobsError> {
    match expected {
        Some(v) if v != found => Err(crate::JobsError::VersionMismatch {
            expected: v,
            found,
            state: None,
        }),
        _ => Ok(()),
    }
}

/// An `AttributePayload` of UpdateThing or UpdateThingGroup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributeUpdate {
    pub attributes: BTreeMap<String, String>,
    /// Merge into the stored attributes instead of replacing them.
    pub merge: bool,
}

impl AttributeUpdate {
    /// Apply to `stored`. With `merge`, each given attribute is set, and one given with
    /// an empty value is removed; without it, the given attributes replace the stored
    /// ones, and an empty value is never stored (model doc of `AttributePayload.merge`:
    /// an attribute is removed by sending it with an empty value; the behaviour without
    /// `merge` as observed on live AWS, moto PR #6918).
    pub fn apply(&self, stored: &mut BTreeMap<String, String>) {
        if !self.merge {
            stored.clear();
        }
        for (k, v) in &self.attributes {
            if v.is_empty() {
                stored.remove(k);
            } else {
                stored.insert(k.clone(), v.clone());
            }
        }
    }
}

/// What UpdateThing asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThingUpdate {
    pub thing_type_name: Option<String>,
    pub remove_thing_type: bool,
    /// `None`: attributes unchanged (no payload, or a payload without `attributes`).
    pub attributes: Option<AttributeUpdate>,
}

impl ThingUpdate {
    /// A type to set and the removal of the type contradict each other.
    pub fn check(&self) -> Result<(), crate::JobsError> {
        if self.remove_thing_type && self.thing_type_name.is_some() {
            return Err(crate::JobsError::InvalidRequest(
                "You cannot specify both thingTypeName and removeThingType".into(),
            ));
        }
        Ok(())
    }
}

impl Thing {
    /// DeleteThing's rule: the version check, then "a thing with principals attached
    /// cannot be deleted" (AWS answers InvalidRequestException "Cannot delete. Thing X
    /// is still attached to one or more principals"; detach them first).
    pub fn check_deletable(
        &self,
        expected_version: Option<i64>,
        has_principals: bool,
    ) -> Result<(), crate::JobsError> {
        self.check_version(expected_version)?;
        if has_principals {
            return Err(crate::JobsError::thing_has_principals(&self.thing_name));
        }
        Ok(())
    }

    /// UpdateThing's rule: the version check, then the change. Every successful update
    /// adds 1 to the version, also one that changes nothing (the registry counts
    /// updates; docs/compatibility.md).
    pub fn update(
        &mut self,
        update: &ThingUpdate,
        expected_version: Option<i64>,
    ) -> Result<(), crate::JobsError> {
        update.check()?;
        self.check_version(expected_version)?;
        if update.remove_thing_type {
            self.thing_type_name = None;
        }
        if let Some(t) = &update.thing_type_name {
            self.thing_type_name = Some(t.clone());
        }
        if let Some(a) = &update.attributes {
            a.apply(&mut self.attributes);
        }
        self.version += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn attribute_updates_merge_or_replace_and_drop_empty_values() {
        let stored = attrs(&[("a", "1"), ("b", "2")]);
        let cases = [
            (
                true,
                attrs(&[("b", ""), ("c", "3")]),
                attrs(&[("a", "1"), ("c", "3")]),
            ),
            (true, attrs(&[("zz", "")]), attrs(&[("a", "1"), ("b", "2")])),
            (true, attrs(&[]), attrs(&[("a", "1"), ("b", "2")])),
            (false, attrs(&[("c", "3"), ("d", "")]), attrs(&[("c", "3")])),
            (false, attrs(&[]), attrs(&[])),
        ];
        for (merge, given, want) in cases {
            let mut s = stored.clone();
            AttributeUpdate {
                attributes: given.clone(),
                merge,
            }
            .apply(&mut s);
            assert_eq!(s, want, "merge={merge} given={given:?}");
        }
    }

    #[test]
    fn update_thing_checks_version_then_counts() {
        let mut t = Thing {
            thing_name: "t".into(),
            thing_id: "id".into(),
            thing_type_name: Some("old".into()),
            attributes: attrs(&[("a", "1")]),
            billing_group_name: None,
            version: 1,
            created_at: crate::Timestamp(0),
        };
        let remove = ThingUpdate {
            remove_thing_type: true,
            ..Default::default()
        };
        assert!(matches!(
            t.update(&remove, Some(7)),
            Err(crate::JobsError::VersionMismatch {
                expected: 7,
                found: 1,
                ..
            })
        ));
        t.update(&remove, Some(1)).unwrap();
        assert_eq!((t.version, t.thing_type_name.as_deref()), (2, None));
        t.update(&ThingUpdate::default(), None).unwrap();
        assert_eq!(t.version, 3);
        let both = ThingUpdate {
            thing_type_name: Some("x".into()),
            remove_thing_type: true,
            attributes: None,
        };
        assert!(matches!(
            t.update(&both, None),
            Err(crate::JobsError::InvalidRequest(_))
        ));
        assert_eq!(t.version, 3, "a refused update changes nothing");
    }
}
