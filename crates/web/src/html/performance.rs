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
    /// The award rules in words (id, title, what earns it); admins make and delete them.
    rules: Vec<(String, String, String)>,
    is_admin: bool,
    rule_periods: Vec<(String, String)>,
    errors: Vec<String>,
}

/// `GET /leaderboard?measure=&period=&key=`: the people the viewer works with, ranked.
pub async fn leaderboard_page(State(state): State<AppState>, session: Session, Query(pairs): Query<Pairs>) -> Response {
    board_view(&state, &session, &pairs, Vec::new()).await.unwrap_or_else(fail)
}

async fn board_view(
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
        "win_rate" => {
            format!("{}{}", format_number(lang, &format!("{}", v.round() as i64)), if lang == "fa" { "٪" } else { "%" })
        }
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
        rule_periods: peyvand_crm::insights::award_rules::RULE_PERIODS
            .iter()
            .map(|p| (p.to_string(), t(lang, &format!("quota-period-{p}"))))
            .collect(),
        rules: peyvand_crm::insights::award_rules::list(db)
            .await?
            .into_iter()
            .map(|r| {
                let what = crate::i18n::t_args(
                    lang,
                    "award-rule-text",
                    &[
                        ("top", format_number(lang, &r.top.to_string())),
                        ("measure", t(lang, &format!("board-measure-{}", r.measure))),
                        ("period", t(lang, &format!("quota-period-{}", r.period))),
                    ],
                );
                (encode(&r.id), r.title, what)
            })
            .collect(),
        is_admin: session.user.role == Role::Admin,
        measure,
        period,
        rows,
        awardable,
        errors,
    }))
}

/// `POST /awards/rules`: a rule giving awards when a period ends (admins).
pub async fn create_award_rule(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    async {
        let scoped = session.scoped(state.clone());
        let input = peyvand_crm::insights::award_rules::RuleInput {
            title: get(&pairs, "title").to_string(),
            reason: get(&pairs, "reason").to_string(),
            measure: get(&pairs, "measure").to_string(),
            period: get(&pairs, "period").to_string(),
            top: peyvand_records::normalize::to_latin_digits(get(&pairs, "top")).trim().parse().unwrap_or(0),
        };
        match peyvand_crm::insights::award_rules::create(&scoped.db, &input).await {
            Ok(_) => Ok(Redirect::to("/leaderboard#award-rules").into_response()),
            Err(e @ StoreError::Validation(_)) => board_view(&state, &session, &Vec::new(), messages(e)?).await,
            Err(e) => Err(e.into()),
        }
    }
    .await
    .unwrap_or_else(fail)
}

