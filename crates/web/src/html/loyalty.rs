//! Loyalty on pages (`peyvand_crm::loyalty`): the programs (`/loyalty`), a program's tiers,
//! rewards and members with its editor for admins (`/loyalty/{id}`), a member's statement
//! (`/loyalty/{id}/members/{contact}`), and the loyalty panel of a contact's page (balance,
//! tier and the way to the next, enrol, redeem, a manager's correction).

use super::admin::{Pairs, Words, get, messages, require};
use super::records::fail;
use super::session::encode;
use super::{CsrfForm, Layout, Session, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::i18n::{format_date, t};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_crm::loyalty::programs::{self, ActionRule, Cap, Definition, Period, Program, SpendRule, Tier};
use peyvand_crm::loyalty::rewards::{self, Redeem, RewardDef};
use peyvand_crm::loyalty::{self, earning, ledger, referrals};
use peyvand_records::access::{Action, Role};
use peyvand_records::normalize::to_latin_digits;
use peyvand_store::Error as StoreError;
use peyvand_store::records::Record;
use std::collections::HashMap;

fn internal(e: askama::Error) -> ApiError {
    ApiError::Internal(e.to_string())
}

fn number(lang: &str, n: i64) -> String {
    super::display::format_number(lang, &n.to_string())
}

/// An ISO day or instant as the page shows it (Jalali in Persian).
fn day(lang: &str, iso: &str) -> String {
    iso.get(..10)
        .and_then(|d| time::Date::parse(d, &time::format_description::well_known::Iso8601::DATE).ok())
        .map_or_else(|| iso.to_string(), |d| format_date(lang, d))
}

fn manager(session: &Session) -> bool {
    matches!(session.user.role, Role::Admin | Role::Manager)
}

pub struct ProgramRow {
    pub id: String,
    pub name: String,
    pub active: bool,
    pub members: String,
    pub tiers: String,
}

#[derive(Template)]
#[template(path = "loyalty.html")]
struct IndexPage {
    layout: Layout,
    tr: Words,
    admin: bool,
    rows: Vec<ProgramRow>,
}

/// `GET /loyalty`: the programs.
pub async fn loyalty_page(State(state): State<AppState>, session: Session) -> Response {
    let result = async {
        require(&session, Action::ReadRecords)?;
        let lang = current_lang();
        let mut rows = Vec::new();
        for p in programs::list(&state.db).await? {
            let counts = ledger::tier_counts(&state.db, &p.id).await?;
            let total: i64 = counts.iter().map(|(_, n)| n).sum();
            let tiers = p
                .definition
                .tiers
                .iter()
                .map(|t| peyvand_crm::forms::pick(lang, &t.name_fa, &t.name_en))
                .collect::<Vec<_>>();
            rows.push(ProgramRow {
                id: encode(&p.id),
                name: p.definition.name(lang).to_string(),
                active: p.definition.active,
                members: number(lang, total),
                tiers: tiers.join(" · "),
            });
        }
        let catalog = state.db.visible_catalog().await?;
        Ok::<_, ApiError>(render(&IndexPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), "loyalty"),
            tr: Words::new(lang),
            admin: session.user.role.allows(Action::ManageSchema),
            rows,
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}

pub struct TierView {
    pub name: String,
    pub threshold: String,
    pub factor: String,
    pub discount: String,
    pub members: String,
}

pub struct RewardView {
    pub name: String,
    pub kind: String,
    pub points: String,
    pub stock: String,
    pub active: bool,
}

pub struct MemberView {
    pub href: String,
    pub name: String,
    pub balance: String,
    pub tier: String,
}

/// The editor's rows: spend rules, tiers and periods as text inputs.
pub struct SpendForm {
    pub i: usize,
    pub per: String,
    pub points: String,
    /// What the rule earns on: `""` (the whole order), `category:<value>` or `product:<id>`.
    pub on: String,
}

pub struct TierForm {
    pub i: usize,
    pub key: String,
    pub name_fa: String,
    pub name_en: String,
    pub threshold: String,
    pub factor: String,
    pub discount: String,
}

pub struct PeriodForm {
    pub i: usize,
    pub from: String,
    pub to: String,
    pub factor: String,
}

#[derive(Template)]
#[template(path = "loyalty_program.html")]
struct ProgramPage {
    layout: Layout,
    tr: Words,
    csrf: String,
    /// Empty for a new program.
    id: String,
    name: String,
    admin: bool,
    summary: Vec<(String, String)>,
    tiers: Vec<TierView>,
    rewards: Vec<RewardView>,
    members: Vec<MemberView>,
    // The editor.
    d: Definition,
    expiry: String,
    cap_order: String,
    cap_points: String,
    cap_days: String,
    spend: Vec<SpendForm>,
    actions: Vec<(String, String, String)>,
    tier_forms: Vec<TierForm>,
    periods: Vec<PeriodForm>,
    statuses: Vec<(String, String, bool)>,
    /// What a spend rule may earn on, grouped: categories, then products (`SpendForm::on`'s values).
    targets: Vec<(String, Vec<(String, String)>)>,
    /// Products a free-product reward may give.
    products: Vec<(String, String)>,
    reward_kinds: Vec<(String, String)>,
    /// Published web forms that make contacts (a referral link opens one).
    forms: Vec<(String, String)>,
    errors: Vec<String>,
    posted: Option<String>,
}

/// A new program's definition: every default, no rules.
fn blank() -> Definition {
    Definition {
        name_fa: String::new(),
        name_en: String::new(),
        active: true,
        currency: "IRR".into(),
        spend_rules: Vec::new(),
        action_rules: Vec::new(),
        periods: Vec::new(),
        tiers: Vec::new(),
        qualify_by: "points".into(),
        window_days: 365,
        keep_days: 0,
        expiry_days: None,
        cap_per_order: None,
        cap_per_period: None,
        earn_on: vec!["paid".into(), "delivered".into()],
        starts_on: None,
        warn_days: 14,
        referral_form: None,
    }
}

/// Most products offered in the editor's choices (besides those its rules name).
const PRODUCT_CHOICES: u32 = 200;

/// Products by name for the editor: active ones, by name, and any `named` ones besides.
async fn product_choices(state: &AppState, named: &[String]) -> Result<Vec<(String, String)>, ApiError> {
    let obj = state.db.object("product").await?;
    let query = peyvand_store::records::ListQuery {
        filter: peyvand_records::filter::parse_filter(
            &obj,
            &serde_json::json!({"field": "active", "op": "eq", "value": true}),
        )
        .ok(),
        sort: peyvand_records::filter::parse_sort(&obj, "name").unwrap_or_default(),
        limit: Some(PRODUCT_CHOICES),
        fields: Some(vec!["name".into()]),
        ..Default::default()
    };
    let page = state.db.list_records("product", &query).await?;
    let mut list: Vec<(String, String)> = page.records.into_iter().map(|r| (r.id, r.title)).collect();
    let missing: Vec<String> = named.iter().filter(|n| !list.iter().any(|(id, _)| id == *n)).cloned().collect();
    if !missing.is_empty() {
        let titles = state.db.titles("product", &missing).await?;
        list.extend(missing.into_iter().map(|id| {
            let title = titles.get(&id).cloned().unwrap_or_else(|| id.clone());
            (id, title)
        }));
    }
    Ok(list)
}

/// The page of a program (`id`) or of a new one, with `def` in the editor.
async fn program_view(
    state: &AppState,
    session: &Session,
    id: Option<&str>,
    def: &Definition,
    errors: Vec<String>,
    posted: Option<String>,
) -> Result<Response, ApiError> {
    let lang = current_lang();
    let admin = session.user.role.allows(Action::ManageSchema);
    let catalog = state.db.visible_catalog().await?;
    let categories: Vec<(String, String)> = catalog
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
    let named: Vec<String> = def.spend_rules.iter().filter_map(|r| r.product.clone()).collect();
    let products = product_choices(state, &named).await?;
    let (mut tiers, mut reward_views, mut members, mut summary) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    if let Some(id) = id {
        let counts: HashMap<Option<String>, i64> = ledger::tier_counts(&state.db, id).await?.into_iter().collect();
        for tier in &def.tiers {
            tiers.push(TierView {
                name: peyvand_crm::forms::pick(lang, &tier.name_fa, &tier.name_en).to_string(),
                threshold: number(lang, tier.threshold),
                factor: super::display::format_number(lang, &tier.factor),
                discount: tier
                    .discount_percent
                    .as_deref()
                    .map_or_else(String::new, |d| super::display::format_number(lang, d)),
                members: number(lang, counts.get(&Some(tier.key.clone())).copied().unwrap_or(0)),
            });
        }
        for r in rewards::list(&state.db, id).await? {
            reward_views.push(RewardView {
                name: r.name(lang).to_string(),
                kind: t(lang, &format!("loyalty-reward-{}", r.definition.kind)),
                points: number(lang, r.definition.points),
                stock: r.definition.stock.map_or_else(|| t(lang, "loyalty-unlimited"), |s| number(lang, s)),
                active: r.definition.active,
            });
        }
        let scoped = session.scoped(state.clone());
        let top = ledger::top_members(&scoped.db, id, 20, 0).await?;
        let titles = scoped.db.titles("contact", &top.iter().map(|m| m.contact_id.clone()).collect::<Vec<_>>()).await?;
        for m in &top {
            let Some(name) = titles.get(&m.contact_id) else { continue };
            members.push(MemberView {
                href: format!("/loyalty/{}/members/{}", encode(id), encode(&m.contact_id)),
                name: name.clone(),
                balance: number(lang, m.balance),
                tier: m
                    .tier
                    .as_deref()
                    .and_then(|k| def.tier(k))
                    .map_or_else(String::new, |t| peyvand_crm::forms::pick(lang, &t.name_fa, &t.name_en).to_string()),
            });
        }
        let label = |list: &[(String, String)], v: &str| {
            list.iter().find(|(k, _)| k == v).map_or_else(|| v.to_string(), |(_, l)| l.clone())
        };
        let rule = |r: &SpendRule| {
            let on = match (&r.product, &r.category) {
                (Some(p), _) => format!(" ({})", label(&products, p)),
                (None, Some(c)) => format!(" ({})", label(&categories, c)),
                (None, None) => String::new(),
            };
            format!(
                "{} {} {} {}{on}",
                number(lang, r.points),
                t(lang, "loyalty-points"),
                t(lang, "loyalty-per"),
                super::display::format_money(lang, &r.per, &def.currency)
            )
        };
        summary.push((t(lang, "loyalty-earning"), def.spend_rules.iter().map(rule).collect::<Vec<_>>().join(" · ")));
        let actions = def
            .action_rules
            .iter()
            .map(|a| format!("{}: {}", t(lang, &format!("loyalty-action-{}", a.action)), number(lang, a.points)))
            .collect::<Vec<_>>()
            .join(" · ");
        summary.push((t(lang, "loyalty-actions"), actions));
        summary.push((
            t(lang, "loyalty-expiry"),
            def.expiry_days.map_or_else(
                || t(lang, "loyalty-never"),
                |d| format!("{} {}", number(lang, d), t(lang, "loyalty-days")),
            ),
        ));
        summary.push((
            t(lang, "loyalty-qualify"),
            format!(
                "{} · {} {}",
                t(lang, &format!("loyalty-qualify-{}", def.qualify_by)),
                number(lang, def.window_days),
                t(lang, "loyalty-days")
            ),
        ));
    }
    let text = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    let mut spend: Vec<SpendForm> = def
        .spend_rules
        .iter()
        .enumerate()
        .map(|(i, r)| SpendForm {
            i,
            per: r.per.clone(),
            points: r.points.to_string(),
            on: match (&r.product, &r.category) {
                (Some(p), _) => format!("product:{p}"),
                (None, Some(c)) => format!("category:{c}"),
                (None, None) => String::new(),
            },
        })
        .collect();
    while spend.len() < def.spend_rules.len() + 2 {
        spend.push(SpendForm { i: spend.len(), per: String::new(), points: String::new(), on: String::new() });
    }
    let mut tier_forms: Vec<TierForm> = def
        .tiers
        .iter()
        .enumerate()
        .map(|(i, t)| TierForm {
            i,
            key: t.key.clone(),
            name_fa: t.name_fa.clone(),
            name_en: t.name_en.clone(),
            threshold: t.threshold.to_string(),
            factor: t.factor.clone(),
            discount: t.discount_percent.clone().unwrap_or_default(),
        })
        .collect();
    while tier_forms.len() < def.tiers.len() + 2 {
        let i = tier_forms.len();
        tier_forms.push(TierForm {
            i,
            key: String::new(),
            name_fa: String::new(),
            name_en: String::new(),
            threshold: String::new(),
            factor: "1".into(),
            discount: String::new(),
        });
    }
    let mut periods: Vec<PeriodForm> = def
        .periods
        .iter()
        .enumerate()
        .map(|(i, p)| PeriodForm { i, from: p.from.clone(), to: p.to.clone(), factor: p.factor.clone() })
        .collect();
    periods.push(PeriodForm { i: periods.len(), from: String::new(), to: String::new(), factor: String::new() });
    let actions = programs::ACTIONS
        .iter()
        .map(|a| {
            let points =
                def.action_rules.iter().find(|r| r.action == *a).map(|r| r.points.to_string()).unwrap_or_default();
            ((*a).to_string(), t(lang, &format!("loyalty-action-{a}")), points)
        })
        .collect();
    let statuses = ["pending", "paid", "part_shipped", "shipped", "delivered"]
        .iter()
        .map(|s| ((*s).to_string(), t(lang, &format!("loyalty-status-{s}")), def.earn_on.iter().any(|e| e == s)))
        .collect();
    let targets = vec![
        (t(lang, "loyalty-categories"), categories.iter().map(|(v, l)| (format!("category:{v}"), l.clone())).collect()),
        (t(lang, "loyalty-products"), products.iter().map(|(v, l)| (format!("product:{v}"), l.clone())).collect()),
    ];
    let reward_kinds =
        rewards::KINDS.iter().map(|k| ((*k).to_string(), t(lang, &format!("loyalty-reward-{k}")))).collect();
    let forms = peyvand_crm::forms::list(&state.db)
        .await?
        .into_iter()
        .filter(|f| f.definition.object == "contact" && f.definition.active)
        .map(|f| (f.slug, f.definition.name))
        .collect();
    Ok(render(&ProgramPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), "loyalty"),
        tr: Words::new(lang),
        csrf: session.csrf.clone(),
        id: id.map(encode).unwrap_or_default(),
        name: if id.is_some() { def.name(lang).to_string() } else { t(lang, "loyalty-new") },
        admin,
        summary,
        tiers,
        rewards: reward_views,
        members,
        d: def.clone(),
        expiry: text(def.expiry_days),
        cap_order: text(def.cap_per_order),
        cap_points: text(def.cap_per_period.as_ref().map(|c| c.points)),
        cap_days: text(def.cap_per_period.as_ref().map(|c| c.days)),
        spend,
        actions,
        tier_forms,
        periods,
        statuses,
        targets,
        products,
        reward_kinds,
        forms,
        errors,
        posted,
    }))
}

