//! Commissions on pages: `/commissions` (the viewer's own statements, the period's statements
//! of the people they may read, with approval, and the plans), a statement
//! (`/commissions/statements/{user}/{key}`), a plan's form (admins), and the split panel of a
//! deal's or an order's page.

use super::admin::{Pairs, Words, get, messages};
use super::display::format_money;
use super::records::fail;
use super::session::encode;
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::i18n::t;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_crm::insights::commissions::{self, BASES, PLAN_PERIODS, Plan, PlanInput, Split, Tier};
use peyvand_records::access::{Action, Role};
use peyvand_records::aggregate::{Bucket, Calendar, bucket_label};
use peyvand_records::normalize::to_latin_digits;
use peyvand_records::value::{format_date, parse_date};
use peyvand_store::Error as StoreError;
use peyvand_store::records::Record;
use std::collections::HashMap;

/// A number of percent as the page writes it.
fn percent(lang: &str, v: &str) -> String {
    format!("{}{}", super::display::format_number(lang, v), if lang == "fa" { "٪" } else { "%" })
}

fn day_label(lang: &str, day: &str) -> String {
    parse_date(day).map(|d| crate::i18n::format_date(lang, d)).unwrap_or_default()
}

fn period_label(lang: &str, period: &str, calendar: &str, key: &str) -> String {
    let bucket = Bucket::parse(period).unwrap_or(Bucket::Month);
    bucket_label(lang, bucket, Calendar::parse(calendar).unwrap_or_default(), key)
}

fn statement_href(user: &str, key: &str) -> String {
    format!("/commissions/statements/{}/{}", encode(user), encode(key))
}

/// A plan in words: its rate, tiers and category rates.
fn plan_terms(lang: &str, plan: &Plan, categories: &HashMap<String, String>) -> (String, String, String) {
    let rate = format!("{} {}", percent(lang, &plan.rate), t(lang, &format!("commission-basis-{}", plan.basis)));
    let tiers = plan
        .tiers
        .iter()
        .map(|tier| {
            let m = ("multiplier", super::display::format_number(lang, &tier.multiplier));
            let from = ("from", percent(lang, &tier.from));
            match tier.to.as_deref() {
                Some(to) => crate::i18n::t_args(lang, "commission-tier-range", &[from, ("to", percent(lang, to)), m]),
                None => crate::i18n::t_args(lang, "commission-tier-open", &[from, m]),
            }
        })
        .collect::<Vec<_>>()
        .join(if lang == "fa" { "؛ " } else { "; " });
    let rates = plan
        .category_rates
        .iter()
        .map(|(c, r)| format!("{}: {}", categories.get(c).cloned().unwrap_or_else(|| c.clone()), percent(lang, r)))
        .collect::<Vec<_>>()
        .join("، ");
    (rate, tiers, rates)
}

/// The product categories, value → label.
async fn category_labels(state: &AppState, lang: &str) -> Result<Vec<(String, String)>, ApiError> {
    let product = state.db.object("product").await?;
    Ok(product
        .field("category")
        .map(|f| {
            f.options.options.iter().map(|o| (o.value.clone(), f.option_label(&o.value, lang).to_string())).collect()
        })
        .unwrap_or_default())
}

struct StandingRow {
    name: String,
    person_href: String,
    href: String,
    credited: String,
    total: String,
    status: String,
    approved: bool,
    may_approve: bool,
    approve_action: String,
}

struct PlanRow {
    id: String,
    name: String,
    rate: String,
    tiers: String,
    rates: String,
    members: String,
    period: String,
    valid: String,
}

#[derive(Template)]
#[template(path = "commissions.html")]
struct CommissionsPage {
    layout: Layout,
    tr: Words,
    csrf: String,
    /// The viewer's statements of the current and the last period: label and link.
    mine: Vec<(String, String)>,
    period: String,
    previous: String,
    next: String,
    standings: Vec<StandingRow>,
    plans: Vec<PlanRow>,
    is_admin: bool,
    errors: Vec<String>,
}

/// `GET /commissions?day=`: the viewer's statements, the period's statements of the people they
/// may read (a manager approves those of a period that is over), and the plans.
pub async fn commissions_page(State(state): State<AppState>, session: Session, Query(pairs): Query<Pairs>) -> Response {
    page_view(&state, &session, &pairs, Vec::new()).await.unwrap_or_else(fail)
}

