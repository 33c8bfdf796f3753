//! Tasks and appointments: something to do (a call to make, a visit, a meeting) by a time, for
//! its owner, with reminders. A reminder is a scheduled job (`store::events`), written in the
//! transaction that sets the task's time, so it survives a restart and fires once; when it fires
//! it becomes the owner's notification (`crate::notifications`) — unless the task was done,
//! moved or given to someone else meanwhile.

use super::recurrence;
use crate::notifications;
use peyvand_records::filter::{parse_filter, parse_sort};
use peyvand_records::validate::{Mode, validate};
use peyvand_records::value::{format_datetime, parse_datetime};
use peyvand_records::{FieldError, FieldType, Value};
use peyvand_store::events::Job;
use peyvand_store::hooks::{Action, BoxFuture, HookCx, Pending, WriteHook, Written};
use peyvand_store::records::{ListQuery, Record};
use peyvand_store::runner::{JobKind, Outcome};
use peyvand_store::schema::{NewObject, opt, owner_field, relation, std_field, with};
use peyvand_store::{Db, Error, Result};
use serde_json::{Value as Json, json};
use sqlx::Row;
use time::{Duration, OffsetDateTime, Time};

/// The kind of scheduled job a reminder is.
pub const REMINDER_JOB: &str = "reminder";
/// How late a reminder may be set and still be taken (the form's minute, a slow request).
const GRACE: Duration = Duration::minutes(1);

/// When a reminder fires, for each choice of the task's `reminders` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reminder {
    AtTime,
    Minutes15,
    Hour1,
    Day1,
    DayBeforeAt9,
}

impl Reminder {
    pub const ALL: [Reminder; 5] =
        [Reminder::AtTime, Reminder::Minutes15, Reminder::Hour1, Reminder::Day1, Reminder::DayBeforeAt9];

    pub fn as_str(self) -> &'static str {
        match self {
            Reminder::AtTime => "at_time",
            Reminder::Minutes15 => "15m",
            Reminder::Hour1 => "1h",
            Reminder::Day1 => "1d",
            Reminder::DayBeforeAt9 => "day_before_9",
        }
    }

    pub fn parse(s: &str) -> Option<Reminder> {
        Reminder::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// When it fires for a task due at `due`, the business being at `offset` from UTC.
    pub fn fires(self, due: OffsetDateTime, offset: time::UtcOffset) -> OffsetDateTime {
        match self {
            Reminder::AtTime => due,
            Reminder::Minutes15 => due - Duration::minutes(15),
            Reminder::Hour1 => due - Duration::hours(1),
            Reminder::Day1 => due - Duration::days(1),
            Reminder::DayBeforeAt9 => {
                let local = due.to_offset(offset);
                let day = local.date().previous_day().unwrap_or(local.date());
                day.with_time(Time::from_hms(9, 0, 0).unwrap_or(Time::MIDNIGHT)).assume_offset(offset)
            }
        }
    }
}