/// `POST /awards/rules/{id}/delete` (admins).
pub async fn delete_award_rule(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    async {
        let scoped = session.scoped(state.clone());
        peyvand_crm::insights::award_rules::delete(&scoped.db, &id).await?;
        Ok::<_, ApiError>(Redirect::to("/leaderboard#award-rules").into_response())
    }
    .await
    .unwrap_or_else(fail)
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
        let teams =
            state.db.list_teams().await?.into_iter().filter(|t| t.members.contains(&id)).map(|t| t.name).collect();
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

/// A forecast drawn: actuals, the forecast and its interval as lines over the periods.
pub struct ForecastView {
    pub svg: String,
    /// Period, actual, forecast, low, high, weighted pipeline (empty where none).
    pub rows: Vec<[String; 6]>,
    /// The accuracy sentence, or why there is no forecast.
    pub accuracy: String,
    /// The period under way and its revenue so far.
    pub current: String,
}

/// The viewer's revenue forecast by `period` (`week` or `month`) in their calendar.
pub async fn forecast_view(
    db: &peyvand_store::Db,
    lang: &str,
    period: &str,
    horizon: usize,
) -> Result<ForecastView, ApiError> {
    use crate::charts::{Chart, Kind, Series};
    use peyvand_crm::insights::forecast;
    let calendar = if lang == "fa" { Calendar::Jalali } else { Calendar::Gregorian };
    let bucket = Bucket::parse(period).unwrap_or(Bucket::Month);
    let f = forecast::revenue(db, bucket, calendar, horizon, "IRR").await?;
    let label = |k: &str| bucket_label(lang, bucket, calendar, k);
    let money = |v: f64| format_money(lang, &quotas::plain(v.round()), "IRR");
    // The last two years of whole periods, then the forecast's.
    let shown: Vec<&(String, f64)> = f.actuals.iter().rev().take(24).rev().collect();
    let mut labels: Vec<String> = shown.iter().map(|(k, _)| label(k)).collect();
    labels.extend(f.points.iter().map(|(k, _)| label(k)));
    let n = shown.len();
    let pad = |values: Vec<Option<f64>>| {
        let mut v = values;
        v.resize(labels.len(), None);
        v
    };
    let mut actual: Vec<Option<f64>> = shown.iter().map(|(_, v)| Some(*v)).collect();
    actual.resize(labels.len(), None);
    let tail = |pick: &dyn Fn(&forecast::Point) -> f64| {
        let mut v: Vec<Option<f64>> = vec![None; n];
        // The line starts from the last actual so it reads as a continuation.
        if let (Some(last), false) = (n.checked_sub(1), f.points.is_empty()) {
            v[last] = shown.get(last).map(|(_, a)| *a);
        }
        v.extend(f.points.iter().map(|(_, p)| Some(pick(p))));
        pad(v)
    };
    let series = vec![
        Series { name: t(lang, "forecast-actual"), values: actual },
        Series { name: t(lang, "forecast-forecast"), values: tail(&|p| p.value) },
        Series { name: t(lang, "forecast-low"), values: tail(&|p| p.low) },
        Series { name: t(lang, "forecast-high"), values: tail(&|p| p.high) },
    ];
    let chart = Chart {
        kind: Kind::Line,
        title: t(lang, "forecast-title"),
        links: vec![None; labels.len()],
        labels,
        series,
        rtl: lang == "fa",
    };
    let svg = if f.points.is_empty() {
        String::new()
    } else {
        crate::charts::svg(&chart, &|v| format_number(lang, &quotas::plain(v.round())), &|v| {
            super::reports::compact(lang, v)
        })
    };
    let mut rows: Vec<[String; 6]> = shown
        .iter()
        .map(|(k, v)| [label(k), money(*v), String::new(), String::new(), String::new(), String::new()])
        .collect();
    for (i, (k, p)) in f.points.iter().enumerate() {
        let weighted = f.pipeline.get(i).map(|(_, v)| money(*v)).unwrap_or_default();
        let actual = if *k == f.current.0 {
            format!("{} ({})", money(f.current.1), t(lang, "forecast-so-far"))
        } else {
            String::new()
        };
        rows.push([label(k), actual, money(p.value), money(p.low), money(p.high), weighted]);
    }
    let percent = |a: &forecast::Accuracy| match a.mape {
        Some(p) => {
            format!("{}٪", format_number(lang, &format!("{:.0}", p))).replace('٪', if lang == "fa" { "٪" } else { "%" })
        }
        None => format!("± {}", money(a.mae)),
    };
    let accuracy = match (&f.model, &f.backtest) {
        (None, _) => t(lang, "forecast-not-enough"),
        (Some(_), Some((model, naive))) => crate::i18n::t_args(
            lang,
            "forecast-accuracy",
            &[
                ("periods", format_number(lang, &f.holdout.to_string())),
                ("model", percent(model)),
                ("naive", percent(naive)),
            ],
        ),
        (Some(_), None) => t(lang, "forecast-no-backtest"),
    };
    let current = crate::i18n::t_args(
        lang,
        "forecast-current",
        &[("period", label(&f.current.0)), ("amount", money(f.current.1))],
    );
    Ok(ForecastView { svg, rows, accuracy, current })
}

#[derive(Template)]
#[template(path = "forecast.html")]
struct ForecastPage {
    layout: Layout,
    tr: Words,
    period: String,
    horizon: usize,
    view: ForecastView,
}

/// `GET /forecast?period=month|week&horizon=`: the revenue forecast with its accuracy.
pub async fn forecast_page(State(state): State<AppState>, session: Session, Query(pairs): Query<Pairs>) -> Response {
    async {
        super::admin::require(&session, Action::ReadRecords)?;
        let lang = current_lang();
        let scoped = session.scoped(state.clone());
        let catalog = scoped.db.visible_catalog().await?;
        let period = if get(&pairs, "period") == "week" { "week" } else { "month" };
        let horizon = get(&pairs, "horizon").parse().unwrap_or(if period == "week" { 12 } else { 6 }).clamp(1, 24);
        let view = forecast_view(&scoped.db, lang, period, horizon).await?;
        Ok::<_, ApiError>(render(&ForecastPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), "forecast"),
            tr: Words::new(lang),
            period: period.to_string(),
            horizon,
            view,
        }))
    }
    .await
    .unwrap_or_else(fail)
}

