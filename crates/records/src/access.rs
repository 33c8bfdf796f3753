//! Roles and what each may do, and which records each user reaches.
//!
//! Two layers: a role allows actions (every route asks [`Role::allows`] before acting), and per
//! role and object a [`Reach`] says which records it reads and which it changes: none, its own
//! (the record's `owner` is the user), its team's (the owner is in one of the user's teams, a
//! team below one, or a team the user manages or one below that), or all. A [`Viewer`] is one
//! user's reach, made once per request; the store turns it into a filter on the indexed
//! `owner` field ([`Viewer::scope`]), so a list, a count, an aggregate or a search reads only
//! what the user may see, and a record the user may not read is not found.

use crate::filter::{Condition, Filter, Op, Operand, resolve};
use crate::meta::ObjectDef;
use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// The field that says whose a record is: every object has it (a user reference, indexed).
pub const OWNER_FIELD: &str = "owner";

/// Which records a role reaches in one object, for reading or for changing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    None,
    Own,
    Team,
    All,
}

impl Reach {
    pub const ALL: [Reach; 4] = [Reach::None, Reach::Own, Reach::Team, Reach::All];

    pub fn as_str(self) -> &'static str {
        match self {
            Reach::None => "none",
            Reach::Own => "own",
            Reach::Team => "team",
            Reach::All => "all",
        }
    }

    pub fn parse(s: &str) -> Option<Reach> {
        Reach::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What one role reaches in one object. Changing never reaches further than reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectAccess {
    pub read: Reach,
    pub change: Reach,
}

impl ObjectAccess {
    pub const fn new(read: Reach, change: Reach) -> ObjectAccess {
        ObjectAccess { read, change: if (change as u8) > (read as u8) { read } else { change } }
    }
}

/// The access a role has to an object that no admin's rule and no module's default speaks of
/// (an object an admin made): admins and managers and agents reach all of it, read-only users
/// read it. The CRM's modules give their standard objects narrower defaults (`Module::default_access`).
pub fn default_access(role: Role) -> ObjectAccess {
    match role {
        Role::ReadOnly => ObjectAccess::new(Reach::All, Reach::None),
        Role::Admin | Role::Manager | Role::Agent => ObjectAccess::new(Reach::All, Reach::All),
    }
}

/// What a role may do with one field: hidden from it (absent from every answer, filter and
/// search), read-only, or editable (the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldAccess {
    Hidden,
    ReadOnly,
    Editable,
}

impl FieldAccess {
    pub const ALL: [FieldAccess; 3] = [FieldAccess::Hidden, FieldAccess::ReadOnly, FieldAccess::Editable];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldAccess::Hidden => "hidden",
            FieldAccess::ReadOnly => "read_only",
            FieldAccess::Editable => "editable",
        }
    }

    pub fn parse(s: &str) -> Option<FieldAccess> {
        FieldAccess::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Reading or changing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    Read,
    Change,
}

/// One user's reach into every object: made by the store from the user's role, the access
/// rules and the teams (see the module's doc).
#[derive(Clone, Debug, Default)]
pub struct Viewer {
    pub user_id: String,
    pub role: Option<Role>,
    /// The users whose records are the viewer's team's (the viewer among them).
    pub team_users: BTreeSet<String>,
    /// The admin's rules for the viewer's role, by object API name (defaults otherwise).
    pub rules: HashMap<String, ObjectAccess>,
    /// Records shared with the viewer or a team of theirs, by object API name: id and whether
    /// the share lets them change it.
    pub shared: HashMap<String, Vec<(String, bool)>>,
    /// The admin's field rules for the viewer's role (editable otherwise), by object and field
    /// API name. Admins' fields are all editable.
    pub fields: HashMap<String, HashMap<String, FieldAccess>>,
}

/// Which records of an object a viewer reaches, as the store applies it.
#[derive(Clone, Debug, PartialEq)]
pub enum Scope {
    Everything,
    Nothing,
    /// Records matching this filter (on `owner`, and the ids shared).
    Only(Filter),
}

impl Viewer {
    /// What the viewer may do with `field` of `object`.
    pub fn field_access(&self, object: &str, field: &str) -> FieldAccess {
        if self.role == Some(Role::Admin) {
            return FieldAccess::Editable;
        }
        self.fields.get(object).and_then(|f| f.get(field)).copied().unwrap_or(FieldAccess::Editable)
    }

