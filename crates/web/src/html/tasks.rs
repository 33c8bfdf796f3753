//! My day: the signed-in user's overdue and today's open tasks and appointments, soonest first,
//! then the week ahead; each marked done in one click (`peyvand_crm::activities::tasks`).

use super::admin::Words;
use super::display::relative_time;
use super::records::fail;
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::i18n::format_datetime;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_crm::activities::{feed, tasks};
use peyvand_records::normalize::to_persian_digits;
use peyvand_store::records::Record;
use serde_json::{Value as Json, json};

/// One task as the agenda shows it.
struct Item {
    id: String,
    subject: String,
    kind: String,
    /// Its due time in the page's calendar, and "in 2 hours" / "3 days ago".
    due: String,
    relative: String,
    overdue: bool,
    /// Whom it is about (a contact, a company), with a link.
    about: Option<(String, String)>,
    place: String,
}

#[derive(Template)]
#[template(path = "my_day.html")]
struct MyDayPage {
    layout: Layout,
    tr: Words,
    due: Vec<Item>,
    coming: Vec<Item>,
    today: String,
    /// How many of each, in the page's digits.
    counts: (String, String),
    /// The calendar feed: its address when just made (shown once), when it was made.
    feed_url: Option<String>,
    feed_made: Option<String>,
}

/// `GET /my-day`.
pub async fn my_day(State(state): State<AppState>, session: Session) -> Response {
    my_day_view(state, session, None).await
}

