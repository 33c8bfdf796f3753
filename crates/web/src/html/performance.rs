//! Sales performance on pages: quotas with their attainment (`/quotas`, set by admins and
//! managers), the leaderboard by a measure and period with the awards given (`/leaderboard`),
//! and a person's profile with their awards and current quotas (`/people/{id}`).

use super::admin::{Pairs, Words, get, messages};
use super::dashboards::{attainment_bar, quota_value, subject_name};
use super::display::{format_money, format_number};
use super::records::fail;
use super::session::encode;
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::i18n::t;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_crm::insights::performance::{self, AwardInput, BOARD_MEASURES};
use peyvand_crm::insights::quotas::{self, MEASURES, PERIODS, QuotaInput};
use peyvand_records::access::{Action, Role};
use peyvand_records::aggregate::{Bucket, Calendar, bucket_label, key_start};
use peyvand_store::Error as StoreError;

/// A quota as the page lists it.
struct QuotaRow {
    id: String,
    who: String,
    period: String,
    measure: String,
    actual: String,
    actual_href: String,
    target: String,
    bar: String,
    may_delete: bool,
}

#[derive(Template)]
#[template(path = "quotas.html")]
struct QuotasPage {
    layout: Layout,
    tr: Words,
    csrf: String,
    rows: Vec<QuotaRow>,
    /// Whether the viewer sets quotas (an admin or a manager).
    may_set: bool,
    people: Vec<(String, String)>,
    teams: Vec<(String, String)>,
    periods: Vec<(String, String)>,
    measures: Vec<(String, String)>,
    /// The form's values (kept after an error).
    form: QuotaInput,
    errors: Vec<String>,
}

/// `GET /quotas`: the quotas one reads, the current ones first, with their attainment.
pub async fn quotas_page(State(state): State<AppState>, session: Session) -> Response {
    let form = QuotaInput {
        user_id: None,
        team_id: None,
        period: "month".into(),
        calendar: String::new(),
        key: String::new(),
        measure: "won_amount".into(),
        target: String::new(),
        currency: String::new(),
    };
    quotas_view(&state, &session, form, Vec::new()).await.unwrap_or_else(fail)
}

async fn quotas_view(
    state: &AppState,
    session: &Session,
    mut form: QuotaInput,
    errors: Vec<String>,
) -> Result<Response, ApiError> {
    super::admin::require(session, Action::ReadRecords)?;
    let lang = current_lang();
    let scoped = session.scoped(state.clone());
    let db = &scoped.db;
    let catalog = db.visible_catalog().await?;
    let may_set = matches!(session.user.role, Role::Admin | Role::Manager);
    let mut rows = Vec::new();
    for q in quotas::list(db).await? {
        let a = quotas::attainment(db, &q).await?;
        let bucket = Bucket::parse(&q.period).unwrap_or(Bucket::Month);
        rows.push(QuotaRow {
            who: subject_name(db, &q).await,
            period: bucket_label(lang, bucket, q.calendar, &q.key),
            measure: t(lang, &format!("quota-measure-{}", q.measure)),
            actual: quota_value(lang, &q, &a.actual),
            actual_href: format!("/records/{}?filter={}", a.object, encode(&a.drill.to_string())),
            target: quota_value(lang, &q, &q.target),
            bar: attainment_bar(lang, &a),
            may_delete: may_set,
            id: q.id,
        });
    }
    let users = state.db.list_users().await?;
    let viewer = &session.viewer;
    let people = users
        .into_iter()
        .filter(|u| u.active && matches!(u.role, Role::Agent | Role::Manager))
        .filter(|u| session.user.role == Role::Admin || (u.id != session.user.id && viewer.team_users.contains(&u.id)))
        .map(|u| (u.id, u.name))
        .collect();
    let teams = state
        .db
        .list_teams()
        .await?
        .into_iter()
        .filter(|t| session.user.role == Role::Admin || t.manager_id.as_deref() == Some(session.user.id.as_str()))
        .map(|t| (t.id, t.name))
        .collect();
    if form.key.is_empty() {
        let calendar = if lang == "fa" { Calendar::Jalali } else { Calendar::Gregorian };
        form.key = Bucket::Month.key(calendar, db.today());
        form.calendar = if lang == "fa" { "jalali" } else { "gregorian" }.into();
    }
    Ok(render(&QuotasPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), "quotas"),
        tr: Words::new(lang),
        csrf: session.csrf.clone(),
        rows,
        may_set,
        people,
        teams,
        periods: PERIODS.iter().map(|p| (p.to_string(), t(lang, &format!("quota-period-{p}")))).collect(),
        measures: MEASURES.iter().map(|m| (m.to_string(), t(lang, &format!("quota-measure-{m}")))).collect(),
        form,
        errors,
    }))
}