async fn page_view(
    state: &AppState,
    session: &Session,
    pairs: &Pairs,
    errors: Vec<String>,
) -> Result<Response, ApiError> {
    super::admin::require(session, Action::ReadRecords)?;
    let lang = current_lang();
    let scoped = session.scoped(state.clone());
    let db = &scoped.db;
    let catalog = db.visible_catalog().await?;
    let today = db.today();
    let plans = commissions::list_plans(db).await?;
    let calendar =
        plans.first().map(|p| p.calendar).unwrap_or(if lang == "fa" { Calendar::Jalali } else { Calendar::Gregorian });
    let day = parse_date(get(pairs, "day")).filter(|d| (1900..2200).contains(&d.year())).unwrap_or(today);
    let start = Bucket::Month.start(calendar, day);
    let end = Bucket::Month.next(calendar, start);
    let names: HashMap<String, String> = state.db.list_users().await?.into_iter().map(|u| (u.id, u.name)).collect();
    let mut mine = Vec::new();
    let me = session.user.id.clone();
    let last_day = |d: time::Date| {
        let plan_start = plans
            .iter()
            .find(|p| p.members.contains(&me))
            .map(|p| Bucket::parse(&p.period).unwrap_or(Bucket::Month).start(p.calendar, d))
            .unwrap_or(d);
        plan_start - time::Duration::days(1)
    };
    for (label, on) in [("commission-this-period", today), ("commission-last-period", last_day(today))] {
        if let Some(key) = commissions::key_on(db, &me, on).await? {
            mine.push((t(lang, label), statement_href(&me, &key)));
        }
    }
    let mut standings = Vec::new();
    for s in commissions::overview(db, start).await? {
        let approved = s.status == "approved";
        standings.push(StandingRow {
            name: names.get(&s.user_id).cloned().unwrap_or_default(),
            person_href: format!("/people/{}", encode(&s.user_id)),
            href: statement_href(&s.user_id, &s.key),
            credited: format_money(lang, &s.credited, "IRR"),
            total: format_money(lang, &s.total, "IRR"),
            status: t(lang, &format!("commission-status-{}", s.status)),
            approved,
            may_approve: s.may_approve,
            approve_action: format!("{}/approve", statement_href(&s.user_id, &s.key)),
        });
    }
    let categories: HashMap<String, String> = category_labels(state, lang).await?.into_iter().collect();
    let rows = plans
        .iter()
        .map(|p| {
            let (rate, tiers, rates) = plan_terms(lang, p, &categories);
            let members = p.members.iter().filter_map(|m| names.get(m).cloned()).collect::<Vec<_>>().join("، ");
            let valid = match &p.valid_to {
                Some(to) => format!("{} – {}", day_label(lang, &p.valid_from), day_label(lang, to)),
                None => format!("{} {}", t(lang, "commission-from"), day_label(lang, &p.valid_from)),
            };
            PlanRow {
                id: encode(&p.id),
                name: p.name.clone(),
                rate,
                tiers,
                rates,
                members,
                period: t(lang, &format!("quota-period-{}", p.period)),
                valid,
            }
        })
        .collect();
    let key = Bucket::Month.key(calendar, start);
    Ok(render(&CommissionsPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), "commissions"),
        tr: Words::new(lang),
        csrf: session.csrf.clone(),
        mine,
        period: bucket_label(lang, Bucket::Month, calendar, &key),
        previous: format!("/commissions?day={}", format_date(start - time::Duration::days(1))),
        next: format!("/commissions?day={}", format_date(end)),
        standings,
        plans: rows,
        is_admin: session.user.role == Role::Admin,
        errors,
    }))
}

struct LineRow {
    title: String,
    href: String,
    day: String,
    category: String,
    amount: String,
    share: String,
    rate: String,
    multiplier: String,
    commission: String,
    clawback: bool,
}

#[derive(Template)]
#[template(path = "commission_statement.html")]
struct StatementPage {
    layout: Layout,
    tr: Words,
    csrf: String,
    person: String,
    person_href: String,
    plan: String,
    terms: String,
    period: String,
    previous: String,
    next: String,
    lines: Vec<LineRow>,
    /// "Lines 1–200 of 30,412" and the pages of lines before and after, when not all are shown.
    lines_shown: String,
    lines_before: String,
    lines_after: String,
    credited: String,
    commission: String,
    clawback: String,
    total: String,
    has_clawback: bool,
    quota: String,
    status: String,
    approved: String,
    may_approve: bool,
    period_over: bool,
    action: String,
    errors: Vec<String>,
}