/// The task object's definition.
pub(crate) fn object() -> NewObject {
    use FieldType as T;
    let fields = vec![
        with(std_field("subject", T::Text, "موضوع", "Subject"), |f| f.required = true),
        with(std_field("kind", T::Select, "نوع", "Kind"), |f| {
            f.indexed = true;
            f.default_value = Some(json!("todo"));
            f.options.options = vec![
                opt("todo", "کار", "To-do"),
                opt("call", "تماس", "Call"),
                opt("email", "ایمیل", "Email"),
                opt("meeting", "جلسه", "Meeting"),
                opt("visit", "بازدید", "Visit"),
            ];
        }),
        with(std_field("due_at", T::Datetime, "موعد", "Due"), |f| {
            f.required = true;
            f.indexed = true;
        }),
        std_field("ends_at", T::Datetime, "پایان", "Ends"),
        with(std_field("status", T::Select, "وضعیت", "Status"), |f| {
            f.indexed = true;
            f.default_value = Some(json!("open"));
            f.options.options = vec![
                opt("open", "باز", "Open"),
                opt("done", "انجام‌شده", "Done"),
                opt("cancelled", "لغوشده", "Cancelled"),
            ];
        }),
        with(std_field("priority", T::Select, "اولویت", "Priority"), |f| {
            f.default_value = Some(json!("normal"));
            f.options.options =
                vec![opt("low", "کم", "Low"), opt("normal", "عادی", "Normal"), opt("high", "زیاد", "High")];
        }),
        with(std_field("reminders", T::MultiSelect, "یادآوری", "Reminders"), |f| {
            f.options.options = vec![
                opt("at_time", "سر موعد", "At the time"),
                opt("15m", "۱۵ دقیقه قبل", "15 minutes before"),
                opt("1h", "یک ساعت قبل", "An hour before"),
                opt("1d", "یک روز قبل", "A day before"),
                opt("day_before_9", "روز قبل ساعت ۹", "The day before at 9"),
            ];
        }),
        std_field("place", T::Text, "مکان", "Place"),
        std_field("video_link", T::Url, "پیوند جلسهٔ برخط", "Video link"),
        relation("contact", "contact", "مخاطب", "Contact"),
        relation("company", "company", "شرکت", "Company"),
        relation("deal", "deal", "فرصت فروش", "Deal"),
        relation("lead", "lead", "سرنخ", "Lead"),
        relation("follows", "activity", "در پی", "Follows up"),
        std_field("done_at", T::Datetime, "زمان انجام", "Done at"),
        with(std_field("recurrence", T::Text, "تکرار", "Repeats"), |f| {
            f.help_fa = "قاعدهٔ تکرار RFC 5545، مانند FREQ=WEEKLY;BYDAY=SA,MO یا FREQ=MONTHLY;BYMONTHDAY=1;COUNT=12. با انجام هر نوبت، نوبت بعد ساخته می‌شود.".into();
            f.help_en = "An RFC 5545 rule, such as FREQ=WEEKLY;BYDAY=SA,MO or FREQ=MONTHLY;BYMONTHDAY=1;COUNT=12. Each time one is done, the next is made.".into();
            f.options.max_length = Some(300);
        }),
        std_field("body", T::LongText, "شرح", "Details"),
        owner_field(),
    ];
    NewObject {
        api_name: "task".into(),
        label_fa: "کار".into(),
        label_en: "Task".into(),
        plural_fa: "کارها".into(),
        plural_en: "Tasks".into(),
        fields,
        title_field: Some("subject".into()),
    }
}

/// A task's time as written (none if it has none or it does not parse).
fn time_of(v: &Json) -> Option<OffsetDateTime> {
    v.as_str().and_then(parse_datetime)
}

fn reminders_of(v: &Json) -> Vec<Reminder> {
    v.as_array().into_iter().flatten().filter_map(|r| r.as_str().and_then(Reminder::parse)).collect()
}

/// A task's rules: it ends after it starts; a reminder is not set for a time gone; done
/// records when; its reminders are scheduled with the write that sets them.
pub(crate) struct TaskRules;

