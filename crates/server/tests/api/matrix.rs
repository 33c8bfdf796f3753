//! Issue 25: the authorization matrix. Every API operation of the route table, and every page
//! route of the web router, is called as anonymous, read-only, agent, manager and admin — record
//! operations on a contact owned by the agent, by a teammate and by another team's rep — and each
//! answer is checked against what the rules say. An operation or page route missing from the
//! matrix fails the test, so a new route comes with its row.

use crate::backend_tests;
use crate::helpers::{PASSWORD, TestApp, browser, sign_in_as};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(every_operation_answers_each_role_as_the_rules_say, every_page_answers_each_role_as_the_rules_say);

/// Who calls: anonymous, then the roles.
const CALLERS: [&str; 5] = ["anonymous", "read_only", "agent", "manager", "admin"];

/// The people and records the matrix acts on.
struct World {
    tokens: Vec<Option<String>>,
    /// Contacts owned by the agent, by the agent's teammate, and by another team's rep.
    owned: [String; 3],
    admin: String,
    /// The agent's teammate: sharing with them gives none of the callers more.
    mate: String,
    n: std::cell::Cell<u32>,
}

impl World {
    fn fresh(&self) -> u32 {
        self.n.set(self.n.get() + 1);
        self.n.get()
    }
}

async fn world(app: &TestApp) -> World {
    let (_, reader_token) = app.user_id_with_role("reader@m.ir", "read_only").await;
    let (agent, agent_token) = app.user_id_with_role("agent@m.ir", "agent").await;
    let (manager, manager_token) = app.user_id_with_role("manager@m.ir", "manager").await;
    let (mate, _) = app.user_id_with_role("mate@m.ir", "agent").await;
    let (other, _) = app.user_id_with_role("other@m.ir", "agent").await;
    let me: Value = app.get("/api/v1/me").await.json().await.expect("me");
    let north = json!({"name": "North", "manager_id": manager, "members": [agent, mate]});
    app.post("/api/v1/teams", north).await;
    app.post("/api/v1/teams", json!({"name": "South", "members": [other]})).await;
    let mut owned = Vec::new();
    for (name, owner) in [("Own", &agent), ("Team", &mate), ("Other", &other)] {
        owned.push(
            app.create("contact", json!({"last_name": name, "owner": owner})).await["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    World {
        tokens: vec![None, Some(reader_token), Some(agent_token), Some(manager_token), Some(app.token.clone())],
        owned: [owned[0].clone(), owned[1].clone(), owned[2].clone()],
        admin: me["id"].as_str().expect("id").to_string(),
        mate: mate.clone(),
        n: std::cell::Cell::new(0),
    }
}

/// What a caller must get: `o` 2xx, `v` 422 (allowed, refused as input), `f` 403, `n` 404, `u`
/// 401; one letter per caller (anonymous, read-only, agent, manager, admin).
type Row = &'static str;

/// The expected answers of an operation, by the owner of the record it acts on (own, team,
/// other) where it acts on one; the same for all three otherwise.
fn expected(op: &str) -> Option<[Row; 3]> {
    let same = |r: Row| Some([r, r, r]);
    match op {
        "create_token" => same("uuuuu"),
        "openapi_json" => same("ooooo"),
        "get_me"
        | "list_tokens"
        | "create_api_token"
        | "list_teams"
        | "list_objects"
        | "get_object"
        | "list_rollups"
        | "list_records"
        | "aggregate_records"
        | "search"
        | "list_views"
        | "create_view"
        | "list_pipelines"
        | "get_pipeline"
        | "sales_settings"
        | "list_notifications"
        | "read_all_notifications"
        | "notification_preferences"
        | "set_notification_preferences"
        | "list_duplicate_pairs" => same("uoooo"),
        "scan_duplicates" => same("ufffo"),
        // Loyalty: everyone reads programs; admins configure; a member is reached as their
        // contact; managers and admins correct a balance.
        "list_loyalty_programs" | "get_loyalty_program" | "list_loyalty_rewards" | "list_loyalty_members" => {
            same("uoooo")
        }
        "create_loyalty_program"
        | "update_loyalty_program"
        | "post_loyalty_orders"
        | "create_loyalty_reward"
        | "update_loyalty_reward" => same("ufffo"),
        "get_loyalty_member" | "loyalty_statement" | "contact_loyalty" | "contact_referrals" => {
            Some(["uoooo", "uoooo", "uonno"])
        }
        "contact_consent" | "contact_offers" => Some(["uoooo", "uoooo", "uonno"]),
        "get_offer_model" => same("uoooo"),
        "build_offer_model" => same("uffoo"),
        "set_contact_consent" => Some(["ufooo", "ufooo", "ufnno"]),
        "list_suppressions" | "set_suppression" => same("uffoo"),
        // The portal: a contact's account read as the contact; inviting the matrix's contacts
        // (no address) is refused as input; none has an account to disable.
        "contact_portal" => Some(["uoooo", "uoooo", "uonno"]),
        "invite_to_portal" => Some(["ufvvv", "ufvvv", "ufnnv"]),
        "set_portal_access" => same("ufnnn"),
        "portal_settings" => same("uoooo"),
        "set_portal_settings" => same("ufffo"),
        // Reports: everyone who reads keeps their own; a shared one is read by all, changed by
        // its owner (the admin here) alone.
        "list_reports" | "create_report" | "get_report" | "run_report" => same("uoooo"),
        "update_report" | "delete_report" => same("ufffo"),
        // Dashboards as reports; quotas read by their person, their manager and admins, set by
        // managers (their people's) and admins; awards given the same way, read by everyone.
        "list_dashboards" | "create_dashboard" | "get_dashboard" => same("uoooo"),
        "update_dashboard" | "delete_dashboard" => same("ufffo"),
        "list_quotas" | "leaderboard" | "user_awards" | "revenue_forecast" | "performance" | "customer_value" => {
            same("uoooo")
        }
        // Too little history in the matrix's world: the fit is refused (422) for those allowed.
        "run_customer_value" | "run_lead_scores" => same("uffvv"),
        "lead_scores" | "list_award_rules" => same("uoooo"),
        // Award rules: admins make, delete and apply them.
        "create_award_rule" | "delete_award_rule" | "apply_award_rules" => same("ufffo"),
        "get_quota" => same("unooo"),
        "create_quota" | "update_quota" | "give_award" | "withdraw_award" => same("uffoo"),
        "delete_quota" => same("unfoo"),
        // Commission plans: admins write them; managers read every plan, others the plans they
        // are in (the agent's here). Statements: the person, their manager and admins read
        // them; the manager and admins approve them; splits are set by those who may change
        // the deal (a manager their team's, not an agent).
        "list_commission_plans" | "commission_overview" | "get_commission_splits" => same("uoooo"),
        "get_commission_plan" | "commission_statement" => same("unooo"),
        "create_commission_plan" | "update_commission_plan" => same("ufffo"),
        "delete_commission_plan" => same("unffo"),
        "approve_commission_statement" => same("unfoo"),
        "set_commission_splits" => same("uffoo"),
        // Profitability: the customers one reads, for those who read cost prices (not agents or
        // read-only users, by default).
        "customer_profitability" => Some(["uffoo", "uffoo", "ufnno"]),
        "list_segments" | "get_segment" | "segment_members" | "list_campaigns" | "get_campaign" => same("uoooo"),
        "create_segment"
        | "update_segment"
        | "set_segment_members"
        | "award_segment_points"
        | "grant_segment_benefit"
        | "create_campaign"
        | "update_campaign"
        | "start_campaign"
        | "cancel_campaign" => same("uffoo"),
        // A fresh contact of the same owner, referred by the admin's code.
        "create_referral" => Some(["ufooo", "ufooo", "ufnno"]),
        "enrol_loyalty_member" | "redeem_loyalty_reward" | "award_loyalty_action" | "use_loyalty_voucher" => {
            Some(["ufooo", "ufooo", "ufnno"])
        }
        "adjust_loyalty_points" => Some(["uffoo", "uffoo", "uffno"]),
        // A pair not in the queue: not found, for whoever may write.
        "dismiss_duplicate_pair" => same("ufnnn"),
        // Nobody's notification is another's: not found, whoever asks.
        "read_notification" => same("unnnn"),
        // Nobody's token or view: not found, whoever asks.
        "revoke_token" | "delete_view" => same("unnnn"),
        "list_users"
        | "create_user"
        | "update_user"
        | "hand_over"
        | "list_handovers"
        | "security_log"
        | "create_team"
        | "update_team"
        | "delete_team"
        | "list_access_rules"
        | "set_access_rule"
        | "reset_access_rule"
        | "list_field_rules"
        | "set_field_rule"
        | "create_object"
        | "delete_object"
        | "restore_object"
        | "create_field"
        | "update_field"
        | "delete_field"
        | "create_rollup"
        | "delete_rollup"
        | "list_compound_indexes"
        | "create_compound_index"
        | "delete_compound_index"
        | "create_pipeline"
        | "update_pipeline"
        | "delete_pipeline"
        | "set_sales_settings"
        | "list_forms"
        | "get_form"
        | "create_form"
        | "update_form"
        | "delete_form"
        | "form_submissions" => same("ufffo"),
        "create_record" => same("ufooo"),
        // On a contact: read-only reads all; agents and their manager reach their team's.
        "get_record" | "record_history" | "list_shares" => Some(["uoooo", "uoooo", "uonno"]),
        // On a deal of the same owner (deals are reached as contacts are).
        "deal_stages" => Some(["uoooo", "uoooo", "uonno"]),
        // On a lead of the same owner (leads are reached as contacts are).
        "lead_matches" => Some(["uoooo", "uoooo", "uonno"]),
        "convert_lead" => Some(["ufooo", "ufooo", "ufnno"]),
        // On a quote, an order or a won deal of the same owner: agents change their team's quotes
        // but only their own orders.
        "quote_lines" | "order_lines" => Some(["uoooo", "uoooo", "uonno"]),
        // Making an order for a teammate's quote or deal is giving a record to the team (allowed);
        // changing a teammate's order is not.
        "set_quote_lines" | "order_from_quote" | "order_from_deal" => Some(["ufooo", "ufooo", "ufnno"]),
        "set_order_lines" => Some(["ufooo", "uffoo", "ufnno"]),
        "update_record" | "share_record" | "unshare_record" | "delete_record" | "merge_records" => {
            Some(["ufooo", "ufooo", "ufnno"])
        }
        "record_duplicates" | "record_timeline" => Some(["uoooo", "uoooo", "uonno"]),
        // On an activity of the same owner (activities are reached as contacts are).
        "activity_participants" | "task_attendees" => Some(["uoooo", "uoooo", "uonno"]),
        "set_activity_participants" | "set_task_attendees" => Some(["ufooo", "ufooo", "ufnno"]),
        "restore_record" => Some(["uffoo", "uffoo", "uffno"]),
        // The desk is shared: every role reads every ticket; an agent changes their own, a
        // manager their teams'.
        "list_ticket_messages"
        | "ticket_attachment"
        | "list_queues"
        | "list_calendars"
        | "list_holidays"
        | "list_sla_policies"
        | "service_settings"
        | "service_compliance"
        | "search_kb"
        | "vote_kb"
        | "dealer_rates" => same("uoooo"),
        // On a dealer (a company, shared: every agent reads it; a record of units is made).
        "count_dealer_units" => same("ufooo"),
        "reply_ticket" | "merge_ticket" => Some(["ufooo", "uffoo", "ufffo"]),
        // An unassigned ticket: anyone who writes may take it.
        "take_ticket" => same("ufooo"),
        "set_queue"
        | "delete_queue"
        | "create_calendar"
        | "update_calendar"
        | "delete_calendar"
        | "set_holidays"
        | "create_sla_policy"
        | "update_sla_policy"
        | "delete_sla_policy"
        | "set_service_settings" => same("ufffo"),
        // Surveys: everyone reads results and ratings; admins build and send; whoever writes
        // invites a customer they may read; the public answer needs a real link (not found).
        "list_surveys" | "get_survey" | "survey_results" | "staff_ratings" | "staff_feedback" | "suggestion_askers" => {
            same("uoooo")
        }
        "create_survey" | "update_survey" | "delete_survey" | "send_survey" => same("ufffo"),
        "invite_survey" => Some(["ufooo", "ufooo", "ufnno"]),
        "answer_survey" => same("nnnnn"),
        "add_suggestion_asker" | "suggestion_told" => same("ufooo"),
        // Automation: admins build and configure; everyone who reads sees the templates and
        // previews them on records they may read. Retrying what is not there is not found, after
        // the role is checked.
        "list_workflows" | "get_workflow" | "create_workflow" | "update_workflow" | "delete_workflow"
        | "test_workflow" | "workflow_runs" | "list_workflow_runs" | "create_template" | "update_template"
        | "delete_template" | "list_webhooks" | "get_webhook" | "create_webhook" | "update_webhook"
        | "delete_webhook" | "resume_webhook" | "webhook_deliveries" | "list_messages" | "smtp_settings"
        | "set_smtp_settings" | "sms_settings" | "set_sms_settings" | "imap_settings" | "set_imap_settings"
        | "received_messages" => same("ufffo"),
        "list_inbound_hooks" | "create_inbound_hook" | "delete_inbound_hook" => same("ufffo"),
        // Scheduled reports are kept by managers and admins.
        "list_report_schedules"
        | "create_report_schedule"
        | "update_report_schedule"
        | "delete_report_schedule"
        | "send_report_schedule" => same("uffoo"),
        // Signed, not signed in: without a signature, whoever calls is refused alike.
        "receive_hook" => same("uuuuu"),
        "retry_workflow_run" | "replay_delivery" | "retry_message" => same("ufffn"),
        "list_templates" | "get_template" => same("uoooo"),
        "preview_template" => Some(["uoooo", "uoooo", "uonno"]),
        _ => None,
    }
}

/// The request an operation is called with by caller `who` on the record owned as `owner`
/// (0 own, 1 team, 2 other); what it changes is made fresh for it.
async fn request(app: &TestApp, w: &World, op: &str, owner: usize) -> (Method, String, Option<Value>) {
    let n = w.fresh();
    let contact = &w.owned[owner];
    let fresh_contact = async || {
        let source = app.get(&format!("/api/v1/records/contact/{contact}")).await.json::<Value>().await.expect("json");
        let made =
            app.create("contact", json!({"last_name": format!("Fresh {n}"), "owner": source["fields"]["owner"]})).await;
        made["id"].as_str().expect("id").to_string()
    };
    let fresh_user = async || {
        let r = app
            .post("/api/v1/users", json!({"email": format!("u{n}@m.ir"), "role": "agent", "password": PASSWORD}))
            .await;
        r.json::<Value>().await.expect("user")["id"].as_str().expect("id").to_string()
    };
    let fresh_team = async || {
        let r = app.post("/api/v1/teams", json!({"name": format!("Team {n}")})).await;
        r.json::<Value>().await.expect("team")["id"].as_str().expect("id").to_string()
    };
    let fresh_object = async || {
        let body = json!({"api_name": format!("thing{n}"), "label_en": "Thing", "label_fa": "چیز", "fields": [{"api_name": "name", "type": "text", "label_en": "Name"}]});
        app.post("/api/v1/objects", body).await;
        format!("thing{n}")
    };
    let fresh_field = async || {
        app.post(
            "/api/v1/objects/product/fields",
            json!({"api_name": format!("f{n}"), "type": "text", "label_en": "F"}),
        )
        .await;
        format!("f{n}")
    };
    let (m, path, body): (Method, String, Option<Value>) = match op {
        "create_token" => {
            (Method::POST, "/auth/token".into(), Some(json!({"email": "nobody@m.ir", "password": "wrong password"})))
        }
        "openapi_json" => (Method::GET, "/openapi.json".into(), None),
        "get_me" => (Method::GET, "/me".into(), None),
        "list_tokens" => (Method::GET, "/tokens".into(), None),
        "create_api_token" => (Method::POST, "/tokens".into(), Some(json!({"name": format!("t{n}")}))),
        "revoke_token" => (Method::DELETE, "/tokens/no-such-token".into(), None),
        "list_users" => (Method::GET, "/users".into(), None),
        "create_user" => (
            Method::POST,
            "/users".into(),
            Some(json!({"email": format!("new{n}@m.ir"), "role": "agent", "password": PASSWORD})),
        ),
        "update_user" => (Method::PATCH, format!("/users/{}", fresh_user().await), Some(json!({"name": "Renamed"}))),
        "hand_over" => {
            (Method::POST, format!("/users/{}/handover", fresh_user().await), Some(json!({"successor_id": w.admin})))
        }
        "list_handovers" => (Method::GET, "/handovers".into(), None),
        "security_log" => (Method::GET, "/security_log".into(), None),
        "list_teams" => (Method::GET, "/teams".into(), None),
        "create_team" => (Method::POST, "/teams".into(), Some(json!({"name": format!("Made {n}")}))),
        "update_team" => {
            (Method::PUT, format!("/teams/{}", fresh_team().await), Some(json!({"name": format!("Renamed {n}")})))
        }
        "delete_team" => (Method::DELETE, format!("/teams/{}", fresh_team().await), None),
        "list_access_rules" => (Method::GET, "/access_rules".into(), None),
        "set_access_rule" => {
            (Method::PUT, "/access_rules/read_only/product".into(), Some(json!({"read": "all", "change": "none"})))
        }
        "reset_access_rule" => (Method::DELETE, "/access_rules/read_only/product".into(), None),
        "list_field_rules" => (Method::GET, "/field_rules".into(), None),
        "set_field_rule" => {
            (Method::PUT, "/field_rules/read_only/product/description".into(), Some(json!({"access": "editable"})))
        }
        "list_objects" => (Method::GET, "/objects".into(), None),
        "create_object" => (
            Method::POST,
            "/objects".into(),
            Some(
                json!({"api_name": format!("made{n}"), "label_en": "Made", "label_fa": "ساخته", "fields": [{"api_name": "name", "type": "text", "label_en": "Name"}]}),
            ),
        ),
        "get_object" => (Method::GET, "/objects/contact".into(), None),
        "delete_object" => (Method::DELETE, format!("/objects/{}", fresh_object().await), None),
        "restore_object" => {
            let object = fresh_object().await;
            app.delete(&format!("/api/v1/objects/{object}")).await;
            (Method::POST, format!("/objects/{object}/restore"), None)
        }
        "create_field" => (
            Method::POST,
            "/objects/product/fields".into(),
            Some(json!({"api_name": format!("made{n}"), "type": "text", "label_en": "Made"})),
        ),
        "update_field" => {
            (Method::PATCH, format!("/objects/product/fields/{}", fresh_field().await), Some(json!({"label_en": "G"})))
        }
        "delete_field" => (Method::DELETE, format!("/objects/product/fields/{}", fresh_field().await), None),
        "list_rollups" => (Method::GET, "/objects/contact/rollups".into(), None),
        "create_rollup" => (Method::POST, "/objects/product/rollups".into(), Some(json!({"group": "category"}))),
        "delete_rollup" => {
            let r = app.post("/api/v1/objects/order/rollups", json!({"group": "status"})).await;
            let id = r.json::<Value>().await.expect("rollup")["id"].as_str().expect("id").to_string();
            (Method::DELETE, format!("/objects/order/rollups/{id}"), None)
        }
        "list_compound_indexes" => (Method::GET, "/objects/contact/indexes".into(), None),
        "create_compound_index" => {
            (Method::POST, "/objects/product/indexes".into(), Some(json!({"fields": ["category", "name"]})))
        }
        "delete_compound_index" => {
            let r = app.post("/api/v1/objects/order/indexes", json!({"fields": ["status", "ordered_at"]})).await;
            let id = r.json::<Value>().await.expect("index")["id"].as_str().expect("id").to_string();
            (Method::DELETE, format!("/objects/order/indexes/{id}"), None)
        }
        "list_records" => (Method::GET, "/records/contact".into(), None),
        "create_record" => {
            (Method::POST, "/records/contact".into(), Some(json!({"fields": {"last_name": format!("New {n}")}})))
        }
        "get_record" => (Method::GET, format!("/records/contact/{contact}"), None),
        "update_record" => (
            Method::PATCH,
            format!("/records/contact/{contact}"),
            Some(json!({"fields": {"job_title": format!("t{n}")}})),
        ),
        "delete_record" => (Method::DELETE, format!("/records/contact/{}", fresh_contact().await), None),
        "record_duplicates" => (Method::GET, format!("/records/contact/{contact}/duplicates"), None),
        "record_timeline" => (Method::GET, format!("/records/contact/{contact}/timeline"), None),
        "task_attendees" | "set_task_attendees" => {
            let source =
                app.get(&format!("/api/v1/records/contact/{contact}")).await.json::<Value>().await.expect("json");
            let task = app
                .create(
                    "task",
                    json!({"subject": format!("Visit {n}"), "due_at": "2027-11-01T09:00:00Z",
                    "owner": source["fields"]["owner"]}),
                )
                .await;
            let id = task["id"].as_str().expect("id");
            if op == "task_attendees" {
                (Method::GET, format!("/tasks/{id}/attendees"), None)
            } else {
                (Method::PUT, format!("/tasks/{id}/attendees"), Some(json!({"users": [w.mate]})))
            }
        }
        "activity_participants" | "set_activity_participants" => {
            let source =
                app.get(&format!("/api/v1/records/contact/{contact}")).await.json::<Value>().await.expect("json");
            let activity = app
                .create(
                    "activity",
                    json!({"subject": format!("Call {n}"), "kind": "call",
                    "occurred_at": "2026-11-01T09:00:00Z", "owner": source["fields"]["owner"]}),
                )
                .await;
            let id = activity["id"].as_str().expect("id");
            if op == "activity_participants" {
                (Method::GET, format!("/activities/{id}/participants"), None)
            } else {
                (Method::PUT, format!("/activities/{id}/participants"), Some(json!({"users": [w.mate]})))
            }
        }
        "list_duplicate_pairs" => (Method::GET, "/duplicates?object=contact".into(), None),
        "scan_duplicates" => (Method::POST, "/duplicates/scan".into(), Some(json!({"object": "contact"}))),
        "dismiss_duplicate_pair" => (
            Method::POST,
            "/duplicates/dismiss".into(),
            Some(json!({"object": "contact", "a": w.owned[0], "b": w.owned[1]})),
        ),
        "list_forms" => (Method::GET, "/forms".into(), None),
        "create_form" => (Method::POST, "/forms".into(), Some(web_form(n, &w.mate))),
        "get_form" | "update_form" | "delete_form" | "form_submissions" => {
            let r = app.post("/api/v1/forms", web_form(n, &w.mate)).await;
            let id = r.json::<Value>().await.expect("form")["id"].as_str().expect("id").to_string();
            match op {
                "get_form" => (Method::GET, format!("/forms/{id}"), None),
                "update_form" => (Method::PUT, format!("/forms/{id}"), Some(web_form(n, &w.mate))),
                "delete_form" => (Method::DELETE, format!("/forms/{id}"), None),
                _ => (Method::GET, format!("/forms/{id}/submissions"), None),
            }
        }
        "merge_records" => {
            let (survivor, other) = (fresh_contact().await, fresh_contact().await);
            (Method::POST, format!("/records/contact/{survivor}/merge"), Some(json!({"with": other})))
        }
        "restore_record" => {
            let id = fresh_contact().await;
            app.delete(&format!("/api/v1/records/contact/{id}")).await;
            (Method::POST, format!("/records/contact/{id}/restore"), None)
        }
        "record_history" => (Method::GET, format!("/records/contact/{contact}/history"), None),
        "list_shares" => (Method::GET, format!("/records/contact/{contact}/shares"), None),
        "share_record" => {
            (Method::PUT, format!("/records/contact/{contact}/shares/user/{}", w.mate), Some(json!({"level": "read"})))
        }
        "unshare_record" => (Method::DELETE, format!("/records/contact/{contact}/shares/user/{}", w.mate), None),
        "aggregate_records" => (Method::GET, "/aggregate/contact?group=city".into(), None),
        "search" => (Method::GET, "/search?q=Own".into(), None),
        "list_views" => (Method::GET, "/views?object=contact".into(), None),
        "create_view" => (Method::POST, "/views".into(), Some(json!({"object": "contact", "name": format!("v{n}")}))),
        "delete_view" => (Method::DELETE, "/views/no-such-view".into(), None),
        "list_pipelines" => (Method::GET, "/pipelines".into(), None),
        "sales_settings" => (Method::GET, "/sales/settings".into(), None),
        "list_notifications" => (Method::GET, "/notifications?unread=true".into(), None),
        "read_all_notifications" => (Method::POST, "/notifications/read".into(), None),
        "read_notification" => (Method::POST, "/notifications/no-such-one/read".into(), None),
        "set_sales_settings" => {
            (Method::PUT, "/sales/settings".into(), Some(json!({"business": {"name_en": format!("Business {n}")}})))
        }
        "get_pipeline" => (Method::GET, "/pipelines/default".into(), None),
        "create_pipeline" => (Method::POST, "/pipelines".into(), Some(pipeline(n))),
        "update_pipeline" => {
            app.post("/api/v1/pipelines", pipeline(n)).await;
            (Method::PUT, format!("/pipelines/p{n}"), Some(pipeline(n)))
        }
        "delete_pipeline" => {
            app.post("/api/v1/pipelines", pipeline(n)).await;
            (Method::DELETE, format!("/pipelines/p{n}"), None)
        }
        "lead_matches" | "convert_lead" => {
            let source =
                app.get(&format!("/api/v1/records/contact/{contact}")).await.json::<Value>().await.expect("json");
            let lead =
                app.create("lead", json!({"last_name": format!("Lead {n}"), "owner": source["fields"]["owner"]})).await;
            let id = lead["id"].as_str().expect("id");
            if op == "convert_lead" {
                (Method::POST, format!("/leads/{id}/convert"), Some(json!({})))
            } else {
                (Method::GET, format!("/leads/{id}/matches"), None)
            }
        }
        "quote_lines" | "set_quote_lines" | "order_from_quote" | "order_lines" | "set_order_lines"
        | "order_from_deal" => {
            let source =
                app.get(&format!("/api/v1/records/contact/{contact}")).await.json::<Value>().await.expect("json");
            let owner = source["fields"]["owner"].clone();
            let object = match op {
                "order_lines" | "set_order_lines" => "order",
                "order_from_deal" => "deal",
                _ => "quote",
            };
            let fields = match object {
                "deal" => json!({"name": format!("Won {n}"), "stage": "won", "won_reason": "price", "owner": owner}),
                "order" => json!({"owner": owner, "ordered_at": "2026-11-01T09:00:00Z"}),
                _ => json!({"owner": owner}),
            };
            let made = app.create(object, fields).await;
            let id = made["id"].as_str().expect("id");
            let line = json!({"lines": [{"description": "x", "quantity": "1", "unit_price": {"amount": "10", "currency": "IRR"}}]});
            match op {
                "quote_lines" => (Method::GET, format!("/quotes/{id}/lines"), None),
                "set_quote_lines" => (Method::PUT, format!("/quotes/{id}/lines"), Some(line)),
                "order_from_quote" => (Method::POST, format!("/quotes/{id}/order"), None),
                "order_lines" => (Method::GET, format!("/orders/{id}/lines"), None),
                "set_order_lines" => (Method::PUT, format!("/orders/{id}/lines"), Some(line)),
                _ => (Method::POST, format!("/deals/{id}/order"), None),
            }
        }
        "deal_stages" => {
            let source =
                app.get(&format!("/api/v1/records/contact/{contact}")).await.json::<Value>().await.expect("json");
            let deal =
                app.create("deal", json!({"name": format!("Deal {n}"), "owner": source["fields"]["owner"]})).await;
            (Method::GET, format!("/deals/{}/stages", deal["id"].as_str().expect("id")), None)
        }
        "list_ticket_messages" | "reply_ticket" | "merge_ticket" | "ticket_attachment" => {
            let source =
                app.get(&format!("/api/v1/records/contact/{contact}")).await.json::<Value>().await.expect("json");
            let ticket = |n: String| json!({"subject": n, "owner": source["fields"]["owner"]});
            let id = app.create("ticket", ticket(format!("Ticket {n}"))).await["id"].as_str().expect("id").to_string();
            match op {
                "list_ticket_messages" => (Method::GET, format!("/tickets/{id}/messages"), None),
                "reply_ticket" => {
                    (Method::POST, format!("/tickets/{id}/messages"), Some(json!({"body": "Hello", "public": true})))
                }
                "merge_ticket" => {
                    let other = app.create("ticket", ticket(format!("Other {n}"))).await;
                    (Method::POST, format!("/tickets/{id}/merge"), Some(json!({"into": other["id"]})))
                }
                _ => {
                    let file = json!({"file_name": "a.pdf", "content_base64": "JVBERi0xLjQ="});
                    let r = app
                        .post(&format!("/api/v1/tickets/{id}/messages"), json!({"body": "f", "files": [file]}))
                        .await;
                    let m: Value = r.json().await.expect("message");
                    let file_id = m["attachments"][0]["id"].as_str().expect("a file").to_string();
                    (Method::GET, format!("/tickets/{id}/attachments/{file_id}"), None)
                }
            }
        }
        "take_ticket" => {
            let t = app.create("ticket", json!({"subject": format!("Loose {n}")})).await;
            let id = t["id"].as_str().expect("id").to_string();
            app.patch(&format!("/api/v1/records/ticket/{id}"), json!({"fields": {"owner": null}})).await;
            (Method::POST, format!("/tickets/{id}/take"), None)
        }
        "list_queues" => (Method::GET, "/service/queues".into(), None),
        "search_kb" => (Method::GET, "/kb/search?q=printer".into(), None),
        "dealer_rates" => (Method::GET, "/service/dealers?from=1405-01&to=1405-09".into(), None),
        "count_dealer_units" => {
            let dealer =
                app.create("company", json!({"name": format!("Dealer {n}"), "customer_group": "dealer"})).await;
            (
                Method::POST,
                format!("/service/dealers/{}/count", dealer["id"].as_str().expect("id")),
                Some(json!({"month": "1405-09"})),
            )
        }
        "vote_kb" => {
            let mut fields =
                peyvand_crm::service::knowledge::article("Printer jams", "Clearing a jam", "Open the tray.", "en", &[]);
            fields.insert("owner".into(), json!(w.admin));
            let a = app.create("kb_article", Value::Object(fields)).await;
            (Method::POST, format!("/kb/{}/vote", a["id"].as_str().expect("id")), Some(json!({"helpful": true})))
        }
        "list_calendars" => (Method::GET, "/service/calendars".into(), None),
        "list_holidays" => (Method::GET, "/service/holidays".into(), None),
        "list_sla_policies" => (Method::GET, "/service/policies".into(), None),
        "service_settings" => (Method::GET, "/service/settings".into(), None),
        "service_compliance" => (Method::GET, "/service/compliance?by=queue".into(), None),
        "set_service_settings" => (Method::PUT, "/service/settings".into(), Some(json!({"closed_reply": "reopen"}))),
        "set_holidays" => (
            Method::PUT,
            "/service/holidays".into(),
            Some(
                json!({"holidays": [{"from": "2027-03-21", "to": "2027-03-24", "name_fa": "نوروز", "name_en": "Nowruz"}]}),
            ),
        ),
        "set_queue" | "delete_queue" => {
            let team = fresh_team().await;
            if op == "set_queue" {
                (Method::PUT, format!("/service/queues/{team}"), Some(json!({"mode": "round_robin"})))
            } else {
                app.put(&format!("/api/v1/service/queues/{team}"), json!({"mode": "manual"})).await;
                (Method::DELETE, format!("/service/queues/{team}"), None)
            }
        }
        "create_calendar" | "update_calendar" | "delete_calendar" => {
            let cal = json!({"name": format!("Cal {n}"), "hours": {"shifts": [{"day": "saturday", "from": "08:00", "to": "16:00"}]}});
            if op == "create_calendar" {
                (Method::POST, "/service/calendars".into(), Some(cal))
            } else {
                let made: Value =
                    app.post("/api/v1/service/calendars", cal.clone()).await.json().await.expect("calendar");
                let id = made["id"].as_str().expect("id").to_string();
                if op == "update_calendar" {
                    (Method::PUT, format!("/service/calendars/{id}"), Some(cal))
                } else {
                    (Method::DELETE, format!("/service/calendars/{id}"), None)
                }
            }
        }
        "create_sla_policy" | "update_sla_policy" | "delete_sla_policy" => {
            let cals: Value = app.get("/api/v1/service/calendars").await.json().await.expect("calendars");
            let cal = cals["calendars"][0]["id"].clone();
            let targets: Vec<Value> = ["low", "normal", "high", "urgent"]
                .iter()
                .map(|p| json!({"priority": p, "first_response_minutes": 60, "resolution_minutes": 480}))
                .collect();
            let policy = json!({"name": format!("Policy {n}"), "calendar": cal, "targets": targets});
            if op == "create_sla_policy" {
                (Method::POST, "/service/policies".into(), Some(policy))
            } else {
                let made: Value =
                    app.post("/api/v1/service/policies", policy.clone()).await.json().await.expect("policy");
                let id = made["id"].as_str().expect("id").to_string();
                if op == "update_sla_policy" {
                    (Method::PUT, format!("/service/policies/{id}"), Some(policy))
                } else {
                    (Method::DELETE, format!("/service/policies/{id}"), None)
                }
            }
        }
        "list_workflows" => (Method::GET, "/workflows".into(), None),
        "list_workflow_runs" => (Method::GET, "/workflow_runs?status=failed".into(), None),
        "create_workflow" | "get_workflow" | "update_workflow" | "delete_workflow" | "test_workflow"
        | "workflow_runs" => {
            let wf = json!({"name": format!("Flow {n}"), "object": "contact", "enabled": false,
                "definition": {"trigger": {"kind": "created"}, "steps": [{"kind": "add_tag", "tag": "new"}]}});
            if op == "create_workflow" {
                (Method::POST, "/workflows".into(), Some(wf))
            } else {
                let made: Value = app.post("/api/v1/workflows", wf.clone()).await.json().await.expect("workflow");
                let id = made["id"].as_str().expect("id").to_string();
                match op {
                    "get_workflow" => (Method::GET, format!("/workflows/{id}"), None),
                    "update_workflow" => (Method::PUT, format!("/workflows/{id}"), Some(wf)),
                    "delete_workflow" => (Method::DELETE, format!("/workflows/{id}"), None),
                    "test_workflow" => {
                        (Method::POST, format!("/workflows/{id}/test"), Some(json!({"record_id": contact})))
                    }
                    _ => (Method::GET, format!("/workflows/{id}/runs"), None),
                }
            }
        }
        "retry_workflow_run" => (Method::POST, "/workflow_runs/none/retry".into(), None),
        "replay_delivery" => (Method::POST, "/webhook_deliveries/none/replay".into(), None),
        "retry_message" => (Method::POST, "/messages/none/retry".into(), None),
        "list_templates" => (Method::GET, "/templates".into(), None),
        "create_template" | "get_template" | "update_template" | "delete_template" | "preview_template" => {
            let t = json!({"name": format!("T {n}"), "channel": "sms", "object": "contact", "body": "سلام {{ record.last_name }}"});
            if op == "create_template" {
                (Method::POST, "/templates".into(), Some(t))
            } else {
                let made: Value = app.post("/api/v1/templates", t.clone()).await.json().await.expect("template");
                let id = made["id"].as_str().expect("id").to_string();
                match op {
                    "get_template" => (Method::GET, format!("/templates/{id}"), None),
                    "update_template" => (Method::PUT, format!("/templates/{id}"), Some(t)),
                    "delete_template" => (Method::DELETE, format!("/templates/{id}"), None),
                    _ => (Method::POST, format!("/templates/{id}/preview"), Some(json!({"record_id": contact}))),
                }
            }
        }
        "list_webhooks" => (Method::GET, "/webhooks".into(), None),
        "create_webhook" | "get_webhook" | "update_webhook" | "delete_webhook" | "resume_webhook"
        | "webhook_deliveries" => {
            // Nothing listens there: deliveries fail quietly in the background.
            let hook = json!({"url": "http://127.0.0.1:9/hook", "object": "company", "events": ["deleted"]});
            if op == "create_webhook" {
                (Method::POST, "/webhooks".into(), Some(hook))
            } else {
                let made: Value = app.post("/api/v1/webhooks", hook.clone()).await.json().await.expect("webhook");
                let id = made["id"].as_str().expect("id").to_string();
                match op {
                    "get_webhook" => (Method::GET, format!("/webhooks/{id}"), None),
                    "update_webhook" => (Method::PUT, format!("/webhooks/{id}"), Some(hook)),
                    "delete_webhook" => (Method::DELETE, format!("/webhooks/{id}"), None),
                    "resume_webhook" => (Method::POST, format!("/webhooks/{id}/resume"), None),
                    _ => (Method::GET, format!("/webhooks/{id}/deliveries"), None),
                }
            }
        }
        "list_messages" => (Method::GET, "/messages".into(), None),
        "notification_preferences" => (Method::GET, "/notification_preferences".into(), None),
        "set_notification_preferences" => (
            Method::PUT,
            "/notification_preferences".into(),
            Some(json!({"preferences": [{"kind": "assigned", "bell": true, "email": "daily"}]})),
        ),
        "list_loyalty_programs" => (Method::GET, "/loyalty/programs".into(), None),
        "contact_referrals" => (Method::GET, format!("/contacts/{contact}/referrals"), None),
        "contact_consent" => (Method::GET, format!("/contacts/{contact}/consent"), None),
        "contact_offers" => (Method::GET, format!("/contacts/{contact}/offers"), None),
        "get_offer_model" => (Method::GET, "/offers/model".into(), None),
        "build_offer_model" => (Method::POST, "/offers/model".into(), None),
        "set_contact_consent" => (
            Method::PUT,
            format!("/contacts/{contact}/consent"),
            Some(
                json!({"channel": "sms", "status": "granted", "source": "staff", "consent_text": "Yes, texts please"}),
            ),
        ),
        "list_suppressions" => (Method::GET, "/suppressions".into(), None),
        "contact_portal" => (Method::GET, format!("/contacts/{contact}/portal"), None),
        "invite_to_portal" => (Method::POST, format!("/contacts/{contact}/portal"), Some(json!({}))),
        "set_portal_access" => (Method::PATCH, format!("/contacts/{contact}/portal"), Some(json!({"active": false}))),
        "portal_settings" => (Method::GET, "/portal/settings".into(), None),
        "set_portal_settings" => (Method::PUT, "/portal/settings".into(), Some(json!({"sign_up": true}))),
        "list_segments" => (Method::GET, "/segments".into(), None),
        "list_campaigns" => (Method::GET, "/campaigns".into(), None),
        "list_reports" => (Method::GET, "/reports".into(), None),
        "create_report" | "get_report" | "update_report" | "delete_report" | "run_report" => {
            let report = json!({"name": format!("Deals {n}"), "object": "deal", "group": "stage", "measures": "sum:amount", "shared": true});
            if op == "create_report" {
                return (Method::POST, "/api/v1/reports".into(), Some(report));
            }
            let made: Value = app.post("/api/v1/reports", report.clone()).await.json().await.expect("report");
            let id = made["id"].as_str().expect("id").to_string();
            match op {
                "get_report" => (Method::GET, format!("/reports/{id}"), None),
                "update_report" => (Method::PUT, format!("/reports/{id}"), Some(report)),
                "delete_report" => (Method::DELETE, format!("/reports/{id}"), None),
                _ => (Method::GET, format!("/reports/{id}/run"), None),
            }
        }
        "list_dashboards" => (Method::GET, "/dashboards".into(), None),
        "create_dashboard" | "get_dashboard" | "update_dashboard" | "delete_dashboard" => {
            let dashboard =
                json!({"name": format!("Board {n}"), "widgets": [{"kind": "pipeline", "width": 2}], "shared": true});
            if op == "create_dashboard" {
                return (Method::POST, "/api/v1/dashboards".into(), Some(dashboard));
            }
            let made: Value = app.post("/api/v1/dashboards", dashboard.clone()).await.json().await.expect("dashboard");
            let id = made["id"].as_str().expect("id").to_string();
            match op {
                "get_dashboard" => (Method::GET, format!("/dashboards/{id}"), None),
                "update_dashboard" => (Method::PUT, format!("/dashboards/{id}"), Some(dashboard)),
                _ => (Method::DELETE, format!("/dashboards/{id}"), None),
            }
        }
        "list_quotas" => (Method::GET, "/quotas".into(), None),
        "leaderboard" => (Method::GET, "/leaderboard?measure=won_count".into(), None),
        "revenue_forecast" => (Method::GET, "/forecast?period=month&horizon=3".into(), None),
        "performance" => (Method::GET, "/performance".into(), None),
        "customer_value" => (Method::GET, "/customer_value".into(), None),
        "run_customer_value" => (Method::POST, "/customer_value/run".into(), None),
        "lead_scores" => (Method::GET, "/lead_scores".into(), None),
        "list_award_rules" => (Method::GET, "/award_rules".into(), None),
        "apply_award_rules" => (Method::POST, "/award_rules/apply".into(), None),
        "create_award_rule" | "delete_award_rule" => {
            let rule = json!({"title": format!("Rule {n}"), "measure": "won_amount", "period": "month", "top": 1});
            if op == "create_award_rule" {
                return (Method::POST, "/api/v1/award_rules".into(), Some(rule));
            }
            let made: Value = app.post("/api/v1/award_rules", rule).await.json().await.expect("rule");
            (Method::DELETE, format!("/award_rules/{}", made["id"].as_str().expect("id")), None)
        }
        "run_lead_scores" => (Method::POST, "/lead_scores/run".into(), None),
        "user_awards" => (Method::GET, format!("/users/{}/awards", w.admin), None),
        "list_commission_plans" => (Method::GET, "/commissions/plans".into(), None),
        "customer_profitability" => (Method::GET, format!("/customers/contact/{contact}/profitability"), None),
        "commission_overview" => (Method::GET, "/commissions/statements".into(), None),
        "create_commission_plan"
        | "update_commission_plan"
        | "get_commission_plan"
        | "delete_commission_plan"
        | "commission_statement"
        | "approve_commission_statement" => {
            // The agent's plan for one past Gregorian month of its own (one person is in one plan
            // on any day); a plan made to be created or replaced has nobody in it.
            let agent = agent_id(app).await;
            let month = n % 1500;
            let (year, month) = (1900 + month / 12, month % 12 + 1);
            let day = format!("{year}-{month:02}-01");
            let plan = |members: Vec<&str>| {
                json!({"name": format!("Plan {n}"), "basis": "paid_orders", "rate": "2",
                "calendar": "gregorian", "members": members, "valid_from": day, "valid_to": day})
            };
            match op {
                "create_commission_plan" => {
                    return (Method::POST, "/api/v1/commissions/plans".into(), Some(plan(vec![])));
                }
                "commission_statement" | "approve_commission_statement" => {
                    app.post("/api/v1/commissions/plans", plan(vec![&agent])).await;
                    let path = format!("/api/v1/commissions/statements/{agent}/{year}-{month:02}");
                    return match op {
                        "commission_statement" => (Method::GET, path, None),
                        _ => (Method::POST, format!("{path}/approve"), None),
                    };
                }
                _ => {}
            }
            let made: Value =
                app.post("/api/v1/commissions/plans", plan(vec![&agent])).await.json().await.expect("plan");
            let id = made["id"].as_str().unwrap_or_else(|| panic!("a plan: {made}")).to_string();
            match op {
                "get_commission_plan" => (Method::GET, format!("/commissions/plans/{id}"), None),
                "update_commission_plan" => (Method::PUT, format!("/commissions/plans/{id}"), Some(plan(vec![]))),
                _ => (Method::DELETE, format!("/commissions/plans/{id}"), None),
            }
        }
        "get_commission_splits" | "set_commission_splits" => {
            // A deal of the agent's.
            let agent = agent_id(app).await;
            let deal = app.create("deal", json!({"name": format!("Split {n}"), "owner": agent})).await;
            let path = format!("/commissions/splits/deal/{}", deal["id"].as_str().expect("deal"));
            match op {
                "get_commission_splits" => (Method::GET, path, None),
                _ => (Method::PUT, path, Some(json!({"splits": []}))),
            }
        }
        "create_quota" | "get_quota" | "update_quota" | "delete_quota" => {
            // The agent's, each call a year of its own (one person's quotas never overlap).
            let agent = &agent_id(app).await;
            let quota = |year: u32| json!({"user_id": agent, "period": "year", "calendar": "jalali", "key": year.to_string(), "measure": "won_amount", "target": "1000000"});
            let n = n % 250;
            if op == "create_quota" {
                return (Method::POST, "/api/v1/quotas".into(), Some(quota(1300 + n)));
            }
            let made: Value = app.post("/api/v1/quotas", quota(1300 + n)).await.json().await.expect("quota");
            let id = made["id"].as_str().unwrap_or_else(|| panic!("a quota: {made}")).to_string();
            match op {
                "get_quota" => (Method::GET, format!("/quotas/{id}"), None),
                "update_quota" => (Method::PUT, format!("/quotas/{id}"), Some(quota(1300 + n))),
                _ => (Method::DELETE, format!("/quotas/{id}"), None),
            }
        }
        "give_award" | "withdraw_award" => {
            let agent = agent_id(app).await;
            let award = json!({"user_id": agent, "title": format!("Seller {n}")});
            if op == "give_award" {
                return (Method::POST, "/api/v1/awards".into(), Some(award));
            }
            let made: Value = app.post("/api/v1/awards", award).await.json().await.expect("award");
            (Method::DELETE, format!("/awards/{}", made["id"].as_str().expect("id")), None)
        }
        "create_segment"
        | "get_segment"
        | "update_segment"
        | "segment_members"
        | "set_segment_members"
        | "award_segment_points"
        | "grant_segment_benefit"
        | "create_campaign"
        | "get_campaign"
        | "update_campaign"
        | "start_campaign"
        | "cancel_campaign" => {
            let seg = json!({"name": format!("Static {n}"), "object": "contact", "kind": "static"});
            if op == "create_segment" {
                return (Method::POST, "/api/v1/segments".into(), Some(seg));
            }
            let made: Value = app.post("/api/v1/segments", seg.clone()).await.json().await.expect("segment");
            let id = made["id"].as_str().expect("id").to_string();
            let t = json!({"name": format!("News {n}"), "channel": "email", "object": "contact", "subject": "News", "body": "سلام"});
            let template: Value = app.post("/api/v1/templates", t).await.json().await.expect("template");
            let campaign = json!({"name": format!("Campaign {n}"), "template": template["id"], "segment": id});
            match op {
                "get_segment" => (Method::GET, format!("/segments/{id}"), None),
                "update_segment" => (Method::PUT, format!("/segments/{id}"), Some(seg)),
                "segment_members" => (Method::GET, format!("/segments/{id}/members"), None),
                "set_segment_members" => {
                    (Method::PUT, format!("/segments/{id}/members"), Some(json!({"remove": [contact]})))
                }
                "award_segment_points" => {
                    let p = json!({"name_fa": format!("باشگاه {n}"), "name_en": format!("Club {n}")});
                    let club: Value = app.post("/api/v1/loyalty/programs", p).await.json().await.expect("program");
                    let grant = json!({"program": club["id"], "points": 10, "note": "Thanks"});
                    (Method::POST, format!("/segments/{id}/points"), Some(grant))
                }
                "grant_segment_benefit" => (
                    Method::POST,
                    format!("/segments/{id}/benefits"),
                    Some(json!({"fields": {"name": "Gift", "kind": "custom"}})),
                ),
                "create_campaign" => (Method::POST, "/campaigns".into(), Some(campaign)),
                _ => {
                    let made: Value =
                        app.post("/api/v1/campaigns", campaign.clone()).await.json().await.expect("campaign");
                    let cid = made["id"].as_str().expect("id").to_string();
                    match op {
                        "get_campaign" => (Method::GET, format!("/campaigns/{cid}"), None),
                        "update_campaign" => (Method::PUT, format!("/campaigns/{cid}"), Some(campaign)),
                        "start_campaign" => (Method::POST, format!("/campaigns/{cid}/start"), None),
                        _ => (Method::POST, format!("/campaigns/{cid}/cancel"), None),
                    }
                }
            }
        }
        "set_suppression" => (
            Method::PUT,
            "/suppressions".into(),
            Some(json!({"address": format!("x{n}@example.ir"), "channel": "email"})),
        ),
        "create_referral" => {
            let me: Value = app.get("/api/v1/me").await.json().await.expect("me");
            let referrer =
                app.create("contact", json!({"last_name": format!("Referrer {n}"), "owner": me["id"]})).await;
            let codes: Value = app
                .get(&format!("/api/v1/contacts/{}/referrals", referrer["id"].as_str().expect("id")))
                .await
                .json()
                .await
                .expect("referrals");
            let new = fresh_contact().await;
            (Method::POST, "/referrals".into(), Some(json!({"code": codes["code"], "contact": new})))
        }
        op if op.contains("loyalty") => {
            let def = json!({"name_fa": format!("باشگاه {n}"), "name_en": format!("Club {n}"),
                "spend_rules": [{"per": "100000", "points": 1}],
                "tiers": [{"key": "base", "name_fa": "پایه", "name_en": "Base", "threshold": 0}], "expiry_days": 365});
            if op == "create_loyalty_program" {
                return (Method::POST, "/api/v1/loyalty/programs".into(), Some(def));
            }
            let made: Value = app.post("/api/v1/loyalty/programs", def.clone()).await.json().await.expect("program");
            let id = made["id"].as_str().expect("id").to_string();
            let gift = json!({"name_fa": "کارت هدیه", "name_en": "Gift card", "kind": "voucher", "points": 1, "value": "1000"});
            let reward: Value = app
                .post(&format!("/api/v1/loyalty/programs/{id}/rewards"), gift.clone())
                .await
                .json()
                .await
                .expect("reward");
            let reward = reward["id"].as_str().expect("id").to_string();
            let member = format!("/loyalty/programs/{id}/members/{contact}");
            app.post(&format!("/api/v1{member}/adjust"), json!({"points": 100, "note": "matrix"})).await;
            match op {
                "get_loyalty_program" => (Method::GET, format!("/loyalty/programs/{id}"), None),
                "update_loyalty_program" => (Method::PUT, format!("/loyalty/programs/{id}"), Some(def)),
                "post_loyalty_orders" => (Method::POST, format!("/loyalty/programs/{id}/post_orders"), None),
                "list_loyalty_rewards" => (Method::GET, format!("/loyalty/programs/{id}/rewards"), None),
                "create_loyalty_reward" => (Method::POST, format!("/loyalty/programs/{id}/rewards"), Some(gift)),
                "update_loyalty_reward" => {
                    (Method::PUT, format!("/loyalty/programs/{id}/rewards/{reward}"), Some(gift))
                }
                "list_loyalty_members" => (Method::GET, format!("/loyalty/programs/{id}/members"), None),
                "enrol_loyalty_member" => {
                    (Method::POST, format!("/loyalty/programs/{id}/members"), Some(json!({"contact": contact})))
                }
                "get_loyalty_member" => (Method::GET, member, None),
                "loyalty_statement" => (Method::GET, format!("{member}/statement"), None),
                "adjust_loyalty_points" => {
                    (Method::POST, format!("{member}/adjust"), Some(json!({"points": 5, "note": "matrix"})))
                }
                "redeem_loyalty_reward" => (Method::POST, format!("{member}/redeem"), Some(json!({"reward": reward}))),
                "award_loyalty_action" => (
                    Method::POST,
                    format!("{member}/actions"),
                    Some(json!({"action": "review", "reference": format!("r{n}")})),
                ),
                "use_loyalty_voucher" => {
                    let made: Value = app
                        .post(&format!("/api/v1{member}/redeem"), json!({"reward": reward}))
                        .await
                        .json()
                        .await
                        .expect("redemption");
                    let code = made["code"].as_str().expect("a code").to_string();
                    let source = app
                        .get(&format!("/api/v1/records/contact/{contact}"))
                        .await
                        .json::<Value>()
                        .await
                        .expect("json");
                    let order = app
                        .create(
                            "order",
                            json!({"contact": contact, "owner": source["fields"]["owner"],
                            "ordered_at": "2026-01-01T08:00:00Z", "status": "pending"}),
                        )
                        .await;
                    (Method::POST, format!("/loyalty/vouchers/{code}/use"), Some(json!({"order": order["id"]})))
                }
                _ => (Method::GET, format!("/contacts/{contact}/loyalty"), None),
            }
        }
        "list_report_schedules" => (Method::GET, "/report_schedules".into(), None),
        "create_report_schedule" | "update_report_schedule" | "delete_report_schedule" | "send_report_schedule" => {
            let view: Value = app
                .post("/api/v1/views", json!({"object": "contact", "name": format!("Report {n}"), "shared": true}))
                .await
                .json()
                .await
                .expect("view");
            let me: Value = app.get("/api/v1/me").await.json().await.expect("me");
            let body = json!({"name": format!("Weekly {n}"), "view_id": view["id"], "format": "csv",
                "recipients": [me["id"]], "weekday": 0, "hour": 8});
            if op == "create_report_schedule" {
                (Method::POST, "/report_schedules".into(), Some(body))
            } else {
                let made: Value =
                    app.post("/api/v1/report_schedules", body.clone()).await.json().await.expect("schedule");
                let id = made["id"].as_str().expect("id").to_string();
                match op {
                    "update_report_schedule" => (Method::PUT, format!("/report_schedules/{id}"), Some(body)),
                    "delete_report_schedule" => (Method::DELETE, format!("/report_schedules/{id}"), None),
                    _ => (Method::POST, format!("/report_schedules/{id}/send"), None),
                }
            }
        }
        "list_inbound_hooks" => (Method::GET, "/inbound_hooks".into(), None),
        "create_inbound_hook" | "delete_inbound_hook" | "receive_hook" => {
            let hook = json!({"name": format!("In {n}"), "object": "contact"});
            if op == "create_inbound_hook" {
                (Method::POST, "/inbound_hooks".into(), Some(hook))
            } else {
                let made: Value = app.post("/api/v1/inbound_hooks", hook).await.json().await.expect("hook");
                let id = made["id"].as_str().expect("id").to_string();
                if op == "delete_inbound_hook" {
                    (Method::DELETE, format!("/inbound_hooks/{id}"), None)
                } else {
                    (Method::POST, format!("/hooks/{id}"), Some(json!({"fields": {"last_name": "Unsigned"}})))
                }
            }
        }
        "smtp_settings" => (Method::GET, "/settings/smtp".into(), None),
        "set_smtp_settings" => (
            Method::PUT,
            "/settings/smtp".into(),
            Some(json!({"host": "127.0.0.1", "port": 2525, "security": "none", "from_address": "crm@m.ir"})),
        ),
        "sms_settings" => (Method::GET, "/settings/sms".into(), None),
        "imap_settings" => (Method::GET, "/settings/imap".into(), None),
        "received_messages" => (Method::GET, "/messages/received".into(), None),
        "set_imap_settings" => (
            Method::PUT,
            "/settings/imap".into(),
            Some(
                json!({"host": "127.0.0.1", "port": 9, "security": "none", "username": "support@m.ir", "support_address": "support@m.ir"}),
            ),
        ),
        "set_sms_settings" => (
            Method::PUT,
            "/settings/sms".into(),
            Some(
                json!({"url": "http://127.0.0.1:9/sms", "body_kind": "form", "body": "to={{ to }}&text={{ text | urlencode }}"}),
            ),
        ),
        "list_surveys" => (Method::GET, "/surveys".into(), None),
        "get_survey" => (Method::GET, "/surveys/csat".into(), None),
        "survey_results" => (Method::GET, "/surveys/csat/results".into(), None),
        "staff_ratings" => (Method::GET, "/staff/ratings".into(), None),
        "staff_feedback" => (Method::GET, format!("/staff/{}/feedback", w.admin), None),
        "answer_survey" => (Method::POST, "/survey_answers/01.forged".into(), Some(json!({"answers": {"score": 5}}))),
        "invite_survey" => {
            (Method::POST, "/surveys/csat/invitations".into(), Some(json!({"invitations": [{"contact": contact}]})))
        }
        "create_survey" | "update_survey" | "delete_survey" | "send_survey" => {
            let q = json!({"key": "fav", "kind": "single", "label_fa": "کدام؟", "required": true,
                "choices": [{"value": "a", "label_fa": "الف"}, {"value": "b", "label_fa": "ب"}]});
            let poll = json!({"name": format!("Poll {n}"), "kind": "poll", "questions": [q]});
            if op == "create_survey" {
                (Method::POST, "/surveys".into(), Some(poll))
            } else {
                let made: Value = app.post("/api/v1/surveys", poll.clone()).await.json().await.expect("survey");
                let id = made["id"].as_str().expect("id").to_string();
                match op {
                    "update_survey" => (Method::PUT, format!("/surveys/{id}"), Some(poll)),
                    "delete_survey" => (Method::DELETE, format!("/surveys/{id}"), None),
                    _ => (Method::POST, format!("/surveys/{id}/send"), Some(json!({"limit": 1}))),
                }
            }
        }
        "suggestion_askers" | "add_suggestion_asker" | "suggestion_told" => {
            let s = app
                .create("suggestion", json!({"title": format!("Idea {n}"), "owner": w.admin, "status": "done"}))
                .await;
            let id = s["id"].as_str().expect("id").to_string();
            match op {
                "suggestion_askers" => (Method::GET, format!("/suggestions/{id}/askers"), None),
                "add_suggestion_asker" => {
                    (Method::POST, format!("/suggestions/{id}/askers"), Some(json!({"contact": w.owned[0]})))
                }
                _ => (Method::POST, format!("/suggestions/{id}/told"), None),
            }
        }
        other => panic!("{other}: no request in the matrix"),
    };
    (m, format!("/api/v1{path}"), body)
}

async fn every_operation_answers_each_role_as_the_rules_say(app: &TestApp) {
    let w = world(app).await;
    let mut wrong = Vec::new();
    for route in peyvand_web::api::ROUTES {
        let Some(rows) = expected(route.operation) else {
            panic!("{} has no row in the authorization matrix (tests/api/matrix.rs)", route.operation);
        };
        let owners = if rows[0] == rows[1] && rows[1] == rows[2] { 1 } else { 3 };
        for (owner, row) in rows.iter().enumerate().take(owners) {
            for (who, want) in CALLERS.iter().zip(row.chars()) {
                let (method, path, body) = request(app, &w, route.operation, owner).await;
                let caller = &w.tokens[CALLERS.iter().position(|c| c == who).expect("caller")];
                let mut r = app.client.request(method.clone(), app.url(&path));
                if let Some(token) = caller {
                    r = r.bearer_auth(token);
                }
                if let Some(body) = body {
                    r = r.json(&body);
                }
                let got = r.send().await.expect("send").status();
                let fits = match want {
                    'o' => got.is_success(),
                    'v' => got == StatusCode::UNPROCESSABLE_ENTITY,
                    'f' => got == StatusCode::FORBIDDEN,
                    'n' => got == StatusCode::NOT_FOUND,
                    'u' => got == StatusCode::UNAUTHORIZED,
                    _ => false,
                };
                if !fits {
                    wrong.push(format!("{} {path} as {who} (owner {owner}): {got}, wanted {want}", route.operation));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "answers against the rules:\n{}", wrong.join("\n"));
}

/// The page routes of the web router, read from its source so that a new one must be added
/// here: each with what anonymous, an agent and an admin get (`l` the sign-in page, `o` 200,
/// `f` 403, `p` public, `n` 404: a secret address no one in the test holds).
const PAGES: &[(&str, &str)] = &[
    ("/", "ooo"),
    ("/login", "ppp"),
    ("/login/code", "ppp"),
    // Not found unless single sign-on is set up; tests/api/sso.rs checks them both ways.
    ("/login/sso", "-"),
    ("/login/sso/callback", "-"),
    ("/settings/security", "loo"),
    ("/settings/security/start", "-"),
    ("/settings/security/confirm", "-"),
    ("/settings/security/disable", "-"),
    ("/settings/security/sign-out-everywhere", "-"),
    ("/logout", "-"),
    ("/settings/language", "-"),
    ("/settings/display", "-"),
    ("/search", "loo"),
    ("/search/suggest", "loo"),
    ("/records/{object}", "loo"),
    ("/records/{object}/board", "loo"),
    ("/records/{object}/views", "-"),
    ("/records/{object}/views/{id}/delete", "-"),
    ("/records/{object}/bulk", "-"),
    ("/records/{object}/export.csv", "loo"),
    ("/records/{object}/export.xlsx", "loo"),
    ("/records/{object}/{id}/move", "-"),
    ("/records/{object}/{id}/cell/{field}", "loo"),
    ("/records/{object}/new", "loo"),
    ("/records/{object}/options", "loo"),
    ("/records/{object}/import", "loo"),
    ("/imports/{id}", "-"),
    ("/imports/{id}/run", "-"),
    ("/imports/{id}/progress", "-"),
    ("/imports/{id}/errors.csv", "-"),
    ("/records/{object}/{id}", "loo"),
    ("/records/{object}/{id}/edit", "loo"),
    ("/records/{object}/{id}/delete", "-"),
    ("/records/{object}/{id}/restore", "-"),
    ("/records/{object}/{id}/share", "-"),
    ("/admin", "-"),
    ("/admin/objects", "lfo"),
    ("/admin/objects/{object}", "lfo"),
    ("/admin/objects/{object}/fields", "-"),
    ("/admin/objects/{object}/trash", "-"),
    ("/admin/objects/{object}/restore", "-"),
    ("/admin/objects/{object}/fields/{field}", "lfo"),
    ("/admin/objects/{object}/fields/{field}/{action}", "-"),
    ("/admin/users", "lfo"),
    ("/admin/users/{id}", "-"),
    ("/admin/users/{id}/handover", "-"),
    ("/admin/teams", "lfo"),
    ("/admin/teams/{id}", "-"),
    ("/admin/teams/{id}/delete", "-"),
    ("/admin/access", "lfo"),
    ("/admin/field_access/{object}/{field}", "-"),
    ("/admin/security", "lfo"),
    ("/admin/pipelines", "lfo"),
    ("/admin/pipelines/{key}", "-"),
    ("/admin/pipelines/{key}/delete", "-"),
    ("/pipelines", "loo"),
    ("/pipelines/{key}", "loo"),
    ("/leads/{id}/convert", "-"),
    ("/forms/lead", "ppp"),
    ("/documents/{kind}/{id}/lines", "-"),
    ("/documents/{kind}/{id}/print", "-"),
    ("/documents/{kind}/{id}/order", "-"),
    ("/admin/business", "lfo"),
    ("/admin/two_factor", "-"),
    ("/admin/users/{id}/two_factor/reset", "-"),
    ("/settings/tokens", "loo"),
    ("/settings/tokens/{id}/revoke", "-"),
    ("/assets/{file}", "ppp"),
    ("/shell/marks", "loo"),
    ("/palette", "loo"),
    ("/design", "loo"),
    ("/notifications", "loo"),
    ("/my-day", "loo"),
    ("/records/{object}/{id}/merge/{other}", "-"),
    ("/records/{object}/{id}/duplicates", "loo"),
    ("/records/{object}/{id}/timeline", "loo"),
    ("/duplicates", "loo"),
    ("/duplicates/scan", "-"),
    ("/duplicates/dismiss", "-"),
    ("/records/{object}/{id}/participants", "-"),
    ("/admin/forms", "lfo"),
    ("/admin/forms/new", "lfo"),
    ("/admin/forms/{id}", "-"),
    ("/admin/forms/{id}/delete", "-"),
    // Automation (admins); an id that is a contact's is no workflow, template or webhook.
    ("/admin/workflows", "lfo"),
    ("/admin/workflows/new", "lfo"),
    ("/admin/workflows/{id}", "lfn"),
    ("/admin/workflows/{id}/test", "-"),
    ("/admin/workflows/{id}/toggle", "-"),
    ("/admin/workflows/{id}/delete", "-"),
    ("/admin/workflow-runs/{id}/retry", "-"),
    ("/admin/templates", "lfo"),
    ("/admin/templates/new", "lfo"),
    ("/admin/templates/{id}", "lfn"),
    ("/admin/templates/{id}/delete", "-"),
    ("/admin/webhooks", "lfo"),
    ("/admin/webhooks/inbound", "-"),
    ("/admin/webhooks/inbound/{id}/delete", "-"),
    ("/admin/webhooks/{id}", "lfn"),
    ("/admin/webhooks/{id}/resume", "-"),
    ("/admin/webhooks/{id}/delete", "-"),
    ("/admin/webhook-deliveries/{id}/replay", "-"),
    ("/admin/messages", "lfo"),
    ("/admin/messages/{id}/retry", "-"),
    ("/admin/messaging", "lfo"),
    ("/letters", "-"),
    // Not found: no form has this address (tests/api/customers.rs fills one in).
    ("/f/{slug}", "nnn"),
    ("/tasks/{id}/done", "-"),
    ("/tasks/{id}/reschedule", "-"),
    ("/calendar", "loo"),
    ("/calendar/feed", "-"),
    ("/calendar/feed/revoke", "-"),
    ("/calendar/{file}", "nnn"),
    ("/notifications/badge", "loo"),
    ("/notifications/preferences", "loo"),
    // Managers and admins keep scheduled reports.
    ("/reports/scheduled", "lfo"),
    ("/reports/scheduled/{id}/delete", "-"),
    ("/reports/scheduled/{id}/send", "-"),
    ("/dashboard", "loo"),
    ("/dashboards", "-"),
    ("/dashboards/new", "loo"),
    ("/dashboards/{id}", "lnn"),
    ("/dashboards/{id}/edit", "lnn"),
    ("/dashboards/{id}/delete", "-"),
    ("/quotas", "loo"),
    ("/quotas/{id}/delete", "-"),
    ("/commissions", "loo"),
    ("/commissions/plans", "-"),
    ("/commissions/plans/new", "lfo"),
    // Not found: the id is a contact's, not a plan's; no user is {user} (tests/api/insights.rs).
    ("/commissions/plans/{id}", "lnn"),
    ("/commissions/plans/{id}/delete", "-"),
    ("/commissions/statements/{user}/{key}", "lnn"),
    ("/commissions/statements/{user}/{key}/approve", "-"),
    ("/commissions/splits/{object}/{id}", "-"),
    ("/leaderboard", "loo"),
    ("/forecast", "loo"),
    ("/performance", "loo"),
    ("/lead-scores", "loo"),
    ("/lead-scores/run", "-"),
    ("/customer-value", "loo"),
    ("/customer-value/run", "-"),
    ("/awards", "-"),
    ("/awards/{id}/delete", "-"),
    ("/awards/rules", "-"),
    ("/awards/rules/{id}/delete", "-"),
    // Not found: the id is a contact's, not a user's.
    ("/people/{id}", "lnn"),
    ("/reports", "loo"),
    ("/reports/new", "loo"),
    ("/reports/{id}", "lnn"),
    ("/reports/{id}/delete", "-"),
    ("/reports/{id}/export.csv", "lnn"),
    ("/reports/{id}/export.xlsx", "lnn"),
    ("/notifications/read", "-"),
    ("/notifications/{id}/open", "-"),
    ("/records/{object}/{id}/favourite", "-"),
    ("/service", "loo"),
    ("/service/report", "loo"),
    ("/tickets/{id}/reply", "-"),
    ("/tickets/{id}/take", "-"),
    ("/tickets/{id}/merge", "-"),
    // Not found: the id is a contact's, not a ticket's (tests/api/service.rs downloads one).
    ("/tickets/{id}/files/{file}", "lnn"),
    ("/kb/{id}", "-"),
    ("/service/dealers", "loo"),
    ("/service/dealers/threshold", "-"),
    ("/kb/{id}/vote", "-"),
    ("/admin/service", "lfo"),
    ("/admin/service/{part}", "-"),
    ("/admin/service/{part}/{id}", "-"),
    // Not found: no invitation has this link (tests/api/feedback.rs answers one).
    ("/s/{token}", "nnn"),
    ("/surveys", "loo"),
    ("/loyalty", "loo"),
    ("/loyalty/new", "lfo"),
    // Not found: the id is a contact's, not a program's (tests/api/loyalty.rs opens one).
    ("/loyalty/{id}", "lnn"),
    ("/loyalty/{id}/edit", "-"),
    ("/loyalty/{id}/rewards", "-"),
    ("/loyalty/{id}/post_orders", "-"),
    ("/loyalty/{id}/members/{contact}", "lnn"),
    ("/loyalty/{id}/members/{contact}/enrol", "-"),
    ("/loyalty/{id}/members/{contact}/redeem", "-"),
    ("/loyalty/{id}/members/{contact}/adjust", "-"),
    ("/loyalty/referrals/{contact}", "-"),
    ("/consent/{contact}", "-"),
    // A contact's portal account (tests/api/portal.rs); the portal's own pages are in its table.
    ("/records/contact/{id}/portal", "-"),
    ("/admin/portal", "lfo"),
    // Not found: the token is not signed (tests/api/loyalty.rs follows real ones).
    ("/u/{token}", "nnn"),
    ("/c/{token}", "nnn"),
    ("/marketing", "loo"),
    ("/marketing/segments", "-"),
    // Not found: the id is a contact's, not a segment's or a campaign's (tests/api/marketing.rs).
    ("/marketing/segments/{id}", "lnn"),
    ("/marketing/segments/{id}/points", "-"),
    ("/marketing/segments/{id}/benefits", "-"),
    ("/marketing/campaigns", "-"),
    ("/marketing/campaigns/{id}", "lnn"),
    ("/marketing/campaigns/{id}/start", "-"),
    ("/marketing/campaigns/{id}/cancel", "-"),
    ("/u/confirm/{token}", "nnn"),
    ("/surveys/new", "lfo"),
    // Not found: the id is a contact's, not a survey's (tests/api/feedback.rs opens one).
    ("/surveys/{id}", "lnn"),
    ("/surveys/{id}/edit", "lfn"),
    ("/surveys/{id}/delete", "-"),
    ("/surveys/{id}/send", "-"),
    // Not found: the id is a contact's, not a user's.
    ("/staff/{id}", "lnn"),
    ("/suggestions/{id}/told", "-"),
    ("/ideas", "ppp"),
    ("/ideas/{id}/vote", "-"),
];

async fn every_page_answers_each_role_as_the_rules_say(app: &TestApp) {
    let source = include_str!("../../../web/src/html/mod.rs");
    let routes: Vec<&str> =
        source.split(".route(").skip(1).filter_map(|r| r.trim_start().strip_prefix('"')?.split('"').next()).collect();
    assert!(routes.len() > 40, "the page routes were read: {routes:?}");
    for route in &routes {
        assert!(
            PAGES.iter().any(|(p, _)| p == route),
            "the page route {route} has no row in the matrix (tests/api/matrix.rs)"
        );
    }
    let w = world(app).await;
    let (agent, admin) = (browser(), browser());
    sign_in_as(app, &agent, "agent@m.ir").await;
    crate::helpers::sign_in(app, &admin).await;
    let anonymous = browser();
    let mut wrong = Vec::new();
    for (route, _) in PAGES {
        assert!(routes.contains(route), "{route} is in the matrix but not a route");
    }
    for (route, row) in PAGES.iter().filter(|(_, row)| *row != "-") {
        let path = route
            .replace("{object}", "contact")
            .replace("{id}", &w.owned[0])
            .replace("{field}", "job_title")
            .replace("{file}", "app.css")
            .replace("{key}", "default")
            .replace("{contact}", &w.owned[0])
            .replace("{token}", "u.forged.email.xyz");
        for (client, want) in [&anonymous, &agent, &admin].into_iter().zip(row.chars()) {
            let r = client.get(app.url(&path)).send().await.expect("send");
            let location = r.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or("").to_string();
            let got = r.status();
            let fits = match want {
                'l' => got == StatusCode::SEE_OTHER && location.starts_with("/login"),
                'o' => got.is_success() || (got == StatusCode::SEE_OTHER && !location.starts_with("/login")),
                'f' => got == StatusCode::FORBIDDEN,
                'p' => got.is_success(),
                'n' => got == StatusCode::NOT_FOUND,
                _ => false,
            };
            if !fits {
                wrong.push(format!("{path}: {got} {location}, wanted {want}"));
            }
        }
    }
    // A record another team owns is not found on its page either.
    let theirs = agent.get(app.url(&format!("/records/contact/{}", w.owned[2]))).send().await.expect("send");
    if theirs.status() != StatusCode::NOT_FOUND {
        wrong.push(format!("another team's record page: {}", theirs.status()));
    }
    assert!(wrong.is_empty(), "pages against the rules:\n{}", wrong.join("\n"));
}

/// The agent's user id.
async fn agent_id(app: &TestApp) -> String {
    let users: Value = app.get("/api/v1/users").await.json().await.expect("users");
    let agent =
        users["users"].as_array().expect("users").iter().find(|u| u["email"] == "agent@m.ir").expect("the agent");
    agent["id"].as_str().expect("id").to_string()
}

/// A web form for leads, owned by `user`.
fn web_form(n: u32, user: &str) -> Value {
    json!({"name": format!("Form {n}"), "object": "lead", "fields": [{"field": "last_name", "required": true}],
        "assign": {"kind": "user", "user": user}})
}

/// A pipeline of key `p{n}` (its stages' keys made by the server).
fn pipeline(n: u32) -> Value {
    let stage = |en: &str, probability: i64, kind: &str| json!({"label_fa": format!("{en} (fa)"), "label_en": en, "probability": probability, "kind": kind});
    json!({"key": format!("p{n}"), "name_fa": "قیف", "name_en": format!("Pipeline {n}"),
        "stages": [stage("Open", 30, "open"), stage("Won", 100, "won"), stage("Lost", 0, "lost")]})
}