/// `GET /commissions/statements/{user}/{key}`: a person's statement of a period.
/// Lines of a statement shown on a page (`?from=` pages through the rest).
const PAGE_LINES: usize = 200;

pub async fn statement_page(
    State(state): State<AppState>,
    session: Session,
    Path((user, key)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let from = q.get("from").and_then(|f| to_latin_digits(f).parse::<usize>().ok());
    statement_view(&state, &session, &user, &key, from.unwrap_or(0), Vec::new()).await.unwrap_or_else(fail)
}

async fn statement_view(
    state: &AppState,
    session: &Session,
    user: &str,
    key: &str,
    from: usize,
    errors: Vec<String>,
) -> Result<Response, ApiError> {
    super::admin::require(session, Action::ReadRecords)?;
    let lang = current_lang();
    let scoped = session.scoped(state.clone());
    let db = &scoped.db;
    let catalog = db.visible_catalog().await?;
    let s = commissions::statement_part(db, user, key, from..from.saturating_add(PAGE_LINES)).await?;
    let person = state.db.user(user).await.map(|u| u.name).unwrap_or_default();
    let categories: HashMap<String, String> = category_labels(state, lang).await?.into_iter().collect();
    let money = |v: &str| format_money(lang, v, &s.currency);
    // The plan as it is now (none when deleted since the statement was locked).
    let plan = commissions::get_plan(&state.db, &s.plan_id).await.ok();
    let terms = match &plan {
        Some(plan) => {
            let (rate, tiers, rates) = plan_terms(lang, plan, &categories);
            [rate, tiers, rates].into_iter().filter(|x| !x.is_empty()).collect::<Vec<_>>().join(" · ")
        }
        None => String::new(),
    };
    // Where these lines are among all, with the pages before and after when there are more.
    let here = statement_href(user, &s.key);
    let number = |n: usize| super::display::format_number(lang, &n.to_string());
    let shown_to = s.lines_from + s.lines.len();
    let lines_shown = if s.line_count > s.lines.len() {
        crate::i18n::t_args(
            lang,
            "commission-lines-shown",
            &[("from", number(s.lines_from + 1)), ("to", number(shown_to)), ("count", number(s.line_count))],
        )
    } else {
        String::new()
    };
    let lines_before = if s.lines_from > 0 {
        format!("{here}?from={}", s.lines_from.saturating_sub(PAGE_LINES))
    } else {
        String::new()
    };
    let lines_after = if shown_to < s.line_count { format!("{here}?from={shown_to}") } else { String::new() };
    let lines = s
        .lines
        .iter()
        .map(|l| LineRow {
            title: l.title.clone(),
            href: format!("/records/{}/{}", l.object, encode(&l.record_id)),
            day: day_label(lang, &l.day),
            category: l
                .category
                .as_ref()
                .map(|c| categories.get(c).cloned().unwrap_or_else(|| c.clone()))
                .unwrap_or_default(),
            amount: money(&l.amount),
            share: percent(lang, &l.share),
            rate: percent(lang, &l.rate),
            multiplier: format!("×{}", super::display::format_number(lang, &l.multiplier)),
            commission: money(&l.commission),
            clawback: l.clawback,
        })
        .collect();
    let quota = match (&s.quota_target, s.attainment_before, s.attainment_after) {
        (Some(target), Some(before), Some(after)) => crate::i18n::t_args(
            lang,
            "commission-quota-line",
            &[
                ("target", money(target)),
                ("before", percent(lang, &format!("{}", before.round() as i64))),
                ("after", percent(lang, &format!("{}", after.round() as i64))),
            ],
        ),
        _ => t(lang, "commission-no-quota"),
    };
    let approved = match (&s.approved_by, &s.approved_at) {
        (Some(by), Some(at)) => {
            let by = state.db.user(by).await.map(|u| u.name).unwrap_or_default();
            let at = peyvand_records::value::parse_datetime(at)
                .map(|d| crate::i18n::format_date(lang, d.to_offset(db.local_offset()).date()))
                .unwrap_or_default();
            crate::i18n::t_args(lang, "commission-approved-by", &[("who", by), ("when", at)])
        }
        _ => String::new(),
    };
    let previous = commissions::day_before(&s.starts_on);
    let (prev_key, next_key) = match &plan {
        Some(plan) => (
            previous.map(|d| commissions::key_of(plan, d)),
            parse_date(&s.ends_before).map(|d| commissions::key_of(plan, d)),
        ),
        None => (None, None),
    };
    Ok(render(&StatementPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), "commissions"),
        tr: Words::new(lang),
        csrf: session.csrf.clone(),
        person_href: format!("/people/{}", encode(user)),
        person,
        plan: s.plan_name.clone(),
        terms,
        period: period_label(lang, &s.period, &s.calendar, &s.key),
        previous: prev_key.map(|k| statement_href(user, &k)).unwrap_or_default(),
        next: next_key.map(|k| statement_href(user, &k)).unwrap_or_default(),
        lines,
        lines_shown,
        lines_before,
        lines_after,
        credited: money(&s.credited),
        commission: money(&s.commission),
        has_clawback: s.clawback != "0",
        clawback: money(&s.clawback),
        total: money(&s.total),
        quota,
        status: t(lang, &format!("commission-status-{}", s.status)),
        approved,
        may_approve: s.status == "open" && commissions::may_approve(db, user),
        period_over: s.period_over,
        action: format!("{}/approve", statement_href(user, &s.key)),
        errors,
    }))
}