impl WriteHook for TaskRules {
    fn objects(&self) -> &'static [&'static str] {
        &["task"]
    }

    fn before<'a>(&'a self, cx: HookCx<'a>, write: &'a mut Pending<'_, '_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut errors = Vec::new();
            let due = time_of(&write.after("due_at"));
            if (write.changes("ends_at") || write.changes("due_at"))
                && let (Some(start), Some(end)) = (due, time_of(&write.after("ends_at")))
                && end <= start
            {
                errors.push(FieldError::new("ends_at", "ends_before_start"));
            }
            let open = write.after("status").as_str().is_none_or(|s| s == "open");
            if open
                && (write.changes("reminders") || write.changes("due_at") || write.changes("status"))
                && let Some(due) = due
            {
                let now = OffsetDateTime::now_utc();
                for r in reminders_of(&write.after("reminders")) {
                    if r.fires(due, cx.db.local_offset()) < now - GRACE {
                        errors.push(FieldError::with("reminders", "reminder_in_past", json!({ "value": r.as_str() })));
                    }
                }
            }
            if (write.changes("recurrence") || write.changes("due_at"))
                && let (Some(rule), Some(due)) = (write.after("recurrence").as_str(), due)
                && !rule.trim().is_empty()
                && let Err(code) = recurrence::check(rule, due, cx.db.local_offset())
            {
                errors.push(FieldError::new("recurrence", code));
            }
            if !errors.is_empty() {
                return Err(Error::Validation(errors));
            }
            if write.changes("status") {
                match write.after("status").as_str() {
                    Some("done") if write.after("done_at").is_null() => {
                        write.set("done_at", Value::Datetime(OffsetDateTime::now_utc()))
                    }
                    Some("open") => write.set("done_at", Value::Null),
                    _ => {}
                }
            }
            Ok(())
        })
    }

    fn after<'a>(&'a self, mut cx: HookCx<'a>, written: &'a Written<'_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if written.action == Action::Update
                && written.changed("status")
                && written.after.get("status").and_then(Json::as_str) == Some("done")
            {
                next_instance(cx.reborrow(), written).await?;
            }
            let relevant = ["due_at", "reminders", "status", "owner"].iter().any(|f| written.changed(f));
            if written.action == Action::Update && !relevant {
                return Ok(());
            }
            let prefix = format!("task:{}:", written.id);
            // The reminders the task had, by their keys (its time and reminders before).
            let offset = cx.db.local_offset();
            let had: Vec<String> = match time_of(written.before.get("due_at").unwrap_or(&Json::Null)) {
                Some(due) => reminders_of(written.before.get("reminders").unwrap_or(&Json::Null))
                    .into_iter()
                    .map(|r| format!("{prefix}{}:{}", r.as_str(), format_datetime(r.fires(due, offset))))
                    .collect(),
                None => Vec::new(),
            };
            cx.db.cancel_jobs_in(cx.tx, REMINDER_JOB, &had).await?;
            let field = |f: &str| written.after.get(f).cloned().unwrap_or(Json::Null);
            let open = field("status").as_str().is_none_or(|s| s == "open");
            let (Some(due), Some(owner)) = (time_of(&field("due_at")), field("owner").as_str().map(str::to_string))
            else {
                return Ok(());
            };
            if written.action == Action::Delete || !open {
                return Ok(());
            }
            let now = OffsetDateTime::now_utc();
            for r in reminders_of(&field("reminders")) {
                let fires = r.fires(due, cx.db.local_offset());
                if fires < now - GRACE {
                    continue;
                }
                let (due_text, at) = (format_datetime(due), format_datetime(fires));
                let key = format!("{prefix}{}:{at}", r.as_str());
                let payload = json!({ "task": written.id, "user": owner, "due_at": due_text, "reminder": r.as_str() });
                cx.db.schedule_job_in(cx.tx, REMINDER_JOB, Some(&key), &at, &payload).await?;
            }
            Ok(())
        })
    }
}

/// A recurring task just done: its next instance, in the same write (the same subject, people,
/// place, owner and reminders still ahead; due at the rule's next time after now), unless the
/// series has ended.
async fn next_instance(cx: HookCx<'_>, written: &Written<'_>) -> Result<()> {
    let field = |f: &str| written.after.get(f).cloned().unwrap_or(Json::Null);
    let (Some(rule), Some(due)) = (field("recurrence").as_str().map(str::to_string), time_of(&field("due_at"))) else {
        return Ok(());
    };
    let now = OffsetDateTime::now_utc();
    let offset = cx.db.local_offset();
    let Some((next_due, next_rule)) = recurrence::next(&rule, due, now, offset) else { return Ok(()) };
    let mut fields = serde_json::Map::new();
    for f in
        ["subject", "kind", "priority", "place", "video_link", "contact", "company", "deal", "lead", "body", "owner"]
    {
        if let Some(v) = written.after.get(f).filter(|v| !v.is_null()) {
            fields.insert(f.to_string(), v.clone());
        }
    }
    fields.insert("due_at".into(), json!(format_datetime(next_due)));
    if let Some(end) = time_of(&field("ends_at")) {
        fields.insert("ends_at".into(), json!(format_datetime(next_due + (end - due))));
    }
    // Only the reminders still ahead (the day before at 9 of tomorrow morning has passed).
    let ahead: Vec<&str> = reminders_of(&field("reminders"))
        .into_iter()
        .filter(|r| r.fires(next_due, offset) >= now)
        .map(Reminder::as_str)
        .collect();
    fields.insert("reminders".into(), json!(ahead));
    fields.insert("recurrence".into(), json!(next_rule));
    fields.insert("status".into(), json!("open"));
    let obj = cx.db.object("task").await?;
    let changes = validate(&obj, &fields, Mode::Create).map_err(Error::Validation)?;
    cx.db.create_in(cx.tx, cx.actor, &obj, &changes.values).await?;
    Ok(())
}

