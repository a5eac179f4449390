//! Static thing groups: named sets of things that jobs can target.

use crate::time::Timestamp;
use std::collections::BTreeMap;

/// What CreateThingGroup asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewThingGroup {
    pub group_name: String,
    pub parent_group_name: Option<String>,
    pub description: Option<String>,
    pub attributes: BTreeMap<String, String>,
    /// Tags kept verbatim as JSON text (never interpreted).
    pub tags: Option<String>,
}

/// A thing group as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThingGroup {
    pub group_name: String,
    pub group_id: String,
    pub parent_group_name: Option<String>,
    pub description: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub tags: Option<String>,
    pub version: i64,
    pub created_at: Timestamp,
    /// Names from the root of the hierarchy down to the parent (empty for a root group).
    pub root_to_parent: Vec<String>,
}

impl ThingGroup {
    /// A group as CreateThingGroup records it: version 1; the store fills in
    /// `root_to_parent` when it reads the group back.
    pub fn create(new: &NewThingGroup, group_id: &str, now: Timestamp) -> ThingGroup {
        ThingGroup {
            group_name: new.group_name.clone(),
            group_id: group_id.to_owned(),
            parent_group_name: new.parent_group_name.clone(),
            description: new.description.clone(),
            attributes: new.attributes.clone(),
            tags: new.tags.clone(),
            version: 1,
            created_at: now,
            root_to_parent: Vec::new(),
        }
    }

    /// CreateThingGroup with the same name and configuration returns the existing group;
    /// another configuration is ResourceAlreadyExistsException (model doc).
    pub fn same_configuration(&self, new: &NewThingGroup) -> bool {
        self.parent_group_name == new.parent_group_name
            && self.description == new.description
            && self.attributes == new.attributes
    }
}

/// What UpdateThingGroup asks for (its `thingGroupProperties`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThingGroupUpdate {
    /// `Some("")` clears the description; `None` keeps it.
    pub description: Option<String>,
    /// `None`: attributes unchanged.
    pub attributes: Option<crate::thing::AttributeUpdate>,
}

impl ThingGroup {
    /// UpdateThingGroup's rule: the version check, then the change; the version goes
    /// up by one on every successful update (like a thing's).
    pub fn update(
        &mut self,
        update: &ThingGroupUpdate,
        expected_version: Option<i64>,
    ) -> Result<(), crate::JobsError> {
        self.check_version(expected_version)?;
        match update.description.as_deref() {
            None => {}
            Some("") => self.description = None,
            Some(d) => self.description = Some(d.to_owned()),
        }
        if let Some(a) = &update.attributes {
            a.apply(&mut self.attributes);
        }
        self.version += 1;
        Ok(())
    }

    /// DeleteThingGroup's rule: the version check, then "a group with child groups
    /// cannot be deleted; delete the children first" (AWS "Static thing groups"; the
    /// message is the one AWS answers, moto issue 2941). Member things do not stop it.
    pub fn check_deletable(
        &self,
        expected_version: Option<i64>,
        has_child_groups: bool,
    ) -> Result<(), crate::JobsError> {
        self.check_version(expected_version)?;
        if has_child_groups {
            return Err(crate::JobsError::InvalidRequest(format!(
                "Cannot delete thing group : {} when there are still child groups attached to it",
                self.group_name
            )));
        }
        Ok(())
    }

    fn check_version(&self, expected: Option<i64>) -> Result<(), crate::JobsError> {
        crate::thing::check_registry_version(expected, self.version)
    }
}

/// Which groups ListThingGroups lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThingGroupFilter {
    /// Only groups below this one (it must exist).
    pub parent_group: Option<String>,
    /// Only groups whose name starts with this (case-sensitive).
    pub name_prefix: Option<String>,
    /// With a parent: all its descendants, else its children only. Without a parent:
    /// every group, else only root groups. AWS's default is true (moto issue 2961,
    /// from real boto3 output).
    pub recursive: bool,
}

/// A thing can be in at most this many groups (AWS "Static thing groups").
pub const MAX_GROUPS_PER_THING: usize = 10;

/// May a thing join `group` (whose hierarchy root is `root`)? `current` lists the
/// groups it is in, each with its root. Returns `Ok(false)` when it is already a member
/// (joining again is a no-op), `Ok(true)` when it may join.
///
/// AWS "Static thing groups": a thing can be in at most 10 groups, and "you can't add a
/// thing to more than one group in the same hierarchy".
pub fn check_join(
    thing: &str,
    group: &str,
    root: &str,
    current: &[(String, String)],
) -> Result<bool, crate::JobsError> {
    if current.iter().any(|(g, _)| g == group) {
        return Ok(false);
    }
    if current.len() >= MAX_GROUPS_PER_THING {
        return Err(crate::JobsError::InvalidRequest(format!(
            "Thing {thing} is already in {MAX_GROUPS_PER_THING} thing groups"
        )));
    }
    if let Some((other, _)) = current.iter().find(|(_, r)| r == root) {
        return Err(crate::JobsError::InvalidRequest(format!(
            "Thing {thing} is already in thing group {other} of the same hierarchy"
        )));
    }
    Ok(true)
}