/// `POST /commissions/statements/{user}/{key}/approve`.
pub async fn approve_statement(
    State(state): State<AppState>,
    Path((user, key)): Path<(String, String)>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    async {
        let scoped = session.scoped(state.clone());
        match commissions::approve(&scoped.db, &user, &key).await {
            Ok(s) => Ok(Redirect::to(&statement_href(&user, &s.key)).into_response()),
            Err(e @ StoreError::Validation(_)) => statement_view(&state, &session, &user, &key, 0, messages(e)?).await,
            Err(StoreError::Conflict { .. }) => Ok(Redirect::to(&statement_href(&user, &key)).into_response()),
            Err(e) => Err(e.into()),
        }
    }
    .await
    .unwrap_or_else(fail)
}

#[derive(Template)]
#[template(path = "commission_plan.html")]
struct PlanPage {
    layout: Layout,
    tr: Words,
    csrf: String,
    heading: String,
    action: String,
    form: PlanInput,
    /// Three rows of tiers (from, to, multiplier), filled from the plan.
    tiers: Vec<(String, String, String)>,
    /// Category: value, label, rate.
    categories: Vec<(String, String, String)>,
    /// Person: id, name, in the plan.
    people: Vec<(String, String, bool)>,
    bases: Vec<(String, String)>,
    periods: Vec<(String, String)>,
    /// The plan's id when it exists (to delete it).
    id: String,
    errors: Vec<String>,
}

fn blank_plan() -> PlanInput {
    PlanInput {
        name: String::new(),
        basis: "paid_orders".into(),
        rate: String::new(),
        currency: String::new(),
        period: "month".into(),
        calendar: "jalali".into(),
        tiers: Vec::new(),
        category_rates: Default::default(),
        members: Vec::new(),
        valid_from: String::new(),
        valid_to: None,
    }
}

async fn plan_view(
    state: &AppState,
    session: &Session,
    id: Option<&str>,
    form: PlanInput,
    errors: Vec<String>,
) -> Result<Response, ApiError> {
    if session.user.role != Role::Admin {
        return Err(ApiError::Forbidden);
    }
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let mut tiers: Vec<(String, String, String)> =
        form.tiers.iter().map(|t| (t.from.clone(), t.to.clone().unwrap_or_default(), t.multiplier.clone())).collect();
    while tiers.len() < 3 {
        tiers.push(Default::default());
    }
    let categories = category_labels(state, lang)
        .await?
        .into_iter()
        .map(|(v, l)| {
            let rate = form.category_rates.get(&v).cloned().unwrap_or_default();
            (v, l, rate)
        })
        .collect();
    let people = state
        .db
        .list_users()
        .await?
        .into_iter()
        .filter(|u| u.active && matches!(u.role, Role::Agent | Role::Manager))
        .map(|u| {
            let member = form.members.contains(&u.id);
            (u.id, u.name, member)
        })
        .collect();
    Ok(render(&PlanPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), "commissions"),
        tr: Words::new(lang),
        csrf: session.csrf.clone(),
        heading: t(lang, if id.is_some() { "commission-plan-edit" } else { "commission-plan-new" }),
        action: id.map(|i| format!("/commissions/plans/{}", encode(i))).unwrap_or_else(|| "/commissions/plans".into()),
        form,
        tiers,
        categories,
        people,
        bases: BASES.iter().map(|b| (b.to_string(), t(lang, &format!("commission-basis-{b}")))).collect(),
        periods: PLAN_PERIODS.iter().map(|p| (p.to_string(), t(lang, &format!("quota-period-{p}")))).collect(),
        id: id.map(encode).unwrap_or_default(),
        errors,
    }))
}

