//! Dashboards on pages (`peyvand_crm::insights::dashboards`): the viewer's default one
//! (`/dashboard`, where signing in lands), any other (`/dashboards/{id}`), and the editor
//! (`/dashboards/new`, `/dashboards/{id}/edit`): widgets in order, each one to four columns
//! wide. A widget that cannot be drawn (its report was deleted, its object removed) says so
//! and the others still show.

use super::admin::{Pairs, Words, get, messages};
use super::display::{format_money, format_number};
use super::records::fail;
use super::session::encode;
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::escape;
use crate::i18n::{t, t_args};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_crm::insights::dashboards::{self, COLUMNS_WIDE, DashboardDef, KINDS, MAX_WIDGETS, Widget};
use peyvand_crm::insights::{performance, quotas, reports};
use peyvand_records::access::{Action, Role};
use peyvand_records::aggregate::{Bucket, Calendar};
use peyvand_store::Error as StoreError;
use std::fmt::Write;

/// A widget as the page draws it.
pub struct WidgetView {
    pub title: String,
    pub width: u8,
    /// Its content, escaped where it is built.
    pub body: String,
    /// Where its whole story is (a report, a list).
    pub more: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    tr: Words,
    csrf: String,
    id: String,
    name: String,
    may_change: bool,
    /// The dashboards one may open: link, name, whether this one.
    dashboards: Vec<(String, String, bool)>,
    widgets: Vec<WidgetView>,
}

/// `GET /dashboard`: the viewer's default dashboard.
pub async fn default_dashboard(State(state): State<AppState>, session: Session) -> Response {
    dashboard_view(&state, &session, "default").await.unwrap_or_else(fail)
}

/// Widgets of one page drawn at once.
const WIDGETS_AT_ONCE: usize = 3;

/// `GET /dashboards/{id}`.
pub async fn dashboard_page(State(state): State<AppState>, session: Session, Path(id): Path<String>) -> Response {
    dashboard_view(&state, &session, &id).await.unwrap_or_else(fail)
}

async fn dashboard_view(state: &AppState, session: &Session, id: &str) -> Result<Response, ApiError> {
    super::admin::require(session, Action::ReadRecords)?;
    let lang = current_lang();
    let scoped = session.scoped(state.clone());
    let dashboard = dashboards::get(&scoped.db, id, lang).await?;
    let catalog = scoped.db.visible_catalog().await?;
    let mut links = vec![("/dashboard".to_string(), t(lang, "dashboard-default"), id == "default")];
    for d in dashboards::list(&scoped.db).await? {
        let current = d.id == dashboard.id;
        links.push((format!("/dashboards/{}", encode(&d.id)), d.definition.name, current));
    }
    // The widgets a few at a time, in order (each its own reads: on a large data set a widget's
    // aggregate takes its time; more at once would take more of the pool's connections than one
    // page should).
    use futures_util::StreamExt;
    let scoped = &scoped;
    let widgets: Vec<WidgetView> = futures_util::stream::iter(dashboard.definition.widgets.clone())
        .map(|w| async move { widget(scoped, session, &w, lang).await })
        .buffered(WIDGETS_AT_ONCE)
        .collect()
        .await;
    Ok(render(&DashboardPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), "dashboard"),
        tr: Words::new(lang),
        csrf: session.csrf.clone(),
        may_change: dashboards::may_change(&scoped.db, &dashboard),
        id: dashboard.id.clone(),
        name: dashboard.definition.name.clone(),
        dashboards: links,
        widgets,
    }))
}

