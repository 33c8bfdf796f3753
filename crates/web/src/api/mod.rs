//! The JSON API under `/api/v1`: one file per resource, each with its `routes()`, and the
//! OpenAPI document built from the same route table ([`ROUTES`]).

mod auth;
mod automation;
mod commissions;
mod consent;
mod feedback;
mod forms;
mod insights;
mod loyalty;
mod marketing;
pub use auth::check_login as auth_check_login;
mod notifications;
mod objects;
pub mod openapi;
mod portal;
mod records;
mod sales;
pub mod service;
mod teams;
mod users;
mod views;

use crate::AppState;
use crate::error::ApiError;
use axum::Router;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::routing::MethodRouter;
use serde::de::DeserializeOwned;

/// One API operation: method, path (axum syntax, relative to `/api/v1`), operation id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub operation: &'static str,
}

macro_rules! routes {
    ($( $method:ident $path:literal => $op:ident ),* $(,)?) => {
        /// Every API operation. The router is built from this list, and so is the OpenAPI
        /// document, so the two cannot drift apart.
        pub const ROUTES: &[Route] = &[ $( Route { method: stringify!($method), path: $path, operation: stringify!($op) } ),* ];

        fn method_router(route: &Route) -> MethodRouter<AppState> {
            match route.operation {
                $( stringify!($op) => axum::routing::$method(handler_for!($op)), )*
                _ => unreachable!("every route names a handler"),
            }
        }
    };
}