/// `GET /commissions/plans/new` (admins).
pub async fn new_plan(State(state): State<AppState>, session: Session) -> Response {
    let mut form = blank_plan();
    form.valid_from = format_date(state.db.today());
    form.calendar = if current_lang() == "fa" { "jalali" } else { "gregorian" }.into();
    plan_view(&state, &session, None, form, Vec::new()).await.unwrap_or_else(fail)
}

/// `GET /commissions/plans/{id}` (admins): the plan's form.
pub async fn edit_plan(State(state): State<AppState>, session: Session, Path(id): Path<String>) -> Response {
    async {
        let plan = commissions::get_plan(&state.db, &id).await?;
        let form = PlanInput {
            name: plan.name,
            basis: plan.basis,
            rate: plan.rate,
            currency: plan.currency,
            period: plan.period,
            calendar: match plan.calendar {
                Calendar::Jalali => "jalali".into(),
                Calendar::Gregorian => "gregorian".into(),
            },
            tiers: plan.tiers,
            category_rates: plan.category_rates,
            members: plan.members,
            valid_from: plan.valid_from,
            valid_to: plan.valid_to,
        };
        plan_view(&state, &session, Some(&id), form, Vec::new()).await
    }
    .await
    .unwrap_or_else(fail)
}

/// The plan a form sent (Persian digits welcome).
fn plan_input(pairs: &Pairs) -> PlanInput {
    let latin = |k: &str| to_latin_digits(get(pairs, k)).trim().to_string();
    let all = |k: &str| -> Vec<String> {
        pairs.iter().filter(|(key, _)| key == k).map(|(_, v)| to_latin_digits(v).trim().to_string()).collect()
    };
    let (froms, tos, mults): (Vec<String>, Vec<String>, Vec<String>) =
        (all("tier_from"), all("tier_to"), all("tier_multiplier"));
    let tiers = froms
        .iter()
        .enumerate()
        .filter(|(i, from)| !from.is_empty() || !mults.get(*i).is_none_or(String::is_empty))
        .map(|(i, from)| Tier {
            from: from.clone(),
            to: tos.get(i).filter(|t| !t.is_empty()).cloned(),
            multiplier: mults.get(i).cloned().unwrap_or_default(),
        })
        .collect();
    let category_rates = pairs
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("rate_")?.to_string(), to_latin_digits(v).trim().to_string())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    PlanInput {
        name: get(pairs, "name").to_string(),
        basis: get(pairs, "basis").to_string(),
        rate: latin("rate"),
        currency: get(pairs, "currency").to_string(),
        period: get(pairs, "period").to_string(),
        calendar: get(pairs, "calendar").to_string(),
        tiers,
        category_rates,
        members: pairs.iter().filter(|(k, _)| k == "members").map(|(_, v)| v.clone()).collect(),
        valid_from: latin("valid_from"),
        valid_to: Some(latin("valid_to")).filter(|v| !v.is_empty()),
    }
}

async fn save_plan(state: AppState, session: Session, id: Option<String>, pairs: Pairs) -> Response {
    async {
        let scoped = session.scoped(state.clone());
        let input = plan_input(&pairs);
        match commissions::save_plan(&scoped.db, id.as_deref(), &input).await {
            Ok(_) => Ok(Redirect::to("/commissions").into_response()),
            Err(e @ StoreError::Validation(_)) => {
                let errors = messages(e)?;
                let mut response = plan_view(&state, &session, id.as_deref(), input, errors).await?;
                *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
                Ok(response)
            }
            Err(e) => Err::<Response, ApiError>(e.into()),
        }
    }
    .await
    .unwrap_or_else(fail)
}

