//! Server-rendered pages: sign-in, lists and record pages of every object, search. Pages call
//! the same store operations as the JSON API; this module only shapes what they return for
//! reading in Persian (right-to-left, Jalali dates, Persian digits) or English.

mod activities;
mod admin;
pub mod assets;
mod automation;
mod commissions;
mod consent;
mod customers;
mod dashboards;
mod display;
mod feedback;
mod forms;
pub mod imports;
mod list;
mod loyalty;
mod marketing;
mod notifications;
mod performance;
pub mod portal;
mod records;
mod reports;
mod sales;
mod service;
mod session;
mod shell;
pub mod sso;
mod tasks;
mod teams;
mod timeline;
mod two_factor;
mod web_forms;

pub use display::display_value;
pub use session::{CsrfForm, Session, check_csrf};

use crate::AppState;
use crate::error::current_lang;
use crate::i18n::t;
use askama::Template;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use peyvand_store::catalog::Catalog;

/// A link in the navigation.
pub struct NavItem {
    pub href: String,
    pub label: String,
    pub current: bool,
    /// The icon's name in the sprite (`assets/vendor/icons.py`).
    pub icon: &'static str,
}

/// What the capabilities add to a record's page, rendered (each by its own escaping template):
/// the one place that says which capability shows what on which object's page.
async fn record_panels(
    state: &AppState,
    session: &Session,
    headers: &axum::http::HeaderMap,
    object: &str,
    record: &peyvand_store::records::Record,
) -> Result<Vec<String>, crate::error::ApiError> {
    let mut panels = match object {
        "deal" => vec![
            sales::deal_panel(state, session, record).await?,
            commissions::split_panel(state, session, object, record).await?,
        ],
        "lead" => {
            let mut panels = vec![sales::lead_panel(state, session, record).await?];
            panels.extend(performance::lead_score_panel(state, record).await?);
            panels.extend(customers::duplicates_placeholder(object, record));
            panels
        }
        "contact" | "company" => {
            let mut panels = vec![sales::worth_panel(state, object, record).await?];
            if object == "contact" {
                panels.extend(sales::offers_panel(state, record).await?);
                panels.extend(loyalty::loyalty_panel(state, session, record).await?);
                panels.push(consent::consent_panel(state, session, record).await?);
                panels.push(portal::staff_panel(state, session, record).await?);
            }
            panels.extend(sales::benefits_panel(state, object, record).await?);
            panels.extend(customers::duplicates_placeholder(object, record));
            panels
        }
        "activity" | "task" => vec![activities::participants_panel(state, session, record).await?],
        "ticket" => {
            let mut panels = vec![service::ticket_panel(state, session, record).await?];
            panels.extend(feedback::ticket_csat(state, headers, record).await?);
            panels
        }
        "suggestion" => vec![feedback::suggestion_panel(state, session, record).await?],
        "kb_article" => vec![service::article_panel(session, record).await?],
        "quote" => {
            vec![sales::document_panel(state, session, peyvand_crm::sales::documents::Kind::Quote, record).await?]
        }
        "order" => vec![
            sales::document_panel(state, session, peyvand_crm::sales::documents::Kind::Order, record).await?,
            commissions::split_panel(state, session, object, record).await?,
        ],
        _ => Vec::new(),
    };
    // Any object with letter templates: print one for the record.
    panels.extend(automation::letters_panel(state, session, object, record).await?);
    Ok(panels)
}

/// This server's address as the browser reached it (for addresses given out: a calendar feed,
/// a public form): https when cookies are marked secure or a proxy says so.
pub(crate) fn base_url(state: &AppState, headers: &axum::http::HeaderMap) -> String {
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let https = state.config.secure_cookies == Some(true)
        || headers.get("x-forwarded-proto").and_then(|p| p.to_str().ok()) == Some("https");
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// The icon of an object in the navigation and the command palette.
pub fn object_icon(api_name: &str) -> &'static str {
    match api_name {
        "company" => "building-2",
        "contact" => "user",
        "deal" => "handshake",
        "product" => "package",
        "activity" => "calendar-clock",
        "lead" => "user-plus",
        "task" => "check",
        "ticket" => "inbox",
        "kb_article" => "file-text",
        "suggestion" => "message-square",
        _ => "box",
    }
}

