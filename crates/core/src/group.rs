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
    /// CreateThingGroup with the same name and configuration returns the existing group;
    /// another configuration is ResourceAlreadyExistsException (model doc).
    pub fn same_configuration(&self, new: &NewThingGroup) -> bool {
        self.parent_group_name == new.parent_group_name
            && self.description == new.description
            && self.attributes == new.attributes
    }
}

/// A thing can be in at most this many groups (AWS "Static thing groups").
pub const MAX_GROUPS_PER_THING: usize = 10;
