//! Marketing on pages (`peyvand_crm::marketing`): segments and campaigns (`/marketing`), a
//! segment's live count and members, a campaign's report with start and cancel, and the
//! tracked links of campaign messages (`/c/{token}`, public, signed).

use super::admin::{Pairs, Words, get, messages};
use super::records::fail;
use super::session::encode;
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::i18n::t;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_crm::marketing::campaigns::{self, CampaignDef};
use peyvand_crm::marketing::segments::{self, SegmentCondition, SegmentDef};
use peyvand_records::access::{Action, Role};
use peyvand_records::normalize::to_latin_digits;
use peyvand_store::Error as StoreError;

fn number(lang: &str, n: i64) -> String {
    super::display::format_number(lang, &n.to_string())
}

fn marketer(session: &Session) -> bool {
    matches!(session.user.role, Role::Admin | Role::Manager)
}

#[derive(Template)]
#[template(path = "marketing.html")]
struct IndexPage {
    layout: Layout,
    tr: Words,
    csrf: String,
    marketer: bool,
    segments: Vec<(String, String, String)>,
    campaigns: Vec<(String, String, String, String)>,
    categories: Vec<(String, String)>,
    channels: Vec<(String, String)>,
    tiers: Vec<(String, String)>,
    templates: Vec<(String, String)>,
    segment_choices: Vec<(String, String)>,
    errors: Vec<String>,
}

async fn index(state: &AppState, session: &Session, errors: Vec<String>) -> Result<Response, ApiError> {
    let lang = current_lang();
    let all = segments::list(&state.db).await?;
    let segment_rows = all
        .iter()
        .map(|s| {
            let what = format!(
                "{} · {}",
                t(lang, &format!("segment-object-{}", s.definition.object)),
                t(lang, &format!("segment-kind-{}", s.definition.kind))
            );
            (format!("/marketing/segments/{}", encode(&s.id)), s.definition.name.clone(), what)
        })
        .collect();
    let campaign_rows = campaigns::list(&state.db)
        .await?
        .into_iter()
        .map(|c| {
            (
                format!("/marketing/campaigns/{}", encode(&c.id)),
                c.definition.name.clone(),
                t(lang, &format!("campaign-status-{}", c.status)),
                number(lang, c.recipients),
            )
        })
        .collect();
    let catalog = state.db.visible_catalog().await?;
    let categories = catalog
        .object("product")
        .and_then(|p| {
            p.field("category").map(|f| {
                f.options
                    .options
                    .iter()
                    .map(|o| (o.value.clone(), peyvand_crm::forms::pick(lang, &o.label_fa, &o.label_en).to_string()))
                    .collect()
            })
        })
        .unwrap_or_default();
    let channels = peyvand_crm::customers::consent::CHANNELS
        .iter()
        .map(|c| ((*c).to_string(), t(lang, &format!("consent-channel-{c}"))))
        .collect();
    let mut tiers = Vec::new();
    for p in peyvand_crm::loyalty::programs::list(&state.db).await? {
        for tier in &p.definition.tiers {
            tiers.push((
                format!("{}:{}", p.id, tier.key),
                format!(
                    "{} · {}",
                    p.definition.name(lang),
                    peyvand_crm::forms::pick(lang, &tier.name_fa, &tier.name_en)
                ),
            ));
        }
    }
    let templates = peyvand_crm::automation::templates::list(&state.db)
        .await?
        .into_iter()
        .filter(|t| t.object == "contact")
        .map(|t| (t.id, t.name))
        .collect();
    let segment_choices = all
        .iter()
        .filter(|s| s.definition.object == "contact")
        .map(|s| (s.id.clone(), s.definition.name.clone()))
        .collect();
    Ok(render(&IndexPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), "marketing"),
        tr: Words::new(lang),
        csrf: session.csrf.clone(),
        marketer: marketer(session),
        segments: segment_rows,
        campaigns: campaign_rows,
        categories,
        channels,
        tiers,
        templates,
        segment_choices,
        errors,
    }))
}

