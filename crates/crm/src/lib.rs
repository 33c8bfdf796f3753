//! The CRM above the record engine: a module per capability, each with its standard objects,
//! its rules on record writes (typed hooks run in the write's transaction) and its operations.
//! The engine (`peyvand-store`) runs them and knows none of their concepts; pages and API routes
//! are in `peyvand-web` (a file per capability), which calls the operations here.
//!
//! A module's room: `crm/src/<module>` (objects, rules, operations, unit tests), its routes in
//! `web/src/api/<module>.rs` and `web/src/html/<module>.rs`, its integration tests in
//! `server/tests/api/<module>.rs`. A module builds on those before it (sales on customers: a
//! customer group) and never on those after; modules meet in records.

pub mod activities;
pub mod automation;
pub mod customers;
pub mod feedback;
pub mod forms;
pub mod insights;
pub mod loyalty;
pub mod marketing;
pub mod notifications;
pub mod portal;
pub mod sales;
pub mod service;
mod signing;
pub mod testing;

use peyvand_records::access::{ObjectAccess, Reach, Role};
use peyvand_store::hooks::{Module, Modules};
use peyvand_store::{Db, Result, Workload};
use std::sync::Arc;

/// How the roles reach a kind of standard object unless an admin's rule says otherwise: admins
/// everything, read-only users read everything; the rest by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reaches {
    /// A team's customers and their dealings (contacts, leads, deals, quotes, activities): agents
    /// and managers read and change their teams'.
    Customers,
    /// Orders: as customers, but an agent changes only their own.
    Orders,
    /// Shared by everyone (companies): all read; agents change their own, managers their teams'.
    Shared,
    /// The catalogue (products): all read; agents change none.
    Catalog,
}

impl Reaches {
    pub(crate) fn of(self, role: Role) -> ObjectAccess {
        use Reach::{All, None, Own, Team};
        match (role, self) {
            (Role::Admin, _) => ObjectAccess::new(All, All),
            (Role::ReadOnly, _) => ObjectAccess::new(All, None),
            (Role::Manager | Role::Agent, Reaches::Customers) | (Role::Manager, Reaches::Orders) => {
                ObjectAccess::new(Team, Team)
            }
            (Role::Agent, Reaches::Orders) => ObjectAccess::new(Team, Own),
            (Role::Manager, Reaches::Shared) => ObjectAccess::new(All, Team),
            (Role::Agent, Reaches::Shared) => ObjectAccess::new(All, Own),
            (Role::Manager, Reaches::Catalog) => ObjectAccess::new(All, All),
            (Role::Agent, Reaches::Catalog) => ObjectAccess::new(All, None),
        }
    }
}

/// In a merge's transaction, moves what later modules keep about a merged record outside its
/// relations to the survivor. An earlier module (`customers`) reaches later ones only through
/// the crate root, as it reaches all of them through [`modules`].
pub(crate) async fn follow_merge(
    tx: &mut peyvand_store::WriteTx,
    object: &str,
    other: &str,
    survivor: &str,
) -> peyvand_store::Result<()> {
    if object == "contact" {
        activities::participants::merge_contact_in(tx, other, survivor).await?;
    }
    Ok(())
}

/// In the write of a public reply to a ticket, what later modules do with it (automation
/// e-mails it to the customer, so that their answer comes back to the ticket).
pub(crate) async fn on_public_reply(
    tx: &mut peyvand_store::WriteTx,
    db: &Db,
    ticket_id: &str,
    message_id: &str,
    body: &str,
) -> peyvand_store::Result<()> {
    automation::mail::ticket_reply_in(db, tx, ticket_id, message_id, body).await
}

/// In the write of a web form's submission, what later modules do with it (automation's
/// workflows triggered by the form).
pub(crate) async fn on_form_submitted(
    db: &Db,
    tx: &mut peyvand_store::WriteTx,
    form: &str,
    object: &str,
    record: &str,
    submission: &str,
) -> peyvand_store::Result<()> {
    let signal = automation::workflows::Signal::FormSubmitted { form: form.to_string() };
    automation::workflows::signal_in(db, tx, &signal, object, record, &format!("form:{submission}")).await
}