/// The execution number a CONTINUOUS job gives a thing that joins one of its target
/// groups: 1 for its first execution, n+1 when its latest one was REMOVED (it left and
/// came back), and none when it already has one that was not REMOVED.
///
/// A finished execution (SUCCEEDED, FAILED, REJECTED, TIMED_OUT, CANCELED) is not run
/// again: AWS documents a restart on rejoining only after REMOVED ("You can re-attach the
/// thing to your target group and restart the job execution", Jobs and job execution
/// states), and a continuous job runs on things "newly added" to its groups. The retry
/// reset AWS describes for a thing that leaves and rejoins (Job configurations: retries)
/// fits this: leaving REMOVEs the retry that was queued, and rejoining starts n+1 at
/// attempt 0. An operator who wants a finished thing to run the job again deletes its
/// execution (DeleteJobExecution); the thing is then new to the job and gets number 1
/// again ("the executionNumber may be reused", model). docs/compatibility.md records it.
pub fn execution_number_on_join(latest: Option<&crate::JobExecution>) -> Option<i64> {
    match latest {
        None => Some(1),
        Some(e) if e.status == crate::JobExecutionStatus::Removed => Some(e.execution_number + 1),
        Some(_) => None,
    }
}

/// When a thing leaves a group through which a CONTINUOUS job no longer targets it,
/// which of its executions of that job becomes REMOVED: only a QUEUED one. An
/// IN_PROGRESS execution is left to finish (the device already works on it), and
/// finished ones are history (wire spec §7; docs/compatibility.md,
/// RemoveThingFromThingGroup).
pub fn removed_on_leave(latest: Option<crate::JobExecution>) -> Option<crate::JobExecution> {
    latest.filter(|e| e.status == crate::JobExecutionStatus::Queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JobExecution, JobExecutionStatus, Timestamp};

    fn group(version: i64) -> ThingGroup {
        ThingGroup {
            group_name: "g".into(),
            group_id: "id".into(),
            parent_group_name: None,
            description: Some("d".into()),
            attributes: Default::default(),
            tags: None,
            version,
            created_at: Timestamp(0),
            root_to_parent: vec![],
        }
    }

    #[test]
    fn update_and_delete_rules_check_the_version_first() {
        let mut g = group(3);
        let clear = ThingGroupUpdate {
            description: Some(String::new()),
            attributes: None,
        };
        assert!(g.update(&clear, Some(2)).is_err());
        g.update(&clear, Some(3)).unwrap();
        assert_eq!((g.version, g.description.as_deref()), (4, None));
        g.update(&ThingGroupUpdate::default(), None).unwrap();
        assert_eq!(g.version, 5);
        assert!(matches!(
            g.check_deletable(Some(1), true),
            Err(crate::JobsError::VersionMismatch { .. })
        ));
        assert!(matches!(
            g.check_deletable(Some(5), true),
            Err(crate::JobsError::InvalidRequest(m)) if m.contains("child groups")
        ));
        assert_eq!(g.check_deletable(None, false), Ok(()));
    }

    #[test]
    fn joining_rules() {
        let in_a = vec![("a1".to_string(), "a".to_string())];
        assert_eq!(check_join("t", "a1", "a", &in_a), Ok(false));
        assert!(check_join("t", "a2", "a", &in_a).is_err(), "same hierarchy");
        assert_eq!(check_join("t", "b", "b", &in_a), Ok(true));
        let ten: Vec<_> = (0..10)
            .map(|i| (format!("g{i}"), format!("g{i}")))
            .collect();
        assert!(check_join("t", "x", "x", &ten).is_err());
    }

    #[test]
    fn execution_numbers_on_join() {
        assert_eq!(execution_number_on_join(None), Some(1));
        for status in JobExecutionStatus::ALL {
            let mut e = JobExecution::queued("j", "t", 3, Timestamp(0));
            e.status = status;
            let want = (status == JobExecutionStatus::Removed).then_some(4);
            assert_eq!(execution_number_on_join(Some(&e)), want, "{status}");
        }
    }

    #[test]
    fn only_queued_executions_are_removed_on_leave() {
        for status in JobExecutionStatus::ALL {
            let mut e = JobExecution::queued("j", "t", 1, Timestamp(0));
            e.status = status;
            let removed = removed_on_leave(Some(e)).is_some();
            assert_eq!(removed, status == JobExecutionStatus::Queued, "{status}");
        }
        assert_eq!(removed_on_leave(None), None);
    }
}