macro_rules! handler_for {
    (create_token) => {
        auth::create_token
    };
    (get_me) => {
        auth::get_me
    };
    (list_tokens) => {
        auth::list_tokens
    };
    (create_api_token) => {
        auth::create_api_token
    };
    (revoke_token) => {
        auth::revoke_token
    };
    (list_users) => {
        users::list_users
    };
    (create_user) => {
        users::create_user
    };
    (update_user) => {
        users::update_user
    };
    (list_teams) => {
        teams::list_teams
    };
    (create_team) => {
        teams::create_team
    };
    (update_team) => {
        teams::update_team
    };
    (delete_team) => {
        teams::delete_team
    };
    (list_access_rules) => {
        teams::list_access_rules
    };
    (set_access_rule) => {
        teams::set_access_rule
    };
    (reset_access_rule) => {
        teams::reset_access_rule
    };
    (list_shares) => {
        teams::list_shares
    };
    (share_record) => {
        teams::share_record
    };
    (unshare_record) => {
        teams::unshare_record
    };
    (hand_over) => {
        users::hand_over
    };
    (list_handovers) => {
        users::list_handovers
    };
    (list_field_rules) => {
        teams::list_field_rules
    };
    (set_field_rule) => {
        teams::set_field_rule
    };
    (security_log) => {
        teams::security_log
    };
    (list_objects) => {
        objects::list_objects
    };
    (create_object) => {
        objects::create_object
    };
    (get_object) => {
        objects::get_object
    };
    (delete_object) => {
        objects::delete_object
    };
    (restore_object) => {
        objects::restore_object
    };
    (create_field) => {
        objects::create_field
    };
    (update_field) => {
        objects::update_field
    };
    (delete_field) => {
        objects::delete_field
    };
    (list_rollups) => {
        objects::list_rollups
    };
    (create_rollup) => {
        objects::create_rollup
    };
    (delete_rollup) => {
        objects::delete_rollup
    };
    (list_compound_indexes) => {
        objects::list_compound_indexes
    };
    (create_compound_index) => {
        objects::create_compound_index
    };
    (delete_compound_index) => {
        objects::delete_compound_index
    };
    (list_records) => {
        records::list_records
    };
    (create_record) => {
        records::create_record
    };
    (get_record) => {
        records::get_record
    };
    (update_record) => {
        records::update_record
    };
    (delete_record) => {
        records::delete_record
    };
    (restore_record) => {
        records::restore_record
    };
    (record_history) => {
        records::record_history
    };
    (aggregate_records) => {
        records::aggregate_records
    };
    (search) => {
        records::search
    };
    (openapi_json) => {
        openapi::openapi_json
    };
    (list_views) => {
        views::list_views
    };
    (create_view) => {
        views::create_view
    };
    (delete_view) => {
        views::delete_view
    };
    (list_pipelines) => {
        sales::list_pipelines
    };
    (create_pipeline) => {
        sales::create_pipeline
    };
    (get_pipeline) => {
        sales::get_pipeline
    };
    (update_pipeline) => {
        sales::update_pipeline
    };
    (delete_pipeline) => {
        sales::delete_pipeline
    };
    (deal_stages) => {
        sales::deal_stages
    };
    (convert_lead) => {
        sales::convert_lead
    };
    (lead_matches) => {
        sales::lead_matches
    };
    (quote_lines) => {
        sales::quote_lines
    };
    (set_quote_lines) => {
        sales::set_quote_lines
    };
    (order_lines) => {
        sales::order_lines
    };
    (set_order_lines) => {
        sales::set_order_lines
    };
    (list_forms) => {
        forms::list_forms
    };
    (get_form) => {
        forms::get_form
    };
    (create_form) => {
        forms::create_form
    };
    (update_form) => {
        forms::update_form
    };
    (delete_form) => {
        forms::delete_form
    };
    (form_submissions) => {
        forms::form_submissions
    };
    (list_ticket_messages) => {
        service::list_ticket_messages
    };
    (reply_ticket) => {
        service::reply_ticket
    };
    (ticket_attachment) => {
        service::ticket_attachment
    };
    (merge_ticket) => {
        service::merge_ticket
    };
    (take_ticket) => {
        service::take_ticket
    };
    (list_queues) => {
        service::list_queues
    };
    (set_queue) => {
        service::set_queue
    };
    (delete_queue) => {
        service::delete_queue
    };
    (list_calendars) => {
        service::list_calendars
    };
    (create_calendar) => {
        service::create_calendar
    };
    (update_calendar) => {
        service::update_calendar
    };
    (delete_calendar) => {
        service::delete_calendar
    };
    (list_holidays) => {
        service::list_holidays
    };
    (set_holidays) => {
        service::set_holidays
    };
    (list_sla_policies) => {
        service::list_sla_policies
    };
    (create_sla_policy) => {
        service::create_sla_policy
    };
    (update_sla_policy) => {
        service::update_sla_policy
    };
    (delete_sla_policy) => {
        service::delete_sla_policy
    };
    (service_settings) => {
        service::service_settings
    };
    (set_service_settings) => {
        service::set_service_settings
    };
    (service_compliance) => {
        service::service_compliance
    };
    (search_kb) => {
        service::search_kb
    };
    (vote_kb) => {
        service::vote_kb
    };
    (dealer_rates) => {
        service::dealer_rates
    };
    (count_dealer_units) => {
        service::count_dealer_units
    };
    (list_workflows) => {
        automation::list_workflows
    };
    (create_workflow) => {
        automation::create_workflow
    };
    (get_workflow) => {
        automation::get_workflow
    };
    (update_workflow) => {
        automation::update_workflow
    };
    (delete_workflow) => {
        automation::delete_workflow
    };
    (test_workflow) => {
        automation::test_workflow
    };
    (workflow_runs) => {
        automation::workflow_runs
    };
    (list_workflow_runs) => {
        automation::list_workflow_runs
    };
    (retry_workflow_run) => {
        automation::retry_workflow_run
    };
    (list_templates) => {
        automation::list_templates
    };
    (create_template) => {
        automation::create_template
    };
    (get_template) => {
        automation::get_template
    };
    (update_template) => {
        automation::update_template
    };
    (delete_template) => {
        automation::delete_template
    };
    (preview_template) => {
        automation::preview_template
    };
    (list_webhooks) => {
        automation::list_webhooks
    };
    (create_webhook) => {
        automation::create_webhook
    };
    (get_webhook) => {
        automation::get_webhook
    };
    (update_webhook) => {
        automation::update_webhook
    };
    (delete_webhook) => {
        automation::delete_webhook
    };
    (resume_webhook) => {
        automation::resume_webhook
    };
    (webhook_deliveries) => {
        automation::webhook_deliveries
    };
    (replay_delivery) => {
        automation::replay_delivery
    };
    (list_messages) => {
        automation::list_messages
    };
    (retry_message) => {
        automation::retry_message
    };
    (smtp_settings) => {
        automation::smtp_settings
    };
    (set_smtp_settings) => {
        automation::set_smtp_settings
    };
    (sms_settings) => {
        automation::sms_settings
    };
    (set_sms_settings) => {
        automation::set_sms_settings
    };
    (list_inbound_hooks) => {
        automation::list_inbound_hooks
    };
    (list_report_schedules) => {
        automation::list_report_schedules
    };
    (create_report_schedule) => {
        automation::create_report_schedule
    };
    (update_report_schedule) => {
        automation::update_report_schedule
    };
    (delete_report_schedule) => {
        automation::delete_report_schedule
    };
    (send_report_schedule) => {
        automation::send_report_schedule
    };
    (notification_preferences) => {
        notifications::notification_preferences
    };
    (set_notification_preferences) => {
        notifications::set_notification_preferences
    };
    (create_inbound_hook) => {
        automation::create_inbound_hook
    };
    (delete_inbound_hook) => {
        automation::delete_inbound_hook
    };
    (receive_hook) => {
        automation::receive_hook
    };
    (imap_settings) => {
        automation::imap_settings
    };
    (set_imap_settings) => {
        automation::set_imap_settings
    };
    (received_messages) => {
        automation::received_messages
    };
    (list_surveys) => {
        feedback::list_surveys
    };
    (get_survey) => {
        feedback::get_survey
    };
    (create_survey) => {
        feedback::create_survey
    };
    (update_survey) => {
        feedback::update_survey
    };
    (delete_survey) => {
        feedback::delete_survey
    };
    (invite_survey) => {
        feedback::invite_survey
    };
    (send_survey) => {
        feedback::send_survey
    };
    (survey_results) => {
        feedback::survey_results
    };
    (answer_survey) => {
        feedback::answer_survey
    };
    (staff_ratings) => {
        feedback::staff_ratings
    };
    (contact_portal) => {
        portal::contact_portal
    };
    (invite_to_portal) => {
        portal::invite_to_portal
    };
    (set_portal_access) => {
        portal::set_portal_access
    };
    (portal_settings) => {
        portal::portal_settings
    };
    (set_portal_settings) => {
        portal::set_portal_settings
    };
    (staff_feedback) => {
        feedback::staff_feedback
    };
    (suggestion_askers) => {
        feedback::suggestion_askers
    };
    (add_suggestion_asker) => {
        feedback::add_suggestion_asker
    };
    (suggestion_told) => {
        feedback::suggestion_told
    };
    (list_loyalty_programs) => {
        loyalty::list_loyalty_programs
    };
    (create_loyalty_program) => {
        loyalty::create_loyalty_program
    };
    (get_loyalty_program) => {
        loyalty::get_loyalty_program
    };
    (update_loyalty_program) => {
        loyalty::update_loyalty_program
    };
    (post_loyalty_orders) => {
        loyalty::post_loyalty_orders
    };
    (list_loyalty_rewards) => {
        loyalty::list_loyalty_rewards
    };
    (create_loyalty_reward) => {
        loyalty::create_loyalty_reward
    };
    (update_loyalty_reward) => {
        loyalty::update_loyalty_reward
    };
    (list_loyalty_members) => {
        loyalty::list_loyalty_members
    };
    (enrol_loyalty_member) => {
        loyalty::enrol_loyalty_member
    };
    (get_loyalty_member) => {
        loyalty::get_loyalty_member
    };
    (loyalty_statement) => {
        loyalty::loyalty_statement
    };
    (adjust_loyalty_points) => {
        loyalty::adjust_loyalty_points
    };
    (redeem_loyalty_reward) => {
        loyalty::redeem_loyalty_reward
    };
    (award_loyalty_action) => {
        loyalty::award_loyalty_action
    };
    (use_loyalty_voucher) => {
        loyalty::use_loyalty_voucher
    };
    (contact_offers) => {
        sales::contact_offers
    };
    (get_offer_model) => {
        sales::get_offer_model
    };
    (build_offer_model) => {
        sales::build_offer_model
    };
    (contact_loyalty) => {
        loyalty::contact_loyalty
    };
    (contact_referrals) => {
        loyalty::contact_referrals
    };
    (create_referral) => {
        loyalty::create_referral
    };
    (list_segments) => {
        marketing::list_segments
    };
    (get_segment) => {
        marketing::get_segment
    };
    (create_segment) => {
        marketing::create_segment
    };
    (update_segment) => {
        marketing::update_segment
    };
    (segment_members) => {
        marketing::segment_members
    };
    (award_segment_points) => {
        marketing::award_segment_points
    };
    (grant_segment_benefit) => {
        marketing::grant_segment_benefit
    };
    (set_segment_members) => {
        marketing::set_segment_members
    };
    (list_campaigns) => {
        marketing::list_campaigns
    };
    (get_campaign) => {
        marketing::get_campaign
    };
    (create_campaign) => {
        marketing::create_campaign
    };
    (update_campaign) => {
        marketing::update_campaign
    };
    (start_campaign) => {
        marketing::start_campaign
    };
    (cancel_campaign) => {
        marketing::cancel_campaign
    };
    (list_reports) => {
        insights::list_reports
    };
    (create_report) => {
        insights::create_report
    };
    (get_report) => {
        insights::get_report
    };
    (update_report) => {
        insights::update_report
    };
    (delete_report) => {
        insights::delete_report
    };
    (run_report) => {
        insights::run_report
    };
    (list_dashboards) => {
        insights::list_dashboards
    };
    (get_dashboard) => {
        insights::get_dashboard
    };
    (create_dashboard) => {
        insights::create_dashboard
    };
    (update_dashboard) => {
        insights::update_dashboard
    };
    (delete_dashboard) => {
        insights::delete_dashboard
    };
    (list_quotas) => {
        insights::list_quotas
    };
    (get_quota) => {
        insights::get_quota
    };
    (create_quota) => {
        insights::create_quota
    };
    (update_quota) => {
        insights::update_quota
    };
    (delete_quota) => {
        insights::delete_quota
    };
    (list_commission_plans) => {
        commissions::list_commission_plans
    };
    (create_commission_plan) => {
        commissions::create_commission_plan
    };
    (get_commission_plan) => {
        commissions::get_commission_plan
    };
    (update_commission_plan) => {
        commissions::update_commission_plan
    };
    (delete_commission_plan) => {
        commissions::delete_commission_plan
    };
    (commission_overview) => {
        commissions::commission_overview
    };
    (commission_statement) => {
        commissions::commission_statement
    };
    (approve_commission_statement) => {
        commissions::approve_commission_statement
    };
    (get_commission_splits) => {
        commissions::get_commission_splits
    };
    (set_commission_splits) => {
        commissions::set_commission_splits
    };
    (customer_profitability) => {
        insights::customer_profitability
    };
    (lead_scores) => {
        insights::lead_scores
    };
    (run_lead_scores) => {
        insights::run_lead_scores
    };
    (list_award_rules) => {
        insights::list_award_rules
    };
    (create_award_rule) => {
        insights::create_award_rule
    };
    (delete_award_rule) => {
        insights::delete_award_rule
    };
    (apply_award_rules) => {
        insights::apply_award_rules
    };
    (leaderboard) => {
        insights::leaderboard
    };
    (revenue_forecast) => {
        insights::revenue_forecast
    };
    (performance) => {
        insights::performance
    };
    (customer_value) => {
        insights::customer_value
    };
    (run_customer_value) => {
        insights::run_customer_value
    };
    (user_awards) => {
        insights::user_awards
    };
    (give_award) => {
        insights::give_award
    };
    (withdraw_award) => {
        insights::withdraw_award
    };
    (contact_consent) => {
        consent::contact_consent
    };
    (set_contact_consent) => {
        consent::set_contact_consent
    };
    (list_suppressions) => {
        consent::list_suppressions
    };
    (set_suppression) => {
        consent::set_suppression
    };
    (activity_participants) => {
        records::activity_participants
    };
    (set_activity_participants) => {
        records::set_activity_participants
    };
    (task_attendees) => {
        records::task_attendees
    };
    (set_task_attendees) => {
        records::set_task_attendees
    };
    (list_duplicate_pairs) => {
        records::list_duplicate_pairs
    };
    (scan_duplicates) => {
        records::scan_duplicates
    };
    (dismiss_duplicate_pair) => {
        records::dismiss_duplicate_pair
    };
    (record_timeline) => {
        records::record_timeline
    };
    (record_duplicates) => {
        records::record_duplicates
    };
    (merge_records) => {
        records::merge_records
    };
    (list_notifications) => {
        notifications::list_notifications
    };
    (read_notification) => {
        notifications::read_notification
    };
    (read_all_notifications) => {
        notifications::read_all_notifications
    };
    (sales_settings) => {
        sales::sales_settings
    };
    (set_sales_settings) => {
        sales::set_sales_settings
    };
    (order_from_quote) => {
        sales::order_from_quote
    };
    (order_from_deal) => {
        sales::order_from_deal
    };
}