/// Where the shared files are (hashed names, `assets::url`).
pub struct AssetUrls {
    pub css: String,
    pub js: String,
    pub htmx: String,
    pub icons: String,
    pub font: String,
    pub manifest: String,
    pub logo: String,
    /// The logo as a 192 px PNG, for phones' home screens.
    pub touch: String,
}

impl AssetUrls {
    fn new() -> AssetUrls {
        AssetUrls {
            css: assets::url("app.css"),
            js: assets::url("app.js"),
            htmx: assets::url("htmx.min.js"),
            icons: assets::url("icons.svg"),
            font: assets::url("vazirmatn.woff2"),
            manifest: assets::url("manifest.webmanifest"),
            logo: assets::url("logo.svg"),
            touch: assets::url("logo-192.png"),
        }
    }
}

/// The words of the app's frame.
pub struct ShellWords {
    pub skip: String,
    pub navigation: String,
    pub objects: String,
    pub collapse: String,
    pub palette: String,
    pub palette_hint: String,
    pub palette_move: String,
    pub palette_open: String,
    pub palette_close: String,
    pub design: String,
    pub home: String,
    pub menu: String,
}

impl ShellWords {
    fn new(lang: &str) -> ShellWords {
        ShellWords {
            skip: t(lang, "shell-skip"),
            navigation: t(lang, "shell-navigation"),
            objects: t(lang, "shell-objects"),
            collapse: t(lang, "shell-collapse"),
            palette: t(lang, "shell-palette"),
            palette_hint: t(lang, "shell-palette-hint"),
            palette_move: t(lang, "shell-palette-move"),
            palette_open: t(lang, "shell-palette-open"),
            palette_close: t(lang, "shell-palette-close"),
            design: t(lang, "shell-design"),
            home: t(lang, "shell-home"),
            menu: t(lang, "shell-menu"),
        }
    }
}

/// Up to two letters for an avatar: the first of the first and last words of a name.
pub fn initials(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    let first = |w: &str| w.chars().next().map(|c| c.to_uppercase().collect::<String>()).unwrap_or_default();
    match words.as_slice() {
        [] => String::new(),
        [one] => first(one),
        // Two Persian letters side by side would join into a word: a zero-width non-joiner
        // keeps them apart.
        [one, .., last] => {
            let (a, b) = (first(one), first(last));
            let arabic = |s: &str| s.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c));
            if arabic(&a) || arabic(&b) { format!("{a}\u{200C}{b}") } else { format!("{a}{b}") }
        }
    }
}

#[cfg(test)]
mod initials_tests {
    #[test]
    fn initials_in_both_scripts() {
        assert_eq!(super::initials("Zagros Health Co"), "ZC");
        assert_eq!(super::initials("کاوه یزدانی"), "ک\u{200C}ی");
        assert_eq!(super::initials("admin"), "A");
        assert_eq!(super::initials("  "), "");
    }
}

/// What every page's frame shows.
pub struct Layout {
    pub lang: &'static str,
    pub dir: &'static str,
    pub app_name: String,
    pub user: Option<String>,
    pub csrf: String,
    pub nav: Vec<NavItem>,
    pub query: String,
    pub search_label: String,
    pub other_lang: &'static str,
    pub other_lang_label: String,
    pub sign_out_label: String,
    /// The administration link, for admins.
    pub admin: Option<String>,
    pub tokens_label: String,
    pub security_label: String,
    pub theme: &'static str,
    pub toman: bool,
    pub menu: MenuWords,
    pub assets: AssetUrls,
    /// The side navigation folded to its icons (a cookie, so the page arrives as it was left).
    pub collapsed: bool,
    /// Tables drawn with less space between rows (a cookie, set from a list's density switch).
    pub compact: bool,
    /// The user's initials, for their avatar.
    pub initials: String,
    pub words: ShellWords,
}

/// The words of the user's menu.
pub struct MenuWords {
    pub title: String,
    pub dark: String,
    pub light: String,
    pub toman: String,
    pub rial: String,
    pub notifications: String,
}