/// The agenda, with the calendar feed's address when it was just made.
async fn my_day_view(state: AppState, session: Session, feed_url: Option<String>) -> Response {
    let state = session.scoped(state);
    let result = async {
        let lang = current_lang();
        let catalog = state.db.visible_catalog().await?;
        let offset = state.config.display_offset;
        let now = time::OffsetDateTime::now_utc();
        let today = now.to_offset(offset).date();
        let day_ends = today.next_day().unwrap_or(today).midnight().assume_offset(offset);
        let (due, coming) = tasks::my_day(&state.db, &session.user.id, day_ends, time::Duration::days(7)).await?;
        let task_obj = catalog.object("task").ok_or(ApiError::NotFound)?;
        let shown: Vec<&Record> = due.iter().chain(&coming).collect();
        let refs = super::records::load_refs(&state, &task_obj, &shown).await?;
        let item = |r: &Record| {
            let text = |f: &str| r.fields.get(f).and_then(Json::as_str).unwrap_or_default().to_string();
            let at = peyvand_records::value::parse_datetime(&text("due_at")).unwrap_or(now);
            let about = ["contact", "company", "deal", "lead"].iter().find_map(|f| {
                let id = r.fields.get(*f).and_then(Json::as_str)?;
                let title = refs.records.get(&(f.to_string(), id.to_string()))?;
                Some((title.clone(), format!("/records/{f}/{id}")))
            });
            Item {
                id: r.id.clone(),
                subject: r.title.clone(),
                kind: task_obj
                    .field("kind")
                    .map(|f| f.option_label(&text("kind"), lang).to_string())
                    .unwrap_or_default(),
                due: format_datetime(lang, at, offset),
                relative: relative_time(lang, at, now),
                overdue: at < now,
                about,
                place: text("place"),
            }
        };
        let count = |n: usize| if lang == "fa" { to_persian_digits(&n.to_string()) } else { n.to_string() };
        let counts = (count(due.len()), count(coming.len()));
        Ok::<_, ApiError>(render(&MyDayPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), ""),
            tr: Words::new(lang),
            due: due.iter().map(item).collect(),
            coming: coming.iter().map(item).collect(),
            today: crate::i18n::format_date(lang, today),
            counts,
            feed_url,
            feed_made: feed::feed_made(&state.db, &session.user.id)
                .await?
                .and_then(|t| peyvand_records::value::parse_datetime(&t))
                .map(|t| format_datetime(lang, t, offset)),
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /tasks/{id}/done`: marks a task done and goes back to the agenda.
pub async fn done(State(state): State<AppState>, Path(id): Path<String>, CsrfForm(session, _): CsrfForm) -> Response {
    let state = session.scoped(state);
    let input = json!({ "status": "done" });
    let input = input.as_object().cloned().unwrap_or_default();
    match state.db.update_record(Some(&session.user.id), "task", &id, &input, None).await {
        Ok(_) => Redirect::to("/my-day").into_response(),
        Err(e) => fail(e),
    }
}

/// `POST /calendar/feed`: makes (or replaces) the user's calendar feed and shows its address once.
pub async fn make_feed(State(state): State<AppState>, headers: HeaderMap, CsrfForm(session, _): CsrfForm) -> Response {
    match feed::new_feed(&state.db, &session.user.id).await {
        Ok(secret) => {
            let url = format!("{}/calendar/{secret}.ics", super::base_url(&state, &headers));
            my_day_view(state, session, Some(url)).await
        }
        Err(e) => fail(e),
    }
}

/// `POST /calendar/feed/revoke`: stops the user's calendar feed at once.
pub async fn revoke_feed(State(state): State<AppState>, CsrfForm(session, _): CsrfForm) -> Response {
    match feed::revoke_feed(&state.db, &session.user.id).await {
        Ok(_) => Redirect::to("/my-day").into_response(),
        Err(e) => fail(e),
    }
}

/// `GET /calendar/{secret}.ics`: the feed itself, for calendar apps (no session: the secret is
/// the key). An unknown or stopped secret, or a deactivated user's, is not found.
pub async fn calendar_file(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let Some(secret) = file.strip_suffix(".ics") else {
        return super::error_page(StatusCode::NOT_FOUND, "error-not-found");
    };
    let result = async {
        let Some(user) = feed::feed_user(&state.db, secret).await? else { return Err(ApiError::NotFound) };
        let viewer = state.db.viewer_for(&user).await?;
        let name = format!("Peyvand · {}", state.db.user(&user).await?.name);
        let text = feed::calendar(&state.db.for_viewer(viewer), &user, &name).await?;
        Ok::<_, ApiError>(
            (
                [
                    (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
                    (header::CACHE_CONTROL, "private, max-age=300"),
                ],
                text,
            )
                .into_response(),
        )
    };
    match result.await {
        Ok(r) => r,
        Err(ApiError::NotFound) => super::error_page(StatusCode::NOT_FOUND, "error-not-found"),
        Err(e) => fail(e),
    }
}

/// A task in a day of the calendar.
struct CalItem {
    id: String,
    subject: String,
    clock: String,
    done: bool,
    /// Whose, on a team's calendar.
    who: Option<String>,
}

/// One day of the calendar.
struct Cell {
    /// The day as `YYYY-MM-DD` (where a task dropped on it goes).
    date: String,
    /// "شنبه ۱۵ آذر" / "Mon 7 Dec" in the week; the day of the month in the month.
    label: String,
    today: bool,
    /// A day of the month before or after the one shown (in the month's first and last weeks).
    outside: bool,
    items: Vec<CalItem>,
}

#[derive(Template)]
#[template(path = "week.html")]
struct CalendarPage {
    layout: Layout,
    tr: Words,
    title: String,
    /// `week` or `month`.
    view: &'static str,
    /// The weekdays' names, in the order of a week's days.
    weekdays: Vec<String>,
    /// Rows of seven days (one row for a week).
    weeks: Vec<Vec<Cell>>,
    previous: String,
    next: String,
    this: String,
    /// The same span as a week or as a month.
    as_week: String,
    as_month: String,
    /// Whose calendar (a user's id, or `team`), as choices.
    people: Vec<(String, String, bool)>,
    /// Whether tasks may be dragged to another day.
    can_move: bool,
}

/// The first day of the week holding `day`: Saturday in Persian, Monday in English.
fn week_start(lang: &str, day: time::Date) -> time::Date {
    let first = if lang == "fa" { time::Weekday::Saturday } else { time::Weekday::Monday };
    let back = (day.weekday().number_days_from_monday() + 7 - first.number_days_from_monday()) % 7;
    day - time::Duration::days(i64::from(back))
}

/// The month holding `day` in the page's calendar (Jalali in Persian): its first day, the first
/// of the next, and its name with the year.
fn month_of(lang: &str, day: time::Date) -> (time::Date, time::Date, String) {
    let months = crate::i18n::t(lang, "calendar-months");
    let months: Vec<&str> = months.split(',').collect();
    if lang == "fa"
        && let Some((y, m, _)) = peyvand_records::jalali::to_jalali(day)
        && let Some(first) = peyvand_records::jalali::from_jalali(y, m, 1)
        && let Some(next) = peyvand_records::jalali::from_jalali(if m == 12 { y + 1 } else { y }, m % 12 + 1, 1)
    {
        let name = months.get(usize::from(m) - 1).copied().unwrap_or_default();
        return (first, next, format!("{name} {}", to_persian_digits(&y.to_string())));
    }
    let first = day.replace_day(1).unwrap_or(day);
    let next = if first.month() == time::Month::December {
        time::Date::from_calendar_date(first.year() + 1, time::Month::January, 1)
    } else {
        time::Date::from_calendar_date(first.year(), first.month().next(), 1)
    }
    .unwrap_or(first);
    let name = months.get(usize::from(u8::from(first.month())) - 1).copied().unwrap_or_default();
    (first, next, format!("{name} {}", first.year()))
}

/// The day of the month in the page's calendar and digits.
fn day_of_month(lang: &str, day: time::Date) -> String {
    if lang == "fa"
        && let Some((_, _, d)) = peyvand_records::jalali::to_jalali(day)
    {
        return to_persian_digits(&d.to_string());
    }
    day.day().to_string()
}

/// A day's name in the page's calendar: the weekday, the day and the month.
fn day_label(lang: &str, day: time::Date) -> String {
    let weekday = crate::i18n::t(lang, &format!("weekday-{}", day.weekday().number_days_from_monday()));
    let months = crate::i18n::t(lang, "calendar-months");
    let months: Vec<&str> = months.split(',').collect();
    if lang == "fa"
        && let Some((_, m, d)) = peyvand_records::jalali::to_jalali(day)
    {
        let month = months.get(usize::from(m).saturating_sub(1)).copied().unwrap_or_default();
        return format!("{weekday} {} {month}", to_persian_digits(&d.to_string()));
    }
    let month = months.get(usize::from(u8::from(day.month())).saturating_sub(1)).copied().unwrap_or_default();
    format!("{weekday} {} {month}", day.day())
}

/// `GET /calendar?view=week|month&date=YYYY-MM-DD&owner=ID|team`: a user's tasks and
/// appointments by day, a week (Saturday first in Persian) or a month (Jalali in Persian); a
/// manager sees a teammate's, or the whole team's at once.
pub async fn week(
    State(state): State<AppState>,
    session: Session,
    axum::extract::Query(q): axum::extract::Query<std::collections::BTreeMap<String, String>>,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        let lang = current_lang();
        let catalog = state.db.visible_catalog().await?;
        let offset = state.config.display_offset;
        let now = time::OffsetDateTime::now_utc();
        let today = now.to_offset(offset).date();
        let asked =
            q.get("date").or(q.get("week")).and_then(|w| peyvand_records::jalali::parse_form_date(w)).unwrap_or(today);
        let view = if q.get("view").map(String::as_str) == Some("month") { "month" } else { "week" };
        let users = state.db.list_users().await?;
        let viewer = &session.viewer;
        let admin = session.user.role == peyvand_records::access::Role::Admin;
        let visible: Vec<&peyvand_store::accounts::User> = users
            .iter()
            .filter(|u| u.active && (u.id == session.user.id || viewer.team_users.contains(&u.id) || admin))
            .collect();
        let owner = q.get("owner").cloned().unwrap_or_else(|| session.user.id.clone());
        let team = owner == "team";
        let owners: Vec<String> =
            if team { visible.iter().map(|u| u.id.clone()).collect() } else { vec![owner.clone()] };
        let (first, end, title) = match view {
            "month" => {
                let (first, next, title) = month_of(lang, asked);
                let last = next - time::Duration::days(1);
                (week_start(lang, first), week_start(lang, last) + time::Duration::days(7), title)
            }
            _ => {
                let start = week_start(lang, asked);
                let title =
                    format!("{} – {}", day_label(lang, start), day_label(lang, start + time::Duration::days(6)));
                (start, start + time::Duration::days(7), title)
            }
        };
        let (month_first, month_next, _) = month_of(lang, asked);
        let from = first.midnight().assume_offset(offset);
        let to = end.midnight().assume_offset(offset);
        let tasks = tasks::between_for(&state.db, &owners, from, to).await?;
        let mut cells: Vec<Cell> = (0..(end - first).whole_days())
            .map(|i| {
                let day = first + time::Duration::days(i);
                Cell {
                    date: day.to_string(),
                    label: if view == "month" { day_of_month(lang, day) } else { day_label(lang, day) },
                    today: day == today,
                    outside: view == "month" && (day < month_first || day >= month_next),
                    items: Vec::new(),
                }
            })
            .collect();
        let names: std::collections::HashMap<&str, &str> =
            users.iter().map(|u| (u.id.as_str(), u.name.as_str())).collect();
        for task in &tasks {
            let text = |f: &str| task.fields.get(f).and_then(Json::as_str).unwrap_or_default().to_string();
            let Some(due) = peyvand_records::value::parse_datetime(&text("due_at")) else { continue };
            let local = due.to_offset(offset);
            let index = (local.date() - first).whole_days();
            let Some(cell) = usize::try_from(index).ok().and_then(|i| cells.get_mut(i)) else { continue };
            let clock = format!("{:02}:{:02}", local.hour(), local.minute());
            let clock = if lang == "fa" { to_persian_digits(&clock) } else { clock };
            cell.items.push(CalItem {
                id: task.id.clone(),
                subject: task.title.clone(),
                clock,
                done: text("status") == "done",
                who: team.then(|| names.get(text("owner").as_str()).map(|n| n.to_string())).flatten(),
            });
        }
        let weeks: Vec<Vec<Cell>> = {
            let mut rows = Vec::new();
            let mut it = cells.into_iter().peekable();
            while it.peek().is_some() {
                rows.push(it.by_ref().take(7).collect());
            }
            rows
        };
        let owner_q = super::session::encode(&owner);
        let link = |view: &str, d: time::Date| format!("/calendar?view={view}&date={d}&owner={owner_q}");
        let (previous, next) = match view {
            "month" => (link("month", month_first - time::Duration::days(1)), link("month", month_next)),
            _ => (link("week", asked - time::Duration::days(7)), link("week", asked + time::Duration::days(7))),
        };
        let mut people: Vec<(String, String, bool)> =
            visible.iter().map(|u| (u.id.clone(), u.name.clone(), u.id == owner)).collect();
        if people.len() > 1 && (admin || session.user.role == peyvand_records::access::Role::Manager) {
            people.insert(0, ("team".into(), crate::i18n::t(lang, "calendar-team"), team));
        }
        let weekdays = (0..7)
            .map(|i| {
                let d = first + time::Duration::days(i);
                crate::i18n::t(lang, &format!("weekday-{}", d.weekday().number_days_from_monday()))
            })
            .collect();
        Ok::<_, ApiError>(render(&CalendarPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), "calendar"),
            tr: Words::new(lang),
            title,
            view,
            weekdays,
            weeks,
            previous,
            next,
            this: link(view, today),
            as_week: link("week", asked),
            as_month: link("month", asked),
            people,
            can_move: session.user.role.allows(peyvand_records::access::Action::WriteRecords),
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /tasks/{id}/reschedule` (`date=YYYY-MM-DD`): moves a task to another day at the same
/// time, from the calendar's drag and drop; answers its new due time, or the refusal.
pub async fn reschedule(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let Some(day) = peyvand_records::jalali::parse_form_date(super::admin::get(&pairs, "date")) else {
        return ApiError::from(peyvand_records::FieldError::new("date", "invalid_date")).into_response();
    };
    match tasks::reschedule(&state.db, &session.user.id, &id, day).await {
        Ok(task) => axum::Json(json!({ "id": task.id, "due_at": task.fields.get("due_at") })).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::week_start;
    use time::macros::date;

    #[test]
    fn a_persian_week_starts_on_saturday_an_english_one_on_monday() {
        // 2026-12-04 is a Friday.
        assert_eq!(week_start("fa", date!(2026 - 12 - 04)), date!(2026 - 11 - 28));
        assert_eq!(week_start("fa", date!(2026 - 12 - 05)), date!(2026 - 12 - 05), "a Saturday starts its own");
        assert_eq!(week_start("en", date!(2026 - 12 - 04)), date!(2026 - 11 - 30));
        assert_eq!(week_start("en", date!(2026 - 12 - 06)), date!(2026 - 11 - 30), "Sunday ends the English week");
    }
}