routes! {
    post "/auth/token" => create_token,
    get "/me" => get_me,
    get "/tokens" => list_tokens,
    post "/tokens" => create_api_token,
    delete "/tokens/{id}" => revoke_token,
    get "/users" => list_users,
    post "/users" => create_user,
    patch "/users/{id}" => update_user,
    post "/users/{id}/handover" => hand_over,
    get "/handovers" => list_handovers,
    get "/security_log" => security_log,
    get "/teams" => list_teams,
    post "/teams" => create_team,
    put "/teams/{id}" => update_team,
    delete "/teams/{id}" => delete_team,
    get "/access_rules" => list_access_rules,
    put "/access_rules/{role}/{object}" => set_access_rule,
    delete "/access_rules/{role}/{object}" => reset_access_rule,
    get "/field_rules" => list_field_rules,
    put "/field_rules/{role}/{object}/{field}" => set_field_rule,
    get "/objects" => list_objects,
    post "/objects" => create_object,
    get "/objects/{object}" => get_object,
    delete "/objects/{object}" => delete_object,
    post "/objects/{object}/restore" => restore_object,
    post "/objects/{object}/fields" => create_field,
    patch "/objects/{object}/fields/{field}" => update_field,
    delete "/objects/{object}/fields/{field}" => delete_field,
    get "/objects/{object}/rollups" => list_rollups,
    post "/objects/{object}/rollups" => create_rollup,
    delete "/objects/{object}/rollups/{id}" => delete_rollup,
    get "/objects/{object}/indexes" => list_compound_indexes,
    post "/objects/{object}/indexes" => create_compound_index,
    delete "/objects/{object}/indexes/{id}" => delete_compound_index,
    get "/records/{object}" => list_records,
    post "/records/{object}" => create_record,
    get "/records/{object}/{id}" => get_record,
    patch "/records/{object}/{id}" => update_record,
    delete "/records/{object}/{id}" => delete_record,
    post "/records/{object}/{id}/restore" => restore_record,
    get "/records/{object}/{id}/history" => record_history,
    get "/records/{object}/{id}/shares" => list_shares,
    put "/records/{object}/{id}/shares/{kind}/{grantee}" => share_record,
    delete "/records/{object}/{id}/shares/{kind}/{grantee}" => unshare_record,
    get "/aggregate/{object}" => aggregate_records,
    get "/search" => search,
    get "/views" => list_views,
    post "/views" => create_view,
    delete "/views/{id}" => delete_view,
    get "/pipelines" => list_pipelines,
    post "/pipelines" => create_pipeline,
    get "/pipelines/{key}" => get_pipeline,
    put "/pipelines/{key}" => update_pipeline,
    delete "/pipelines/{key}" => delete_pipeline,
    get "/deals/{id}/stages" => deal_stages,
    post "/leads/{id}/convert" => convert_lead,
    get "/leads/{id}/matches" => lead_matches,
    get "/quotes/{id}/lines" => quote_lines,
    put "/quotes/{id}/lines" => set_quote_lines,
    post "/quotes/{id}/order" => order_from_quote,
    get "/sales/settings" => sales_settings,
    get "/notifications" => list_notifications,
    get "/records/{object}/{id}/duplicates" => record_duplicates,
    get "/records/{object}/{id}/timeline" => record_timeline,
    get "/duplicates" => list_duplicate_pairs,
    post "/duplicates/scan" => scan_duplicates,
    post "/duplicates/dismiss" => dismiss_duplicate_pair,
    get "/activities/{id}/participants" => activity_participants,
    put "/activities/{id}/participants" => set_activity_participants,
    get "/tasks/{id}/attendees" => task_attendees,
    put "/tasks/{id}/attendees" => set_task_attendees,
    get "/forms" => list_forms,
    post "/forms" => create_form,
    get "/forms/{id}" => get_form,
    put "/forms/{id}" => update_form,
    delete "/forms/{id}" => delete_form,
    get "/forms/{id}/submissions" => form_submissions,
    post "/records/{object}/{id}/merge" => merge_records,
    post "/notifications/read" => read_all_notifications,
    post "/notifications/{id}/read" => read_notification,
    put "/sales/settings" => set_sales_settings,
    get "/orders/{id}/lines" => order_lines,
    put "/orders/{id}/lines" => set_order_lines,
    post "/deals/{id}/order" => order_from_deal,
    get "/tickets/{id}/messages" => list_ticket_messages,
    post "/tickets/{id}/messages" => reply_ticket,
    get "/tickets/{id}/attachments/{file}" => ticket_attachment,
    post "/tickets/{id}/merge" => merge_ticket,
    post "/tickets/{id}/take" => take_ticket,
    get "/service/queues" => list_queues,
    put "/service/queues/{team}" => set_queue,
    delete "/service/queues/{team}" => delete_queue,
    get "/service/calendars" => list_calendars,
    post "/service/calendars" => create_calendar,
    put "/service/calendars/{id}" => update_calendar,
    delete "/service/calendars/{id}" => delete_calendar,
    get "/service/holidays" => list_holidays,
    put "/service/holidays" => set_holidays,
    get "/service/policies" => list_sla_policies,
    post "/service/policies" => create_sla_policy,
    put "/service/policies/{id}" => update_sla_policy,
    delete "/service/policies/{id}" => delete_sla_policy,
    get "/service/settings" => service_settings,
    put "/service/settings" => set_service_settings,
    get "/service/compliance" => service_compliance,
    get "/kb/search" => search_kb,
    post "/kb/{id}/vote" => vote_kb,
    get "/service/dealers" => dealer_rates,
    post "/service/dealers/{id}/count" => count_dealer_units,
    get "/surveys" => list_surveys,
    post "/surveys" => create_survey,
    get "/surveys/{id}" => get_survey,
    put "/surveys/{id}" => update_survey,
    delete "/surveys/{id}" => delete_survey,
    post "/surveys/{id}/invitations" => invite_survey,
    post "/surveys/{id}/send" => send_survey,
    get "/surveys/{id}/results" => survey_results,
    post "/survey_answers/{token}" => answer_survey,
    get "/staff/ratings" => staff_ratings,
    get "/staff/{id}/feedback" => staff_feedback,
    get "/suggestions/{id}/askers" => suggestion_askers,
    post "/suggestions/{id}/askers" => add_suggestion_asker,
    post "/suggestions/{id}/told" => suggestion_told,
    get "/workflows" => list_workflows,
    post "/workflows" => create_workflow,
    get "/workflows/{id}" => get_workflow,
    put "/workflows/{id}" => update_workflow,
    delete "/workflows/{id}" => delete_workflow,
    post "/workflows/{id}/test" => test_workflow,
    get "/workflows/{id}/runs" => workflow_runs,
    get "/workflow_runs" => list_workflow_runs,
    post "/workflow_runs/{id}/retry" => retry_workflow_run,
    get "/templates" => list_templates,
    post "/templates" => create_template,
    get "/templates/{id}" => get_template,
    put "/templates/{id}" => update_template,
    delete "/templates/{id}" => delete_template,
    post "/templates/{id}/preview" => preview_template,
    get "/webhooks" => list_webhooks,
    post "/webhooks" => create_webhook,
    get "/webhooks/{id}" => get_webhook,
    put "/webhooks/{id}" => update_webhook,
    delete "/webhooks/{id}" => delete_webhook,
    post "/webhooks/{id}/resume" => resume_webhook,
    get "/webhooks/{id}/deliveries" => webhook_deliveries,
    post "/webhook_deliveries/{id}/replay" => replay_delivery,
    get "/messages" => list_messages,
    post "/messages/{id}/retry" => retry_message,
    get "/settings/smtp" => smtp_settings,
    put "/settings/smtp" => set_smtp_settings,
    get "/settings/sms" => sms_settings,
    put "/settings/sms" => set_sms_settings,
    get "/inbound_hooks" => list_inbound_hooks,
    post "/inbound_hooks" => create_inbound_hook,
    delete "/inbound_hooks/{id}" => delete_inbound_hook,
    post "/hooks/{id}" => receive_hook,
    get "/settings/imap" => imap_settings,
    put "/settings/imap" => set_imap_settings,
    get "/messages/received" => received_messages,
    get "/report_schedules" => list_report_schedules,
    post "/report_schedules" => create_report_schedule,
    put "/report_schedules/{id}" => update_report_schedule,
    delete "/report_schedules/{id}" => delete_report_schedule,
    post "/report_schedules/{id}/send" => send_report_schedule,
    get "/notification_preferences" => notification_preferences,
    put "/notification_preferences" => set_notification_preferences,
    get "/loyalty/programs" => list_loyalty_programs,
    post "/loyalty/programs" => create_loyalty_program,
    get "/loyalty/programs/{id}" => get_loyalty_program,
    put "/loyalty/programs/{id}" => update_loyalty_program,
    post "/loyalty/programs/{id}/post_orders" => post_loyalty_orders,
    get "/loyalty/programs/{id}/rewards" => list_loyalty_rewards,
    post "/loyalty/programs/{id}/rewards" => create_loyalty_reward,
    put "/loyalty/programs/{id}/rewards/{reward}" => update_loyalty_reward,
    get "/loyalty/programs/{id}/members" => list_loyalty_members,
    post "/loyalty/programs/{id}/members" => enrol_loyalty_member,
    get "/loyalty/programs/{id}/members/{contact}" => get_loyalty_member,
    get "/loyalty/programs/{id}/members/{contact}/statement" => loyalty_statement,
    post "/loyalty/programs/{id}/members/{contact}/adjust" => adjust_loyalty_points,
    post "/loyalty/programs/{id}/members/{contact}/redeem" => redeem_loyalty_reward,
    post "/loyalty/programs/{id}/members/{contact}/actions" => award_loyalty_action,
    post "/loyalty/vouchers/{code}/use" => use_loyalty_voucher,
    get "/contacts/{id}/offers" => contact_offers,
    get "/offers/model" => get_offer_model,
    post "/offers/model" => build_offer_model,
    get "/contacts/{id}/loyalty" => contact_loyalty,
    get "/contacts/{id}/referrals" => contact_referrals,
    post "/referrals" => create_referral,
    get "/contacts/{id}/consent" => contact_consent,
    put "/contacts/{id}/consent" => set_contact_consent,
    get "/contacts/{id}/portal" => contact_portal,
    post "/contacts/{id}/portal" => invite_to_portal,
    patch "/contacts/{id}/portal" => set_portal_access,
    get "/portal/settings" => portal_settings,
    put "/portal/settings" => set_portal_settings,
    get "/suppressions" => list_suppressions,
    get "/segments" => list_segments,
    post "/segments" => create_segment,
    get "/segments/{id}" => get_segment,
    put "/segments/{id}" => update_segment,
    get "/segments/{id}/members" => segment_members,
    put "/segments/{id}/members" => set_segment_members,
    post "/segments/{id}/points" => award_segment_points,
    post "/segments/{id}/benefits" => grant_segment_benefit,
    get "/campaigns" => list_campaigns,
    post "/campaigns" => create_campaign,
    get "/campaigns/{id}" => get_campaign,
    put "/campaigns/{id}" => update_campaign,
    post "/campaigns/{id}/start" => start_campaign,
    post "/campaigns/{id}/cancel" => cancel_campaign,
    get "/reports" => list_reports,
    post "/reports" => create_report,
    get "/reports/{id}" => get_report,
    put "/reports/{id}" => update_report,
    delete "/reports/{id}" => delete_report,
    get "/reports/{id}/run" => run_report,
    get "/dashboards" => list_dashboards,
    post "/dashboards" => create_dashboard,
    get "/dashboards/{id}" => get_dashboard,
    put "/dashboards/{id}" => update_dashboard,
    delete "/dashboards/{id}" => delete_dashboard,
    get "/quotas" => list_quotas,
    post "/quotas" => create_quota,
    get "/quotas/{id}" => get_quota,
    put "/quotas/{id}" => update_quota,
    delete "/quotas/{id}" => delete_quota,
    get "/commissions/plans" => list_commission_plans,
    post "/commissions/plans" => create_commission_plan,
    get "/commissions/plans/{id}" => get_commission_plan,
    put "/commissions/plans/{id}" => update_commission_plan,
    delete "/commissions/plans/{id}" => delete_commission_plan,
    get "/commissions/statements" => commission_overview,
    get "/commissions/statements/{user_id}/{key}" => commission_statement,
    post "/commissions/statements/{user_id}/{key}/approve" => approve_commission_statement,
    get "/commissions/splits/{object}/{id}" => get_commission_splits,
    put "/commissions/splits/{object}/{id}" => set_commission_splits,
    get "/customers/{object}/{id}/profitability" => customer_profitability,
    get "/lead_scores" => lead_scores,
    post "/lead_scores/run" => run_lead_scores,
    get "/award_rules" => list_award_rules,
    post "/award_rules" => create_award_rule,
    delete "/award_rules/{id}" => delete_award_rule,
    post "/award_rules/apply" => apply_award_rules,
    get "/leaderboard" => leaderboard,
    get "/forecast" => revenue_forecast,
    get "/performance" => performance,
    get "/customer_value" => customer_value,
    post "/customer_value/run" => run_customer_value,
    get "/users/{id}/awards" => user_awards,
    post "/awards" => give_award,
    delete "/awards/{id}" => withdraw_award,
    put "/suppressions" => set_suppression,
    get "/openapi.json" => openapi_json,
}