/// A reminder firing: the task's owner is notified, once, if the task is still theirs, open
/// and due when it was when the reminder was set.
pub(crate) struct Reminders;

impl JobKind for Reminders {
    fn kind(&self) -> &'static str {
        REMINDER_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, job: &'a Job) -> Outcome<'a> {
        Box::pin(async move {
            let text = |f: &str| job.payload.get(f).and_then(Json::as_str).map(str::to_string);
            let (Some(task_id), Some(user)) = (text("task"), text("user")) else {
                return Err("a reminder without its task or user".to_string());
            };
            let task = match db.system().get_record("task", &task_id, false).await {
                Ok(task) => task,
                Err(Error::NotFound(_)) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            };
            let field = |f: &str| task.fields.get(f).and_then(Json::as_str).map(str::to_string);
            let due_now = field("due_at").as_deref().and_then(parse_datetime).map(format_datetime);
            if field("status").is_some_and(|s| s != "open")
                || field("owner") != Some(user.clone())
                || due_now != text("due_at")
            {
                return Ok(());
            }
            let link = format!("/records/task/{task_id}");
            let mut tx = db.write().await.map_err(|e| e.to_string())?;
            notifications::notify_in(&mut tx, &job.id, &user, "reminder", &task.title, Some(&link), due_now.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())
        })
    }
}

/// A user's tasks, and those they attend, in the given statuses due in `[from, to)` (from the
/// start of time without `from`), soonest first, at most `limit`; read as the handle's viewer may.
pub async fn owned(
    db: &Db,
    owner: &str,
    statuses: &[&str],
    from: Option<OffsetDateTime>,
    to: OffsetDateTime,
    limit: u32,
) -> Result<Vec<Record>> {
    owned_by(db, &[owner.to_string()], statuses, from, to, limit).await
}

/// [`owned`] for several owners at once (a team's calendar).
pub async fn owned_by(
    db: &Db,
    owners: &[String],
    statuses: &[&str],
    from: Option<OffsetDateTime>,
    to: OffsetDateTime,
    limit: u32,
) -> Result<Vec<Record>> {
    if owners.is_empty() {
        return Ok(Vec::new());
    }
    let obj = db.object("task").await?;
    // Theirs, and those they attend (as the reader may read them).
    let attended = attended_by(db, &obj, owners, from, to, limit).await?;
    let whose = if attended.is_empty() {
        json!({ "field": "owner", "op": "in", "value": owners })
    } else {
        json!({ "or": [{ "field": "owner", "op": "in", "value": owners }, { "field": "id", "op": "in", "value": attended }] })
    };
    let mut all = vec![
        whose,
        json!({ "field": "status", "op": "in", "value": statuses }),
        json!({ "field": "due_at", "op": "lt", "value": format_datetime(to) }),
    ];
    if let Some(from) = from {
        all.push(json!({ "field": "due_at", "op": "gte", "value": format_datetime(from) }));
    }
    let query = ListQuery {
        filter: Some(parse_filter(&obj, &json!({ "and": all })).map_err(Error::invalid)?),
        sort: parse_sort(&obj, "due_at").map_err(Error::invalid)?,
        limit: Some(limit),
        ..ListQuery::default()
    };
    Ok(db.list_records("task", &query).await?.records)
}

