//! Sales performance on both backends: quotas' attainment equals the won deals and paid orders
//! worked out here (a person's and their team's, inside the Jalali month only, returned orders
//! left out); quotas are read and set by the right people and refuse overlaps, negative
//! targets and periods that are not; the leaderboard ranks a manager's people by amount and
//! win rate, without other teams; awards go from managers to their people; dashboards open by
//! role (a built-in one, or the one an admin chose), and a KPI compares whole periods only.

use peyvand_crm::crm_tests;
use peyvand_crm::insights::commissions::{self, PlanInput, Split, Tier};
use peyvand_crm::insights::credit_lines;
use peyvand_crm::insights::dashboards::{self, DashboardDef, Widget};
use peyvand_crm::insights::performance::{self, AwardInput};
use peyvand_crm::insights::quotas::{self, QuotaInput};
use peyvand_crm::insights::reports::{self, ReportDef};
use peyvand_crm::insights::standard_rollups;
use peyvand_crm::sales::documents::{self, Kind, LinesInput};
use peyvand_records::access::Role;
use peyvand_records::jalali::from_jalali;
use peyvand_store::access::TeamInput;
use peyvand_store::{Db, Error};
use serde_json::{Map, Value as Json, json};

crm_tests!(
    quotas_attain_what_was_won_and_refuse_what_is_wrong,
    dashboards_open_by_role_and_kpis_compare_whole_periods,
    the_revenue_forecast_fits_whole_periods_and_weighs_the_pipeline,
    customer_value_is_the_command_lines_written_to_every_contact,
    commissions_pay_tiers_splits_and_claw_back_returns,
    statements_read_the_kept_lines_as_the_records_say,
    profitability_is_revenue_less_product_and_service_costs,
    lead_scores_learn_what_converts_and_say_why,
    award_rules_recognize_the_best_once_a_period
);

fn input(v: Json) -> Map<String, Json> {
    v.as_object().cloned().expect("an object")
}

fn quota(user: Option<&str>, team: Option<&str>, period: &str, key: &str, measure: &str, target: &str) -> QuotaInput {
    QuotaInput {
        user_id: user.map(str::to_string),
        team_id: team.map(str::to_string),
        period: period.into(),
        calendar: "jalali".into(),
        key: key.into(),
        measure: measure.into(),
        target: target.into(),
        currency: String::new(),
    }
}

fn codes(e: Error) -> Vec<String> {
    match e {
        Error::Validation(errors) => errors.into_iter().map(|e| format!("{}:{}", e.field, e.code)).collect(),
        other => vec![format!("{other:?}")],
    }
}

/// Deals: (owner index, stage, closed on, amount). Aban 1405 runs from 23 October to 21
/// November 2026.
const DEALS: [(usize, &str, &str, i64); 7] = [
    (0, "won", "2026-10-23", 100_000), // the first day of Aban
    (0, "won", "2026-11-05", 200_000),
    (0, "won", "2026-11-21", 300_000),   // its last day
    (0, "won", "2026-11-22", 1_000_000), // Azar: not counted
    (0, "lost", "2026-11-10", 50_000),
    (1, "won", "2026-11-01", 500_000),
    (2, "won", "2026-11-01", 9_000_000), // another team's rep
];