/// A person's line on the performance page.
struct CardRow {
    user_id: String,
    name: String,
    revenue: String,
    won: String,
    won_amount: String,
    win_rate: String,
    average: String,
    cycle: String,
    activities: String,
    csat: String,
}

#[derive(Template)]
#[template(path = "performance.html")]
struct PerformancePage {
    layout: Layout,
    tr: Words,
    period: String,
    key: String,
    period_label: String,
    previous: String,
    next: String,
    periods: Vec<(String, String)>,
    rows: Vec<CardRow>,
    /// Stage, average days, stays.
    stages: Vec<(String, String, String)>,
}

/// `GET /performance?period=&key=`: each person's revenue, deals won and lost, win rate, average
/// deal, sales cycle, activities by kind and their customers' satisfaction, and how long the
/// pipeline's stages take.
pub async fn performance_page(State(state): State<AppState>, session: Session, Query(pairs): Query<Pairs>) -> Response {
    async {
        super::admin::require(&session, Action::ReadRecords)?;
        let lang = current_lang();
        let scoped = session.scoped(state.clone());
        let db = &scoped.db;
        let catalog = db.visible_catalog().await?;
        let calendar = if lang == "fa" { Calendar::Jalali } else { Calendar::Gregorian };
        let period = match get(&pairs, "period") {
            p if PERIODS.contains(&p) => p.to_string(),
            _ => "month".to_string(),
        };
        let bucket = Bucket::parse(&period).unwrap_or(Bucket::Month);
        let start = key_start(bucket, calendar, get(&pairs, "key"))
            .filter(|d| (1900..2200).contains(&d.year()))
            .unwrap_or_else(|| bucket.start(calendar, db.today()));
        let end = bucket.next(calendar, start);
        let (cards, stage_days) = performance::scorecards(db, "IRR", start, end).await?;
        let money = |v: f64| format_money(lang, &quotas::plain(v.round()), "IRR");
        let pct = |v: f64| {
            format!("{}{}", format_number(lang, &format!("{}", v.round() as i64)), if lang == "fa" { "٪" } else { "%" })
        };
        let kind_label = |k: &str| {
            catalog
                .object("activity")
                .and_then(|o| o.field("kind").and_then(|f| f.options.options.iter().find(|c| c.value == k).cloned()))
                .map(|c| peyvand_crm::forms::pick(lang, &c.label_fa, &c.label_en).to_string())
                .unwrap_or_else(|| k.to_string())
        };
        let rows = cards
            .into_iter()
            .map(|c| CardRow {
                revenue: money(c.revenue),
                won: format!(
                    "{} / {}",
                    format_number(lang, &c.deals_won.to_string()),
                    format_number(lang, &(c.deals_won + c.deals_lost).to_string())
                ),
                won_amount: money(c.won_amount),
                win_rate: c.win_rate.map(pct).unwrap_or_default(),
                average: c.average_deal.map(money).unwrap_or_default(),
                cycle: c
                    .cycle_days
                    .map(|d| {
                        crate::i18n::t_args(
                            lang,
                            "performance-days",
                            &[("days", format_number(lang, &format!("{:.0}", d)))],
                        )
                    })
                    .unwrap_or_default(),
                activities: c
                    .activities
                    .iter()
                    .map(|(k, n)| format!("{} {}", kind_label(k), format_number(lang, &n.to_string())))
                    .collect::<Vec<_>>()
                    .join(if lang == "fa" { "، " } else { ", " }),
                csat: c
                    .csat
                    .map(|p| format!("{} ({})", pct(p), format_number(lang, &c.csat_answers.to_string())))
                    .unwrap_or_default(),
                user_id: c.user_id,
                name: c.name,
            })
            .collect();
        // The stages in their pipelines' order.
        let pipelines = peyvand_crm::sales::pipelines::list(&state.db).await?;
        let mut stages = Vec::new();
        for stage in pipelines.iter().flat_map(|p| &p.stages) {
            if let Some((_, days, n)) = stage_days.iter().find(|(s, _, _)| *s == stage.key) {
                stages.push((
                    peyvand_crm::forms::pick(lang, &stage.label_fa, &stage.label_en).to_string(),
                    crate::i18n::t_args(
                        lang,
                        "performance-days",
                        &[("days", format_number(lang, &format!("{:.1}", days)))],
                    ),
                    format_number(lang, &n.to_string()),
                ));
            }
        }
        let link = |d: time::Date| format!("/performance?period={period}&key={}", encode(&bucket.key(calendar, d)));
        Ok::<_, ApiError>(render(&PerformancePage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), "performance"),
            tr: Words::new(lang),
            period_label: bucket_label(lang, bucket, calendar, &bucket.key(calendar, start)),
            previous: link(bucket.start(calendar, start - time::Duration::days(1))),
            next: link(end),
            key: bucket.key(calendar, start),
            periods: PERIODS.iter().map(|p| (p.to_string(), t(lang, &format!("quota-period-{p}")))).collect(),
            period,
            rows,
            stages,
        }))
    }
    .await
    .unwrap_or_else(fail)
}