/// One widget drawn for the viewer; a failure is its own message, not the page's.
pub async fn widget(state: &AppState, session: &Session, w: &Widget, lang: &'static str) -> WidgetView {
    let title = t(lang, &format!("widget-{}", w.kind));
    match widget_body(state, session, w, lang).await {
        Ok(mut view) => {
            view.width = w.width.clamp(1, COLUMNS_WIDE);
            view
        }
        Err(_) => WidgetView {
            title,
            width: w.width.clamp(1, COLUMNS_WIDE),
            body: format!(r#"<p class="empty widget-unavailable">{}</p>"#, escape(&t(lang, "widget-unavailable"))),
            more: String::new(),
        },
    }
}

async fn widget_body(
    state: &AppState,
    session: &Session,
    w: &Widget,
    lang: &'static str,
) -> Result<WidgetView, ApiError> {
    let db = &state.db;
    let view = |title: String, body: String, more: &str| WidgetView { title, width: 2, body, more: more.to_string() };
    let saved;
    let (def, more) = match (w.kind.as_str(), &w.report) {
        ("report", Some(id)) => {
            saved = reports::get(db, id).await?;
            (Some(saved.definition.clone()), format!("/reports/{}", encode(id)))
        }
        (kind, _) => {
            let more = match kind {
                "pipeline" => "/records/deal",
                "revenue" => "/records/order",
                "queues" | "service_levels" => "/service",
                _ => "",
            };
            let mine = (session.user.role == Role::Agent).then_some(session.user.id.as_str());
            (dashboards::builtin_report(kind, lang, db.today(), db.local_offset(), mine), more.to_string())
        }
    };
    if let Some(def) = def {
        let obj = db.visible_object(&def.object).await?;
        let figures = reports::run(db, &def, lang).await?;
        let shown = super::reports::show(state, &obj, &def, &figures, lang, true).await?;
        let mut body = String::new();
        if shown.empty && def.chart != "kpi" {
            let _ = write!(body, r#"<p class="empty">{}</p>"#, escape(&t(lang, "report-nothing")));
        } else if shown.svg.is_empty() || def.chart == "table" {
            body.push_str(&table_html(lang, &shown));
        } else {
            let _ = write!(body, r#"<figure class="report-chart">{}</figure>"#, shown.svg);
        }
        return Ok(view(def.name.clone(), body, &more));
    }
    let title = t(lang, &format!("widget-{}", w.kind));
    Ok(match w.kind.as_str() {
        "quota" => view(title, quota_html(db, lang).await?, "/quotas"),
        "commission" => view(title, commission_html(db, session, lang).await?, "/commissions"),
        "forecast" => {
            let f = super::performance::forecast_view(db, lang, "month", 6).await?;
            let mut body = format!(r#"<p class="small">{}</p>"#, escape(&f.accuracy));
            if !f.svg.is_empty() {
                let _ = write!(body, r#"<figure class="report-chart">{}</figure>"#, f.svg);
            }
            view(title, body, "/forecast")
        }
        "leaderboard" => view(title, leaderboard_html(db, lang).await?, "/leaderboard"),
        "tasks" => view(title, tasks_html(db, session, lang).await?, "/my-day"),
        "csat" => view(title, csat_html(db, lang).await?, "/surveys"),
        "segments" => view(title, segments_html(db, lang).await?, "/marketing"),
        "campaigns" => view(title, campaigns_html(db, lang).await?, "/marketing"),
        "loyalty" => view(title, loyalty_html(db, lang).await?, "/loyalty"),
        _ => return Err(ApiError::NotFound),
    })
}

/// A report's table in a widget: its rows, each opening its records.
fn table_html(lang: &str, shown: &super::reports::Shown) -> String {
    let mut out = String::from(r#"<div class="table-scroll" tabindex="0"><table><thead><tr>"#);
    for h in &shown.headers {
        let _ = write!(out, r#"<th scope="col">{}</th>"#, escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for (cells, href) in shown.rows.iter().take(12) {
        out.push_str("<tr>");
        for (i, c) in cells.iter().enumerate() {
            match (i, href.is_empty()) {
                (0, false) => {
                    let _ =
                        write!(out, r#"<th scope="row"><a href="{}"><bdi>{}</bdi></a></th>"#, escape(href), escape(c));
                }
                (0, true) => {
                    let _ = write!(out, r#"<th scope="row"><bdi>{}</bdi></th>"#, escape(c));
                }
                _ => {
                    let _ = write!(out, r#"<td class="num">{}</td>"#, escape(c));
                }
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    let _ = lang;
    out
}

/// A quota's figure as people read it: money with its currency, or a count.
pub fn quota_value(lang: &str, q: &quotas::Quota, v: &str) -> String {
    if q.is_amount() { format_money(lang, v, &q.currency) } else { format_number(lang, v) }
}

/// The bar of an attainment: reached (capped at the bar's end) and where the period stands.
pub fn attainment_bar(lang: &str, a: &quotas::Attainment) -> String {
    let percent = a.percent.unwrap_or(0.0);
    let label = t_args(
        lang,
        "quota-reached",
        &[
            ("percent", format_number(lang, &format!("{}", percent.round() as i64))),
            ("elapsed", format_number(lang, &format!("{}", a.elapsed_percent.round() as i64))),
        ],
    );
    let state = if percent + 0.5 >= a.elapsed_percent { "ahead" } else { "behind" };
    format!(
        r#"<div class="attainment {state}" role="img" aria-label="{label}"><span class="attainment-fill" style="inline-size: {fill:.1}%"></span><span class="attainment-time" style="inset-inline-start: {time:.1}%"></span></div><p class="muted small">{label}</p>"#,
        label = escape(&label),
        fill = percent.clamp(0.0, 100.0),
        time = a.elapsed_percent.clamp(0.0, 100.0),
    )
}

/// Whose a quota is, by name.
pub async fn subject_name(db: &peyvand_store::Db, q: &quotas::Quota) -> String {
    match (&q.user_id, &q.team_id) {
        (Some(u), _) => db.system().user(u).await.map(|u| u.name).unwrap_or_else(|_| u.clone()),
        (None, Some(team)) => db.system().get_team(team).await.map(|t| t.name).unwrap_or_else(|_| team.clone()),
        _ => String::new(),
    }
}

async fn quota_html(db: &peyvand_store::Db, lang: &str) -> Result<String, ApiError> {
    let current = quotas::current(db).await?;
    if current.is_empty() {
        return Ok(format!(r#"<p class="empty">{}</p>"#, escape(&t(lang, "quota-none-now"))));
    }
    let mut out = String::from(r#"<ul class="attainments">"#);
    for a in current.iter().take(6) {
        let href = format!("/records/{}?filter={}", a.object, encode(&a.drill.to_string()));
        let _ = write!(
            out,
            r#"<li><p><bdi>{who}</bdi> · {measure}: <a href="{href}">{actual}</a> / {target}</p>{bar}</li>"#,
            who = escape(&subject_name(db, &a.quota).await),
            measure = escape(&t(lang, &format!("quota-measure-{}", a.quota.measure))),
            href = escape(&href),
            actual = escape(&quota_value(lang, &a.quota, &a.actual)),
            target = escape(&quota_value(lang, &a.quota, &a.quota.target)),
            bar = attainment_bar(lang, a),
        );
    }
    out.push_str("</ul>");
    Ok(out)
}

/// The reader's commission: this period's statement so far and the last one's, each opening it.
async fn commission_html(db: &peyvand_store::Db, session: &Session, lang: &str) -> Result<String, ApiError> {
    use peyvand_crm::insights::commissions;
    let me = &session.user.id;
    let today = db.today();
    let Some(key) = commissions::key_on(db, me, today).await? else {
        return Ok(format!(r#"<p class="empty">{}</p>"#, escape(&t(lang, "commission-widget-none"))));
    };
    let now = commissions::statement_part(db, me, &key, 0..0).await?;
    let mut out = String::from(r#"<ul class="plain">"#);
    let mut line = |label: &str, s: &commissions::Statement| {
        let _ = write!(
            out,
            r#"<li>{label}: <a href="/commissions/statements/{user}/{key}">{total}</a> <span class="muted small">({status})</span></li>"#,
            label = escape(&t(lang, label)),
            user = encode(me),
            key = encode(&s.key),
            total = escape(&super::display::format_money(lang, &s.total, &s.currency)),
            status = escape(&t(lang, &format!("commission-status-{}", s.status))),
        );
    };
    line("commission-this-period", &now);
    if let Some(before) = commissions::day_before(&now.starts_on)
        && let Some(key) = commissions::key_on(db, me, before).await?
    {
        let last = commissions::statement_part(db, me, &key, 0..0).await?;
        line("commission-last-period", &last);
    }
    out.push_str("</ul>");
    Ok(out)
}

/// The reader's current month: its calendar, first day and the day after its last.
pub fn this_month(db: &peyvand_store::Db, lang: &str) -> (Calendar, time::Date, time::Date) {
    let calendar = if lang == "fa" { Calendar::Jalali } else { Calendar::Gregorian };
    let start = Bucket::Month.start(calendar, db.today());
    (calendar, start, Bucket::Month.next(calendar, start))
}

async fn leaderboard_html(db: &peyvand_store::Db, lang: &str) -> Result<String, ApiError> {
    let (calendar, start, end) = this_month(db, lang);
    let board = performance::leaderboard(db, "won_amount", "IRR", start, end).await?;
    let period =
        peyvand_records::aggregate::bucket_label(lang, Bucket::Month, calendar, &Bucket::Month.key(calendar, start));
    let mut out = format!(
        r#"<p class="muted small">{}</p><ol class="leaderboard">"#,
        escape(&t_args(
            lang,
            "leaderboard-of",
            &[("period", period), ("measure", t(lang, "board-measure-won_amount"))]
        ))
    );
    for s in board.iter().take(8) {
        let _ = write!(
            out,
            r#"<li><span class="rank">{rank}</span> <a href="/people/{id}"><bdi>{name}</bdi></a>{award} <span class="num">{value}</span></li>"#,
            rank = escape(&format_number(lang, &s.rank.to_string())),
            id = encode(&s.user_id),
            name = escape(&s.name),
            award = if s.awards > 0 {
                format!(
                    r#" <span class="award-mark" title="{0}" aria-label="{0}">★</span>"#,
                    escape(&t(lang, "awards"))
                )
            } else {
                String::new()
            },
            value = escape(&format_money(lang, &quotas::plain(s.value), "IRR")),
        );
    }
    out.push_str("</ol>");
    Ok(out)
}

async fn tasks_html(db: &peyvand_store::Db, session: &Session, lang: &str) -> Result<String, ApiError> {
    let offset = db.local_offset();
    let today = db.today();
    let day_ends = today.next_day().unwrap_or(today).midnight().assume_offset(offset);
    let (due, _) = peyvand_crm::activities::tasks::my_day(db, &session.user.id, day_ends, time::Duration::ZERO).await?;
    if due.is_empty() {
        return Ok(format!(r#"<p class="empty">{}</p>"#, escape(&t(lang, "widget-tasks-none"))));
    }
    let now = time::OffsetDateTime::now_utc();
    let mut out = format!(
        r#"<p class="muted small">{}</p><ul class="widget-list">"#,
        escape(&t_args(lang, "widget-tasks-due", &[("count", format_number(lang, &due.len().to_string()))]))
    );
    for task in due.iter().take(8) {
        let due_at =
            task.fields.get("due_at").and_then(|v| v.as_str()).and_then(peyvand_records::value::parse_datetime);
        let late = due_at.is_some_and(|d| d < now);
        let when = due_at.map(|d| crate::i18n::format_datetime(lang, d, offset)).unwrap_or_default();
        let _ = write!(
            out,
            r#"<li{late}><a href="/records/task/{id}"><bdi>{title}</bdi></a> <span class="muted small">{when}</span></li>"#,
            late = if late { r#" class="overdue""# } else { "" },
            id = encode(&task.id),
            title = escape(&task.title),
            when = escape(&when),
        );
    }
    out.push_str("</ul>");
    Ok(out)
}

async fn csat_html(db: &peyvand_store::Db, lang: &str) -> Result<String, ApiError> {
    let to = time::OffsetDateTime::now_utc();
    let from = to - time::Duration::days(30);
    let summaries = peyvand_crm::feedback::surveys::summaries(
        db,
        &peyvand_records::value::format_datetime(from),
        &peyvand_records::value::format_datetime(to),
    )
    .await?;
    let Some(s) = summaries.get(peyvand_crm::feedback::surveys::CSAT).filter(|s| s.scores.answered > 0) else {
        return Ok(format!(r#"<p class="empty">{}</p>"#, escape(&t(lang, "widget-csat-none"))));
    };
    let pct = s.scores.satisfied_pct.unwrap_or(0.0);
    Ok(format!(
        r#"<div class="kpi"><p class="kpi-now"><span class="kpi-label">{label}</span> <strong class="kpi-value">{pct}</strong></p><p class="kpi-last">{detail}</p></div>"#,
        label = escape(&t(lang, "widget-csat-satisfied")),
        pct = escape(
            &format!("{}٪", format_number(lang, &(pct.round() as i64).to_string()))
                .replace('٪', if lang == "fa" { "٪" } else { "%" })
        ),
        detail = escape(&t_args(
            lang,
            "widget-csat-detail",
            &[
                ("answered", format_number(lang, &s.scores.answered.to_string())),
                ("average", format_number(lang, &format!("{:.1}", s.scores.average.unwrap_or(0.0)))),
            ]
        )),
    ))
}

async fn segments_html(db: &peyvand_store::Db, lang: &str) -> Result<String, ApiError> {
    let list = peyvand_crm::marketing::segments::list(db).await?;
    if list.is_empty() {
        return Ok(format!(r#"<p class="empty">{}</p>"#, escape(&t(lang, "widget-none"))));
    }
    let mut out = String::from(r#"<ul class="widget-list">"#);
    for s in list.iter().take(8) {
        let _ = write!(
            out,
            r#"<li><a href="/marketing/segments/{}"><bdi>{}</bdi></a> <span class="muted small">{}</span></li>"#,
            encode(&s.id),
            escape(&s.definition.name),
            escape(&t(lang, &format!("segment-kind-{}", s.definition.kind))),
        );
    }
    out.push_str("</ul>");
    Ok(out)
}

async fn campaigns_html(db: &peyvand_store::Db, lang: &str) -> Result<String, ApiError> {
    let list = peyvand_crm::marketing::campaigns::list(db).await?;
    if list.is_empty() {
        return Ok(format!(r#"<p class="empty">{}</p>"#, escape(&t(lang, "widget-none"))));
    }
    let mut out = String::from(r#"<ul class="widget-list">"#);
    for c in list.iter().take(6) {
        let _ = write!(
            out,
            r#"<li><a href="/marketing/campaigns/{}"><bdi>{}</bdi></a> <span class="muted small">{} · {}</span></li>"#,
            encode(&c.id),
            escape(&c.definition.name),
            escape(&t(lang, &format!("campaign-status-{}", c.status))),
            escape(&t_args(lang, "widget-recipients", &[("count", format_number(lang, &c.recipients.to_string()))])),
        );
    }
    out.push_str("</ul>");
    Ok(out)
}

async fn loyalty_html(db: &peyvand_store::Db, lang: &str) -> Result<String, ApiError> {
    let programs = peyvand_crm::loyalty::programs::list(db).await?;
    if programs.is_empty() {
        return Ok(format!(r#"<p class="empty">{}</p>"#, escape(&t(lang, "widget-none"))));
    }
    let mut out = String::from(r#"<ul class="widget-list">"#);
    for p in programs.iter().take(6) {
        let members: i64 = peyvand_crm::loyalty::ledger::tier_counts(db, &p.id).await?.iter().map(|(_, n)| n).sum();
        let _ = write!(
            out,
            r#"<li><a href="/loyalty/{}"><bdi>{}</bdi></a> <span class="muted small">{}</span></li>"#,
            encode(&p.id),
            escape(p.definition.name(lang)),
            escape(&t_args(lang, "widget-members", &[("count", format_number(lang, &members.to_string()))])),
        );
    }
    out.push_str("</ul>");
    Ok(out)
}

#[derive(Template)]
#[template(path = "dashboard_edit.html")]
struct EditPage {
    layout: Layout,
    tr: Words,
    csrf: String,
    id: String,
    name: String,
    shared: bool,
    role: String,
    admin: bool,
    /// Each row: what it shows (`pipeline`, `report:ID`) and its width.
    rows: Vec<(String, u8)>,
    /// What a row may show: value and label (built-ins, then the reports one reads).
    choices: Vec<(String, String)>,
    roles: Vec<(String, String)>,
    widths: [u8; 4],
    errors: Vec<String>,
}

/// `GET /dashboards/new`: an empty editor (a copy of the default one to start from).
pub async fn new_dashboard(State(state): State<AppState>, session: Session) -> Response {
    async {
        let lang = current_lang();
        let scoped = session.scoped(state.clone());
        let mut def = dashboards::default_for(&scoped.db, lang).await?.definition;
        def.name = String::new();
        def.role = None;
        def.shared = false;
        edit_view(&state, &session, "", def, Vec::new()).await
    }
    .await
    .unwrap_or_else(fail)
}

/// `GET /dashboards/{id}/edit`.
pub async fn edit_dashboard(State(state): State<AppState>, session: Session, Path(id): Path<String>) -> Response {
    async {
        let scoped = session.scoped(state.clone());
        let d = dashboards::get(&scoped.db, &id, current_lang()).await?;
        if !dashboards::may_change(&scoped.db, &d) {
            return Err(ApiError::Forbidden);
        }
        edit_view(&state, &session, &id, d.definition, Vec::new()).await
    }
    .await
    .unwrap_or_else(fail)
}

async fn edit_view(
    state: &AppState,
    session: &Session,
    id: &str,
    def: DashboardDef,
    errors: Vec<String>,
) -> Result<Response, ApiError> {
    super::admin::require(session, Action::ReadRecords)?;
    let lang = current_lang();
    let scoped = session.scoped(state.clone());
    let catalog = scoped.db.visible_catalog().await?;
    let mut choices: Vec<(String, String)> =
        KINDS.iter().filter(|k| **k != "report").map(|k| (k.to_string(), t(lang, &format!("widget-{k}")))).collect();
    for r in reports::list(&scoped.db).await? {
        choices.push((format!("report:{}", r.id), format!("{} › {}", t(lang, "widget-report"), r.definition.name)));
    }
    let mut rows: Vec<(String, u8)> = def
        .widgets
        .iter()
        .map(|w| match &w.report {
            Some(r) => (format!("report:{r}"), w.width),
            None => (w.kind.clone(), w.width),
        })
        .collect();
    let extra = (rows.len() + 3).min(MAX_WIDGETS);
    rows.resize(extra, (String::new(), 2));
    let roles = ["admin", "manager", "agent", "read_only"]
        .iter()
        .map(|r| (r.to_string(), t(lang, &format!("role-{r}"))))
        .collect();
    Ok(render(&EditPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), "dashboard"),
        tr: Words::new(lang),
        csrf: session.csrf.clone(),
        id: id.to_string(),
        name: def.name,
        shared: def.shared,
        role: def.role.unwrap_or_default(),
        admin: session.user.role == Role::Admin,
        rows,
        choices,
        roles,
        widths: [1, 2, 3, 4],
        errors,
    }))
}

/// The definition the editor's form says: rows in the order of their position numbers.
fn definition(pairs: &Pairs) -> DashboardDef {
    let mut rows: Vec<(f64, usize, Widget)> = Vec::new();
    for i in 0..MAX_WIDGETS + 3 {
        let what = get(pairs, &format!("w{i}"));
        if what.is_empty() {
            continue;
        }
        let width = get(pairs, &format!("width{i}")).parse().unwrap_or(2);
        let position = peyvand_records::normalize::to_latin_digits(get(pairs, &format!("pos{i}")))
            .parse()
            .unwrap_or(i as f64 + 1.0);
        let widget = match what.split_once(':') {
            Some(("report", id)) => Widget { kind: "report".into(), report: Some(id.to_string()), width },
            _ => Widget { kind: what.to_string(), report: None, width },
        };
        rows.push((position, i, widget));
    }
    rows.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal).then(a.1.cmp(&b.1)));
    DashboardDef {
        name: get(pairs, "name").to_string(),
        widgets: rows.into_iter().map(|(_, _, w)| w).collect(),
        shared: get(pairs, "shared") == "on",
        role: Some(get(pairs, "role").to_string()).filter(|r| !r.is_empty()),
    }
}

/// `POST /dashboards`.
pub async fn create_dashboard(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    save(&state, &session, None, &pairs).await.unwrap_or_else(fail)
}

/// `POST /dashboards/{id}`.
pub async fn update_dashboard(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    save(&state, &session, Some(&id), &pairs).await.unwrap_or_else(fail)
}

async fn save(state: &AppState, session: &Session, id: Option<&str>, pairs: &Pairs) -> Result<Response, ApiError> {
    super::admin::require(session, Action::ReadRecords)?;
    let scoped = session.scoped(state.clone());
    let def = definition(pairs);
    match dashboards::save(&scoped.db, id, def.clone()).await {
        Ok(d) => Ok(Redirect::to(&format!("/dashboards/{}", encode(&d.id))).into_response()),
        Err(e @ (StoreError::Validation(_) | StoreError::Conflict { .. })) => {
            edit_view(state, session, id.unwrap_or(""), def, messages(e)?).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /dashboards/{id}/delete`.
pub async fn delete_dashboard(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    async {
        let scoped = session.scoped(state.clone());
        dashboards::delete(&scoped.db, &id).await?;
        Ok::<_, ApiError>(Redirect::to("/dashboard").into_response())
    }
    .await
    .unwrap_or_else(fail)
}