async fn quotas_attain_what_was_won_and_refuse_what_is_wrong(db: &Db) {
    let admin = db.create_user("admin@perf.ir", "Admin", Role::Admin, "x", "fa").await.expect("admin").id;
    let manager = db.create_user("boss@perf.ir", "Boss", Role::Manager, "x", "fa").await.expect("manager").id;
    let rep = db.create_user("rep@perf.ir", "Rep", Role::Agent, "x", "fa").await.expect("rep").id;
    let mate = db.create_user("mate@perf.ir", "Mate", Role::Agent, "x", "fa").await.expect("mate").id;
    let other = db.create_user("other@perf.ir", "Other", Role::Agent, "x", "fa").await.expect("other").id;
    let north = db
        .create_team(&TeamInput {
            name: "North".into(),
            manager_id: Some(manager.clone()),
            members: vec![rep.clone(), mate.clone()],
            ..TeamInput::default()
        })
        .await
        .expect("team");
    db.create_team(&TeamInput { name: "South".into(), members: vec![other.clone()], ..TeamInput::default() })
        .await
        .expect("team");
    let owners = [&rep, &mate, &other];
    for (i, (who, stage, closed, amount)) in DEALS.iter().enumerate() {
        let reason = if *stage == "won" { json!({"won_reason": "price"}) } else { json!({"lost_reason": "price"}) };
        let mut fields = input(json!({"name": format!("Deal {i}"), "stage": stage, "closed_on": closed,
            "amount": {"amount": amount.to_string(), "currency": "IRR"}, "owner": owners[*who]}));
        fields.extend(input(reason));
        db.create_record(None, "deal", &fields, None).await.expect("deal");
    }
    // Orders of the rep in Aban: one paid, one returned (not counted), one paid at 00:30 on
    // 1 Aban in Tehran (20:00 UTC the day before: counted).
    for (at, status, total) in [
        ("2026-11-01T08:00:00Z", "paid", 70_000),
        ("2026-11-02T08:00:00Z", "returned", 80_000),
        ("2026-10-22T21:00:00Z", "delivered", 5_000),
    ] {
        let fields = input(json!({"ordered_at": at, "status": status, "owner": rep,
            "total": {"amount": total.to_string(), "currency": "IRR"}}));
        db.create_record(None, "order", &fields, None).await.expect("order");
    }
    let as_ = async |id: &str| db.for_viewer(db.viewer_for(id).await.expect("viewer"));
    let (as_admin, as_manager, as_rep, as_mate) =
        (as_(&admin).await, as_(&manager).await, as_(&rep).await, as_(&mate).await);

    // The rep's quota for Aban: the three deals won inside it, against the target.
    let q = quotas::save(&as_manager, None, &quota(Some(&rep), None, "month", "1405-08", "won_amount", "1000000"))
        .await
        .expect("the manager sets their rep's quota");
    assert_eq!(q.starts_on, "2026-10-23");
    assert_eq!(q.ends_before, "2026-11-22");
    let expected: i64 = DEALS
        .iter()
        .filter(|(who, stage, closed, _)| *who == 0 && *stage == "won" && ("2026-10-23".."2026-11-22").contains(closed))
        .map(|d| d.3)
        .sum();
    let a = quotas::attainment(&as_rep, &q).await.expect("attainment");
    assert_eq!(a.actual, expected.to_string());
    assert_eq!(a.percent, Some(expected as f64 / 1_000_000.0 * 100.0));
    assert_eq!(a.elapsed_percent, 100.0, "Aban 1405 is over");
    // Its drill-down lists exactly those deals.
    let obj = db.object("deal").await.expect("deal");
    let filter = peyvand_records::filter::parse_filter(&obj, &a.drill).expect("a valid filter");
    let listed = as_admin
        .list_records("deal", &peyvand_store::records::ListQuery { filter: Some(filter), ..Default::default() })
        .await
        .expect("list");
    assert_eq!(listed.records.len(), 3);

    // The team's quota counts both its reps; paid orders count the paid and delivered ones.
    let team =
        quotas::save(&as_admin, None, &quota(None, Some(&north.id), "month", "1405-08", "won_amount", "2000000"))
            .await
            .expect("team quota");
    assert_eq!(quotas::attainment(&as_admin, &team).await.expect("team").actual, "1100000");
    let paid = quotas::save(&as_admin, None, &quota(Some(&rep), None, "month", "1405-08", "paid_count", "4"))
        .await
        .expect("paid quota");
    let paid = quotas::attainment(&as_admin, &paid).await.expect("paid");
    assert_eq!(paid.actual, "2");
    assert_eq!(paid.percent, Some(50.0));

    // Issue 32: the standard rollups (orders by owner, status and the business's day; deals by
    // owner, stage and closing day) answer the same questions with the same figures, the order
    // paid at 00:30 on 1 Aban in Tehran still in Aban.
    assert_eq!(standard_rollups::declare(db).await.expect("declared"), standard_rollups::STANDARD.len());
    assert_eq!(standard_rollups::declare(db).await.expect("again"), 0, "each declared once");
    assert_eq!(quotas::attainment(&as_rep, &q).await.expect("attainment").actual, expected.to_string());
    assert_eq!(quotas::attainment(&as_admin, &team).await.expect("team").actual, "1100000");
    assert_eq!(quotas::attainment(&as_admin, &paid.quota).await.expect("paid").actual, "2");
    let (aban, azar) = (from_jalali(1405, 8, 1).expect("day"), from_jalali(1405, 9, 1).expect("day"));
    for (measure, sum) in [("won_amount", "amount"), ("paid_amount", "total")] {
        let (object, filter) = quotas::results_filter(db, measure, std::slice::from_ref(&rep), aban, azar);
        let obj = db.object(object).await.expect("object");
        let filter = peyvand_records::filter::parse_filter(&obj, &filter).expect("filter");
        let spec = peyvand_records::aggregate::parse_aggregate(&obj, "owner", sum).expect("spec");
        let answer = db.aggregate(object, Some(&filter), &spec).await.expect("aggregate");
        assert_eq!(answer.source, peyvand_store::aggregate::Source::Rollup, "{measure}");
    }

    // Who reads and who sets.
    assert!(matches!(quotas::get(&as_mate, &q.id).await, Err(Error::NotFound(_))), "a teammate does not read it");
    assert_eq!(quotas::list(&as_rep).await.expect("list").len(), 3, "the rep reads theirs and their team's");
    assert_eq!(quotas::list(&as_manager).await.expect("list").len(), 3);
    let mine = quota(Some(&rep), None, "month", "1405-09", "won_amount", "1");
    assert!(matches!(quotas::save(&as_rep, None, &mine).await, Err(Error::Forbidden(_))), "a rep does not set quotas");
    let own = quota(Some(&manager), None, "month", "1405-09", "won_amount", "1");
    assert!(matches!(quotas::save(&as_manager, None, &own).await, Err(Error::Forbidden(_))), "nor a manager their own");
    let theirs = quota(Some(&other), None, "month", "1405-09", "won_amount", "1");
    assert!(matches!(quotas::save(&as_manager, None, &theirs).await, Err(Error::Forbidden(_))), "nor another team's");

    // What is refused: an overlapping period of the same measure, a negative target, a period
    // that is not, a quota for two at once.
    let quarter = quota(Some(&rep), None, "quarter", "1405-Q3", "won_amount", "3000000");
    assert_eq!(codes(quotas::save(&as_admin, None, &quarter).await.expect_err("overlaps")), ["key:quota_overlaps"]);
    let quarter = quota(Some(&rep), None, "quarter", "1405-Q3", "won_count", "12");
    quotas::save(&as_admin, None, &quarter).await.expect("another measure may share the days");
    let negative = quota(Some(&rep), None, "month", "1405-10", "won_amount", "-5");
    assert_eq!(codes(quotas::save(&as_admin, None, &negative).await.expect_err("negative")), ["target:negative"]);
    let month13 = quota(Some(&rep), None, "month", "1405-13", "won_amount", "5");
    assert_eq!(
        codes(quotas::save(&as_admin, None, &month13).await.expect_err("no such month")),
        ["key:invalid_period"]
    );
    let both = quota(Some(&rep), Some(&north.id), "month", "1405-10", "won_amount", "5");
    assert_eq!(codes(quotas::save(&as_admin, None, &both).await.expect_err("two subjects")), ["user_id:quota_subject"]);
    // Changing a quota to its own period is no overlap with itself.
    quotas::save(&as_admin, Some(&q.id), &quota(Some(&rep), None, "month", "1405-08", "won_amount", "900000"))
        .await
        .expect("update");

    // The manager's leaderboard for Aban: their people, by amount and by win rate.
    let start = from_jalali(1405, 8, 1).expect("day");
    let end = from_jalali(1405, 9, 1).expect("day");
    let board = performance::leaderboard(&as_manager, "won_amount", "IRR", start, end).await.expect("board");
    let standings: Vec<(usize, &str, f64)> = board.iter().map(|s| (s.rank, s.name.as_str(), s.value)).collect();
    assert_eq!(standings, [(1, "Rep", 600_000.0), (2, "Mate", 500_000.0), (3, "Boss", 0.0)]);
    let rates = performance::leaderboard(&as_manager, "win_rate", "IRR", start, end).await.expect("board");
    assert_eq!(rates.iter().find(|s| s.name == "Rep").map(|s| s.value), Some(75.0), "three won of four closed");
    assert_eq!(rates.iter().find(|s| s.name == "Mate").map(|s| s.value), Some(100.0));
    let counts = performance::leaderboard(&as_admin, "won_count", "IRR", start, end).await.expect("board");
    assert_eq!(counts.len(), 4, "an admin ranks everyone who sells");
    assert_eq!((counts[0].name.as_str(), counts[0].value), ("Rep", 3.0));
    assert_eq!(counts[1].rank, 2);
    assert_eq!(counts[2].rank, 2, "equal figures share a rank");
    let reps = performance::leaderboard(&as_rep, "won_amount", "IRR", start, end).await.expect("board");
    assert!(reps.iter().all(|s| s.name != "Other"), "another team is not on a rep's board");
    assert!(performance::leaderboard(&as_rep, "won_amount", "IRR", end, start).await.is_err(), "an inverted range");

    // The manager's scorecards for Aban: the same counts, person by person.
    let (cards, _) = performance::scorecards(&as_manager, "IRR", start, end).await.expect("scorecards");
    let card = cards.iter().find(|c| c.name == "Rep").expect("the rep's");
    assert_eq!((card.deals_won, card.deals_lost, card.won_amount), (3, 1, 600_000.0));
    assert_eq!(card.win_rate, Some(75.0));
    assert_eq!(card.average_deal, Some(200_000.0));
    assert_eq!(card.revenue, 75_000.0, "the paid and the delivered order, not the returned one");
    // The deals were made today and closed in Aban: a cycle is never negative.
    assert_eq!(card.cycle_days, Some(0.0));
    assert!(cards.iter().all(|c| c.name != "Other"));
    assert!(performance::scorecards(&as_manager, "IRR", end, start).await.is_err());

    // Awards: from a manager to their people, read by everyone.
    let award = AwardInput { user_id: rep.clone(), title: "Seller of Aban".into(), reason: "Three deals".into() };
    assert!(matches!(performance::give(&as_mate, &award).await, Err(Error::Forbidden(_))));
    performance::give(&as_manager, &award).await.expect("award");
    let to_other = AwardInput { user_id: other.clone(), title: "Hi".into(), reason: String::new() };
    assert!(matches!(performance::give(&as_manager, &to_other).await, Err(Error::Forbidden(_))));
    let given = performance::awards_of(&as_mate, &rep).await.expect("awards");
    assert_eq!(given.len(), 1);
    assert_eq!(given[0].given_by, manager);
}