#[derive(Template)]
#[template(path = "customer_value.html")]
struct ValuePage {
    layout: Layout,
    tr: Words,
    csrf: String,
    may_run: bool,
    /// When it last ran and on how many customers; empty when it never did.
    ran: String,
    params: Vec<(String, String)>,
    /// Band or segment label, count, the contacts' list.
    bands: Vec<(String, String, String)>,
    segments: Vec<(String, String, String)>,
    svg: String,
    /// Repeats, customers, predicted, actual.
    calibration: Vec<[String; 4]>,
    notice: String,
}

/// `GET /customer-value`: the last fit, its calibration against the holdout, and the customers
/// by churn risk and RFM segment (each opening its contacts).
pub async fn value_page(State(state): State<AppState>, session: Session) -> Response {
    value_view(&state, &session, String::new()).await.unwrap_or_else(fail)
}

/// `POST /customer-value/run`: fits now (admins and managers).
pub async fn run_value(State(state): State<AppState>, CsrfForm(session, _): CsrfForm) -> Response {
    async {
        if !matches!(session.user.role, Role::Admin | Role::Manager) {
            return Err(ApiError::Forbidden);
        }
        let notice = match peyvand_crm::insights::value::score(&state.db).await {
            Ok(run) => crate::i18n::t_args(
                current_lang(),
                "value-ran",
                &[("customers", format_number(current_lang(), &run.customers.to_string()))],
            ),
            Err(e @ StoreError::Validation(_)) => messages(e)?.join(" "),
            Err(e) => return Err(e.into()),
        };
        value_view(&state, &session, notice).await
    }
    .await
    .unwrap_or_else(fail)
}