impl Layout {
    pub fn new(lang: &'static str, session: Option<&Session>, catalog: Option<&Catalog>, current: &str) -> Layout {
        let mut nav: Vec<NavItem> = catalog
            .map(|c| {
                c.objects
                    .iter()
                    .map(|o| NavItem {
                        href: format!("/records/{}", o.api_name),
                        label: o.plural(lang).to_string(),
                        current: o.api_name == current,
                        icon: object_icon(&o.api_name),
                    })
                    .collect()
            })
            .unwrap_or_default();
        // The pipelines' boards, after the deals.
        if let Some(at) = nav.iter().position(|n| n.href == "/records/deal") {
            let item = NavItem {
                href: "/pipelines".into(),
                label: t(lang, "sales-pipeline-board"),
                current: current == "pipelines",
                icon: "square-kanban",
            };
            nav.insert(at + 1, item);
        }
        // The duplicates queue, after the contacts.
        if let Some(at) = nav.iter().position(|n| n.href == "/records/contact") {
            let item = NavItem {
                href: "/duplicates".into(),
                label: t(lang, "queue-title"),
                current: current == "duplicates",
                icon: "users",
            };
            nav.insert(at + 1, item);
        }
        // The support desk, before the tickets.
        if let Some(at) = nav.iter().position(|n| n.href == "/records/ticket") {
            let item = NavItem {
                href: "/service".into(),
                label: t(lang, "service-desk"),
                current: current.starts_with("service"),
                icon: "message-circle",
            };
            nav.insert(at, item);
        }
        // The surveys, before the suggestion box.
        if let Some(at) = nav.iter().position(|n| n.href == "/records/suggestion") {
            let item = NavItem {
                href: "/surveys".into(),
                label: t(lang, "surveys"),
                current: current == "surveys",
                icon: "star",
            };
            nav.insert(at, item);
        }
        // Loyalty, after the surveys.
        if let Some(at) = nav.iter().position(|n| n.href == "/surveys") {
            let item = NavItem {
                href: "/loyalty".into(),
                label: t(lang, "loyalty"),
                current: current == "loyalty",
                icon: "box",
            };
            nav.insert(at + 1, item);
        }
        // Forecast, quotas, commissions, the leaderboard, customer value and lead scores, then
        // reports, for everyone who reads records.
        if catalog.is_some() {
            for (href, key, icon) in [
                ("/forecast", "forecast", "activity"),
                ("/quotas", "quotas", "check"),
                ("/commissions", "commissions", "file-text"),
                ("/leaderboard", "leaderboard", "star"),
                ("/customer-value", "customer-value", "users"),
                ("/lead-scores", "lead-scores", "user-plus"),
            ] {
                let item = NavItem { href: href.into(), label: t(lang, key), current: current == key, icon };
                nav.push(item);
            }
        }
        if catalog.is_some() {
            let item = NavItem {
                href: "/reports".into(),
                label: t(lang, "reports"),
                current: current == "reports",
                icon: "activity",
            };
            nav.push(item);
        }
        // Scheduled reports, last, for those who keep them.
        if catalog.is_some() && session.is_some_and(|s| peyvand_crm::automation::reports::may_keep(s.user.role)) {
            let item = NavItem {
                href: "/reports/scheduled".into(),
                label: t(lang, "reports-scheduled"),
                current: current == "reports-scheduled",
                icon: "mail",
            };
            nav.push(item);
        }
        // The user's day and week first, when there are tasks to have them.
        if catalog.is_some_and(|c| c.object("task").is_some()) {
            for (href, key, icon) in [("/calendar", "calendar", "calendar-clock"), ("/my-day", "my-day", "calendar")] {
                let item = NavItem { href: href.into(), label: t(lang, key), current: current == key, icon };
                nav.insert(0, item);
            }
        }
        // The dashboard, first of all.
        if catalog.is_some() {
            let item = NavItem {
                href: "/dashboard".into(),
                label: t(lang, "dashboard"),
                current: current == "dashboard",
                icon: "layout-grid",
            };
            nav.insert(0, item);
        }
        Layout {
            lang,
            dir: if lang == "fa" { "rtl" } else { "ltr" },
            app_name: t(lang, "app-name"),
            user: session.map(|s| s.user.name.clone()),
            // Masked afresh for each page (`auth::mask_csrf`).
            csrf: session.map(|s| crate::auth::mask_csrf(&s.csrf)).unwrap_or_default(),
            nav,
            query: String::new(),
            search_label: t(lang, "nav-search"),
            other_lang: if lang == "fa" { "en" } else { "fa" },
            other_lang_label: t(lang, "nav-language"),
            sign_out_label: t(lang, "nav-sign-out"),
            admin: session
                .filter(|s| s.user.role.allows(peyvand_records::access::Action::ManageSchema))
                .map(|_| t(lang, "nav-admin")),
            tokens_label: t(lang, "nav-tokens"),
            security_label: t(lang, "security-settings"),
            theme: if crate::i18n::current_prefs().dark { "dark" } else { "light" },
            toman: crate::i18n::current_prefs().toman,
            menu: MenuWords {
                title: t(lang, "menu-title"),
                dark: t(lang, "menu-dark"),
                light: t(lang, "menu-light"),
                toman: t(lang, "menu-toman"),
                rial: t(lang, "menu-rial"),
                notifications: t(lang, "menu-notifications"),
            },
            assets: AssetUrls::new(),
            collapsed: crate::i18n::current_prefs().collapsed,
            compact: crate::i18n::current_prefs().compact,
            initials: session.map(|s| initials(&s.user.name)).unwrap_or_default(),
            words: ShellWords::new(lang),
        }
    }
}