async fn dashboards_open_by_role_and_kpis_compare_whole_periods(db: &Db) {
    let admin = db.create_user("admin@dash.ir", "Admin", Role::Admin, "x", "en").await.expect("admin").id;
    let rep = db.create_user("rep@dash.ir", "Rep", Role::Agent, "x", "en").await.expect("rep").id;
    let mate = db.create_user("mate@dash.ir", "Mate", Role::Agent, "x", "en").await.expect("mate").id;
    let manager = db.create_user("boss@dash.ir", "Boss", Role::Manager, "x", "en").await.expect("boss").id;
    let as_ = async |id: &str| db.for_viewer(db.viewer_for(id).await.expect("viewer"));
    let (as_admin, as_rep, as_mate, as_manager) =
        (as_(&admin).await, as_(&rep).await, as_(&mate).await, as_(&manager).await);
    let kinds = |d: &dashboards::Dashboard| d.definition.widgets.iter().map(|w| w.kind.clone()).collect::<Vec<_>>();

    // Built-in defaults by what one does.
    let reps = dashboards::default_for(&as_rep, "en").await.expect("default");
    assert_eq!(kinds(&reps), ["quota", "commission", "revenue", "pipeline", "tasks", "leaderboard"]);
    let managers = dashboards::default_for(&as_manager, "en").await.expect("default");
    assert_eq!(managers.definition.name, "My team's sales");
    assert!(kinds(&managers).contains(&"leaderboard".to_string()));

    // A report widget needs a report the owner reads; only an admin sets a role's dashboard.
    let def = |widgets: Vec<Widget>, role: Option<&str>, shared: bool| DashboardDef {
        name: "Mine".into(),
        widgets,
        shared,
        role: role.map(str::to_string),
    };
    let missing = Widget { kind: "report".into(), report: Some("nope".into()), width: 2 };
    let e = dashboards::save(&as_rep, None, def(vec![missing], None, false)).await.expect_err("no such report");
    assert_eq!(codes(e), ["widgets[0].report:invalid_option"]);
    let wide = Widget::new("pipeline", 5);
    assert_eq!(
        codes(dashboards::save(&as_rep, None, def(vec![wide], None, false)).await.expect_err("too wide")),
        ["widgets[0].width:out_of_range"]
    );
    let e = dashboards::save(&as_rep, None, def(vec![Widget::new("tasks", 4)], Some("agent"), false)).await;
    assert!(matches!(e, Err(Error::Forbidden(_))), "a rep does not set a role's dashboard");
    let private = dashboards::save(&as_rep, None, def(vec![Widget::new("tasks", 4)], None, false)).await.expect("own");
    assert!(matches!(dashboards::get(&as_mate, &private.id, "en").await, Err(Error::NotFound(_))));
    assert!(dashboards::get(&as_admin, &private.id, "en").await.is_ok(), "an admin reads every one");

    // An admin's dashboard for agents replaces the built-in one (and is shared).
    let chosen = dashboards::save(&as_admin, None, def(vec![Widget::new("pipeline", 4)], Some("agent"), false))
        .await
        .expect("role's");
    assert!(chosen.definition.shared);
    let now = dashboards::default_for(&as_rep, "en").await.expect("default");
    assert_eq!(now.id, chosen.id);
    assert_eq!(dashboards::default_for(&as_manager, "en").await.expect("default").id, "default");

    // A KPI: the month under way so far, and the last whole month against the one before.
    for (at, total) in [
        ("2026-10-05T08:00:00Z", 400),
        ("2026-10-20T08:00:00Z", 600),
        ("2026-11-10T08:00:00Z", 1_500),
        ("2026-12-02T08:00:00Z", 90),
    ] {
        let fields = input(json!({"ordered_at": at, "status": "paid", "owner": admin,
            "total": {"amount": total.to_string(), "currency": "IRR"}}));
        db.create_record(None, "order", &fields, None).await.expect("order");
    }
    let report: ReportDef = serde_json::from_value(json!({"name": "Revenue", "object": "order",
        "group": "ordered_at:month", "measures": "sum:total", "calendar": "gregorian", "chart": "kpi"}))
    .expect("report");
    let saved = reports::save(&as_admin, None, report.clone()).await.expect("a KPI report");
    assert_eq!(saved.definition.chart, "kpi");
    let figures = reports::run(&as_admin, &report, "en").await.expect("run");
    let today = time::Date::from_calendar_date(2026, time::Month::December, 4).expect("day");
    let kpi = reports::kpi(&figures, today).expect("a KPI");
    assert_eq!((kpi.current_key.as_str(), kpi.current), ("2026-12", 90.0));
    assert_eq!((kpi.last_key.as_str(), kpi.last, kpi.before), ("2026-11", 1_500.0, 1_000.0));
    assert_eq!(kpi.change_percent, Some(50.0));
    assert_eq!(kpi.series.len(), 12);
    assert_eq!(kpi.series[0].0, "2026-01");
    assert_eq!(kpi.currency.as_deref(), Some("IRR"));
    // As text for a file: periods and amounts as a reader reads them.
    let (header, rows, more) = reports::text_table(&as_admin, &report, "en").await.expect("table");
    assert_eq!(header, ["Ordered at", "Count", "Sum of Total"]);
    assert!(!more);
    assert_eq!(rows[0], ["Oct 2026", "2", "1000 IRR"]);
    // A KPI needs a period first.
    let mut flat = report.clone();
    flat.group = "status".into();
    let e = reports::save(&as_admin, None, flat).await.expect_err("no period");
    assert_eq!(codes(e), ["chart:kpi_needs_period"]);
}

async fn the_revenue_forecast_fits_whole_periods_and_weighs_the_pipeline(db: &Db) {
    use peyvand_crm::insights::forecast;
    use peyvand_records::aggregate::{Bucket, Calendar};
    let admin = db.create_user("admin@fc.ir", "Admin", Role::Admin, "x", "en").await.expect("admin").id;
    let as_admin = db.for_viewer(db.viewer_for(&admin).await.expect("viewer"));
    let g = Calendar::Gregorian;
    let current = Bucket::Month.start(g, db.today());
    // Too little history: no model, said plainly.
    let empty = forecast::revenue(&as_admin, Bucket::Month, g, 6, "IRR").await.expect("forecast");
    assert!(empty.model.is_none() && empty.points.is_empty());
    // Fourteen whole months before this one (the sixth empty), two orders in each, one cancelled
    // order that counts for nothing, and this month's order so far.
    let mut months = vec![current];
    for _ in 0..14 {
        let before = Bucket::Month.start(g, *months.last().expect("a month") - time::Duration::days(1));
        months.push(before);
    }
    months.reverse();
    let mut expected = Vec::new();
    for (i, start) in months.iter().enumerate() {
        let whole = i < 14;
        let totals: Vec<i64> = match (whole, i) {
            (true, 5) => vec![],
            (true, _) => vec![1_000 + 100 * i as i64, 500],
            (false, _) => vec![777],
        };
        for total in &totals {
            let at = format!("{}T08:00:00Z", peyvand_records::value::format_date(*start + time::Duration::days(9)));
            let fields = input(json!({"ordered_at": at, "status": "delivered", "owner": admin,
                "total": {"amount": total.to_string(), "currency": "IRR"}}));
            db.create_record(None, "order", &fields, None).await.expect("order");
        }
        if whole {
            expected.push((Bucket::Month.key(g, *start), totals.iter().sum::<i64>() as f64));
        }
    }
    let at = format!("{}T08:00:00Z", peyvand_records::value::format_date(months[3] + time::Duration::days(9)));
    let cancelled = input(json!({"ordered_at": at, "status": "cancelled", "owner": admin,
        "total": {"amount": "99999", "currency": "IRR"}}));
    db.create_record(None, "order", &cancelled, None).await.expect("order");
    // Open deals: one expected this month, one overdue (counted now), one won (not pipeline).
    let next = Bucket::Month.next(g, current);
    for (stage, close, amount) in
        [("proposal", current, 1_000), ("negotiation", months[12], 2_000), ("won", current, 5_000)]
    {
        let mut fields =
            input(json!({"name": stage, "stage": stage, "expected_close": peyvand_records::value::format_date(close),
            "amount": {"amount": amount.to_string(), "currency": "IRR"}, "owner": admin}));
        if stage == "won" {
            fields.insert("won_reason".into(), json!("price"));
        }
        db.create_record(None, "deal", &fields, None).await.expect("deal");
    }
    let f = forecast::revenue(&as_admin, Bucket::Month, g, 6, "IRR").await.expect("forecast");
    assert_eq!(f.actuals, expected, "whole months, the empty one as zero, without the cancelled order");
    assert_eq!(f.current, (Bucket::Month.key(g, current), 777.0), "this month so far, apart");
    let y: Vec<f64> = expected.iter().map(|(_, v)| *v).collect();
    let model = peyvand_analytics::forecast::fit_best(&y, 12).expect("a model");
    let fitted = f.model.as_ref().expect("a model");
    assert_eq!(
        (fitted.trend, fitted.season, fitted.alpha, fitted.aic),
        (model.trend, model.season, model.alpha, model.aic)
    );
    assert_eq!(f.points.len(), 6);
    assert_eq!(f.points[0].0, Bucket::Month.key(g, current), "the forecast starts with the month under way");
    assert_eq!(f.points[1].0, Bucket::Month.key(g, next));
    for (p, q) in f.points.iter().zip(model.forecast(6)) {
        assert_eq!(p.1, q);
        assert!(p.1.low >= 0.0, "revenue's interval stays at or above zero");
    }
    assert_eq!(f.holdout, 6);
    assert_eq!(f.backtest, peyvand_analytics::forecast::backtest(&y, 12, 6));
    let chance = |stage: &str, pipelines: &[peyvand_crm::sales::pipelines::Pipeline]| {
        pipelines
            .iter()
            .flat_map(|p| &p.stages)
            .find(|s| s.key == stage)
            .map(|s| s.probability as f64 / 100.0)
            .expect("stage")
    };
    let pipelines = peyvand_crm::sales::pipelines::list(db).await.expect("pipelines");
    let weighted = 1_000.0 * chance("proposal", &pipelines) + 2_000.0 * chance("negotiation", &pipelines);
    assert_eq!(f.pipeline[0], (Bucket::Month.key(g, current), weighted));
    assert_eq!(f.pipeline[1].1, 0.0);
    // With nobody who sells, boards and scorecards are empty, not errors.
    let (today, tomorrow) = (db.today(), db.today() + time::Duration::days(1));
    assert!(performance::leaderboard(&as_admin, "win_rate", "IRR", today, tomorrow).await.expect("board").is_empty());
    assert!(performance::scorecards(&as_admin, "IRR", today, tomorrow).await.expect("cards").0.is_empty());
    // Bad input is named.
    assert!(matches!(forecast::revenue(&as_admin, Bucket::Quarter, g, 6, "IRR").await, Err(Error::Validation(_))));
    assert!(matches!(forecast::revenue(&as_admin, Bucket::Month, g, 0, "IRR").await, Err(Error::Validation(_))));
}