/// `POST /quotas`: a new quota from the form (`user_id` or `team_id`; Persian digits welcome).
pub async fn create_quota(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    async {
        let scoped = session.scoped(state.clone());
        let latin = |k: &str| peyvand_records::normalize::to_latin_digits(get(&pairs, k));
        let input = QuotaInput {
            user_id: Some(get(&pairs, "user_id").to_string()).filter(|s| !s.is_empty()),
            team_id: Some(get(&pairs, "team_id").to_string()).filter(|s| !s.is_empty()),
            period: get(&pairs, "period").to_string(),
            calendar: get(&pairs, "calendar").to_string(),
            key: latin("key"),
            measure: get(&pairs, "measure").to_string(),
            target: latin("target"),
            currency: get(&pairs, "currency").to_string(),
        };
        match quotas::save(&scoped.db, None, &input).await {
            Ok(_) => Ok(Redirect::to("/quotas").into_response()),
            Err(e @ StoreError::Validation(_)) => quotas_view(&state, &session, input, messages(e)?).await,
            Err(e) => Err(e.into()),
        }
    }
    .await
    .unwrap_or_else(fail)
}

/// `POST /quotas/{id}/delete`.
pub async fn delete_quota(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    async {
        let scoped = session.scoped(state.clone());
        quotas::delete(&scoped.db, &id).await?;
        Ok::<_, ApiError>(Redirect::to("/quotas").into_response())
    }
    .await
    .unwrap_or_else(fail)
}

/// One person's line on the board.
struct StandingRow {
    rank: String,
    user_id: String,
    name: String,
    value: String,
    awards: usize,
    me: bool,
}

#[derive(Template)]
#[template(path = "leaderboard.html")]
struct BoardPage {
    layout: Layout,
    tr: Words,
    csrf: String,
    measure: String,
    period: String,
    key: String,
    /// The period as read, and the periods before and after.
    period_label: String,
    previous: String,
    next: String,
    measures: Vec<(String, String)>,
    periods: Vec<(String, String)>,
    rows: Vec<StandingRow>,
    /// Whom the viewer may give an award to.
    awardable: Vec<(String, String)>,
    errors: Vec<String>,
}

/// `GET /leaderboard?measure=&period=&key=`: the people the viewer works with, ranked.
pub async fn leaderboard_page(State(state): State<AppState>, session: Session, Query(pairs): Query<Pairs>) -> Response {
    board_view(&state, &session, &pairs, Vec::new()).await.unwrap_or_else(fail)
}

async fn board_view(state: &AppState, session: &Session, pairs: &Pairs, errors: Vec<String>) -> Result<Response, ApiError> {
    super::admin::require(session, Action::ReadRecords)?;
    let lang = current_lang();
    let scoped = session.scoped(state.clone());
    let db = &scoped.db;
    let catalog = db.visible_catalog().await?;
    let calendar = if lang == "fa" { Calendar::Jalali } else { Calendar::Gregorian };
    let measure = match get(pairs, "measure") {
        m if BOARD_MEASURES.contains(&m) => m.to_string(),
        _ => "won_amount".to_string(),
    };
    let period = match get(pairs, "period") {
        p if PERIODS.contains(&p) => p.to_string(),
        _ => "month".to_string(),
    };
    let bucket = Bucket::parse(&period).unwrap_or(Bucket::Month);
    let start = key_start(bucket, calendar, get(pairs, "key"))
        .filter(|d| (1900..2200).contains(&d.year()))
        .unwrap_or_else(|| bucket.start(calendar, db.today()));
    let end = bucket.next(calendar, start);
    let previous = bucket.start(calendar, start - time::Duration::days(1));
    let board = performance::leaderboard(db, &measure, "IRR", start, end).await?;
    let value = |v: f64| match measure.as_str() {
        "won_amount" | "paid_amount" => format_money(lang, &quotas::plain(v.round()), "IRR"),
        "win_rate" => format!("{}{}", format_number(lang, &format!("{}", v.round() as i64)), if lang == "fa" { "٪" } else { "%" }),
        _ => format_number(lang, &quotas::plain(v)),
    };
    let rows = board
        .iter()
        .map(|s| StandingRow {
            rank: format_number(lang, &s.rank.to_string()),
            user_id: s.user_id.clone(),
            name: s.name.clone(),
            value: value(s.value),
            awards: s.awards,
            me: s.user_id == session.user.id,
        })
        .collect();
    let awardable = board
        .iter()
        .filter(|s| performance::may_award(db, &s.user_id))
        .map(|s| (s.user_id.clone(), s.name.clone()))
        .collect();
    let link = |d: time::Date| {
        format!("/leaderboard?measure={measure}&period={period}&key={}", encode(&bucket.key(calendar, d)))
    };
    Ok(render(&BoardPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), "leaderboard"),
        tr: Words::new(lang),
        csrf: session.csrf.clone(),
        period_label: bucket_label(lang, bucket, calendar, &bucket.key(calendar, start)),
        previous: link(previous),
        next: link(end),
        key: bucket.key(calendar, start),
        measures: BOARD_MEASURES.iter().map(|m| (m.to_string(), t(lang, &format!("board-measure-{m}")))).collect(),
        periods: PERIODS.iter().map(|p| (p.to_string(), t(lang, &format!("quota-period-{p}")))).collect(),
        measure,
        period,
        rows,
        awardable,
        errors,
    }))
}