/// `GET /loyalty/new` (admins).
pub async fn new_program(State(state): State<AppState>, session: Session) -> Response {
    let result = async {
        require(&session, Action::ManageSchema)?;
        program_view(&state, &session, None, &blank(), Vec::new(), None).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `GET /loyalty/{id}`.
pub async fn program_page(State(state): State<AppState>, Path(id): Path<String>, session: Session) -> Response {
    let result = async {
        require(&session, Action::ReadRecords)?;
        let p = programs::get(&state.db, &id).await?;
        program_view(&state, &session, Some(&id), &p.definition, Vec::new(), None).await
    }
    .await;
    result.unwrap_or_else(fail)
}

/// The definition the editor's inputs say (numbers in any digits; empty rows dropped).
fn read_editor(pairs: &Pairs) -> Definition {
    let latin = |k: &str| to_latin_digits(get(pairs, k));
    let num = |k: &str| latin(k).parse::<i64>().ok();
    let mut d = blank();
    d.name_fa = get(pairs, "name_fa").to_string();
    d.name_en = get(pairs, "name_en").to_string();
    d.active = get(pairs, "active") == "on";
    d.currency = get(pairs, "currency").to_uppercase();
    d.qualify_by = get(pairs, "qualify_by").to_string();
    d.window_days = num("window_days").unwrap_or(365);
    d.keep_days = num("keep_days").unwrap_or(0);
    d.warn_days = num("warn_days").unwrap_or(14);
    d.expiry_days = num("expiry_days");
    d.cap_per_order = num("cap_per_order");
    d.cap_per_period = match (num("cap_points"), num("cap_days")) {
        (Some(points), Some(days)) => Some(Cap { points, days }),
        _ => None,
    };
    d.referral_form = Some(get(pairs, "referral_form").to_string()).filter(|f| !f.is_empty());
    d.earn_on = pairs.iter().filter(|(k, _)| k == "earn_on").map(|(_, v)| v.clone()).collect();
    for i in 0..20 {
        let per = latin(&format!("s{i}.per"));
        if per.is_empty() {
            continue;
        }
        let on = get(pairs, &format!("s{i}.on"));
        let pick = |prefix: &str| on.strip_prefix(prefix).filter(|v| !v.is_empty()).map(str::to_string);
        d.spend_rules.push(SpendRule {
            per,
            points: num(&format!("s{i}.points")).unwrap_or(0),
            product: pick("product:"),
            category: pick("category:"),
        });
    }
    for a in programs::ACTIONS {
        if let Some(points) = num(&format!("a.{a}")) {
            d.action_rules.push(ActionRule { action: a.to_string(), points });
        }
    }
    for i in 0..20 {
        let key = get(pairs, &format!("t{i}.key"));
        if key.is_empty() {
            continue;
        }
        let discount = latin(&format!("t{i}.discount"));
        let factor = latin(&format!("t{i}.factor"));
        d.tiers.push(Tier {
            key: key.to_string(),
            name_fa: get(pairs, &format!("t{i}.name_fa")).to_string(),
            name_en: get(pairs, &format!("t{i}.name_en")).to_string(),
            threshold: num(&format!("t{i}.threshold")).unwrap_or(-1),
            factor: if factor.is_empty() { "1".into() } else { factor },
            discount_percent: (!discount.is_empty()).then_some(discount),
        });
    }
    for i in 0..20 {
        let from = latin(&format!("p{i}.from"));
        if from.is_empty() {
            continue;
        }
        d.periods.push(Period { from, to: latin(&format!("p{i}.to")), factor: latin(&format!("p{i}.factor")) });
    }
    d
}

async fn save_program(state: AppState, session: Session, pairs: Pairs, id: Option<String>) -> Response {
    let result = async {
        require(&session, Action::ManageSchema)?;
        let def = read_editor(&pairs);
        match programs::save(&state.db, id.as_deref(), def.clone()).await {
            Ok(p) => Ok(Redirect::to(&format!("/loyalty/{}", encode(&p.id))).into_response()),
            Err(e @ (StoreError::Validation(_) | StoreError::Conflict { .. })) => {
                let errors = messages(e)?;
                program_view(&state, &session, id.as_deref(), &def, errors, None).await
            }
            Err(e) => Err(e.into()),
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

pub async fn create_program(State(state): State<AppState>, CsrfForm(session, pairs): CsrfForm) -> Response {
    save_program(state, session, pairs, None).await
}

pub async fn update_program(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    save_program(state, session, pairs, Some(id)).await
}

/// `POST /loyalty/{id}/rewards` (admins): a reward added to the catalogue.
pub async fn add_reward(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let result = async {
        require(&session, Action::ManageSchema)?;
        let latin = |k: &str| to_latin_digits(get(&pairs, k));
        let text = |k: &str| Some(latin(k)).filter(|v| !v.is_empty());
        let def = RewardDef {
            name_fa: get(&pairs, "name_fa").to_string(),
            name_en: get(&pairs, "name_en").to_string(),
            kind: get(&pairs, "kind").to_string(),
            points: latin("points").parse().unwrap_or(0),
            value: text("value"),
            product: Some(get(&pairs, "product").to_string()).filter(|v| !v.is_empty()),
            stock: text("stock").and_then(|s| s.parse().ok()),
            valid_days: latin("valid_days").parse().unwrap_or(90),
            active: true,
        };
        match rewards::save(&state.db, &id, None, def).await {
            Ok(_) => Ok(Redirect::to(&format!("/loyalty/{}#rewards", encode(&id))).into_response()),
            Err(e @ (StoreError::Validation(_) | StoreError::Conflict { .. })) => {
                let errors = messages(e)?;
                let p = programs::get(&state.db, &id).await?;
                program_view(&state, &session, Some(&id), &p.definition, errors, None).await
            }
            Err(e) => Err(e.into()),
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /loyalty/{id}/post_orders` (admins): past orders earn.
pub async fn post_orders(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let result = async {
        require(&session, Action::ManageSchema)?;
        let posted = earning::post_orders(&state.db, &id).await?;
        let p = programs::get(&state.db, &id).await?;
        let lang = current_lang();
        let note =
            crate::i18n::t_args(lang, "loyalty-posted", &[("n", number(lang, i64::try_from(posted).unwrap_or(0)))]);
        program_view(&state, &session, Some(&id), &p.definition, Vec::new(), Some(note)).await
    }
    .await;
    result.unwrap_or_else(fail)
}

pub struct EntryView {
    pub at: String,
    pub kind: String,
    pub points: String,
    pub negative: bool,
    pub about: String,
    pub href: String,
}

fn entry_view(lang: &str, e: &ledger::Entry) -> EntryView {
    let href = match (e.source.as_str(), &e.source_id) {
        ("order", Some(id)) => format!("/records/order/{}", encode(id)),
        _ => String::new(),
    };
    let mut about = match e.source.as_str() {
        "action" => e.source_id.as_deref().map_or_else(String::new, |a| t(lang, &format!("loyalty-action-{a}"))),
        other => t(lang, &format!("loyalty-source-{other}")),
    };
    if let Some(note) = &e.note {
        if let Some(short) = note.strip_prefix("short:") {
            about = format!(
                "{about} · {}",
                crate::i18n::t_args(lang, "loyalty-short", &[("n", super::display::format_number(lang, short))])
            );
        } else {
            about = format!("{about} · {note}");
        }
    }
    if let Some(exp) = &e.expires_on {
        about = format!("{about} · {} {}", t(lang, "loyalty-expires"), day(lang, exp));
    }
    EntryView {
        at: day(lang, &e.at),
        kind: t(lang, &format!("loyalty-entry-{}", e.kind)),
        points: super::display::format_number(lang, &format!("{:+}", e.points)),
        negative: e.points < 0,
        about,
        href,
    }
}

pub struct Membership {
    pub program: String,
    pub program_href: String,
    pub member: bool,
    pub id: String,
    pub balance: String,
    pub tier: String,
    pub next: String,
    /// Progress to the next tier, in percent.
    pub progress: u32,
    pub rewards: Vec<(String, String)>,
    pub entries: Vec<EntryView>,
    pub statement: String,
}

/// A contact's referrals as the panel shows them.
#[derive(Default)]
pub struct ReferralView {
    pub code: String,
    pub links: Vec<String>,
    pub referred_by: Option<(String, String)>,
    /// Whom they brought: name, page, rewarded yet.
    pub brought: Vec<(String, String, bool)>,
}

#[derive(Template)]
#[template(path = "loyalty_panel.html")]
struct Panel {
    tr: Words,
    csrf: String,
    contact: String,
    manager: bool,
    writer: bool,
    list: Vec<Membership>,
    referral: ReferralView,
    message: String,
}

/// A contact's code, links, referrer and referred, read as the user may (names they may not
/// read are left out).
async fn referral_view(
    state: &AppState,
    session: &Session,
    contact: &str,
    programs: &[Program],
) -> Result<ReferralView, ApiError> {
    let scoped = session.scoped(state.clone());
    let code = referrals::code_for(&state.db, contact).await?;
    let base = peyvand_crm::automation::mail::public_url(&state.db).await?;
    let links = programs
        .iter()
        .filter_map(|p| p.definition.referral_form.as_ref().map(|f| format!("{base}/f/{f}?ref={code}")))
        .collect();
    let (made, by) = referrals::of_contact(&state.db, contact).await?;
    let mut ids: Vec<String> = made.iter().map(|r| r.referred_id.clone()).collect();
    ids.extend(by.iter().map(|r| r.referrer_id.clone()));
    let titles = scoped.db.titles("contact", &ids).await?;
    let link = |id: &str| format!("/records/contact/{}", encode(id));
    Ok(ReferralView {
        code,
        links,
        referred_by: by.and_then(|r| titles.get(&r.referrer_id).map(|n| (n.clone(), link(&r.referrer_id)))),
        brought: made
            .iter()
            .filter_map(|r| {
                titles.get(&r.referred_id).map(|n| (n.clone(), link(&r.referred_id), r.rewarded_at.is_some()))
            })
            .collect(),
    })
}

/// The loyalty panel of a contact's page: each active program, joined or not.
pub async fn loyalty_panel(state: &AppState, session: &Session, record: &Record) -> Result<Option<String>, ApiError> {
    let lang = current_lang();
    let all = programs::list(&state.db).await?;
    if all.is_empty() {
        return Ok(None);
    }
    let mut list = Vec::new();
    for p in all.iter().filter(|p| p.definition.active) {
        list.push(membership(state, lang, p, &record.id).await?);
    }
    let referral = referral_view(state, session, &record.id, &all).await?;
    let html = Panel {
        tr: Words::new(lang),
        csrf: session.csrf.clone(),
        contact: encode(&record.id),
        manager: manager(session),
        writer: session.user.role.allows(Action::WriteRecords),
        list,
        referral,
        message: String::new(),
    }
    .render()
    .map_err(internal)?;
    Ok(Some(html))
}

async fn membership(state: &AppState, lang: &str, p: &Program, contact: &str) -> Result<Membership, ApiError> {
    let def = &p.definition;
    let m = ledger::member(&state.db, &p.id, contact).await?;
    let mut view = Membership {
        program: def.name(lang).to_string(),
        program_href: format!("/loyalty/{}", encode(&p.id)),
        member: m.is_some(),
        id: encode(&p.id),
        balance: String::new(),
        tier: String::new(),
        next: String::new(),
        progress: 0,
        rewards: Vec::new(),
        entries: Vec::new(),
        statement: format!("/loyalty/{}/members/{}", encode(&p.id), encode(contact)),
    };
    let Some(m) = m else { return Ok(view) };
    view.balance = number(lang, m.balance);
    let tier = m.tier.as_deref().and_then(|k| def.tier(k));
    view.tier = tier.map_or_else(String::new, |t| peyvand_crm::forms::pick(lang, &t.name_fa, &t.name_en).to_string());
    let next = tier.and_then(|t| def.tiers.iter().position(|x| x.key == t.key)).and_then(|i| def.tiers.get(i + 1));
    if let (Some(next), Some(now)) = (next, tier) {
        let earned = m.earned.max(0);
        let span = (next.threshold - now.threshold).max(1);
        view.progress = u32::try_from(((earned - now.threshold).clamp(0, span) * 100) / span).unwrap_or(0);
        view.next = crate::i18n::t_args(
            lang,
            "loyalty-next-tier",
            &[
                ("tier", peyvand_crm::forms::pick(lang, &next.name_fa, &next.name_en).to_string()),
                ("points", number(lang, next.threshold)),
            ],
        );
    }
    view.rewards = rewards::list(&state.db, &p.id)
        .await?
        .into_iter()
        .filter(|r| r.definition.active && r.definition.points <= m.balance && r.definition.stock != Some(0))
        .map(|r| {
            (
                encode(&r.id),
                format!("{} ({} {})", r.name(lang), number(lang, r.definition.points), t(lang, "loyalty-points")),
            )
        })
        .collect();
    view.entries =
        ledger::entries(&state.db, &p.id, contact, "", "~", 8).await?.iter().map(|e| entry_view(lang, e)).collect();
    Ok(view)
}

/// Refuses a contact the user may not read (as not found).
async fn readable(state: &AppState, session: &Session, contact: &str) -> Result<AppState, ApiError> {
    let scoped = session.scoped(state.clone());
    scoped.db.get_record("contact", contact, false).await?;
    Ok(scoped)
}

fn back(contact: &str) -> Response {
    Redirect::to(&format!("/records/contact/{}#loyalty", encode(contact))).into_response()
}

/// A member's action on the contact's panel, answered by the contact's page (or, when refused,
/// the panel alone with the reason).
async fn member_action(
    state: AppState,
    session: Session,
    program: String,
    contact: String,
    act: impl AsyncFnOnce(&AppState) -> Result<(), StoreError>,
) -> Response {
    let result = async {
        require(&session, Action::WriteRecords)?;
        let scoped = readable(&state, &session, &contact).await?;
        if !program.is_empty() {
            programs::get(&scoped.db, &program).await?;
        }
        match act(&scoped).await {
            Ok(()) => Ok(back(&contact)),
            Err(e @ (StoreError::Validation(_) | StoreError::Conflict { .. })) => {
                let lang = current_lang();
                let record = scoped.db.get_record("contact", &contact, false).await?;
                let mut list = Vec::new();
                let all = programs::list(&scoped.db).await?;
                for p in all.iter().filter(|p| p.definition.active) {
                    list.push(membership(&scoped, lang, p, &record.id).await?);
                }
                let referral = referral_view(&state, &session, &record.id, &all).await?;
                let html = Panel {
                    tr: Words::new(lang),
                    csrf: session.csrf.clone(),
                    contact: encode(&contact),
                    manager: manager(&session),
                    writer: true,
                    list,
                    referral,
                    message: messages(e)?.join(" "),
                }
                .render()
                .map_err(internal)?;
                Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, axum::response::Html(html)).into_response())
            }
            Err(e) => Err::<Response, ApiError>(e.into()),
        }
    }
    .await;
    result.unwrap_or_else(fail)
}

/// `POST /loyalty/{id}/members/{contact}/enrol`.
pub async fn enrol(
    State(state): State<AppState>,
    Path((id, contact)): Path<(String, String)>,
    CsrfForm(session, _): CsrfForm,
) -> Response {
    let actor = session.user.id.clone();
    let (p, c) = (id.clone(), contact.clone());
    member_action(state, session, id, contact, async move |s: &AppState| {
        loyalty::enrol(&s.db, &p, &c, Some(&actor)).await.map(|_| ())
    })
    .await
}

/// `POST /loyalty/{id}/members/{contact}/redeem`: a reward, once per form (its key).
pub async fn redeem(
    State(state): State<AppState>,
    Path((id, contact)): Path<(String, String)>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let actor = session.user.id.clone();
    let (p, c) = (id.clone(), contact.clone());
    let (reward, key) = (get(&pairs, "reward").to_string(), get(&pairs, "key").to_string());
    member_action(state, session, id, contact, async move |s: &AppState| {
        let key = Some(key.as_str()).filter(|k| !k.is_empty() && k.len() <= 100);
        let ask = Redeem { reward: &reward, order: None, key, actor: Some(&actor) };
        rewards::redeem(&s.db, &p, &c, ask).await.map(|_| ())
    })
    .await
}

/// `POST /loyalty/{id}/members/{contact}/adjust` (managers and admins).
pub async fn adjust(
    State(state): State<AppState>,
    Path((id, contact)): Path<(String, String)>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    if !manager(&session) {
        return fail(ApiError::Forbidden);
    }
    let actor = session.user.id.clone();
    let (p, c) = (id.clone(), contact.clone());
    let points = to_latin_digits(get(&pairs, "points")).parse::<i64>().unwrap_or(0);
    let (note, key) = (get(&pairs, "note").to_string(), get(&pairs, "key").to_string());
    member_action(state, session, id, contact, async move |s: &AppState| {
        let key = Some(key.as_str()).filter(|k| !k.is_empty() && k.len() <= 100);
        loyalty::adjust(&s.db, &p, &c, points, &note, Some(&actor), key).await.map(|_| ())
    })
    .await
}

/// `POST /loyalty/referrals/{contact}`: the contact was brought by the owner of a code.
pub async fn referred_by(
    State(state): State<AppState>,
    Path(contact): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let actor = session.user.id.clone();
    let c = contact.clone();
    let code = get(&pairs, "code").to_string();
    member_action(state, session, String::new(), contact, async move |s: &AppState| {
        referrals::attribute(&s.db, &code, &c, "staff", Some(&actor)).await.map(|_| ())
    })
    .await
}

#[derive(Template)]
#[template(path = "loyalty_statement.html")]
struct StatementPage {
    layout: Layout,
    tr: Words,
    program: String,
    program_href: String,
    contact: String,
    contact_href: String,
    from: String,
    to: String,
    opening: String,
    closing: String,
    entries: Vec<EntryView>,
    redemptions: Vec<(String, String, String, String)>,
}

/// `GET /loyalty/{id}/members/{contact}?from&to`: a member's statement for a period.
pub async fn statement(
    State(state): State<AppState>,
    Path((id, contact)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    session: Session,
) -> Response {
    let result = async {
        require(&session, Action::ReadRecords)?;
        let lang = current_lang();
        let scoped = session.scoped(state.clone());
        let record = scoped.db.get_record("contact", &contact, false).await?;
        let p = programs::get(&scoped.db, &id).await?;
        let today = scoped.db.today();
        let pick = |k: &str, d: time::Date| {
            q.get(k)
                .map(|v| to_latin_digits(v))
                .filter(|v| time::Date::parse(v, &time::format_description::well_known::Iso8601::DATE).is_ok())
                .unwrap_or_else(|| d.to_string())
        };
        let (from, to) = (pick("from", today - time::Duration::days(365)), pick("to", today));
        let st = ledger::statement(&scoped.db, &id, &contact, &from, &to).await?;
        let names: HashMap<String, String> = rewards::list(&scoped.db, &id)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r.name(lang).to_string()))
            .collect();
        let redemptions = rewards::redemptions(&scoped.db, &id, &contact, 50)
            .await?
            .into_iter()
            .map(|r| {
                (
                    day(lang, &r.at),
                    names.get(&r.reward_id).cloned().unwrap_or_default(),
                    r.code.unwrap_or_default(),
                    r.expires_on.as_deref().map(|d| day(lang, d)).unwrap_or_default(),
                )
            })
            .collect();
        let catalog = scoped.db.visible_catalog().await?;
        Ok::<_, ApiError>(render(&StatementPage {
            layout: Layout::new(lang, Some(&session), Some(&catalog), "loyalty"),
            tr: Words::new(lang),
            program: p.definition.name(lang).to_string(),
            program_href: format!("/loyalty/{}", encode(&p.id)),
            contact: record.title.clone(),
            contact_href: format!("/records/contact/{}", encode(&contact)),
            from,
            to,
            opening: number(lang, st.opening),
            closing: number(lang, st.closing),
            entries: st.entries.iter().rev().map(|e| entry_view(lang, e)).collect(),
            redemptions,
        }))
    }
    .await;
    result.unwrap_or_else(fail)
}