async fn api_not_found() -> ApiError {
    ApiError::BadRequest { code: "route_not_found", detail: "no such API route".into() }
}

async fn api_method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The API router, built from [`ROUTES`].
pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for route in ROUTES {
        let mut handler = method_router(route);
        // A reply carries its files as base64.
        if route.operation == "reply_ticket" {
            handler = handler.layer(axum::extract::DefaultBodyLimit::max(service::MAX_REPLY_BODY));
        }
        router = router.route(route.path, handler);
    }
    router.fallback(api_not_found).method_not_allowed_fallback(api_method_not_allowed)
}

/// A JSON body whose every rejection is a problem document: malformed JSON is 400, a body of
/// the wrong shape 400 (`invalid_body`), a missing content type 415, a body over the limit 413.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_type = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || (v.starts_with("application/") && v.ends_with("+json")));
        if !json_type {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge
            } else {
                ApiError::BadRequest { code: "unreadable_body", detail: rejection.body_text() }
            }
        })?;
        let mut value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::BadRequest { code: "malformed_json", detail: e.to_string() })?;
        // Neither database can keep U+0000 in text (PostgreSQL refuses it), so no value may hold
        // one; the error names where it was.
        if let Some(at) = nul_in(&value, "") {
            let at = if at.is_empty() { "body".to_string() } else { at };
            return Err(peyvand_records::FieldError::new(&at, "control_characters").into());
        }
        // Every body of this API is an object: serde would read a struct from an array too.
        if !value.is_object() {
            return Err(ApiError::BadRequest { code: "invalid_body", detail: "the body must be a JSON object".into() });
        }
        // `10.0` is a whole number in JSON Schema (and to people): taken where an integer is.
        whole_numbers(&mut value);
        serde_json::from_value(value)
            .map(ApiJson)
            .map_err(|e| ApiError::BadRequest { code: "invalid_body", detail: e.to_string() })
    }
}

