//! What the layers above the engine add to it: a [`Module`] (a CRM capability: sales, service,
//! …) brings standard objects, typed [`WriteHook`]s that run inside a record write's own
//! transaction, and data upgrades. The engine runs them and knows none of their concepts.
//!
//! A hook sees every write of the objects it names, whatever path made it (a page, the API, an
//! import, a bulk change, another hook): [`WriteHook::before`] may refuse the write (a validation
//! error naming the field) or derive values from it, [`WriteHook::after`] may write more in the
//! same transaction (a history row, a header's totals). Work that may wait for the commit (an
//! e-mail, a reminder) belongs to an after-commit consumer (`runner`), not to a hook.

use crate::migrate::Migration;
use crate::records::Record;
use crate::schema::NewObject;
use crate::write::WriteTx;
use crate::{Db, Result};
use peyvand_records::access::{ObjectAccess, Role};
use peyvand_records::{FieldDef, ObjectDef, Value};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed future, as a hook returns it (trait objects cannot have `async fn`s).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A CRM capability plugged into the engine.
pub trait Module: Send + Sync + 'static {
    /// A short name, for logs.
    fn name(&self) -> &'static str;
    /// The module's standard objects and fields (made at start-up if missing, as are fields a
    /// newer release added).
    fn objects(&self) -> Vec<NewObject> {
        Vec::new()
    }
    /// The module's own tables, made and changed by migrations numbered from 1 (kept apart from
    /// the engine's and other modules'); an applied one is never edited.
    fn migrations(&self) -> &'static [Migration] {
        &[]
    }
    /// The tables its migrations make, in the order a restore loads them: dumps copy them.
    fn tables(&self) -> &'static [&'static str] {
        &[]
    }
    /// Its tables' rows a user owns, as (table, owner column): a leaver's handover gives them to
    /// the successor with the saved views (their reports, their dashboards).
    fn owned(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// The module's rules on record writes.
    fn hooks(&self) -> Vec<Arc<dyn WriteHook>> {
        Vec::new()
    }
    /// The module's after-commit consumers of record events (run by `peyvand serve`).
    fn consumers(&self) -> Vec<Arc<dyn crate::runner::Consumer>> {
        Vec::new()
    }
    /// The kinds of scheduled job the module runs (a reminder, a deadline).
    fn job_kinds(&self) -> Vec<Arc<dyn crate::runner::JobKind>> {
        Vec::new()
    }
    /// How `role` reaches `object`, one of the module's standard objects, unless an admin's
    /// rule says otherwise; `None` for objects it does not know (the engine's default applies).
    fn default_access(&self, role: Role, object: &str) -> Option<ObjectAccess> {
        let _ = (role, object);
        None
    }
    /// Brings the module's data up to date at start-up, after the standard objects exist (under
    /// the migration lock, so one instance at a time). Must be idempotent: it runs at every start.
    fn upgrade<'a>(&'a self, db: &'a Db) -> BoxFuture<'a, Result<()>> {
        let _ = db;
        Box::pin(async { Ok(()) })
    }
}

/// What a hook may use inside the write's transaction: the system's handle (no viewer: a rule
/// acts for the business, within the write the user was allowed to make), the transaction and
/// who is writing.
pub struct HookCx<'a> {
    pub db: &'a Db,
    pub tx: &'a mut WriteTx,
    pub actor: Option<&'a str>,
    /// Whom the write is for, when a user's handle made it (none: the system).
    pub viewer: Option<&'a peyvand_records::access::Viewer>,
}

impl HookCx<'_> {
    /// The same context again, for a call that borrows it for less.
    pub fn reborrow(&mut self) -> HookCx<'_> {
        HookCx { db: self.db, tx: self.tx, actor: self.actor, viewer: self.viewer }
    }
}

/// A create or an update about to be written.
pub struct Pending<'a, 'f> {
    pub object: &'f ObjectDef,
    /// The record as it is, for an update; `None` for a create.
    pub current: Option<&'a Record>,
    /// The values to be written: for a create every given field, for an update the changed ones.
    pub values: &'a mut Vec<(&'f FieldDef, Value)>,
}

impl<'f> Pending<'_, 'f> {
    pub fn is_create(&self) -> bool {
        self.current.is_none()
    }

    /// The value being written to `field`, if any.
    pub fn new_value(&self, field: &str) -> Option<&Value> {
        self.values.iter().find(|(f, _)| f.api_name == field).map(|(_, v)| v)
    }

    /// Whether the write changes `field`.
    pub fn changes(&self, field: &str) -> bool {
        self.new_value(field).is_some()
    }

    /// The value `field` will have after the write, as JSON (the new value, else the current).
    pub fn after(&self, field: &str) -> Json {
        match self.new_value(field) {
            Some(v) => v.to_json(),
            None => self.before(field),
        }
    }

    /// The value `field` has before the write, as JSON (null for a create).
    pub fn before(&self, field: &str) -> Json {
        self.current.and_then(|c| c.fields.get(field)).cloned().unwrap_or(Json::Null)
    }

    /// Writes `value` to `field` too (a derived value); a field the object lacks is ignored.
    pub fn set(&mut self, field: &str, value: Value) {
        let Some(def) = self.object.field(field) else { return };
        match self.values.iter_mut().find(|(f, _)| f.id == def.id) {
            Some(slot) => slot.1 = value,
            None => self.values.push((def, value)),
        }
    }
}

/// What happened to a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
    Restore,
}

/// A record write done in the transaction, for [`WriteHook::after`].
pub struct Written<'a> {
    pub object: &'a ObjectDef,
    pub id: &'a str,
    pub action: Action,
    /// When: the instant of the write's audit entry.
    pub at: &'a str,
    /// The record's fields before the write (empty for a create).
    pub before: &'a Map<String, Json>,
    /// The record's fields after the write (as they were, for a delete).
    pub after: &'a Map<String, Json>,
}