/// Ids of live tasks due in `[from, to)` that one of `users` attends (`participants`), the
/// soonest `limit`.
async fn attended_by(
    db: &Db,
    obj: &peyvand_records::ObjectDef,
    users: &[String],
    from: Option<OffsetDateTime>,
    to: OffsetDateTime,
    limit: u32,
) -> Result<Vec<String>> {
    let Some(due) = obj.field("due_at") else { return Ok(Vec::new()) };
    let marks: Vec<String> = (0..users.len()).map(|i| format!("${}", i + 4)).collect();
    let sql = format!(
        "SELECT DISTINCT t.id, t.{due} FROM activity_participants p JOIN {table} t ON t.id = p.activity_id \
         WHERE p.kind = 'user' AND p.participant_id IN ({marks}) AND t.deleted_at IS NULL \
         AND t.{due} >= $1 AND t.{due} < $2 ORDER BY t.{due} LIMIT $3",
        due = due.column,
        table = obj.table,
        marks = marks.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(from.map(format_datetime).unwrap_or_default())
        .bind(format_datetime(to))
        .bind(i64::from(limit));
    for u in users {
        q = q.bind(u.clone());
    }
    q.fetch_all(db.pool()).await?.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// A user's day: their open tasks due before `day_ends` (the overdue and today's), soonest
/// first, and those of the `ahead` after it.
pub async fn my_day(
    db: &Db,
    user: &str,
    day_ends: OffsetDateTime,
    ahead: Duration,
) -> Result<(Vec<Record>, Vec<Record>)> {
    let due = owned(db, user, &["open"], None, day_ends, 200).await?;
    let coming = owned(db, user, &["open"], Some(day_ends), day_ends + ahead, 50).await?;
    Ok((due, coming))
}

/// A user's tasks due in `[from, to)` that are not cancelled (done ones too: a week shows what
/// was done), soonest first.
pub async fn between(db: &Db, owner: &str, from: OffsetDateTime, to: OffsetDateTime) -> Result<Vec<Record>> {
    owned(db, owner, &["open", "done"], Some(from), to, 500).await
}

/// [`between`] for several owners (a team's calendar; at most 500 tasks).
pub async fn between_for(db: &Db, owners: &[String], from: OffsetDateTime, to: OffsetDateTime) -> Result<Vec<Record>> {
    owned_by(db, owners, &["open", "done"], Some(from), to, 500).await
}

/// Moves a task to another day, at the same time of day (and its end with it), as the handle's
/// user: the task's rules apply (a reminder already past refuses the move).
pub async fn reschedule(db: &Db, actor: &str, id: &str, day: time::Date) -> Result<Record> {
    let task = db.get_record("task", id, false).await?;
    let field = |f: &str| task.fields.get(f).cloned().unwrap_or(Json::Null);
    let Some(due) = time_of(&field("due_at")) else {
        return Err(Error::invalid(FieldError::new("due_at", "required")));
    };
    let offset = db.local_offset();
    let local = due.to_offset(offset);
    let moved = day.with_time(local.time()).assume_offset(offset);
    let mut input = serde_json::Map::new();
    input.insert("due_at".into(), json!(format_datetime(moved)));
    if let Some(end) = time_of(&field("ends_at")) {
        input.insert("ends_at".into(), json!(format_datetime(moved + (end - due))));
    }
    db.update_record(Some(actor), "task", id, &input, None).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, offset};

    #[test]
    fn reminders_fire_before_the_time_and_the_day_before_at_nine_where_the_business_is() {
        let due = datetime!(2026-03-21 06:30 UTC); // 10:00 in Tehran, 1 Farvardin 1405
        let tehran = offset!(+03:30);
        assert_eq!(Reminder::AtTime.fires(due, tehran), due);
        assert_eq!(Reminder::Minutes15.fires(due, tehran), datetime!(2026-03-21 06:15 UTC));
        assert_eq!(Reminder::Day1.fires(due, tehran), datetime!(2026-03-20 06:30 UTC));
        // The day before at 9 in Tehran is 05:30 UTC.
        assert_eq!(Reminder::DayBeforeAt9.fires(due, tehran), datetime!(2026-03-20 05:30 UTC));
        // Due at 01:00 in Tehran (21:30 UTC the day before): the day before is Tehran's.
        let early = datetime!(2026-03-20 21:30 UTC);
        assert_eq!(Reminder::DayBeforeAt9.fires(early, tehran), datetime!(2026-03-20 05:30 UTC));
        for r in Reminder::ALL {
            assert_eq!(Reminder::parse(r.as_str()), Some(r));
        }
    }
}
