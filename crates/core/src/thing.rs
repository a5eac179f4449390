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
        match expected {
            Some(v) if v != self.version => Err(crate::JobsError::VersionMismatch {
                expected: v,
                found: self.version,
                state: None,
            }),
            _ => Ok(()),
        }
    }
}