async fn customer_value_is_the_command_lines_written_to_every_contact(db: &Db) {
    use peyvand_analytics::summary::{Transaction, summarize};
    use peyvand_analytics::{bgnbd, churn, gamma_gamma};
    use peyvand_crm::insights::value;
    // Nothing bought yet: said plainly.
    let e = value::score(db).await.expect_err("no history");
    assert_eq!(codes(e), ["orders:not_enough_history"]);
    // Thirty customers over about two years; every third buys once, the others every few weeks
    // with their own rhythm and amounts; one cancelled order that counts for nothing.
    let now = time::OffsetDateTime::now_utc();
    let mut made: Vec<Transaction> = Vec::new();
    let mut contacts = Vec::new();
    for i in 0..30_i64 {
        let c = db
            .create_record(None, "contact", &input(json!({"last_name": format!("Customer {i}")})), None)
            .await
            .expect("contact")
            .0;
        let first = now - time::Duration::days(700 - i * 15);
        let gap = 20 + (i * 7) % 60;
        let mut at = first;
        let mut k = 0;
        while at < now && (i % 3 != 0 || k == 0) && k < 12 {
            let amount = 1_000_000 + (i * 7919 + k * 104_729) % 900_000;
            let fields = input(
                json!({"contact": c.id, "ordered_at": peyvand_records::value::format_datetime(at), "status": "delivered",
                "total": {"amount": amount.to_string(), "currency": "IRR"}}),
            );
            db.create_record(None, "order", &fields, None).await.expect("order");
            made.push(Transaction {
                customer: c.id.clone(),
                day: i64::from(at.date().to_julian_day()),
                amount: amount as f64,
            });
            at += time::Duration::days(gap + (k * 11) % 17);
            k += 1;
        }
        contacts.push(c);
    }
    let cancelled = input(
        json!({"contact": contacts[1].id, "ordered_at": peyvand_records::value::format_datetime(now - time::Duration::days(3)),
        "status": "cancelled", "total": {"amount": "999999999", "currency": "IRR"}}),
    );
    db.create_record(None, "order", &cancelled, None).await.expect("order");
    let version_before = db.get_record("contact", &contacts[4].id, false).await.expect("contact").version;

    // As a database where reading by the status alone is too large a scan (a million orders
    // refused a condition on it): the fit reads every order without one.
    let limit = db.scan_limit();
    db.set_scan_limit(10);
    let run = value::score(db).await.expect("fitted");
    db.set_scan_limit(limit);
    // The same fit worked out here from the orders made, as the command line reads their export.
    let end = i64::from(db.today().to_julian_day());
    let customers = summarize(&made, end, 7.0);
    let fit = bgnbd::fit(&customers);
    let p = fit.params;
    assert_eq!(run.fit.bgnbd, [p.r, p.alpha, p.a, p.b]);
    assert_eq!(run.fit.customers, 30);
    let (spend, _) = gamma_gamma::fit(&customers).expect("a spend model");
    assert_eq!(run.fit.gamma_gamma, Some([spend.p, spend.q, spend.gamma]));
    for c in customers.iter().take(6) {
        let record = db.get_record("contact", &c.customer, false).await.expect("contact");
        let expected = bgnbd::expected_purchases(&p, 52.0, c.frequency, c.recency, c.age);
        let alive = bgnbd::probability_alive(&p, c.frequency, c.recency, c.age);
        let lifetime = gamma_gamma::clv(&p, &spend, c, 52, 0.0);
        assert_eq!(record.fields["expected_purchases"], json!(format!("{expected:.2}")), "{}", c.customer);
        assert_eq!(record.fields["p_alive"], json!(format!("{alive:.3}")));
        assert_eq!(record.fields["churn_risk"], json!(churn::churn_risk(&p, c).band));
        assert_eq!(record.fields["lifetime_value"]["amount"], json!(format!("{lifetime:.0}")));
        let rfm = record.fields["rfm_score"].as_i64().expect("an RFM score");
        assert!((111..=555).contains(&rfm) && record.fields["rfm_segment"].is_string());
    }
    // Derived data is not a person's change: the record's version stays.
    assert_eq!(db.get_record("contact", &contacts[4].id, false).await.expect("contact").version, version_before);
    // Lists filter on it: the high-risk customers, and those worth more than a threshold.
    let obj = db.object("contact").await.expect("contact");
    let high = json!({"field": "churn_risk", "op": "eq", "value": "high"});
    let filter = peyvand_records::filter::parse_filter(&obj, &high).expect("filter");
    let listed = db
        .list_records(
            "contact",
            &peyvand_store::records::ListQuery { filter: Some(filter), limit: Some(100), ..Default::default() },
        )
        .await
        .expect("list");
    assert_eq!(listed.records.len(), run.fit.risk_bands.get("high").copied().unwrap_or(0));
    // The run is kept with its calibration against the last 26 weeks.
    let latest = value::latest(db).await.expect("latest").expect("a run");
    assert_eq!(latest.fit, run.fit);
    assert!(!latest.fit.calibration.is_empty(), "{:?}", latest.fit);
    let calibrated: usize = latest.fit.calibration.iter().map(|r| r.customers).sum();
    // Every customer first bought more than 26 weeks ago (265 days at the latest).
    assert_eq!(calibrated, 30, "customers who had bought before the holdout");
}

fn plan(name: &str, basis: &str, rate: &str, members: &[&str]) -> PlanInput {
    PlanInput {
        name: name.into(),
        basis: basis.into(),
        rate: rate.into(),
        currency: String::new(),
        period: String::new(),
        calendar: String::new(),
        tiers: Vec::new(),
        category_rates: Default::default(),
        members: members.iter().map(|m| m.to_string()).collect(),
        valid_from: "2026-03-21".into(),
        valid_to: None,
    }
}

fn tier(from: &str, to: Option<&str>, multiplier: &str) -> Tier {
    Tier { from: from.into(), to: to.map(str::to_string), multiplier: multiplier.into() }
}

/// An order of `owner` at `at`, paid (or `status`), with lines (product, quantity, unit price,
/// discount percent).
async fn order(db: &Db, owner: &str, at: &str, status: &str, lines: &[(&str, &str, &str, &str)]) -> String {
    let fields = input(json!({"ordered_at": at, "owner": owner}));
    let id = db.create_record(None, "order", &fields, None).await.expect("order").0.id;
    let lines = lines
        .iter()
        .map(|(product, quantity, price, discount)| {
            input(json!({"product": product, "quantity": quantity,
                "unit_price": {"amount": price, "currency": "IRR"}, "discount_percent": discount}))
        })
        .collect();
    documents::set_lines(db, None, Kind::Order, &id, LinesInput { version: None, lines }).await.expect("lines");
    db.update_record(None, "order", &id, &input(json!({"status": status})), None).await.expect("status");
    id
}