/// `POST /commissions/plans`: a new plan (admins).
pub async fn create_plan(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    save_plan(state, session, None, pairs).await
}

/// `POST /commissions/plans/{id}`: the plan changed (admins).
pub async fn update_plan(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    save_plan(state, session, Some(id), pairs).await
}

/// `POST /commissions/plans/{id}/delete` (admins).
pub async fn delete_plan(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    async {
        let scoped = session.scoped(state.clone());
        commissions::delete_plan(&scoped.db, &id).await?;
        Ok::<_, ApiError>(Redirect::to("/commissions").into_response())
    }
    .await
    .unwrap_or_else(fail)
}

#[derive(Template)]
#[template(path = "commission_split_panel.html")]
struct SplitPanel {
    tr: Words,
    csrf: String,
    action: String,
    /// Name and share of each person.
    shares: Vec<(String, String)>,
    /// Whether the viewer may change it, whom to choose, and three rows (user, share).
    writer: bool,
    people: Vec<(String, String)>,
    rows: Vec<(String, String)>,
    message: String,
}

async fn split_html(
    state: &AppState,
    session: &Session,
    object: &str,
    id: &str,
    message: String,
) -> Result<String, ApiError> {
    let lang = current_lang();
    let scoped = session.scoped(state.clone());
    let splits = commissions::splits(&scoped.db, object, id).await?;
    let users = state.db.list_users().await?;
    let names: HashMap<&str, &str> = users.iter().map(|u| (u.id.as_str(), u.name.as_str())).collect();
    let shares = splits
        .iter()
        .map(|s| (names.get(s.user_id.as_str()).copied().unwrap_or_default().to_string(), percent(lang, &s.share)))
        .collect();
    let mut rows: Vec<(String, String)> = splits.into_iter().map(|s| (s.user_id, s.share)).collect();
    while rows.len() < 3 {
        rows.push(Default::default());
    }
    let people = users
        .iter()
        .filter(|u| u.active && matches!(u.role, Role::Agent | Role::Manager))
        .map(|u| (u.id.clone(), u.name.clone()))
        .collect();
    SplitPanel {
        tr: Words::new(lang),
        csrf: session.csrf.clone(),
        action: format!("/commissions/splits/{object}/{}", encode(id)),
        shares,
        writer: matches!(session.user.role, Role::Admin | Role::Manager),
        people,
        rows,
        message,
    }
    .render()
    .map_err(|e| ApiError::Internal(e.to_string()))
}

/// The commission split panel of a deal's or an order's page.
pub async fn split_panel(
    state: &AppState,
    session: &Session,
    object: &str,
    record: &Record,
) -> Result<String, ApiError> {
    split_html(state, session, object, &record.id, String::new()).await
}

/// `POST /commissions/splits/{object}/{id}`: the split from the panel (empty rows left out).
pub async fn set_splits(
    State(state): State<AppState>,
    Path((object, id)): Path<(String, String)>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    async {
        super::admin::require(&session, Action::WriteRecords)?;
        let scoped = session.scoped(state.clone());
        let users: Vec<&String> = pairs.iter().filter(|(k, _)| k == "user_id").map(|(_, v)| v).collect();
        let shares: Vec<String> =
            pairs.iter().filter(|(k, _)| k == "share").map(|(_, v)| to_latin_digits(v).trim().to_string()).collect();
        let input: Vec<Split> = users
            .iter()
            .zip(shares.iter())
            .filter(|(u, _)| !u.is_empty())
            .map(|(u, s)| Split { user_id: (*u).clone(), share: s.clone() })
            .collect();
        match commissions::set_splits(&scoped.db, &object, &id, &input).await {
            Ok(_) => Ok(Redirect::to(&format!("/records/{object}/{}#commission-split", encode(&id))).into_response()),
            Err(e @ StoreError::Validation(_)) => {
                let html = split_html(&state, &session, &object, &id, messages(e)?.join(" ")).await?;
                Ok((StatusCode::UNPROCESSABLE_ENTITY, axum::response::Html(html)).into_response())
            }
            Err(e) => Err::<Response, ApiError>(e.into()),
        }
    }
    .await
    .unwrap_or_else(fail)
}