/// In the write of a ticket's service-level warning (its deadline is near), what later modules
/// do with it (automation's workflows triggered by it). `key` names the warning.
pub(crate) async fn on_breach_near(
    db: &Db,
    tx: &mut peyvand_store::WriteTx,
    ticket: &str,
    target: &str,
    key: &str,
) -> peyvand_store::Result<()> {
    let signal = automation::workflows::Signal::BreachNear { target: target.to_string() };
    automation::workflows::signal_in(db, tx, &signal, "ticket", ticket, &format!("sla:{key}")).await
}

/// In the write of a user's choice of the morning's digest: the next morning's is scheduled
/// (automation sends e-mail).
pub(crate) async fn on_digest_wanted(db: &Db, tx: &mut peyvand_store::WriteTx) -> peyvand_store::Result<()> {
    automation::digest::schedule_next_in(db, tx).await
}

/// In a workflow step's write, points given to a contact in a loyalty program (automation's
/// "add points"; loyalty comes after it). `key` makes it once.
pub(crate) async fn add_points_in(
    db: &Db,
    tx: &mut peyvand_store::WriteTx,
    program: &str,
    contact: &str,
    points: i64,
    key: &str,
) -> peyvand_store::Result<()> {
    loyalty::add_points_in(db, tx, program, contact, points, key).await
}

