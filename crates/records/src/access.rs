//! Roles and what each may do. Every route asks [`Role::allows`] before acting.
//!
//! The model is role → set of actions; per-object and per-field permissions and teams will add
//! rules on top of this check rather than replace it.

use serde::{Deserialize, Serialize};

/// A user's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Manager,
    Agent,
    ReadOnly,
}

/// Something a user may be allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    ReadRecords,
    WriteRecords,
    DeleteRecords,
    RestoreRecords,
    /// Seeing what is in the trash: listing it, and reading a trashed record, its page and its
    /// history (one rule for every way in).
    ReadTrash,
    ManageSchema,
    ManageUsers,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Manager, Role::Agent, Role::ReadOnly];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Agent => "agent",
            Role::ReadOnly => "read_only",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Admins do everything; managers everything but schema and users; agents read and write
    /// records and may move them to the trash, not bring them back; read-only users read.
    pub fn allows(self, action: Action) -> bool {
        match self {
            Role::Admin => true,
            Role::Manager => !matches!(action, Action::ManageSchema | Action::ManageUsers),
            Role::Agent => matches!(action, Action::ReadRecords | Action::WriteRecords | Action::DeleteRecords),
            Role::ReadOnly => action == Action::ReadRecords,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        assert!(Role::Admin.allows(Action::ManageUsers));
        assert!(!Role::Manager.allows(Action::ManageSchema));
        assert!(Role::Manager.allows(Action::RestoreRecords));
        assert!(Role::Agent.allows(Action::WriteRecords));
        assert!(!Role::Agent.allows(Action::RestoreRecords));
        assert!(!Role::ReadOnly.allows(Action::WriteRecords));
        assert!(Role::ReadOnly.allows(Action::ReadRecords));
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