    /// The fields of `object` hidden from the viewer.
    pub fn hidden_fields<'a>(&'a self, object: &str) -> impl Iterator<Item = &'a str> {
        let admin = self.role == Some(Role::Admin);
        self.fields
            .get(object)
            .into_iter()
            .flatten()
            .filter(move |(_, a)| !admin && **a == FieldAccess::Hidden)
            .map(|(f, _)| f.as_str())
    }

    /// The viewer's access to `object` (the admin's rule, else the default).
    pub fn access(&self, object: &str) -> ObjectAccess {
        let Some(role) = self.role else { return ObjectAccess::new(Reach::None, Reach::None) };
        self.rules.get(object).copied().unwrap_or_else(|| default_access(role))
    }

    pub fn reach(&self, object: &str, intent: Intent) -> Reach {
        let access = self.access(object);
        match intent {
            Intent::Read => access.read,
            Intent::Change => access.change,
        }
    }

    /// Whether the viewer reaches a record of `object` owned by `owner` (`None`: nobody's).
    pub fn reaches(&self, object: &str, intent: Intent, record_id: &str, owner: Option<&str>) -> bool {
        let by_owner = match self.reach(object, intent) {
            Reach::All => true,
            Reach::None => false,
            Reach::Own => owner == Some(self.user_id.as_str()),
            Reach::Team => owner.is_some_and(|o| self.team_users.contains(o)),
        };
        by_owner || self.shared_ids(object, intent).any(|id| id == record_id)
    }

    /// The ids of `object`'s records shared with the viewer for `intent`.
    pub fn shared_ids<'a>(&'a self, object: &str, intent: Intent) -> impl Iterator<Item = &'a str> {
        self.shared
            .get(object)
            .into_iter()
            .flatten()
            .filter(move |(_, change)| intent == Intent::Read || *change)
            .map(|(id, _)| id.as_str())
    }

    /// The records of `object` the viewer reaches, as a filter on its indexed `owner` field
    /// (an object without one is reached whole or not at all).
    pub fn scope(&self, object: &ObjectDef, intent: Intent) -> Scope {
        let reach = self.reach(&object.api_name, intent);
        if reach == Reach::All {
            return Scope::Everything;
        }
        let cond = |field: &str, op: Op, operand: Operand| {
            resolve(object, field).map(|field| Filter::Cond(Condition { field, op, operand }))
        };
        let mut any = Vec::new();
        let owners: Vec<Value> = match reach {
            Reach::Own => vec![Value::Text(self.user_id.clone())],
            Reach::Team => self.team_users.iter().map(|u| Value::Text(u.clone())).collect(),
            Reach::None | Reach::All => Vec::new(),
        };
        if !owners.is_empty() && object.field(OWNER_FIELD).is_some() {
            any.extend(cond(OWNER_FIELD, Op::In, Operand::Many(owners)));
        }
        let shared: Vec<Value> = self.shared_ids(&object.api_name, intent).map(|id| Value::Text(id.into())).collect();
        if !shared.is_empty() {
            any.extend(cond("id", Op::In, Operand::Many(shared)));
        }
        match any.len() {
            0 => Scope::Nothing,
            1 => Scope::Only(any.remove(0)),
            _ => Scope::Only(Filter::Or(any)),
        }
    }
}

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

    #[test]
    fn changing_never_reaches_further_than_reading() {
        assert_eq!(ObjectAccess::new(Reach::Own, Reach::All), ObjectAccess::new(Reach::Own, Reach::Own));
        for role in Role::ALL {
            let a = default_access(role);
            assert!(a.change <= a.read, "{role:?}");
        }
        assert_eq!(default_access(Role::ReadOnly), ObjectAccess::new(Reach::All, Reach::None));
    }

    fn object() -> ObjectDef {
        ObjectDef::plain(
            "contact",
            "owner",
            vec![crate::meta::FieldDef::plain("contact", OWNER_FIELD, crate::meta::FieldType::User)],
        )
    }

    fn rep() -> Viewer {
        Viewer {
            user_id: "u1".into(),
            role: Some(Role::Agent),
            team_users: ["u1", "u2"].into_iter().map(String::from).collect(),
            shared: HashMap::from([("contact".to_string(), vec![("r9".to_string(), false)])]),
            // As the store fills them from the modules' defaults.
            rules: HashMap::from([
                ("contact".to_string(), ObjectAccess::new(Reach::Team, Reach::Team)),
                ("company".to_string(), ObjectAccess::new(Reach::All, Reach::Own)),
            ]),
            ..Viewer::default()
        }
    }

    #[test]
    fn a_rep_reaches_their_team_and_what_is_shared() {
        let v = rep();
        assert!(v.reaches("contact", Intent::Read, "r1", Some("u2")));
        assert!(!v.reaches("contact", Intent::Read, "r1", Some("u3")));
        assert!(!v.reaches("contact", Intent::Read, "r1", None));
        assert!(v.reaches("contact", Intent::Read, "r9", Some("u3")), "shared to read");
        assert!(!v.reaches("contact", Intent::Change, "r9", Some("u3")), "not to change");
        assert!(v.reaches("company", Intent::Read, "c1", Some("u3")));
        assert!(!v.reaches("company", Intent::Change, "c1", Some("u2")), "companies: own only");
        let Scope::Only(Filter::Or(any)) = v.scope(&object(), Intent::Read) else { panic!("a filter") };
        assert_eq!(any.len(), 2, "owner in the team, or shared");
        let mut no_rules = rep();
        no_rules.rules.insert("contact".into(), ObjectAccess::new(Reach::None, Reach::None));
        no_rules.shared.clear();
        assert_eq!(no_rules.scope(&object(), Intent::Read), Scope::Nothing);
        assert_eq!(Viewer::default().scope(&object(), Intent::Read), Scope::Nothing, "no role reaches nothing");
    }

    #[test]
    fn fields_are_editable_unless_a_rule_says_otherwise_and_admins_see_all() {
        let mut v = rep();
        v.fields.insert("product".into(), HashMap::from([("cost".to_string(), FieldAccess::Hidden)]));
        assert_eq!(v.field_access("product", "cost"), FieldAccess::Hidden);
        assert_eq!(v.field_access("product", "price"), FieldAccess::Editable);
        assert_eq!(v.hidden_fields("product").collect::<Vec<_>>(), ["cost"]);
        v.role = Some(Role::Admin);
        assert_eq!(v.field_access("product", "cost"), FieldAccess::Editable);
        assert_eq!(v.hidden_fields("product").count(), 0);
        for a in FieldAccess::ALL {
            assert_eq!(FieldAccess::parse(a.as_str()), Some(a));
        }
    }
}