async fn value_view(state: &AppState, session: &Session, notice: String) -> Result<Response, ApiError> {
    use crate::charts::{Chart, Kind, Series};
    super::admin::require(session, Action::ReadRecords)?;
    let lang = current_lang();
    let scoped = session.scoped(state.clone());
    let catalog = scoped.db.visible_catalog().await?;
    let latest = peyvand_crm::insights::value::latest(&state.db).await?;
    let choice = |field: &str, value: &str| {
        catalog
            .object("contact")
            .and_then(|o| o.field(field).and_then(|f| f.options.options.iter().find(|c| c.value == value).cloned()))
            .map(|c| peyvand_crm::forms::pick(lang, &c.label_fa, &c.label_en).to_string())
            .unwrap_or_else(|| value.to_string())
    };
    let list = |field: &str, value: &str| {
        let filter = serde_json::json!({ "field": field, "op": "eq", "value": value }).to_string();
        format!("/records/contact?filter={}", encode(&filter))
    };
    let num = |v: f64, places: usize| format_number(lang, &format!("{v:.places$}"));
    let (mut ran, mut params, mut bands, mut segments, mut svg, mut calibration) =
        (String::new(), Vec::new(), Vec::new(), Vec::new(), String::new(), Vec::new());
    if let Some(run) = &latest {
        let when = peyvand_records::value::parse_datetime(&run.ran_at)
            .map(|d| crate::i18n::format_datetime(lang, d, state.db.local_offset()))
            .unwrap_or_default();
        ran = crate::i18n::t_args(
            lang,
            "value-last-run",
            &[
                ("when", when),
                ("customers", format_number(lang, &run.fit.customers.to_string())),
                ("repeaters", format_number(lang, &run.fit.repeaters.to_string())),
            ],
        );
        let b = run.fit.bgnbd;
        params = vec![
            ("BG/NBD r".into(), num(b[0], 4)),
            ("BG/NBD α".into(), num(b[1], 4)),
            ("BG/NBD a".into(), num(b[2], 4)),
            ("BG/NBD b".into(), num(b[3], 4)),
        ];
        if let Some(g) = run.fit.gamma_gamma {
            params.extend([
                ("Gamma-Gamma p".into(), num(g[0], 4)),
                ("Gamma-Gamma q".into(), num(g[1], 4)),
                ("Gamma-Gamma γ".into(), num(g[2], 2)),
            ]);
        }
        for band in ["high", "medium", "low"] {
            let n = run.fit.risk_bands.get(band).copied().unwrap_or(0);
            bands.push((choice("churn_risk", band), format_number(lang, &n.to_string()), list("churn_risk", band)));
        }
        for (segment, n) in &run.fit.segments {
            segments.push((
                choice("rfm_segment", segment),
                format_number(lang, &n.to_string()),
                list("rfm_segment", segment),
            ));
        }
        calibration = run
            .fit
            .calibration
            .iter()
            .map(|r| {
                [
                    format_number(lang, &r.repeats),
                    format_number(lang, &r.customers.to_string()),
                    num(r.predicted, 2),
                    num(r.actual, 2),
                ]
            })
            .collect();
        if !run.fit.calibration.is_empty() {
            let chart = Chart {
                kind: Kind::Bar,
                title: t(lang, "value-calibration"),
                labels: run.fit.calibration.iter().map(|r| format_number(lang, &r.repeats)).collect(),
                series: vec![
                    Series {
                        name: t(lang, "value-predicted"),
                        values: run.fit.calibration.iter().map(|r| Some(r.predicted)).collect(),
                    },
                    Series {
                        name: t(lang, "value-actual"),
                        values: run.fit.calibration.iter().map(|r| Some(r.actual)).collect(),
                    },
                ],
                links: vec![None; run.fit.calibration.len()],
                rtl: lang == "fa",
            };
            svg = crate::charts::svg(&chart, &|v| num(v, 2), &|v| num(v, 1));
        }
    }
    Ok(render(&ValuePage {
        layout: Layout::new(lang, Some(session), Some(&catalog), "customer-value"),
        tr: Words::new(lang),
        csrf: session.csrf.clone(),
        may_run: matches!(session.user.role, Role::Admin | Role::Manager),
        ran,
        params,
        bands,
        segments,
        svg,
        calibration,
        notice,
    }))
}

#[derive(Template)]
#[template(path = "lead_score_panel.html")]
struct LeadScorePanel {
    tr: Words,
    score: String,
    /// Each factor in words, and whether it raised the score.
    factors: Vec<(String, bool)>,
}

/// A lead-score factor in words: the lead field's label and its value (a choice's label; a
/// detail given or missing; nothing more for a number).
fn factor_label(lead: &peyvand_records::ObjectDef, lang: &str, field: &str, value: &str) -> String {
    let def = lead.field(field);
    let label =
        def.map_or_else(|| field.to_string(), |f| peyvand_crm::forms::pick(lang, &f.label_fa, &f.label_en).to_string());
    let value = match value {
        "yes" => t(lang, "lead-score-given"),
        "no" => t(lang, "lead-score-missing"),
        "" => return label,
        v => def.map_or_else(|| v.to_string(), |f| f.option_label(v, lang).to_string()),
    };
    format!("{label}: {value}")
}

