//! Survey invitations sent to their customers (issue 29's CSAT and NPS by e-mail or SMS): each
//! invitation made schedules a job in its write (`feedback::surveys::INVITATION_JOB`); the job
//! queues one message with the invitation's signed link at the public address, by e-mail to the
//! contact's address or, without one, by SMS to their mobile. Keyed by the invitation, so a retry
//! sends nothing twice; on the timeline of the ticket or order it asks about.

use super::mail::{self, Outgoing};
use crate::feedback::surveys::{self, INVITATION_JOB};
use peyvand_store::events::Job;
use peyvand_store::runner::{JobKind, Outcome};
use peyvand_store::{Db, Error, Result};
use serde_json::Value as Json;

/// Sends a survey invitation's link.
pub struct Invitations;

impl JobKind for Invitations {
    fn kind(&self) -> &'static str {
        INVITATION_JOB
    }

    fn run<'a>(&'a self, db: &'a Db, job: &'a Job) -> Outcome<'a> {
        Box::pin(async move {
            let id = job.payload.get("invitation").and_then(Json::as_str).unwrap_or_default();
            send(db, id).await.map(|_| ()).map_err(|e| e.to_string())
        })
    }
}

/// Queues the invitation's message; returns the channel it went by, or none (answered, past its
/// time, no public address, nowhere to send it).
pub async fn send(db: &Db, id: &str) -> Result<Option<String>> {
    let inv = match surveys::invitation(db, id).await {
        Ok(i) => i,
        Err(Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(contact_id) = inv.contact_id.clone() else { return Ok(None) };
    if inv.answered_at.is_some() || inv.expires_at <= peyvand_store::now() {
        return Ok(None);
    }
    let base = mail::smtp_settings(db).await?.map(|s| s.public_url).unwrap_or_default();
    if base.is_empty() {
        tracing::warn!(invitation = id, "a survey invitation waits: no public address is set to link to");
        return Ok(None);
    }
    let system = db.system();
    let contact_obj = system.object("contact").await?;
    let contact = match system.get_record("contact", &contact_id, false).await {
        Ok(c) => c,
        Err(Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let survey = surveys::get(db, &inv.survey_id).await?;
    let link = format!("{}/s/{}", base.trim_end_matches('/'), surveys::link_token(db, id).await?);
    let (channel, to) = match mail::recipient(&system, None, &contact_obj, &contact, "email").await? {
        Some((to, _)) => ("email", to),
        None => match mail::recipient(&system, None, &contact_obj, &contact, "sms").await? {
            Some((to, _)) if mail::sms_settings(db).await?.is_some() => ("sms", to),
            _ => return Ok(None),
        },
    };
    let d = &survey.definition;
    let intro = if d.intro_fa.trim().is_empty() {
        "نظر شما برای ما ارزشمند است."
    } else {
        d.intro_fa.trim()
    };
    let body = format!("{} گرامی،\n\n{intro}\n\n{link}", contact.title);
    let (object, record) = match (&inv.record_object, &inv.record_id) {
        (Some(o), Some(r)) => (o.clone(), r.clone()),
        _ => ("contact".to_string(), contact_id.clone()),
    };
    let m = Outgoing {
        id: format!("survey:{id}"),
        channel: channel.into(),
        to,
        subject: if channel == "email" { d.name.clone() } else { String::new() },
        body,
        language: "fa".into(),
        object,
        record,
        contact: Some(contact_id),
        sender: inv.staff_id.clone(),
        marketing: false,
    };
    let mut tx = db.write().await?;
    mail::queue_in(db, &mut tx, &m).await?;
    tx.commit().await?;
    Ok(Some(channel.to_string()))
}