impl Written<'_> {
    /// Whether the write changed `field` (a create or a restore sets every field it has).
    pub fn changed(&self, field: &str) -> bool {
        self.before.get(field).unwrap_or(&Json::Null) != self.after.get(field).unwrap_or(&Json::Null)
    }
}

/// A module's rule on the writes of some objects, run in the write's transaction.
pub trait WriteHook: Send + Sync + 'static {
    /// The objects (API names) whose writes the hook sees.
    fn objects(&self) -> &'static [&'static str];
    /// Before a create or update is written: may refuse it or derive values.
    fn before<'a>(&'a self, cx: HookCx<'a>, write: &'a mut Pending<'_, '_>) -> BoxFuture<'a, Result<()>> {
        let _ = (cx, write);
        Box::pin(async { Ok(()) })
    }
    /// After a write, in its transaction: may write more.
    fn after<'a>(&'a self, cx: HookCx<'a>, written: &'a Written<'_>) -> BoxFuture<'a, Result<()>> {
        let _ = (cx, written);
        Box::pin(async { Ok(()) })
    }
    /// After records `ids` of `object` changed owner in bulk (a leaver's handover, which moves
    /// them past [`WriteHook::after`]), in the same transaction.
    fn reassigned<'a>(&'a self, cx: HookCx<'a>, object: &'a ObjectDef, ids: &'a [String]) -> BoxFuture<'a, Result<()>> {
        let _ = (cx, object, ids);
        Box::pin(async { Ok(()) })
    }
}

/// After-commit consumers, as a `runner::Runner` takes them.
pub type Consumers = Vec<Arc<dyn crate::runner::Consumer>>;
/// Kinds of scheduled job, as a `runner::Runner` takes them.
pub type JobKinds = Vec<Arc<dyn crate::runner::JobKind>>;

/// The modules a [`Db`] runs, with their hooks by object.
#[derive(Default)]
pub struct Modules {
    list: Vec<Arc<dyn Module>>,
    hooks: HashMap<&'static str, Vec<Arc<dyn WriteHook>>>,
}

impl Modules {
    pub fn new(list: Vec<Arc<dyn Module>>) -> Modules {
        let mut hooks: HashMap<&'static str, Vec<Arc<dyn WriteHook>>> = HashMap::new();
        for module in &list {
            for hook in module.hooks() {
                for object in hook.objects() {
                    hooks.entry(object).or_default().push(hook.clone());
                }
            }
        }
        Modules { list, hooks }
    }

    pub fn list(&self) -> &[Arc<dyn Module>] {
        &self.list
    }

    /// The standard objects of every module, in the modules' order.
    pub fn objects(&self) -> Vec<NewObject> {
        self.list.iter().flat_map(|m| m.objects()).collect()
    }

    /// How `role` reaches `object` unless an admin's rule says otherwise: the default of the
    /// module that knows the object, else the engine's.
    pub fn default_access(&self, role: Role, object: &str) -> ObjectAccess {
        self.list
            .iter()
            .find_map(|m| m.default_access(role, object))
            .unwrap_or_else(|| peyvand_records::access::default_access(role))
    }

    /// Every module's consumers and job kinds, for a `runner::Runner`.
    pub fn runner_parts(&self) -> (Consumers, JobKinds) {
        (self.list.iter().flat_map(|m| m.consumers()).collect(), self.list.iter().flat_map(|m| m.job_kinds()).collect())
    }

    /// The hooks on `object`'s writes.
    pub fn hooks(&self, object: &str) -> &[Arc<dyn WriteHook>] {
        self.hooks.get(object).map_or(&[], Vec::as_slice)
    }
}

impl Db {
    /// Whether some module's rules watch `object`'s writes (bulk paths then write it record by
    /// record, through them).
    pub fn has_hooks(&self, object: &str) -> bool {
        !self.modules.hooks(object).is_empty()
    }

    /// The modules this handle runs.
    pub fn modules(&self) -> &Modules {
        &self.modules
    }

    /// Runs the `before` hooks of a write.
    pub(crate) async fn hooks_before(
        &self,
        tx: &mut WriteTx,
        actor: Option<&str>,
        write: &mut Pending<'_, '_>,
    ) -> Result<()> {
        let hooks = self.modules.hooks(&write.object.api_name).to_vec();
        let system = self.system();
        for hook in hooks {
            hook.before(HookCx { db: &system, tx: &mut *tx, actor, viewer: self.viewer() }, write).await?;
        }
        Ok(())
    }

    /// Runs the `reassigned` hooks of records moved to another owner in bulk.
    pub(crate) async fn hooks_reassigned(
        &self,
        tx: &mut WriteTx,
        actor: Option<&str>,
        object: &ObjectDef,
        ids: &[String],
    ) -> Result<()> {
        let hooks = self.modules.hooks(&object.api_name).to_vec();
        let system = self.system();
        for hook in hooks {
            hook.reassigned(HookCx { db: &system, tx: &mut *tx, actor, viewer: self.viewer() }, object, ids).await?;
        }
        Ok(())
    }

    /// Runs the `after` hooks of a write.
    pub(crate) async fn hooks_after(&self, tx: &mut WriteTx, actor: Option<&str>, written: &Written<'_>) -> Result<()> {
        let hooks = self.modules.hooks(&written.object.api_name).to_vec();
        if hooks.is_empty() {
            return Ok(());
        }
        let system = self.system();
        for hook in hooks {
            hook.after(HookCx { db: &system, tx: &mut *tx, actor, viewer: self.viewer() }, written).await?;
        }
        Ok(())
    }
}