/// `POST /awards`: an award to a person (a manager's people; an admin's anyone).
pub async fn give_award(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    async {
        let scoped = session.scoped(state.clone());
        let input = AwardInput {
            user_id: get(&pairs, "user_id").to_string(),
            title: get(&pairs, "title").to_string(),
            reason: get(&pairs, "reason").to_string(),
        };
        match performance::give(&scoped.db, &input).await {
            Ok(a) => Ok(Redirect::to(&format!("/people/{}", encode(&a.user_id))).into_response()),
            Err(e @ StoreError::Validation(_)) => board_view(&state, &session, &Vec::new(), messages(e)?).await,
            Err(e) => Err(e.into()),
        }
    }
    .await
    .unwrap_or_else(fail)
}

/// `POST /awards/{id}/delete`.
pub async fn withdraw_award(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    async {
        let scoped = session.scoped(state.clone());
        performance::withdraw(&scoped.db, &id).await?;
        let back = format!("/people/{}", encode(get(&pairs, "user_id")));
        Ok::<_, ApiError>(Redirect::to(&back).into_response())
    }
    .await
    .unwrap_or_else(fail)
}

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    layout: Layout,
    tr: Words,
    csrf: String,
    id: String,
    name: String,
    role: String,
    active: bool,
    teams: Vec<String>,
    /// Title, reason, who gave it, when, its id, whether the viewer may withdraw it.
    awards: Vec<(String, String, String, String, String, bool)>,
    /// The person's current quotas the viewer reads: measure, reached, target, bar.
    quotas: Vec<(String, String, String, String)>,
    may_award: bool,
}

/// `GET /people/{id}`: a colleague's profile (every signed-in user reads it): their teams,
/// their awards, and the current quotas the viewer may read.
pub async fn person_page(State(state): State<AppState>, session: Session, Path(id): Path<String>) -> Response {
    async {
        super::admin::require(&session, Action::ReadRecords)?;
        let lang = current_lang();
        let scoped = session.scoped(state.clone());
        let db = &scoped.db;
        let user = state.db.user(&id).await.map_err(|_| ApiError::NotFound)?;
        let catalog = db.visible_catalog().await?;
        let names: std::collections::HashMap<String, String> =
            state.db.list_users().await?.into_iter().map(|u| (u.id, u.name)).collect();
        let offset = db.local_offset();
        let awards = performance::awards_of(db, &id)
            .await?
            .into_iter()
            .map(|a| {
                let when = peyvand_records::value::parse_datetime(&a.given_at)
                    .map(|d| crate::i18n::format_date(lang, d.to_offset(offset).date()))
                    .unwrap_or_default();
                let by = names.get(&a.given_by).cloned().unwrap_or_default();
                (a.title, a.reason, by, when, a.id, performance::may_award(db, &id))
            })
            .collect();
        let today = peyvand_records::value::format_date(db.today());
        let mut current = Vec::new();
        for q in quotas::list(db).await? {
            if q.user_id.as_deref() != Some(id.as_str()) || !(q.starts_on <= today && today < q.ends_before) {
                continue;
            }
            let a = quotas::attainment(db, &q).await?;
            current.push((
                t(lang, &format!("quota-measure-{}", q.measure)),
                quota_value(lang, &q, &a.actual),
                quota_value(lang, &q, &q.target),
                attainment_bar(lang, &a),
            ));
        }
        let teams = state.db.list_teams().await?.into_iter().filter(|t| t.members.contains(&id)).map(|t| t.name).collect();
        Ok::<_, ApiError>(render(&PersonPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), "leaderboard"),
            tr: Words::new(lang),
            csrf: session.csrf.clone(),
            may_award: performance::may_award(db, &id) && user.active,
            name: user.name,
            role: t(lang, &format!("role-{}", user.role.as_str())),
            active: user.active,
            id,
            teams,
            awards,
            quotas: current,
        }))
    }
    .await
    .unwrap_or_else(fail)
}