/// Turns numbers written with a fraction of zero (`10.0`) into integers, where they fit.
fn whole_numbers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                *value = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        serde_json::Value::Object(map) => map.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

/// Where a JSON value holds the character U+0000, as a path below `path` such as
/// `fields.name` or `fields.emails.1`.
fn nul_in(value: &serde_json::Value, path: &str) -> Option<String> {
    let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match value {
        serde_json::Value::String(s) => s.contains('\0').then(|| path.to_string()),
        serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| nul_in(v, &join(&i.to_string()))),
        serde_json::Value::Object(map) => map
            .iter()
            .find_map(|(k, v)| if k.contains('\0') { Some(join(&k.replace('\0', ""))) } else { nul_in(v, &join(k)) }),
        _ => None,
    }
}

/// Query parameters as a map, with a problem document when they cannot be decoded.
pub struct ApiQuery(pub std::collections::HashMap<String, String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ApiQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(map): axum::extract::Query<std::collections::HashMap<String, String>> =
            axum::extract::Query::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::BadRequest { code: "invalid_query", detail: e.body_text() })?;
        // No parameter may hold U+0000, which neither database keeps in text: the error names it.
        if let Some(name) = map.iter().find(|(k, v)| k.contains('\0') || v.contains('\0')).map(|(k, _)| k) {
            return Err(peyvand_records::FieldError::new(&name.replace('\0', ""), "control_characters").into());
        }
        Ok(ApiQuery(map))
    }
}

impl ApiQuery {
    /// Refuses parameters the operation does not know, so a typo is not silently ignored.
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => {
                Err(ApiError::BadRequest { code: "unknown_parameter", detail: format!("unknown query parameter: {k}") })
            }
            None => Ok(()),
        }
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    pub fn flag(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key) {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") | Some("") => Ok(true),
            Some(other) => Err(ApiError::BadRequest {
                code: "invalid_query",
                detail: format!("{key} must be true or false, not {other}"),
            }),
        }
    }
    pub fn number(&self, key: &str) -> Result<Option<u32>, ApiError> {
        self.get(key).map(|v| peyvand_records::normalize::to_latin_digits(v).parse::<u32>()).transpose().map_err(|_| {
            ApiError::BadRequest { code: "invalid_query", detail: format!("{key} must be a whole number") }
        })
    }
}