/// In the write of a web form's contact that came through a referral link (`ref`), the
/// referral attributed (loyalty); a code that does not hold is noted and changes nothing.
pub(crate) async fn on_referred_in(
    db: &Db,
    tx: &mut peyvand_store::WriteTx,
    contact: &str,
    code: &str,
) -> peyvand_store::Result<()> {
    match loyalty::referrals::attribute_in(db, tx, code, contact, "form", None).await {
        Ok(_) => Ok(()),
        Err(peyvand_store::Error::Validation(e)) => {
            tracing::info!(?e, contact, "a web form's referral code was not attributed");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// In the write of a customer's survey answer: the programs' points for it (loyalty), once per
/// invitation.
pub(crate) async fn on_survey_answered(
    db: &Db,
    tx: &mut peyvand_store::WriteTx,
    contact: &str,
    invitation: &str,
) -> peyvand_store::Result<()> {
    loyalty::earning::award_everywhere_in(db, tx, contact, "survey_answered", invitation, None).await
}

/// Whether a loyalty program exists (a workflow's trigger or step names it).
pub(crate) async fn loyalty_program_exists(db: &Db, id: &str) -> peyvand_store::Result<bool> {
    loyalty::program_exists(db, id).await
}

/// The object whose records a segment holds (none when there is no such segment).
pub(crate) async fn segment_object(db: &Db, id: &str) -> peyvand_store::Result<Option<String>> {
    match marketing::segments::get(db, id).await {
        Ok(seg) => Ok(Some(seg.definition.object)),
        Err(peyvand_store::Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether a record of `object` is a member of a segment now (marketing's; a workflow's
/// condition, a benefit or a loyalty program names it). A segment gone or of another object
/// holds nobody.
pub(crate) async fn in_segment(db: &Db, segment: &str, object: &str, id: &str) -> peyvand_store::Result<bool> {
    let seg = match marketing::segments::get(db, segment).await {
        Ok(seg) if seg.definition.object == object => seg,
        Ok(_) | Err(peyvand_store::Error::NotFound(_)) => return Ok(false),
        Err(e) => return Err(e),
    };
    marketing::segments::contains(db, &seg, id).await
}

/// The public address links in messages start with (automation's messaging settings), or empty.
pub(crate) async fn public_url(db: &Db) -> peyvand_store::Result<String> {
    automation::mail::public_url(db).await
}

/// In the write of a contact's e-mail consent waiting for confirmation: the message with its
/// `link` (automation sends e-mail).
pub(crate) async fn on_consent_pending(
    db: &Db,
    tx: &mut peyvand_store::WriteTx,
    contact: &str,
    link: &str,
) -> peyvand_store::Result<()> {
    automation::mail::consent_confirmation_in(db, tx, contact, link).await
}

/// A campaign's message body with its links tracked (marketing; automation sends it).
pub(crate) async fn track_links(db: &Db, message: &str, body: &str) -> peyvand_store::Result<String> {
    marketing::campaigns::track_links(db, message, body).await
}

/// Every module of the CRM, in the order their objects are made (a relation's target first).
/// Tomorrow at `hour`:`minute`, the business's time, as stored (UTC): when a nightly job runs
/// next (keyed by it, so every instance schedules the same one).
pub(crate) fn tomorrow_at(db: &Db, hour: u8, minute: u8) -> String {
    let offset = db.local_offset();
    let local = time::OffsetDateTime::now_utc().to_offset(offset);
    let next = (local.date() + time::Duration::days(1))
        .with_time(time::Time::from_hms(hour, minute, 0).unwrap_or(time::Time::MIDNIGHT));
    peyvand_records::value::format_datetime(next.assume_offset(offset).to_offset(time::UtcOffset::UTC))
}

pub fn modules() -> Modules {
    let list: Vec<Arc<dyn Module>> = vec![
        Arc::new(customers::Customers),
        Arc::new(notifications::Notifications),
        Arc::new(sales::Sales),
        Arc::new(activities::Activities),
        Arc::new(service::Service),
        Arc::new(feedback::Feedback),
        Arc::new(forms::Forms),
        Arc::new(automation::Automation),
        Arc::new(loyalty::Loyalty),
        Arc::new(marketing::Marketing),
        Arc::new(insights::Insights),
        Arc::new(portal::Portal),
    ];
    Modules::new(list)
}

/// Opens the database for serving with every module running (see `Db::open_with`).
pub async fn open(url: &str) -> Result<Db> {
    open_for(url, Workload::Serve).await
}

/// [`open`] for a workload.
pub async fn open_for(url: &str, workload: Workload) -> Result<Db> {
    Db::open_with(url, workload, modules()).await
}

/// What a bulk load (`peyvand generate`, the demo), whose records passed by the modules' hooks
/// and consumers, left for them to do: sales' ([`sales::settle_bulk_load`]) and customers' (the
/// name keys of objects scanned before). The dashboards' standard rollups are declared too, while
/// no server waits: a server declaring them on a new database of 2,000,000 orders held its
/// writers seconds to tens of seconds for each, and writes queued past their limit got 503.
/// Returns the stays and lines written.
pub async fn settle_bulk_load(db: &Db) -> Result<(u64, u64)> {
    let settled = sales::settle_bulk_load(db).await?;
    customers::queue::rescan_after_bulk_load(db).await?;
    insights::standard_rollups::declare(db).await?;
    Ok(settled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_objects_reach_as_a_crm_expects() {
        let m = modules();
        for role in Role::ALL {
            for object in
                ["company", "contact", "lead", "deal", "quote", "activity", "order", "product", "custom_thing"]
            {
                let a = m.default_access(role, object);
                assert!(a.change <= a.read, "{role:?} {object}");
            }
        }
        let (all, team, own, none) = (Reach::All, Reach::Team, Reach::Own, Reach::None);
        assert_eq!(m.default_access(Role::Agent, "company"), ObjectAccess::new(all, own));
        assert_eq!(m.default_access(Role::Agent, "contact"), ObjectAccess::new(team, team));
        assert_eq!(m.default_access(Role::Agent, "order"), ObjectAccess::new(team, own));
        assert_eq!(m.default_access(Role::Agent, "product"), ObjectAccess::new(all, none));
        assert_eq!(m.default_access(Role::Manager, "activity"), ObjectAccess::new(team, team));
        assert_eq!(m.default_access(Role::ReadOnly, "deal"), ObjectAccess::new(all, none));
        assert_eq!(m.default_access(Role::Agent, "custom_thing"), ObjectAccess::new(all, all), "an admin's object");
    }

    #[test]
    fn standard_objects_are_well_formed() {
        for o in super::modules().objects() {
            peyvand_store::schema::check_new_object(&o).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