/// Aban 1405 (23 October to 21 November 2026): a rep sells 1,320,000 against a quota of
/// 1,000,000 at 2 % (services 5 %), ×1.5 from 100 % of quota; worked out here by hand.
async fn commissions_pay_tiers_splits_and_claw_back_returns(db: &Db) {
    // A person's orders of a period are read from the index of owner and day start-up made.
    let orders = db.object("order").await.expect("orders");
    let indexes = db.index_names(&orders.table).await.expect("indexes");
    assert!(indexes.contains(&format!("ix_{}_owner_ordered", orders.table)), "{indexes:?}");
    let admin = db.create_user("admin@com.ir", "Admin", Role::Admin, "x", "fa").await.expect("admin").id;
    let manager = db.create_user("boss@com.ir", "Boss", Role::Manager, "x", "fa").await.expect("manager").id;
    let rep = db.create_user("rep@com.ir", "Rep", Role::Agent, "x", "fa").await.expect("rep").id;
    let mate = db.create_user("mate@com.ir", "Mate", Role::Agent, "x", "fa").await.expect("mate").id;
    let closer = db.create_user("closer@com.ir", "Closer", Role::Agent, "x", "fa").await.expect("closer").id;
    db.create_team(&TeamInput {
        name: "North".into(),
        manager_id: Some(manager.clone()),
        members: vec![rep.clone(), mate.clone(), closer.clone()],
        ..TeamInput::default()
    })
    .await
    .expect("team");
    let as_ = async |id: &str| db.for_viewer(db.viewer_for(id).await.expect("viewer"));
    let (as_admin, as_manager, as_rep, as_mate) =
        (as_(&admin).await, as_(&manager).await, as_(&rep).await, as_(&mate).await);
    let product = async |name: &str, category: &str| {
        let fields = input(json!({"name": name, "category": category, "tax_percent": "10"}));
        db.create_record(None, "product", &fields, None).await.expect("product").0.id
    };
    let (boiler, install) = (product("Boiler", "hardware").await, product("Install", "service").await);

    // Plans: refused when wrong, and only admins make them.
    let mut paid = plan("Sales 1405", "paid_orders", "2", &[&rep, &mate]);
    paid.tiers = vec![tier("150", None, "2"), tier("100", Some("150"), "1.5")];
    paid.category_rates.insert("service".into(), "5".into());
    let mut wrong = paid.clone();
    wrong.tiers.push(tier("140", Some("160"), "3"));
    wrong.rate = "-1".into();
    assert_eq!(
        codes(commissions::save_plan(&as_admin, None, &wrong).await.expect_err("wrong")),
        ["rate:negative", "tiers:commission_tiers_overlap"]
    );
    let mut deals_by_category = plan("Deals", "won_deals", "1", &[&closer]);
    deals_by_category.category_rates.insert("service".into(), "3".into());
    assert_eq!(
        codes(commissions::save_plan(&as_admin, None, &deals_by_category).await.expect_err("categories")),
        ["category_rates:category_rates_need_orders"]
    );
    assert!(matches!(commissions::save_plan(&as_manager, None, &paid).await, Err(Error::Forbidden(_))));
    let saved = commissions::save_plan(&as_admin, None, &paid).await.expect("plan");
    assert_eq!(saved.tiers, vec![tier("100", Some("150"), "1.5"), tier("150", None, "2")], "sorted");
    assert_eq!(
        codes(
            commissions::save_plan(&as_admin, None, &plan("Again", "paid_orders", "3", &[&mate]))
                .await
                .expect_err("twice")
        ),
        ["members:plan_member_overlaps"]
    );
    commissions::save_plan(&as_admin, None, &plan("Deals", "won_deals", "1", &[&closer])).await.expect("deals plan");
    quotas::save(&as_manager, None, &quota(Some(&rep), None, "month", "1405-08", "paid_amount", "1000000"))
        .await
        .expect("quota");

    // Aban's orders (noon in Tehran); Mehr's and Azar's are not Aban's; a returned one is not paid.
    order(db, &rep, "2026-10-01T08:30:00Z", "paid", &[(&boiler, "1", "100000", "0")]).await;
    order(db, &rep, "2026-10-25T08:30:00Z", "paid", &[(&boiler, "2", "300000", "0"), (&install, "1", "200000", "10")])
        .await;
    let big = order(db, &rep, "2026-11-10T08:30:00Z", "delivered", &[(&boiler, "1", "500000", "0")]).await;
    order(db, &rep, "2026-11-12T08:30:00Z", "returned", &[(&boiler, "1", "900000", "0")]).await;
    let shared = order(db, &mate, "2026-11-15T08:30:00Z", "paid", &[(&boiler, "1", "100000", "0")]).await;
    order(db, &rep, "2026-11-25T08:30:00Z", "paid", &[(&boiler, "1", "50000", "0")]).await;
    // A split: managers set it, shares add up to 100.
    let split =
        [Split { user_id: rep.clone(), share: "40".into() }, Split { user_id: mate.clone(), share: "60".into() }];
    let short =
        [Split { user_id: rep.clone(), share: "40".into() }, Split { user_id: mate.clone(), share: "50".into() }];
    assert_eq!(
        codes(commissions::set_splits(&as_manager, "order", &shared, &short).await.expect_err("90")),
        ["splits:splits_total"]
    );
    assert!(matches!(commissions::set_splits(&as_rep, "order", &shared, &split).await, Err(Error::Forbidden(_))));
    commissions::set_splits(&as_manager, "order", &shared, &split).await.expect("split");

    // By hand: 600,000 (×1) and 180,000 of services at 5 %, 500,000 crossing 100 % of quota
    // (220,000 ×1, 280,000 ×1.5), and 40 % of 100,000 above quota.
    let expected =
        600_000 * 2 / 100 + 180_000 * 5 / 100 + 220_000 * 2 / 100 + 280_000 * 2 * 3 / 200 + 40_000 * 2 * 3 / 200;
    let s = commissions::statement(&as_rep, &rep, "1405-08").await.expect("the rep reads their own");
    assert_eq!((s.starts_on.as_str(), s.ends_before.as_str()), ("2026-10-23", "2026-11-22"));
    assert_eq!(s.credited, "1320000");
    assert_eq!(s.commission, expected.to_string());
    assert_eq!(s.total, "35000");
    assert_eq!(s.lines.len(), 4, "{:?}", s.lines);
    assert_eq!(s.lines[1].category.as_deref(), Some("service"));
    assert_eq!((s.lines[1].amount.as_str(), s.lines[1].rate.as_str()), ("180000", "5"));
    assert_eq!((s.lines[2].multiplier.as_str(), s.lines[2].commission.as_str()), ("1.28", "12800"));
    assert_eq!((s.lines[3].share.as_str(), s.lines[3].amount.as_str()), ("40", "40000"));
    assert_eq!((s.attainment_before, s.attainment_after), (Some(0.0), Some(132.0)));
    assert!(s.period_over && s.status == "open");
    let theirs = commissions::statement(&as_mate, &mate, "1405-08").await.expect("mate");
    assert_eq!((theirs.credited.as_str(), theirs.total.as_str()), ("60000", "1200"), "60 % at 2 %, no quota");
    assert!(matches!(commissions::statement(&as_mate, &rep, "1405-08").await, Err(Error::NotFound(_))));
    // A plan on won deals.
    let deal = input(json!({"name": "Big", "stage": "won", "won_reason": "price", "closed_on": "2026-11-01",
        "amount": {"amount": "500000", "currency": "IRR"}, "owner": closer}));
    let big_deal = db.create_record(None, "deal", &deal, None).await.expect("deal").0.id;
    let closed = commissions::statement(&as_manager, &closer, "1405-08").await.expect("closer");
    assert_eq!((closed.credited.as_str(), closed.total.as_str()), ("500000", "5000"));

    // Approval: a manager of the rep, once; locked afterwards.
    assert!(matches!(commissions::approve(&as_rep, &rep, "1405-08").await, Err(Error::Forbidden(_))));
    let locked = commissions::approve(&as_manager, &rep, "1405-08").await.expect("approve");
    assert_eq!((locked.status.as_str(), locked.approved_by.as_deref()), ("approved", Some(manager.as_str())));
    assert!(matches!(commissions::approve(&as_admin, &rep, "1405-08").await, Err(Error::Conflict { .. })));
    // The big order is returned: Aban stays as approved; Azar claws back what it earned.
    db.update_record(None, "order", &big, &input(json!({"status": "returned"})), None).await.expect("returned");
    let again = commissions::statement(&as_rep, &rep, "1405-08").await.expect("locked");
    assert_eq!((again.total.as_str(), again.status.as_str()), ("35000", "approved"));
    let azar = commissions::statement(&as_rep, &rep, "1405-09").await.expect("azar");
    let claw: Vec<_> = azar.lines.iter().filter(|l| l.clawback).collect();
    assert_eq!(claw.len(), 1);
    assert_eq!((claw[0].record_id.as_str(), claw[0].commission.as_str()), (big.as_str(), "-12800"));
    assert_eq!(azar.clawback, "-12800");
    assert_eq!(azar.total, (50_000 * 2 / 100 - 12_800).to_string(), "Azar's own order less the clawback");
    assert_eq!(
        codes(commissions::approve(&as_manager, &rep, "1405-09").await.expect_err("under way")),
        ["key:period_not_over"]
    );
    // The overview: the manager's people in Aban.
    let overview = commissions::overview(&as_manager, time::macros::date!(2026 - 11 - 01)).await.expect("overview");
    let row = overview.iter().find(|r| r.user_id == rep).expect("the rep");
    assert_eq!((row.status.as_str(), row.may_approve), ("approved", false));
    assert!(overview.iter().any(|r| r.user_id == mate && r.may_approve));
    assert!(commissions::overview(&as_rep, time::macros::date!(2026 - 11 - 01)).await.expect("own").len() == 1);

    // A part of the lines: the totals still count them all.
    let part = commissions::statement_part(&as_rep, &rep, "1405-08", 1..3).await.expect("part");
    assert_eq!((part.line_count, part.lines_from, part.lines.len()), (4, 1, 2));
    assert_eq!(part.lines, again.lines[1..3].to_vec());
    assert_eq!((part.credited.as_str(), part.total.as_str()), ("1320000", "35000"));
    let totals = commissions::statement_part(&as_rep, &rep, "1405-09", 0..0).await.expect("totals");
    assert_eq!((totals.line_count, totals.lines.len(), totals.total.as_str()), (2, 0, azar.total.as_str()));
    let last = commissions::statement_part(&as_rep, &rep, "1405-09", 1..99).await.expect("the clawback");
    assert_eq!((last.lines.len(), last.lines[0].clawback), (1, true), "clawbacks come after the period's lines");

    // A quarter's quota: Aban's tiers count what Mehr credited, as it was approved.
    quotas::save(&as_manager, None, &quota(Some(&mate), None, "quarter", "1405-Q3", "paid_amount", "100000"))
        .await
        .expect("mate's quarter");
    let mehr = order(db, &mate, "2026-10-05T08:30:00Z", "paid", &[(&boiler, "1", "80000", "0")]).await;
    let aban = commissions::statement(&as_mate, &mate, "1405-08").await.expect("aban");
    // 60,000 from 80 % of the quota: 20,000 ×1 and 40,000 ×1.5, at 2 %.
    assert_eq!((aban.attainment_before, aban.attainment_after), (Some(80.0), Some(140.0)));
    assert_eq!(aban.total, "1600");
    assert_eq!(commissions::approve(&as_manager, &mate, "1405-07").await.expect("mehr").total, "1600");
    db.update_record(None, "order", &mehr, &input(json!({"status": "returned"})), None).await.expect("returned");
    let aban = commissions::statement(&as_mate, &mate, "1405-08").await.expect("aban again");
    assert_eq!(aban.attainment_before, Some(80.0), "Mehr counts as approved");
    assert_eq!((aban.commission.as_str(), aban.clawback.as_str(), aban.total.as_str()), ("1600", "-1600", "0"));

    // Credits kept before each knew whether its record lapsed are worked out from the records
    // (at start-up): the same clawbacks.
    sqlx::query("UPDATE commission_credits SET lapsed = NULL").execute(db.pool()).await.expect("forget");
    let mut tx = db.write().await.expect("a transaction");
    commissions::settle(db, &mut tx, None).await.expect("settle");
    tx.commit().await.expect("commit");
    let settled = commissions::statement(&as_mate, &mate, "1405-08").await.expect("aban settled");
    assert_eq!((settled.clawback.as_str(), settled.total.as_str()), ("-1600", "0"));
    assert_eq!(commissions::statement(&as_rep, &rep, "1405-09").await.expect("azar settled").clawback, "-12800");

    // A won deal paid in an approved statement and then deleted is clawed back; restored, it
    // counts again.
    commissions::approve(&as_manager, &closer, "1405-08").await.expect("closer's Aban");
    db.delete_record(None, "deal", &big_deal).await.expect("deleted");
    let azar = commissions::statement(&as_manager, &closer, "1405-09").await.expect("closer's Azar");
    assert_eq!((azar.clawback.as_str(), azar.line_count), ("-5000", 1));
    db.restore_record(None, "deal", &big_deal).await.expect("restored");
    let azar = commissions::statement(&as_manager, &closer, "1405-09").await.expect("closer's Azar again");
    assert_eq!((azar.clawback.as_str(), azar.line_count), ("0", 0));

    // A won deal deleted while its statement is approved: the approval waits for the delete
    // (PostgreSQL: a lock; SQLite: its writer), and the credit it keeps knows the deal lapsed.
    let early = input(json!({"name": "Early", "stage": "won", "won_reason": "price", "closed_on": "2026-10-01",
        "amount": {"amount": "100000", "currency": "IRR"}, "owner": closer}));
    let early = db.create_record(None, "deal", &early, None).await.expect("Mehr's deal").0.id;
    let deals = db.object("deal").await.expect("deals");
    let mut deleting = db.write().await.expect("a transaction");
    db.delete_in(&mut deleting, None, &deals, &early).await.expect("deleted, not committed");
    let approving = tokio::spawn({
        let (as_manager, closer) = (as_manager.clone(), closer.clone());
        async move { commissions::approve(&as_manager, &closer, "1405-07").await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!approving.is_finished(), "the approval waits for the delete under way");
    deleting.commit().await.expect("commit");
    let mehr = approving.await.expect("joined").expect("closer's Mehr approved");
    assert_eq!(mehr.total, "1000", "worked out before the delete: paid");
    let azar = commissions::statement(&as_manager, &closer, "1405-09").await.expect("closer's Azar, Early deleted");
    assert_eq!((azar.clawback.as_str(), azar.line_count), ("-1000", 1), "and clawed back");
}

/// A person's statement of `key` from the kept lines, and the same worked out from the records
/// (the kept lines set aside as a start-up finds them before a fill): they must agree.
async fn kept_and_joined(db: &Db, user: &str, key: &str) -> commissions::Statement {
    assert!(credit_lines::ready(db).await.expect("ready"), "the lines are filled");
    let kept = commissions::statement(db, user, key).await.expect("from the kept lines");
    sqlx::query("UPDATE credit_lines_fill SET done = 0").execute(db.pool()).await.expect("set aside");
    assert!(!credit_lines::ready(db).await.expect("ready"));
    let joined = commissions::statement(db, user, key).await.expect("from the records");
    sqlx::query("UPDATE credit_lines_fill SET done = 1").execute(db.pool()).await.expect("back");
    assert_eq!(kept, joined, "{user} {key}");
    for part in [0..0, 1..3, 2..usize::MAX] {
        let kept_part = commissions::statement_part(db, user, key, part.clone()).await.expect("a part");
        assert_eq!(kept_part.lines[..], kept.lines[part.start.min(kept.lines.len())..part.end.min(kept.lines.len())]);
        assert_eq!((kept_part.total.as_str(), kept_part.line_count), (kept.total.as_str(), kept.line_count));
    }
    kept
}

/// Statements read from the kept lines (`credit_lines`) say what the records say, line for line,
/// as orders, their lines, products, splits and owners change after the fill, and after a
/// handover; worked out by hand once.
async fn statements_read_the_kept_lines_as_the_records_say(db: &Db) {
    let admin = db.create_user("admin@com.ir", "Admin", Role::Admin, "x", "fa").await.expect("admin").id;
    let rep = db.create_user("rep@com.ir", "Rep", Role::Agent, "x", "fa").await.expect("rep").id;
    let mate = db.create_user("mate@com.ir", "Mate", Role::Agent, "x", "fa").await.expect("mate").id;
    let as_admin = db.for_viewer(db.viewer_for(&admin).await.expect("viewer"));
    let product = async |name: &str, category: &str| {
        let fields = input(json!({"name": name, "category": category, "tax_percent": "10"}));
        db.create_record(None, "product", &fields, None).await.expect("product").0.id
    };
    let (boiler, install) = (product("Boiler", "hardware").await, product("Install", "service").await);
    let mut paid = plan("Sales 1405", "paid_orders", "2", &[&rep, &mate]);
    paid.tiers = vec![tier("100", None, "1.5")];
    paid.category_rates.insert("service".into(), "5".into());
    let saved = commissions::save_plan(&as_admin, None, &paid).await.expect("plan");
    quotas::save(&as_admin, None, &quota(Some(&rep), None, "month", "1405-08", "paid_amount", "700000"))
        .await
        .expect("quota");
    // Aban 1405: 23 October to 21 November 2026.
    let first = order(
        db,
        &rep,
        "2026-10-25T08:30:00Z",
        "paid",
        &[(&boiler, "2", "300000", "0"), (&install, "1", "200000", "10")],
    )
    .await;
    let second = order(db, &rep, "2026-11-02T08:30:00Z", "delivered", &[(&boiler, "1", "250000", "0")]).await;
    order(db, &rep, "2026-11-03T08:30:00Z", "pending", &[(&boiler, "1", "999000", "0")]).await;
    let shared = order(db, &mate, "2026-11-05T08:30:00Z", "paid", &[(&install, "1", "100000", "0")]).await;
    // Mehr's, before the period.
    order(db, &rep, "2026-10-20T08:30:00Z", "paid", &[(&boiler, "1", "70000", "0")]).await;

    assert!(!credit_lines::ready(db).await.expect("ready"), "not filled before the fill");
    let joined = commissions::statement(db, &rep, "1405-08").await.expect("from the records");
    assert_eq!(credit_lines::fill(db).await.expect("fill"), 5, "every order read");
    let s = kept_and_joined(db, &rep, "1405-08").await;
    assert_eq!(s, joined);
    // By hand: 600,000 and 180,000 of services (at 5 %) reach 700,000 at 100 % of the quota:
    // the services' 80,000 above it at ×1.5, the 250,000 after them too.
    let expected = 600_000 * 2 / 100 + 100_000 * 5 / 100 + 80_000 * 5 * 3 / 200 + 250_000 * 2 * 3 / 200;
    assert_eq!((s.credited.as_str(), s.commission.as_str()), ("1030000", expected.to_string().as_str()));
    assert_eq!(s.lines.len(), 3);
    assert_eq!((s.lines[1].category.as_deref(), s.lines[1].rate.as_str()), (Some("service"), "5"));

    // Changes after the fill, each kept by the write that made it.
    commissions::set_splits(
        db,
        "order",
        &shared,
        &[Split { user_id: rep.clone(), share: "25".into() }, Split { user_id: mate.clone(), share: "75".into() }],
    )
    .await
    .expect("split");
    assert_eq!(kept_and_joined(db, &rep, "1405-08").await.lines.len(), 4, "a quarter of the shared order");
    assert_eq!(kept_and_joined(db, &mate, "1405-08").await.credited, "75000");
    // A line's discount, a line added, a line removed.
    let lines = documents::lines(db, Kind::Order, &first).await.expect("lines");
    db.update_record(None, "order_line", &lines[0].id, &input(json!({"discount_percent": "20"})), None)
        .await
        .expect("discount");
    db.delete_record(None, "order_line", &lines[1].id).await.expect("a line removed");
    kept_and_joined(db, &rep, "1405-08").await;
    // A product's category, and the product in the trash.
    db.update_record(None, "product", &boiler, &input(json!({"category": "service"})), None).await.expect("category");
    assert_eq!(kept_and_joined(db, &rep, "1405-08").await.lines[0].rate, "5");
    db.delete_record(None, "product", &install).await.expect("in the trash");
    kept_and_joined(db, &rep, "1405-08").await;
    db.restore_record(None, "product", &install).await.expect("restored");
    // An order returned, moved to another day, given to another owner, deleted and restored.
    db.update_record(None, "order", &second, &input(json!({"status": "returned"})), None).await.expect("returned");
    kept_and_joined(db, &rep, "1405-08").await;
    db.update_record(
        None,
        "order",
        &second,
        &input(json!({"status": "paid", "ordered_at": "2026-11-30T08:30:00Z"})),
        None,
    )
    .await
    .expect("Azar's");
    assert_eq!(kept_and_joined(db, &rep, "1405-09").await.line_count, 1);
    db.update_record(None, "order", &first, &input(json!({"owner": mate})), None).await.expect("the mate's");
    kept_and_joined(db, &rep, "1405-08").await;
    kept_and_joined(db, &mate, "1405-08").await;
    db.delete_record(None, "order", &first).await.expect("deleted");
    kept_and_joined(db, &mate, "1405-08").await;
    db.restore_record(None, "order", &first).await.expect("restored");
    assert!(kept_and_joined(db, &mate, "1405-08").await.lines.iter().any(|l| l.record_id == first));

    // The rep leaves: their orders are the mate's, with the lines they earned on them.
    db.hand_over(Some(&admin), &rep, &mate).await.expect("handover");
    let after = kept_and_joined(db, &mate, "1405-09").await;
    assert!(after.lines.iter().any(|l| l.record_id == second), "{:?}", after.lines);

    // A bulk load writes past the rules: its orders are filled anew afterwards.
    assert_eq!(credit_lines::refill(db).await.expect("refill"), 5);
    kept_and_joined(db, &mate, "1405-08").await;
    // A plan without rates per category.
    let mut plain = paid.clone();
    plain.category_rates.clear();
    plain.members = vec![mate.clone()];
    commissions::save_plan(&as_admin, Some(&saved.id), &plain).await.expect("one rate");
    assert!(kept_and_joined(db, &mate, "1405-08").await.lines.iter().all(|l| l.rate == "2"));
}

/// A customer's profit worked out by hand: two orders' lines after discounts and an order's
/// bare total, less the products' cost and three tickets at the business's cost; a cancelled
/// order counts nothing.
async fn profitability_is_revenue_less_product_and_service_costs(db: &Db) {
    use peyvand_crm::insights::profit;
    let rep = db.create_user("rep@profit.ir", "Rep", Role::Agent, "x", "fa").await.expect("rep").id;
    let boss = db.create_user("boss@profit.ir", "Boss", Role::Manager, "x", "fa").await.expect("boss").id;
    let team = TeamInput {
        name: "Sales".into(),
        manager_id: Some(boss.clone()),
        members: vec![rep.clone()],
        ..TeamInput::default()
    };
    db.create_team(&team).await.expect("team");
    let customer = db
        .create_record(None, "contact", &input(json!({"last_name": "Karimi", "owner": rep})), None)
        .await
        .expect("contact")
        .0
        .id;
    let product = async |name: &str, cost: Option<&str>| {
        let mut fields = json!({"name": name, "tax_percent": "10"});
        if let Some(cost) = cost {
            fields["cost_price"] = json!({"amount": cost, "currency": "IRR"});
        }
        db.create_record(None, "product", &input(fields), None).await.expect("product").0.id
    };
    let (boiler, valve, gift) =
        (product("Boiler", Some("600000")).await, product("Valve", Some("30000")).await, product("Gift", None).await);
    let sale = async |status: &str, lines: &[(&str, &str, &str, &str)]| {
        let id = db
            .create_record(
                None,
                "order",
                &input(json!({"ordered_at": "2026-11-01T08:00:00Z", "contact": customer, "owner": rep})),
                None,
            )
            .await
            .expect("order")
            .0
            .id;
        let lines = lines
            .iter()
            .map(|(p, q, price, discount)| {
                input(json!({"product": p, "quantity": q, "unit_price": {"amount": price, "currency": "IRR"},
                    "discount_percent": discount}))
            })
            .collect();
        documents::set_lines(db, None, Kind::Order, &id, LinesInput { version: None, lines }).await.expect("lines");
        db.update_record(None, "order", &id, &input(json!({"status": status})), None).await.expect("status");
    };
    // 2 boilers at 1,000,000 less 10 %, 4 valves at 50,000, a gift at 10,000 (no cost price).
    sale("paid", &[(&boiler, "2", "1000000", "10"), (&valve, "4", "50000", "0")]).await;
    sale("delivered", &[(&gift, "1", "10000", "0")]).await;
    sale("cancelled", &[(&boiler, "5", "1000000", "0")]).await;
    // An order without lines: its total is revenue, its cost unknown.
    let bare = json!({"ordered_at": "2026-11-02T08:00:00Z", "contact": customer, "owner": rep, "status": "delivered",
        "total": {"amount": "300000", "currency": "IRR"}});
    db.create_record(None, "order", &input(bare), None).await.expect("an order without lines");
    for n in 0..3 {
        let ticket = input(json!({"subject": format!("Leak {n}"), "contact": customer, "owner": rep}));
        db.create_record(None, "ticket", &ticket, None).await.expect("ticket");
    }
    peyvand_crm::sales::business::set(db, &[("cost_per_ticket".to_string(), "۲۵٬۰۰۰".to_string())].into())
        .await
        .expect("cost per ticket");
    let as_boss = db.for_viewer(db.viewer_for(&boss).await.expect("viewer"));
    let p = profit::of_customer(&as_boss, "contact", &customer, "IRR").await.expect("profit");
    let (gross, discounts) = (2 * 1_000_000 + 4 * 50_000 + 10_000 + 300_000, 200_000);
    let (cost, service) = (2 * 600_000 + 4 * 30_000, 3 * 25_000);
    assert_eq!(p.gross, gross.to_string());
    assert_eq!(p.discounts, discounts.to_string());
    assert_eq!(p.revenue, (gross - discounts).to_string());
    assert_eq!(p.product_cost, cost.to_string());
    assert_eq!((p.tickets, p.cost_per_ticket.as_str(), p.service_cost.as_str()), (3, "25000", "75000"));
    assert_eq!(p.profit, (gross - discounts - cost - service).to_string());
    assert_eq!(p.lines_without_cost, 1, "the gift");
    let margin = (gross - discounts - cost - service) as f64 / (gross - discounts) as f64 * 100.0;
    assert!((p.margin.expect("margin") - margin).abs() < 1e-9);
    // A rep does not read cost prices, so not profitability either.
    let as_rep = db.for_viewer(db.viewer_for(&rep).await.expect("viewer"));
    assert!(!profit::may_read(&as_rep));
    assert!(matches!(profit::of_customer(&as_rep, "contact", &customer, "IRR").await, Err(Error::Forbidden(_))));
}

/// Referred leads with an e-mail convert, walk-ins without one do not: the model learns it from
/// the decided leads, scores the open ones accordingly and names the factor.
async fn lead_scores_learn_what_converts_and_say_why(db: &Db) {
    use peyvand_crm::insights::lead_scores;
    use peyvand_crm::sales::leads::{self, Conversion};
    let lead = async |n: usize, source: &str| {
        let mut fields = json!({"last_name": format!("Lead {n}"), "source": source});
        if source == "referral" {
            fields["emails"] = json!([format!("lead{n}@example.ir")]);
        }
        db.create_record(None, "lead", &input(fields), None).await.expect("lead").0.id
    };
    assert_eq!(codes(lead_scores::train(db).await.expect_err("no history")), ["leads:not_enough_leads"]);
    for n in 0..15 {
        let id = lead(n, "referral").await;
        let how = Conversion { no_company: true, ..Conversion::default() };
        leads::convert(db, None, &id, how).await.expect("converted");
        let id = lead(100 + n, "walk_in").await;
        let lost = input(json!({"status": "disqualified", "disqualify_reason": "no_need"}));
        db.update_record(None, "lead", &id, &lost, None).await.expect("lost");
    }
    let (hot, cold) = (lead(200, "referral").await, lead(201, "walk_in").await);
    let run = lead_scores::train(db).await.expect("trained");
    assert_eq!((run.converted, run.lost, run.scored), (15, 15, 2));
    assert_eq!(run.base_rate, 50.0);
    let score = async |id: &str| {
        db.get_record("lead", id, false).await.expect("lead").fields["score"].as_i64().expect("a score")
    };
    let (hot_score, cold_score) = (score(&hot).await, score(&cold).await);
    assert!(hot_score > 80 && cold_score < 20, "{hot_score} {cold_score}");
    let why = lead_scores::factors_of(db, &hot).await.expect("factors");
    assert!(!why.is_empty() && why.iter().all(|f| f.2 > 0.0), "everything about it raised it: {why:?}");
    assert!(why.iter().any(|f| f.0 == "source" && f.1.as_deref() == Some("referral")), "{why:?}");
    if let Some(auc) = run.auc {
        assert!(auc > 0.9, "a separable history is ranked right: {auc}");
    }
    assert_eq!(lead_scores::latest(db).await.expect("latest").map(|r| r.id), Some(run.id));
}

/// A rule gives last month's best seller the award when the month is over, once.
async fn award_rules_recognize_the_best_once_a_period(db: &Db) {
    use peyvand_crm::insights::award_rules::{self, RuleInput};
    use peyvand_records::aggregate::{Bucket, Calendar};
    let admin = db.create_user("admin@rules.ir", "Admin", Role::Admin, "x", "fa").await.expect("admin").id;
    let best = db.create_user("best@rules.ir", "Best", Role::Agent, "x", "fa").await.expect("best").id;
    let next = db.create_user("next@rules.ir", "Next", Role::Agent, "x", "fa").await.expect("next").id;
    let as_admin = db.for_viewer(db.viewer_for(&admin).await.expect("viewer"));
    let as_rep = db.for_viewer(db.viewer_for(&best).await.expect("viewer"));
    let rule = |title: &str, top: i64| RuleInput {
        title: title.into(),
        reason: "بیشترین فروش ماه".into(),
        measure: "won_amount".into(),
        period: "month".into(),
        top,
    };
    assert_eq!(
        codes(award_rules::create(&as_admin, &rule("", 0)).await.expect_err("bad")),
        ["title:required", "top:out_of_range"]
    );
    assert!(matches!(award_rules::create(&as_rep, &rule("Seller", 1)).await, Err(Error::Forbidden(_))));
    let made = award_rules::create(&as_admin, &rule("فروشنده‌ی ماه", 1)).await.expect("rule");
    // Last Jalali month: the best sold more; this month's deal is not last month's.
    let this_month = Bucket::Month.start(Calendar::Jalali, db.today());
    let last_month = Bucket::Month.start(Calendar::Jalali, this_month - time::Duration::days(1));
    for (owner, day, amount) in [(&best, last_month, 900), (&next, last_month, 500), (&next, this_month, 5000)] {
        let deal = input(json!({"name": "Deal", "stage": "won", "won_reason": "price", "owner": owner,
            "closed_on": peyvand_records::value::format_date(day), "amount": {"amount": amount.to_string(), "currency": "IRR"}}));
        db.create_record(None, "deal", &deal, None).await.expect("deal");
    }
    assert_eq!(award_rules::apply(db, db.today()).await.expect("apply"), 1);
    assert_eq!(award_rules::apply(db, db.today()).await.expect("again"), 0, "once a period");
    let awards = performance::awards_of(db, &best).await.expect("awards");
    assert_eq!(awards.len(), 1);
    assert_eq!(awards[0].title, "فروشنده‌ی ماه");
    assert!(performance::awards_of(db, &next).await.expect("awards").is_empty());
    // Deleted, the rule gives no more; its award stays.
    award_rules::delete(&as_admin, &made.id).await.expect("delete");
    assert!(award_rules::list(db).await.expect("rules").is_empty());
    assert_eq!(performance::awards_of(db, &best).await.expect("awards").len(), 1);
}