/// A lead's page: its score and the factors behind it; nothing before it is scored.
pub async fn lead_score_panel(
    state: &AppState,
    record: &peyvand_store::records::Record,
) -> Result<Vec<String>, ApiError> {
    let Some(score) = record.fields.get("score").and_then(serde_json::Value::as_i64) else { return Ok(Vec::new()) };
    let lang = current_lang();
    let lead = state.db.object("lead").await?;
    let factors = peyvand_crm::insights::lead_scores::factors_of(&state.db, &record.id)
        .await?
        .into_iter()
        .map(|(field, value, push)| (factor_label(&lead, lang, &field, value.as_deref().unwrap_or("")), push > 0.0))
        .collect();
    let html = LeadScorePanel { tr: Words::new(lang), score: format_number(lang, &score.to_string()), factors }
        .render()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(vec![html])
}

#[derive(Template)]
#[template(path = "lead_scores.html")]
struct LeadScoresPage {
    layout: Layout,
    tr: Words,
    csrf: String,
    /// The last run in words (empty before the first), its accuracy, its weights.
    summary: String,
    accuracy: String,
    weights: Vec<(String, String, bool)>,
    /// The open leads, best first.
    leads_href: String,
    may_run: bool,
    notice: String,
}

/// `GET /lead-scores`: the last training run, its accuracy and what weighs most.
pub async fn lead_scores_page(State(state): State<AppState>, session: Session) -> Response {
    lead_scores_view(&state, &session, String::new()).await.unwrap_or_else(fail)
}

/// `POST /lead-scores/run`: trains now and scores every open lead (admins and managers).
pub async fn run_lead_scores(State(state): State<AppState>, CsrfForm(session, _): CsrfForm) -> Response {
    async {
        if !matches!(session.user.role, Role::Admin | Role::Manager) {
            return Err(ApiError::Forbidden);
        }
        let notice = match peyvand_crm::insights::lead_scores::train(&state.db).await {
            Ok(_) => String::new(),
            Err(e @ StoreError::Validation(_)) => messages(e)?.join(" "),
            Err(e) => return Err(e.into()),
        };
        lead_scores_view(&state, &session, notice).await
    }
    .await
    .unwrap_or_else(fail)
}

async fn lead_scores_view(state: &AppState, session: &Session, notice: String) -> Result<Response, ApiError> {
    super::admin::require(session, Action::ReadRecords)?;
    let lang = current_lang();
    let scoped = session.scoped(state.clone());
    let catalog = scoped.db.visible_catalog().await?;
    let lead = state.db.object("lead").await?;
    let percent = |v: f64| {
        format!("{}{}", format_number(lang, &format!("{}", v.round() as i64)), if lang == "fa" { "٪" } else { "%" })
    };
    let (mut summary, mut accuracy, mut weights) = (String::new(), String::new(), Vec::new());
    if let Some(run) = peyvand_crm::insights::lead_scores::latest(&state.db).await? {
        let n = |v: usize| format_number(lang, &v.to_string());
        summary = crate::i18n::t_args(
            lang,
            "lead-scores-summary",
            &[
                ("converted", n(run.converted)),
                ("lost", n(run.lost)),
                ("rate", percent(run.base_rate)),
                ("scored", n(run.scored)),
            ],
        );
        accuracy = match run.auc {
            Some(auc) => crate::i18n::t_args(lang, "lead-scores-accuracy", &[("auc", percent(auc * 100.0))]),
            None => t(lang, "lead-scores-no-accuracy"),
        };
        weights = run
            .weights
            .iter()
            .map(|(input, w)| {
                let (field, value) = input.split_once('=').unwrap_or((input, ""));
                (factor_label(&lead, lang, field, value), format_number(lang, &format!("{w:+.2}")), *w > 0.0)
            })
            .collect();
    }
    let open = serde_json::json!({ "field": "status", "op": "in", "value": ["new", "contacted", "qualified"] });
    Ok(render(&LeadScoresPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), "lead-scores"),
        tr: Words::new(lang),
        csrf: session.csrf.clone(),
        summary,
        accuracy,
        weights,
        leads_href: format!("/records/lead?filter={}&sort=-score", encode(&open.to_string())),
        may_run: matches!(session.user.role, Role::Admin | Role::Manager),
        notice,
    }))
}
