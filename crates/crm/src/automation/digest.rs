//! Notifications by e-mail, as each user chose per kind (`notifications::Preference`): one
//! e-mail per notification at once (the job `notification_mail`, scheduled in the write that made
//! it), or the morning's digest (`notification_digest`, a chain of daily jobs at 8 in the
//! business's time) of the unread ones of the day before. Both go through the outbox, keyed (a
//! notification's id, a user and a morning), so a retry sends nothing twice.

use super::mail::{self, Outgoing};
use crate::notifications::{self, MAIL_JOB, Notification};
use peyvand_records::value::{format_datetime, parse_datetime};
use peyvand_store::events::Job;
use peyvand_store::runner::{JobKind, Outcome};
use peyvand_store::{Db, Error, Result, WriteTx};
use serde_json::{Value as Json, json};
use time::{Duration, OffsetDateTime};

/// The morning digest's job.
pub const DIGEST_JOB: &str = "notification_digest";
/// The hour (the business's time) the digest goes out.
const DIGEST_HOUR: u8 = 8;
/// The most notifications one digest lists.
const DIGEST_MAX: i64 = 100;
/// What outbox rows about a user (not a record) say they concern: none of them goes on a
/// timeline.
pub const ABOUT_USER: &str = "user";

/// An active user a message goes to, with the language they read (Persian unless English);
/// none for a user gone or disabled.
pub(crate) async fn reader(db: &Db, id: &str) -> Result<Option<(peyvand_store::accounts::User, &'static str)>> {
    match db.user(id).await {
        Ok(u) if u.active => {
            let lang = if u.language == "en" { "en" } else { "fa" };
            Ok(Some((u, lang)))
        }
        Ok(_) | Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A kind of notification in the reader's language.
fn kind_label(kind: &str, lang: &str) -> &'static str {
    let (fa, en) = match kind {
        "assigned" => ("به شما سپرده شد", "Assigned to you"),
        "reminder" => ("یادآوری", "Reminder"),
        "web_form" => ("فرم وب", "Web form"),
        "workflow" => ("گردش کار", "Workflow"),
        "sla_warning" => ("نزدیک به مهلت خدمت", "Service level near"),
        "sla_breach" => ("مهلت خدمت گذشت", "Service level breached"),
        "dealer_alert" => ("هشدار نمایندگی", "Dealer alert"),
        "suggestion_done" => ("پیشنهاد انجام شد", "Suggestion done"),
        _ => ("اعلان", "Notification"),
    };
    if lang == "fa" { fa } else { en }
}

/// A link as the reader can open it: the public address before a path, when one is set.
fn full_link(base: &str, link: Option<&str>) -> Option<String> {
    let link = link?;
    Some(if link.starts_with('/') && !base.is_empty() {
        format!("{}{link}", base.trim_end_matches('/'))
    } else {
        link.to_string()
    })
}

/// E-mails one notification to its user.
pub struct NotificationMail;

impl JobKind for NotificationMail {
    fn kind(&self) -> &'static str {
        MAIL_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, job: &'a Job) -> Outcome<'a> {
        Box::pin(async move {
            let id = job.payload.get("notification").and_then(Json::as_str).unwrap_or_default();
            mail_one(db, id).await.map_err(|e| e.to_string())
        })
    }
}

async fn mail_one(db: &Db, id: &str) -> Result<()> {
    let (user_id, n) = match notifications::get(db, id).await {
        Ok(found) => found,
        Err(Error::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let Some((user, lang)) = reader(db, &user_id).await? else { return Ok(()) };
    let base = mail::public_url(db).await?;
    let mut body = n.title.clone();
    if let Some(link) = full_link(&base, n.link.as_deref()) {
        body.push_str("\n\n");
        body.push_str(&link);
    }
    let m = Outgoing {
        id: format!("notification:{id}"),
        channel: "email".into(),
        to: user.email.clone(),
        subject: format!("{}: {}", kind_label(&n.kind, lang), n.title.chars().take(150).collect::<String>()),
        body,
        language: lang.into(),
        object: ABOUT_USER.into(),
        record: user.id.clone(),
        contact: None,
        sender: None,
        marketing: false,
    };
    let mut tx = db.write().await?;
    mail::queue_in(db, &mut tx, &m).await?;
    tx.commit().await
}

/// The next digest time after `after` (UTC).
fn next_digest(after: OffsetDateTime, offset: time::UtcOffset) -> OffsetDateTime {
    let local = after.to_offset(offset);
    let today = local.date().with_hms(DIGEST_HOUR, 0, 0).map(|t| t.assume_offset(offset)).unwrap_or(local);
    let at = if today > after { today } else { today + Duration::days(1) };
    at.to_offset(time::UtcOffset::UTC)
}

/// Schedules the next morning's digest in a write (once per morning, whoever asks).
pub async fn schedule_next_in(db: &Db, tx: &mut WriteTx) -> Result<()> {
    let at = format_datetime(next_digest(OffsetDateTime::now_utc(), db.local_offset()));
    db.schedule_job_in(tx, DIGEST_JOB, Some(&format!("digest:{at}")), &at, &json!({ "at": at })).await?;
    Ok(())
}

/// Sends the morning's digests and schedules the next morning's while anyone wants one.
pub struct Digest;

impl JobKind for Digest {
    fn kind(&self) -> &'static str {
        DIGEST_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, job: &'a Job) -> Outcome<'a> {
        Box::pin(async move {
            let at = job.payload.get("at").and_then(Json::as_str).unwrap_or(&job.run_at).to_string();
            send_digests(db, &at).await.map(|_| ()).map_err(|e| e.to_string())
        })
    }
}

/// The digests of the morning `at` (RFC 3339): each user's unread notifications of the kinds
/// they chose, made in the day before it. Returns how many were queued.
pub async fn send_digests(db: &Db, at: &str) -> Result<usize> {
    let end = parse_datetime(at).ok_or_else(|| Error::Corrupt(format!("a digest's time: {at}")))?;
    let (from, to) = (format_datetime(end - Duration::days(1)), format_datetime(end));
    let choices = notifications::digest_choices(db).await?;
    let base = mail::public_url(db).await?;
    let mut queued = 0;
    for (user_id, kinds) in &choices {
        let Some((user, lang)) = reader(db, user_id).await? else { continue };
        let list: Vec<Notification> = notifications::made_between(db, user_id, kinds, &from, &to, DIGEST_MAX)
            .await?
            .into_iter()
            .filter(|n| n.read_at.is_none())
            .collect();
        if list.is_empty() {
            continue;
        }
        let count = list.len().to_string();
        let count = if lang == "fa" { peyvand_records::normalize::to_persian_digits(&count) } else { count };
        let subject = if lang == "fa" {
            format!("خلاصهٔ روزانهٔ پیوند: {count} اعلان")
        } else {
            format!("Your Peyvand digest: {count} notifications")
        };
        let mut body = String::new();
        for n in &list {
            body.push_str(&format!("• {} — {}", kind_label(&n.kind, lang), n.title));
            if let Some(link) = full_link(&base, n.link.as_deref()) {
                body.push_str(&format!("\n  {link}"));
            }
            body.push('\n');
        }
        let m = Outgoing {
            id: format!("digest:{user_id}:{to}"),
            channel: "email".into(),
            to: user.email.clone(),
            subject,
            body,
            language: lang.into(),
            object: ABOUT_USER.into(),
            record: user_id.clone(),
            contact: None,
            sender: None,
            marketing: false,
        };
        let mut tx = db.write().await?;
        mail::queue_in(db, &mut tx, &m).await?;
        tx.commit().await?;
        queued += 1;
    }
    if !choices.is_empty() {
        let mut tx = db.write().await?;
        let next = format_datetime(next_digest(end, db.local_offset()));
        db.schedule_job_in(&mut tx, DIGEST_JOB, Some(&format!("digest:{next}")), &next, &json!({ "at": next })).await?;
        tx.commit().await?;
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_goes_at_eight_in_tehran() {
        let tehran = time::UtcOffset::from_hms(3, 30, 0).expect("in the test");
        let at = |s: &str| parse_datetime(s).expect("in the test");
        // 03:00 UTC is 06:30 in Tehran: this morning's 08:00 is 04:30 UTC.
        assert_eq!(format_datetime(next_digest(at("2026-12-05T03:00:00Z"), tehran)), "2026-12-05T04:30:00.000000Z");
        // Exactly at eight: the next morning.
        assert_eq!(format_datetime(next_digest(at("2026-12-05T04:30:00Z"), tehran)), "2026-12-06T04:30:00.000000Z");
        assert_eq!(format_datetime(next_digest(at("2026-12-05T20:00:00Z"), tehran)), "2026-12-06T04:30:00.000000Z");
    }

    #[test]
    fn links_start_at_the_public_address() {
        assert_eq!(
            full_link("https://crm.example.com/", Some("/records/task/1")).expect("in the test"),
            "https://crm.example.com/records/task/1"
        );
        assert_eq!(full_link("", Some("/my-day")).expect("in the test"), "/my-day");
        assert_eq!(full_link("https://x.example", None), None);
    }
}