/// Renders a template, or a plain 500 if the template fails (logged).
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    heading: String,
    message: String,
    back_label: String,
}

/// An error page in the request's language.
pub fn error_page(status: StatusCode, message_key: &str) -> Response {
    let lang = current_lang();
    let page = ErrorPage {
        layout: Layout::new(lang, None, None, ""),
        heading: t(lang, "error-title"),
        message: t(lang, message_key),
        back_label: t(lang, "error-back"),
    };
    (status, render(&page)).into_response()
}

/// Unknown paths: a problem document under `/api`, a page elsewhere.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return crate::error::ApiError::BadRequest { code: "route_not_found", detail: "no such API route".into() }
            .into_response();
    }
    error_page(StatusCode::NOT_FOUND, "error-not-found")
}

/// The page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(records::home))
        .route("/login", get(session::login_page).post(session::login))
        .route("/login/code", get(two_factor::code_form).post(two_factor::take_code))
        .route("/login/sso", get(sso::start))
        .route("/login/sso/callback", get(sso::callback))
        .route("/settings/security", get(two_factor::security_page))
        .route("/settings/security/start", post(two_factor::start))
        .route("/settings/security/confirm", post(two_factor::confirm))
        .route("/settings/security/disable", post(two_factor::disable))
        .route("/settings/security/sign-out-everywhere", post(two_factor::sign_out_everywhere))
        .route("/logout", post(session::logout))
        .route("/settings/language", post(session::set_language))
        .route("/settings/display", post(session::set_display))
        .route("/records/{object}/{id}/merge/{other}", get(customers::merge_page).post(customers::merge_records))
        .route("/records/{object}/{id}/duplicates", get(customers::duplicates_panel))
        .route("/duplicates", get(customers::queue_page))
        .route("/duplicates/scan", post(customers::queue_scan))
        .route("/duplicates/dismiss", post(customers::queue_dismiss))
        .route("/records/{object}/{id}/timeline", get(timeline::timeline_fragment))
        .route("/records/{object}/{id}/participants", post(activities::change_participants))
        .route("/my-day", get(tasks::my_day))
        .route("/tasks/{id}/done", post(tasks::done))
        .route("/calendar", get(tasks::week))
        .route("/tasks/{id}/reschedule", post(tasks::reschedule))
        .route("/calendar/feed", post(tasks::make_feed))
        .route("/calendar/feed/revoke", post(tasks::revoke_feed))
        .route("/calendar/{file}", get(tasks::calendar_file))
        .route("/notifications", get(notifications::page))
        .route("/notifications/badge", get(notifications::badge))
        .route("/reports/scheduled", get(automation::report_schedules).post(automation::create_report_schedule))
        .route("/reports/scheduled/{id}/delete", post(automation::delete_report_schedule))
        .route("/reports/scheduled/{id}/send", post(automation::send_report_schedule))
        .route("/dashboard", get(dashboards::default_dashboard))
        .route("/dashboards", post(dashboards::create_dashboard))
        .route("/dashboards/new", get(dashboards::new_dashboard))
        .route("/dashboards/{id}", get(dashboards::dashboard_page).post(dashboards::update_dashboard))
        .route("/dashboards/{id}/edit", get(dashboards::edit_dashboard))
        .route("/dashboards/{id}/delete", post(dashboards::delete_dashboard))
        .route("/quotas", get(performance::quotas_page).post(performance::create_quota))
        .route("/quotas/{id}/delete", post(performance::delete_quota))
        .route("/commissions", get(commissions::commissions_page))
        .route("/commissions/plans", post(commissions::create_plan))
        .route("/commissions/plans/new", get(commissions::new_plan))
        .route("/commissions/plans/{id}", get(commissions::edit_plan).post(commissions::update_plan))
        .route("/commissions/plans/{id}/delete", post(commissions::delete_plan))
        .route("/commissions/statements/{user}/{key}", get(commissions::statement_page))
        .route("/commissions/statements/{user}/{key}/approve", post(commissions::approve_statement))
        .route("/commissions/splits/{object}/{id}", post(commissions::set_splits))
        .route("/leaderboard", get(performance::leaderboard_page))
        .route("/forecast", get(performance::forecast_page))
        .route("/performance", get(performance::performance_page))
        .route("/lead-scores", get(performance::lead_scores_page))
        .route("/lead-scores/run", post(performance::run_lead_scores))
        .route("/customer-value", get(performance::value_page))
        .route("/customer-value/run", post(performance::run_value))
        .route("/awards", post(performance::give_award))
        .route("/awards/rules", post(performance::create_award_rule))
        .route("/awards/rules/{id}/delete", post(performance::delete_award_rule))
        .route("/awards/{id}/delete", post(performance::withdraw_award))
        .route("/people/{id}", get(performance::person_page))
        .route("/reports", get(reports::reports_page).post(reports::create_report))
        .route("/reports/new", get(reports::new_report))
        .route("/reports/{id}", get(reports::report_page).post(reports::update_report))
        .route("/reports/{id}/delete", post(reports::delete_report))
        .route("/reports/{id}/export.csv", get(reports::export_report))
        .route("/reports/{id}/export.xlsx", get(reports::export_report_xlsx))
        .route("/notifications/preferences", get(notifications::preferences).post(notifications::save_preferences))
        .route("/notifications/read", post(notifications::read_all))
        .route("/notifications/{id}/open", post(notifications::open))
        .route("/search", get(records::search_page))
        .route("/search/suggest", get(records::search_suggest))
        .route("/records/{object}", get(list::list_page))
        .route("/records/{object}/board", get(list::board_page))
        .route("/records/{object}/views", post(list::save_view))
        .route("/records/{object}/views/{id}/delete", post(list::delete_view))
        .route("/records/{object}/bulk", post(list::bulk))
        .route("/records/{object}/export.csv", get(list::export_view))
        .route("/records/{object}/export.xlsx", get(list::export_view_xlsx))
        .route("/records/{object}/{id}/move", post(list::move_card))
        .route("/records/{object}/{id}/cell/{field}", get(forms::edit_cell).post(forms::save_cell))
        .route("/records/{object}/new", get(forms::new_form).post(forms::create))
        .route("/records/{object}/options", get(forms::lookup_options))
        .route(
            "/records/{object}/import",
            get(imports::upload_page)
                .post(imports::upload)
                .layer(axum::extract::DefaultBodyLimit::max(imports::MAX_UPLOAD_BYTES)),
        )
        .route("/imports/{id}", get(imports::job_page))
        .route("/imports/{id}/run", post(imports::run))
        .route("/imports/{id}/progress", get(imports::progress))
        .route("/imports/{id}/errors.csv", get(imports::errors_csv))
        .route("/records/{object}/{id}", get(records::record_page))
        .route("/records/{object}/{id}/edit", get(forms::edit_form).post(forms::update))
        .route("/records/{object}/{id}/delete", post(forms::trash))
        .route("/records/{object}/{id}/restore", post(forms::restore))
        .route("/records/{object}/{id}/share", post(records::share))
        .route("/admin", get(|| async { Redirect::to("/admin/objects") }))
        .route("/admin/objects", get(admin::objects_page).post(admin::create_object))
        .route("/admin/objects/{object}", get(admin::fields_page))
        .route("/admin/objects/{object}/fields", post(admin::create_field))
        .route("/admin/objects/{object}/trash", post(admin::object_action_trash))
        .route("/admin/objects/{object}/restore", post(admin::object_action_restore))
        .route("/admin/objects/{object}/fields/{field}", get(admin::field_page).post(admin::update_field))
        .route("/admin/objects/{object}/fields/{field}/{action}", post(admin::field_action))
        .route("/admin/users", get(admin::users_page).post(admin::invite_user))
        .route("/admin/users/{id}", post(admin::change_user))
        .route("/admin/users/{id}/handover", post(teams::hand_over))
        .route("/admin/teams", get(teams::teams_page).post(teams::create_team))
        .route("/admin/teams/{id}", post(teams::update_team))
        .route("/admin/teams/{id}/delete", post(teams::delete_team))
        .route("/admin/access", get(teams::access_page).post(teams::save_access))
        .route("/admin/field_access/{object}/{field}", post(teams::save_field_access))
        .route("/admin/security", get(teams::security_page))
        .route("/admin/pipelines", get(sales::admin_page).post(sales::admin_create))
        .route("/admin/pipelines/{key}", post(sales::admin_update))
        .route("/admin/pipelines/{key}/delete", post(sales::admin_delete))
        .route("/pipelines", get(sales::pipelines_index))
        .route("/pipelines/{key}", get(sales::pipeline_board))
        .route("/leads/{id}/convert", post(sales::convert_lead))
        .route("/forms/lead", get(sales::web_form).post(sales::web_form_submit))
        .route("/documents/{kind}/{id}/lines", get(sales::edit_lines).post(sales::save_lines))
        .route("/documents/{kind}/{id}/print", get(sales::print_document))
        .route("/documents/{kind}/{id}/order", post(sales::make_order))
        .route("/admin/business", get(sales::business_page).post(sales::save_business))
        .route("/admin/forms", get(web_forms::forms_page))
        .route("/admin/workflows", get(automation::index))
        .route("/admin/workflows/new", get(automation::new_workflow).post(automation::create_workflow))
        .route("/admin/workflows/{id}", get(automation::edit_workflow).post(automation::update_workflow))
        .route("/admin/workflows/{id}/test", post(automation::test_workflow))
        .route("/admin/workflows/{id}/toggle", post(automation::toggle_workflow))
        .route("/admin/workflows/{id}/delete", post(automation::delete_workflow))
        .route("/admin/workflow-runs/{id}/retry", post(automation::retry_run))
        .route("/admin/templates", get(automation::templates_page))
        .route("/admin/templates/new", get(automation::new_template).post(automation::create_template))
        .route("/admin/templates/{id}", get(automation::edit_template).post(automation::update_template))
        .route("/admin/templates/{id}/delete", post(automation::delete_template))
        .route("/admin/webhooks", get(automation::webhooks_page).post(automation::create_webhook))
        .route("/admin/webhooks/inbound", post(automation::create_inbound))
        .route("/admin/webhooks/inbound/{id}/delete", post(automation::delete_inbound))
        .route("/admin/webhooks/{id}", get(automation::webhook_page))
        .route("/admin/webhooks/{id}/resume", post(automation::resume_webhook))
        .route("/admin/webhooks/{id}/delete", post(automation::delete_webhook))
        .route("/admin/webhook-deliveries/{id}/replay", post(automation::replay_delivery))
        .route("/admin/messages", get(automation::outbox))
        .route("/admin/messages/{id}/retry", post(automation::retry_message))
        .route("/admin/messaging", get(automation::messaging).post(automation::save_messaging))
        .route("/letters", post(automation::print_letters))
        .route("/admin/forms/new", get(web_forms::new_form).post(web_forms::create_form))
        .route("/admin/forms/{id}", get(web_forms::edit_form).post(web_forms::update_form))
        .route("/admin/forms/{id}/delete", post(web_forms::delete_form))
        .route("/f/{slug}", get(web_forms::public_form).post(web_forms::public_submit))
        .route("/s/{token}", get(feedback::public_survey).post(feedback::public_answer))
        .route("/surveys", get(feedback::surveys_page))
        .route("/surveys/new", get(feedback::new_survey).post(feedback::create_survey))
        .route("/surveys/{id}", get(feedback::results_page))
        .route("/surveys/{id}/edit", get(feedback::edit_survey).post(feedback::update_survey))
        .route("/surveys/{id}/delete", post(feedback::delete_survey))
        .route("/surveys/{id}/send", post(feedback::send_survey))
        .route("/loyalty", get(loyalty::loyalty_page))
        .route("/loyalty/new", get(loyalty::new_program).post(loyalty::create_program))
        .route("/loyalty/{id}", get(loyalty::program_page))
        .route("/loyalty/{id}/edit", post(loyalty::update_program))
        .route("/loyalty/{id}/rewards", post(loyalty::add_reward))
        .route("/loyalty/{id}/post_orders", post(loyalty::post_orders))
        .route("/loyalty/{id}/members/{contact}", get(loyalty::statement))
        .route("/loyalty/{id}/members/{contact}/enrol", post(loyalty::enrol))
        .route("/loyalty/{id}/members/{contact}/redeem", post(loyalty::redeem))
        .route("/loyalty/{id}/members/{contact}/adjust", post(loyalty::adjust))
        .route("/loyalty/referrals/{contact}", post(loyalty::referred_by))
        .route("/consent/{contact}", post(consent::record_consent))
        .route("/records/contact/{id}/portal", post(portal::staff_change))
        .route(
            "/admin/portal",
            get(portal::admin_settings)
                .post(portal::save_admin_settings)
                .layer(axum::extract::DefaultBodyLimit::max(2 * peyvand_crm::portal::MAX_LOGO)),
        )
        .route("/marketing", get(marketing::marketing_page))
        .route("/marketing/segments", post(marketing::create_segment))
        .route("/marketing/segments/{id}", get(marketing::segment_page))
        .route("/marketing/segments/{id}/points", post(marketing::grant_points))
        .route("/marketing/segments/{id}/benefits", post(marketing::grant_benefit))
        .route("/marketing/campaigns", post(marketing::create_campaign))
        .route("/marketing/campaigns/{id}", get(marketing::campaign_page))
        .route("/marketing/campaigns/{id}/start", post(marketing::start_campaign))
        .route("/marketing/campaigns/{id}/cancel", post(marketing::cancel_campaign))
        .route("/c/{token}", get(marketing::follow_link))
        .route("/u/{token}", get(consent::unsubscribe_page).post(consent::unsubscribe))
        .route("/u/confirm/{token}", get(consent::confirm_page).post(consent::confirm))
        .route("/staff/{id}", get(feedback::staff_page))
        .route("/suggestions/{id}/told", post(feedback::suggestion_told))
        .route("/ideas", get(feedback::ideas_page).post(feedback::suggest))
        .route("/ideas/{id}/vote", post(feedback::vote))
        .route("/service", get(service::desk))
        .route("/service/report", get(service::report))
        .route("/service/dealers", get(service::dealers_page))
        .route("/service/dealers/threshold", post(service::dealers_threshold))
        .route(
            "/tickets/{id}/reply",
            post(service::reply).layer(axum::extract::DefaultBodyLimit::max(service::MAX_REPLY_FORM)),
        )
        .route("/tickets/{id}/take", post(service::take))
        .route("/tickets/{id}/merge", post(service::merge))
        .route("/tickets/{id}/files/{file}", get(service::file))
        .route("/kb/{id}", get(service::article))
        .route("/kb/{id}/vote", post(service::vote))
        .route("/admin/service", get(service::admin_page))
        .route("/admin/service/{part}", post(service::admin_change))
        .route("/admin/service/{part}/{id}", post(service::admin_change))
        .route("/admin/two_factor", post(teams::save_two_factor))
        .route("/admin/users/{id}/two_factor/reset", post(teams::reset_two_factor))
        .route("/settings/tokens", get(admin::tokens_page).post(admin::create_token))
        .route("/settings/tokens/{id}/revoke", post(admin::revoke_token))
        .route("/assets/{file}", get(assets::serve))
        .route("/shell/marks", get(shell::marks))
        .route("/palette", get(shell::palette))
        .route("/design", get(shell::design))
        .route("/records/{object}/{id}/favourite", post(shell::favourite))
        .merge(portal::router())
}