/// `GET /marketing`.
pub async fn marketing_page(State(state): State<AppState>, session: Session) -> Response {
    let result = async {
        super::admin::require(&session, Action::ReadRecords)?;
        index(&state, &session, Vec::new()).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// The segment the form says (numbers in any digits; empty conditions left out).
fn read_segment(pairs: &Pairs) -> Result<SegmentDef, Vec<String>> {
    let num = |k: &str| to_latin_digits(get(pairs, k)).parse::<i64>().ok();
    let filter = match get(pairs, "filter") {
        "" => None,
        text => Some(serde_json::from_str(text).map_err(|_| vec![t(current_lang(), "segment-filter-invalid")])?),
    };
    let mut conditions = Vec::new();
    if let Some(days) = num("bought_within") {
        conditions.push(SegmentCondition::BoughtWithin { days });
    }
    let amount = to_latin_digits(get(pairs, "spent_amount"));
    if !amount.is_empty() {
        conditions.push(SegmentCondition::SpentMore {
            amount,
            currency: "IRR".into(),
            days: num("spent_days").unwrap_or(90),
        });
    }
    if !get(pairs, "category").is_empty() {
        conditions.push(SegmentCondition::BoughtCategory { category: get(pairs, "category").to_string(), days: None });
    }
    if let Some(days) = num("no_order_for") {
        conditions.push(SegmentCondition::NoOrderFor { days });
    }
    if !get(pairs, "consented").is_empty() {
        conditions.push(SegmentCondition::Consented { channel: get(pairs, "consented").to_string() });
    }
    if let Some((program, tier)) = get(pairs, "tier").split_once(':') {
        conditions.push(SegmentCondition::LoyaltyTier { program: program.to_string(), tier: tier.to_string() });
    }
    Ok(SegmentDef {
        name: get(pairs, "name").to_string(),
        object: get(pairs, "object").to_string(),
        kind: get(pairs, "kind").to_string(),
        filter,
        conditions,
    })
}

/// `POST /marketing/segments` (managers and admins).
pub async fn create_segment(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let result = async {
        if !marketer(&session) {
            return Err(ApiError::Forbidden);
        }
        let def = match read_segment(&pairs) {
            Ok(d) => d,
            Err(errors) => return index(&state, &session, errors).await,
        };
        match segments::save(&state.db, None, def).await {
            Ok(s) => Ok(Redirect::to(&format!("/marketing/segments/{}", encode(&s.id))).into_response()),
            Err(e @ StoreError::Validation(_)) => {
                let errors = messages(e)?;
                index(&state, &session, errors).await
            }
            Err(e) => Err(e.into()),
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

#[derive(Template)]
#[template(path = "marketing_item.html")]
struct ItemPage {
    layout: Layout,
    tr: Words,
    csrf: String,
    name: String,
    heading: String,
    figures: Vec<(String, String)>,
    actions: Vec<(String, String)>,
    members: Vec<(String, String)>,
    errors: Vec<String>,
    /// A segment's grant forms (managers and admins).
    grant: Option<GrantView>,
    posted: Option<String>,
}

/// What a segment's page offers to give its members.
pub struct GrantView {
    pub id: String,
    /// A key the forms send back, so that a form sent twice gives once.
    pub key: String,
    /// Loyalty programs (contacts' segments only).
    pub programs: Vec<(String, String)>,
    /// Benefit kinds a grant may give.
    pub kinds: Vec<(String, String)>,
}

/// `GET /marketing/segments/{id}`: the live count and the first members one may read.
pub async fn segment_page(State(state): State<AppState>, Path(id): Path<String>, session: Session) -> Response {
    segment_view(&state, &session, &id, Vec::new(), None).await.unwrap_or_else(fail)
}

async fn segment_view(
    state: &AppState,
    session: &Session,
    id: &str,
    mut errors: Vec<String>,
    posted: Option<String>,
) -> Result<Response, ApiError> {
    super::admin::require(session, Action::ReadRecords)?;
    let lang = current_lang();
    let scoped = session.scoped(state.clone());
    let seg = segments::get(&scoped.db, id).await?;
    let (mut figures, mut members) = (Vec::new(), Vec::new());
    match segments::count_and_first(&scoped.db, &seg, 50).await {
        Ok((count, first)) => {
            figures.push((t(lang, "segment-count"), number(lang, count as i64)));
            members = first
                .into_iter()
                .map(|(id, title)| (format!("/records/{}/{}", seg.definition.object, encode(&id)), title))
                .collect();
        }
        Err(e @ StoreError::Validation(_)) => errors.extend(messages(e)?),
        Err(e) => return Err(e.into()),
    }
    let catalog = scoped.db.visible_catalog().await?;
    let grant = if marketer(session) {
        let programs = if seg.definition.object == "contact" {
            peyvand_crm::loyalty::programs::list(&state.db)
                .await?
                .into_iter()
                .filter(|p| p.definition.active)
                .map(|p| (p.id.clone(), p.definition.name(lang).to_string()))
                .collect()
        } else {
            Vec::new()
        };
        let kinds = catalog
            .object("benefit")
            .and_then(|b| {
                b.field("kind").map(|f| {
                    f.options
                        .options
                        .iter()
                        .filter(|o| o.value != "price_list")
                        .map(|o| {
                            (o.value.clone(), peyvand_crm::forms::pick(lang, &o.label_fa, &o.label_en).to_string())
                        })
                        .collect()
                })
            })
            .unwrap_or_default();
        Some(GrantView { id: encode(&seg.id), key: peyvand_store::new_id(), programs, kinds })
    } else {
        None
    };
    Ok(render(&ItemPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), "marketing"),
        tr: Words::new(lang),
        csrf: session.csrf.clone(),
        name: seg.definition.name.clone(),
        heading: t(lang, "segment"),
        figures,
        actions: Vec::new(),
        members,
        errors,
        grant,
        posted,
    }))
}

/// What a grant's form came back with: the page with what was given, or why nothing was.
async fn after_grant(
    state: &AppState,
    session: &Session,
    id: &str,
    done: Result<peyvand_crm::marketing::grants::Granted, StoreError>,
) -> Result<Response, ApiError> {
    let lang = current_lang();
    match done {
        Ok(g) => {
            let said = crate::i18n::t_args(
                lang,
                "segment-granted",
                &[("given", number(lang, g.given as i64)), ("members", number(lang, g.members as i64))],
            );
            segment_view(state, session, id, Vec::new(), Some(said)).await
        }
        Err(e @ StoreError::Validation(_)) => segment_view(state, session, id, messages(e)?, None).await,
        Err(e) => Err(e.into()),
    }
}

/// `POST /marketing/segments/{id}/points` (managers and admins): points for every member.
pub async fn grant_points(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let result = async {
        if !marketer(&session) {
            return Err(ApiError::Forbidden);
        }
        let scoped = session.scoped(state.clone());
        let points = to_latin_digits(get(&pairs, "points").trim()).parse::<i64>().unwrap_or(0);
        let grant = peyvand_crm::marketing::grants::PointsGrant {
            program: get(&pairs, "program").to_string(),
            points,
            note: get(&pairs, "note").to_string(),
        };
        let key = Some(get(&pairs, "key")).filter(|k| !k.is_empty());
        let done =
            peyvand_crm::marketing::grants::award_points(&scoped.db, Some(&session.user.id), &id, &grant, key).await;
        after_grant(&state, &session, &id, done).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /marketing/segments/{id}/benefits` (managers and admins): a benefit for every member.
pub async fn grant_benefit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let result = async {
        if !marketer(&session) {
            return Err(ApiError::Forbidden);
        }
        let scoped = session.scoped(state.clone());
        let mut fields = serde_json::Map::new();
        for name in ["name", "kind", "percent", "valid_to", "description"] {
            let v = to_latin_digits(get(&pairs, name).trim());
            if !v.is_empty() {
                fields.insert(name.into(), serde_json::json!(v));
            }
        }
        let amount = to_latin_digits(get(&pairs, "amount").trim());
        if !amount.is_empty() {
            fields.insert("amount".into(), serde_json::json!({ "amount": amount, "currency": "IRR" }));
        }
        let key = Some(get(&pairs, "key")).filter(|k| !k.is_empty());
        let done =
            peyvand_crm::marketing::grants::grant_benefit(&scoped.db, Some(&session.user.id), &id, &fields, key).await;
        after_grant(&state, &session, &id, done).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /marketing/campaigns` (managers and admins).
pub async fn create_campaign(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    let result = async {
        if !marketer(&session) {
            return Err(ApiError::Forbidden);
        }
        let num = |k: &str, d: i64| to_latin_digits(get(&pairs, k)).parse::<i64>().unwrap_or(d);
        let def = CampaignDef {
            name: get(&pairs, "name").to_string(),
            template: get(&pairs, "template").to_string(),
            segment: get(&pairs, "segment").to_string(),
            scheduled_at: None,
            per_minute: num("per_minute", 600),
            attribution_days: num("attribution_days", 7),
        };
        match campaigns::save(&state.db, None, def).await {
            Ok(c) => Ok(Redirect::to(&format!("/marketing/campaigns/{}", encode(&c.id))).into_response()),
            Err(e @ StoreError::Validation(_)) => {
                let errors = messages(e)?;
                index(&state, &session, errors).await
            }
            Err(e) => Err(e.into()),
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `GET /marketing/campaigns/{id}`: the report.
pub async fn campaign_page(State(state): State<AppState>, Path(id): Path<String>, session: Session) -> Response {
    let result = async {
        super::admin::require(&session, Action::ReadRecords)?;
        let lang = current_lang();
        let c = campaigns::get(&state.db, &id).await?;
        let r = campaigns::report(&state.db, &id).await?;
        let mut figures = vec![(t(lang, "campaign-status"), t(lang, &format!("campaign-status-{}", c.status)))];
        for (key, n) in [
            ("campaign-recipients", r.recipients),
            ("campaign-queued", r.queued),
            ("campaign-sent", r.sent),
            ("campaign-suppressed", r.suppressed),
            ("campaign-failed", r.failed),
            ("campaign-bounced", r.bounced),
            ("campaign-clicked", r.clicked),
            ("campaign-unsubscribed", r.unsubscribed),
            ("campaign-buyers", r.buyers),
        ] {
            figures.push((t(lang, key), number(lang, n)));
        }
        for (amount, currency) in &r.revenue {
            figures.push((t(lang, "campaign-revenue"), super::display::format_money(lang, amount, currency)));
        }
        let mut actions = Vec::new();
        if marketer(&session) {
            if c.status == "draft" {
                actions.push((format!("/marketing/campaigns/{}/start", encode(&id)), t(lang, "campaign-start")));
            }
            if ["draft", "scheduled", "sending"].contains(&c.status.as_str()) {
                actions.push((format!("/marketing/campaigns/{}/cancel", encode(&id)), t(lang, "campaign-cancel")));
            }
        }
        let catalog = state.db.visible_catalog().await?;
        Ok::<_, ApiError>(render(&ItemPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), "marketing"),
            tr: Words::new(lang),
            csrf: session.csrf.clone(),
            name: c.definition.name.clone(),
            heading: t(lang, "campaign-report"),
            figures,
            actions,
            members: Vec::new(),
            errors: Vec::new(),
            grant: None,
            posted: None,
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

async fn campaign_action(state: AppState, session: Session, id: String, start: bool) -> Response {
    let result = async {
        if !marketer(&session) {
            return Err(ApiError::Forbidden);
        }
        let done = if start { campaigns::start(&state.db, &id).await } else { campaigns::cancel(&state.db, &id).await };
        match done {
            Ok(_) => Ok(Redirect::to(&format!("/marketing/campaigns/{}", encode(&id))).into_response()),
            Err(e @ StoreError::Validation(_)) => {
                Ok((StatusCode::UNPROCESSABLE_ENTITY, messages(e)?.join(" ")).into_response())
            }
            Err(e) => Err(e.into()),
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn start_campaign(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    campaign_action(state, session, id, true).await
}

pub async fn cancel_campaign(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    campaign_action(state, session, id, false).await
}

/// `GET /c/{token}`: a campaign's tracked link, counted and followed.
pub async fn follow_link(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match campaigns::click(&state.db, &token).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(StoreError::NotFound(_)) => super::error_page(StatusCode::NOT_FOUND, "consent-link-invalid"),
        Err(e) => fail(ApiError::from(e)),
    }
}
