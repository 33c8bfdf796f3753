//! The OpenAPI 3.1 document, generated from [`super::ROUTES`] plus a description of each
//! operation, served at `/api/v1/openapi.json`.

use super::{ROUTES, Route};
use axum::Json;
use serde_json::{Value as Json_, json};

fn param(name: &str, location: &str, description: &str, required: bool) -> Json_ {
    typed_param(name, location, description, required, json!({ "type": "string" }))
}

/// An `Idempotency-Key` header as `api::loyalty::idempotency_key` reads it.
fn idempotency_key(description: &str) -> Json_ {
    typed_param(
        "Idempotency-Key",
        "header",
        description,
        false,
        json!({ "type": "string", "pattern": "^[!-~]{1,200}$" }),
    )
}

fn typed_param(name: &str, location: &str, description: &str, required: bool, schema: Json_) -> Json_ {
    json!({ "name": name, "in": location, "required": required, "description": description, "schema": schema })
}

/// A query flag as the server reads it (`ApiQuery::flag`).
fn flag(name: &str, description: &str) -> Json_ {
    typed_param(name, "query", description, false, json!({ "type": "string", "enum": ["true", "false", "1", "0", ""] }))
}

/// A count in a query (`ApiQuery::number`): clamped to the operation's own range.
fn count(name: &str, description: &str) -> Json_ {
    typed_param(name, "query", description, false, json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX }))
}

fn body(schema: &str) -> Json_ {
    json!({ "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn ok(status: &str, description: &str, schema: Option<&str>) -> (String, Json_) {
    let mut response = json!({ "description": description });
    if let Some(s) = schema {
        response["content"] =
            json!({ "application/json": { "schema": { "$ref": format!("#/components/schemas/{s}") } } });
    }
    (status.to_string(), response)
}

/// Summary, tag, extra parameters, request body schema and success response of an operation.
/// The kinds of the security log's entries (`peyvand_store::security::Kind`).
const KINDS: [&str; 13] = [
    "sign_in",
    "sign_in_failed",
    "sign_out",
    "user_added",
    "user_changed",
    "token_created",
    "token_revoked",
    "team_changed",
    "access_changed",
    "field_access_changed",
    "handover",
    "export",
    "two_factor_changed",
];

fn describe(op: &str) -> (&'static str, &'static str, Vec<Json_>, Option<&'static str>, (String, Json_)) {
    let list_params = vec![
        param("filter", "query", "A filter in the JSON syntax of docs/filters.md", false),
        param("sort", "query", "Comma-separated fields; a leading - sorts descending", false),
        count("limit", "Records per page (1–500, default 50; others are brought into that range)"),
        param("cursor", "query", "The next_cursor of the previous page", false),
        flag("trash", "true lists the trash"),
        typed_param(
            "total",
            "query",
            "true also counts the matching records, up to 10,000 (1,000 for a team's records and for a contains on PostgreSQL); past that, total is an estimate from a sample of the records or, when the sample says too little, the cap, with more matching (total_is: exact, estimate or at_least; total_exact is whether it is exact; an unfiltered count is exact from a rollup); exact counts every one",
            false,
            json!({ "type": "string", "enum": ["true", "false", "1", "0", "", "exact"] }),
        ),
        param("fields", "query", "Comma-separated field names: only these (and the title's) are returned", false),
    ];
    match op {
        "create_token" => (
            "Exchange e-mail and password for an API token",
            "auth",
            vec![],
            Some("TokenRequest"),
            ok("201", "A new token (shown once)", Some("NewToken")),
        ),
        "get_me" => ("The signed-in user", "auth", vec![], None, ok("200", "The user", Some("User"))),
        "list_tokens" => ("The user's API tokens", "auth", vec![], None, ok("200", "Tokens, without secrets", None)),
        "create_api_token" => (
            "Create an API token",
            "auth",
            vec![],
            Some("TokenName"),
            ok("201", "A new token (shown once)", Some("NewToken")),
        ),
        "revoke_token" => ("Revoke one of the user's API tokens", "auth", vec![], None, ok("204", "Revoked", None)),
        "list_users" => ("List users (admins)", "users", vec![], None, ok("200", "Users", None)),
        "update_user" => (
            "Change a user's role or name, or deactivate them (admins); the last admin stays",
            "users",
            vec![],
            Some("UserPatch"),
            ok("200", "The user", Some("User")),
        ),
        "create_user" => ("Add a user (admins)", "users", vec![], Some("NewUser"), ok("201", "The user", Some("User"))),
        "hand_over" => (
            "Deactivate a user and hand every record, view and team they own or manage to a successor (admins)",
            "users",
            vec![],
            Some("HandoverRequest"),
            ok("200", "The handover", Some("Handover")),
        ),
        "list_handovers" => {
            ("Every handover, newest first (admins)", "users", vec![], None, ok("200", "Handovers", None))
        }
        "security_log" => (
            "The security log, newest first (admins): sign-ins, changes of users, access and teams, tokens, handovers, large exports",
            "users",
            vec![
                typed_param(
                    "kind",
                    "query",
                    "Only entries of this kind",
                    false,
                    json!({ "type": "string", "enum": KINDS }),
                ),
                param("user", "query", "Only entries a user made or was the subject of", false),
                param("before", "query", "Only entries older than this entry id (the next page)", false),
                count("limit", "Entries (1–500, default 100)"),
            ],
            None,
            ok("200", "Entries", None),
        ),
        "list_teams" => ("List teams, with their members", "teams", vec![], None, ok("200", "Teams", None)),
        "create_team" => {
            ("Make a team (admins)", "teams", vec![], Some("Team"), ok("201", "The team", Some("TeamOut")))
        }
        "update_team" => (
            "Change a team: name, parent, manager and members, all at once (admins)",
            "teams",
            vec![],
            Some("Team"),
            ok("200", "The team", Some("TeamOut")),
        ),
        "delete_team" => {
            ("Remove a team with no team below it (admins)", "teams", vec![], None, ok("204", "Removed", None))
        }
        "list_access_rules" => (
            "What every role reads and changes in every object (admins)",
            "teams",
            vec![],
            None,
            ok("200", "Rules", None),
        ),
        "set_access_rule" => (
            "Set what a role reads and changes in an object: none, own, team or all (admins; not for admins)",
            "teams",
            vec![],
            Some("AccessRule"),
            ok("200", "The rule", Some("AccessRuleOut")),
        ),
        "reset_access_rule" => (
            "Put a role's access to an object back to the default (admins)",
            "teams",
            vec![],
            None,
            ok("204", "Back to the default", None),
        ),
        "list_field_rules" => (
            "Fields hidden from or read-only to a role (others are editable; admins)",
            "teams",
            vec![],
            None,
            ok("200", "Field rules", None),
        ),
        "set_field_rule" => (
            "Set what a role may do with a field: hidden, read_only or editable (admins; not for admins)",
            "teams",
            vec![],
            Some("FieldRule"),
            ok("200", "The rule", Some("FieldRuleOut")),
        ),
        "list_shares" => ("Who a record is shared with", "records", vec![], None, ok("200", "Shares", None)),
        "share_record" => (
            "Share a record with a user or team (kind: user or team), to read or to change",
            "records",
            vec![],
            Some("Share"),
            ok("200", "Shares", None),
        ),
        "unshare_record" => ("End a share", "records", vec![], None, ok("204", "Ended", None)),
        "list_objects" => ("List objects and their fields", "objects", vec![], None, ok("200", "Objects", None)),
        "create_object" => (
            "Create a custom object (admins)",
            "objects",
            vec![],
            Some("NewObject"),
            ok("201", "The object", Some("Object")),
        ),
        "get_object" => ("One object and its fields", "objects", vec![], None, ok("200", "The object", Some("Object"))),
        "delete_object" => (
            "Move a custom object to the trash with its records, which stay and come back with it (admins); refused while another object's field points to it",
            "objects",
            vec![],
            None,
            ok("204", "In the trash", None),
        ),
        "restore_object" => (
            "Bring a custom object back from the trash (admins)",
            "objects",
            vec![],
            None,
            ok("200", "The object", Some("Object")),
        ),
        "create_field" => {
            ("Add a custom field (admins)", "objects", vec![], Some("NewField"), ok("201", "The field", Some("Field")))
        }
        "update_field" => (
            "Change, hide, convert or restore a field (admins)",
            "objects",
            vec![],
            Some("FieldPatch"),
            ok("200", "The field", Some("Field")),
        ),
        "delete_field" => (
            "Remove a custom field; its values are kept and can be restored (admins)",
            "objects",
            vec![],
            None,
            ok("204", "Removed", None),
        ),
        "list_rollups" => (
            "An object's rollups: aggregates kept up to date as records change",
            "objects",
            vec![],
            None,
            ok("200", "Rollups", None),
        ),
        "create_rollup" => (
            "Declare a rollup (admins): unfiltered aggregates it covers (the same groups or fewer, coarser date buckets, the same sums or fewer) are answered from it; filled from the records now, which holds the object's writes until done",
            "objects",
            vec![],
            Some("NewRollup"),
            ok("201", "The rollup (200 when the object already had the same one)", Some("Rollup")),
        ),
        "delete_rollup" => ("Remove a rollup (admins)", "objects", vec![], None, ok("204", "Removed", None)),
        "list_compound_indexes" => {
            ("An object's compound indexes (admins)", "objects", vec![], None, ok("200", "Compound indexes", None))
        }
        "create_compound_index" => (
            "Declare a compound index over 2 to 4 fields, in order (admins): filtered aggregates and pages on those fields are read from it; the fields compared for equality first, then the grouped ones, then one compared by range; built now, which holds the object's writes until done",
            "objects",
            vec![],
            Some("NewCompoundIndex"),
            ok("201", "The index (200 when the object already had the same one)", Some("CompoundIndex")),
        ),
        "delete_compound_index" => {
            ("Remove a compound index (admins)", "objects", vec![], None, ok("204", "Removed", None))
        }
        "list_records" => (
            "List records with filter, sort and keyset pagination",
            "records",
            list_params,
            None,
            ok("200", "A page", Some("Page")),
        ),
        "create_record" => (
            "Create a record",
            "records",
            vec![typed_param(
                "Idempotency-Key",
                "header",
                "Retries with the same key and body return the first result; the key with another body is refused (422)",
                false,
                json!({ "type": "string", "pattern": "^[!-~]{1,200}$" }),
            )],
            Some("RecordBody"),
            ok("201", "The record (200 when replayed)", Some("Record")),
        ),
        "get_record" => (
            "Read a record",
            "records",
            vec![flag("include_deleted", "true also finds records in the trash (managers and admins)")],
            None,
            ok("200", "The record", Some("Record")),
        ),
        "update_record" => (
            "Change fields of a record",
            "records",
            vec![typed_param(
                "If-Match",
                "header",
                "The version read; a changed record is refused with 409",
                false,
                json!({ "type": "string", "pattern": "^(W/)?\"?[0-9]{1,18}\"?$" }),
            )],
            Some("RecordBody"),
            ok("200", "The record", Some("Record")),
        ),
        "delete_record" => ("Move a record to the trash", "records", vec![], None, ok("204", "In the trash", None)),
        "restore_record" => {
            ("Bring a record back from the trash", "records", vec![], None, ok("200", "The record", Some("Record")))
        }
        "record_history" => (
            "A record's audit history, newest first",
            "records",
            vec![count("limit", "Entries (default 100, at most 1,000)")],
            None,
            ok("200", "Entries", None),
        ),
        "aggregate_records" => (
            "Count records and sum numeric fields in groups (dashboards); answered from a rollup that covers it, else group by group along a compound index that holds the filter's equalities and then the group, and repeated requests from a cache that any change clears",
            "records",
            vec![
                param(
                    "group",
                    "query",
                    "Up to 3 fields, comma-separated, each the object's or a related record's (relation.field, e.g. contact.city); dates and instants as field:day|week|month|quarter|year (a Gregorian day, month or year of an instant is its UTC one; the others are cut at the business's local midnight)",
                    false,
                ),
                param(
                    "sum",
                    "query",
                    "Numeric fields to sum, comma-separated; a money sum also groups by its currency",
                    false,
                ),
                param(
                    "measure",
                    "query",
                    "Up to 6 more measures, comma-separated, each kind:field with kind sum, avg, min, max (numbers, dates) or distinct; a money measure also groups by its currency",
                    false,
                ),
                typed_param(
                    "calendar",
                    "query",
                    "The calendar of weeks (a Jalali week starts on Saturday), months, quarters and years",
                    false,
                    json!({ "enum": ["gregorian", "jalali"] }),
                ),
                param("filter", "query", "Which records (JSON, docs/filters.md)", false),
            ],
            None,
            ok("200", "Groups with count and sums", Some("Aggregate")),
        ),
        "search" => (
            "Search every object by prefix, with Persian normalization",
            "search",
            vec![
                typed_param(
                    "q",
                    "query",
                    "Words to find (none finds nothing)",
                    false,
                    json!({ "type": "string", "maxLength": 200 }),
                ),
                count("limit", "Hits (default 20, at most 100)"),
            ],
            None,
            ok("200", "Hits", None),
        ),
        "openapi_json" => ("This document", "meta", vec![], None, ok("200", "OpenAPI 3.1", None)),
        "list_views" => (
            "Saved views of an object: the user's own and the shared ones",
            "views",
            vec![param("object", "query", "The object", true)],
            None,
            ok("200", "Views", None),
        ),
        "create_view" => (
            "Save a view (shared views: managers and admins)",
            "views",
            vec![],
            Some("NewView"),
            ok("201", "The view", Some("View")),
        ),
        "delete_view" => ("Delete a view", "views", vec![], None, ok("204", "Deleted", None)),
        "list_pipelines" => (
            "The pipelines, in order, each with its stages (win probability, kind)",
            "sales",
            vec![],
            None,
            ok("200", "Pipelines", None),
        ),
        "create_pipeline" => (
            "Make a pipeline (admins): stage keys are unique across pipelines; at least one open, one won and one lost stage",
            "sales",
            vec![],
            Some("Pipeline"),
            ok("201", "The pipeline", Some("PipelineOut")),
        ),
        "get_pipeline" => ("A pipeline", "sales", vec![], None, ok("200", "The pipeline", Some("PipelineOut"))),
        "update_pipeline" => (
            "Replace a pipeline's names and stages (admins); a stage deals are in stays",
            "sales",
            vec![],
            Some("Pipeline"),
            ok("200", "The pipeline", Some("PipelineOut")),
        ),
        "delete_pipeline" => {
            ("Remove a pipeline no deal is in (admins)", "sales", vec![], None, ok("204", "Removed", None))
        }
        "convert_lead" => (
            "Convert a lead, in one transaction, into a contact (new or existing), a company (new, existing or none) and optionally a deal; a lead converted before is refused (409) naming what it became",
            "sales",
            vec![],
            Some("Conversion"),
            ok("200", "What the lead became", Some("Converted")),
        ),
        "lead_matches" => (
            "Contacts and companies that may already be the lead: the same e-mail, phone or name (at most five of each)",
            "sales",
            vec![],
            None,
            ok("200", "Possible duplicates", None),
        ),
        "quote_lines" => ("A quote's lines, in order", "sales", vec![], None, ok("200", "Lines", None)),
        "order_lines" => ("An order's lines, in order", "sales", vec![], None, ok("200", "Lines", None)),
        "set_quote_lines" => (
            "Replace a quote's lines at once: each priced from the price lists unless a manager sets its price, its figures and the quote's totals computed exactly (with version: only if nobody changed the quote since)",
            "sales",
            vec![],
            Some("Lines"),
            ok("200", "The quote, totalled, and its lines", None),
        ),
        "set_order_lines" => (
            "Replace an order's lines at once, as a quote's",
            "sales",
            vec![],
            Some("Lines"),
            ok("200", "The order, totalled, and its lines", None),
        ),
        "activity_participants" => (
            "Who took part in an activity besides its contact and owner: contacts (those the caller may read) and users",
            "records",
            vec![],
            None,
            ok("200", "Participants", Some("Participants")),
        ),
        "set_activity_participants" => (
            "Replace an activity's participants (contacts the caller may read, active users; at most 50 of each); the activity shows on each contact's timeline",
            "records",
            vec![],
            Some("Participants"),
            ok("200", "Participants", Some("Participants")),
        ),
        "list_duplicate_pairs" => (
            "The duplicates queue of an object (contact, company or lead): open pairs found by the last scan, both of whose records the caller may read, with why; and what that scan saw",
            "records",
            vec![
                param("object", "query", "contact (default), company or lead", false),
                param("after", "query", "The previous page's `next`", false),
                count("limit", "Pairs (default 50; brought into 1 to 100)"),
            ],
            None,
            ok("200", "Pairs, the next page's mark and the last scan", None),
        ),
        "scan_duplicates" => (
            "Ask for a scan of an object's live records for duplicates (admins): the runner finds pairs sharing an e-mail, a phone or a name that reads the same, and replaces the open pairs",
            "records",
            vec![],
            Some("DuplicateScan"),
            ok("202", "The scan's job", None),
        ),
        "dismiss_duplicate_pair" => (
            "Mark a pair of the queue as not duplicates: not offered again, even by the next scan",
            "records",
            vec![],
            Some("DuplicatePair"),
            ok("204", "Marked", None),
        ),
        "task_attendees" => (
            "Who attends a task or appointment besides its owner: contacts (those the caller may read) and users",
            "records",
            vec![],
            None,
            ok("200", "Attendees", Some("Participants")),
        ),
        "set_task_attendees" => (
            "Replace a task's attendees (contacts the caller may read, active users; at most 50 of each); the calendar feed names them",
            "records",
            vec![],
            Some("Participants"),
            ok("200", "Attendees", Some("Participants")),
        ),
        "list_ticket_messages" => (
            "A ticket's conversation, oldest first: public replies and internal notes, each with its files (without their content) and what the desk wrote itself (merges)",
            "service",
            vec![],
            None,
            ok("200", "Messages", None),
        ),
        "reply_ticket" => (
            "Reply to a ticket (public: the customer sees it) or add an internal note, with up to 5 files of up to 5 MB (PDF, images, text, CSV, DOCX, XLSX, ZIP, recognised by content) as base64. A note needs the ticket readable; a public reply needs it changeable or unassigned (the reply takes it), sets its first response, opens a new ticket and reopens a closed one (or is refused, as the desk is set)",
            "service",
            vec![],
            Some("TicketReply"),
            ok("201", "The message", None),
        ),
        "ticket_attachment" => {
            ("A file of a ticket's conversation, as a download", "service", vec![], None, ok("200", "The file", None))
        }
        "merge_ticket" => (
            "Merge this ticket into another (both changeable by the caller): its conversation and files move, each ticket says so, and this one is closed pointing at the other",
            "service",
            vec![],
            Some("TicketMerge"),
            ok("200", "The ticket merged into", Some("Record")),
        ),
        "take_ticket" => (
            "Take an unassigned ticket (409 if it has an assignee)",
            "service",
            vec![],
            None,
            ok("200", "The ticket", Some("Record")),
        ),
        "list_queues" => (
            "The support queues: teams that answer tickets, each with how a new ticket is given out",
            "service",
            vec![],
            None,
            ok("200", "Queues", None),
        ),
        "set_queue" => (
            "Make a team a queue, or change how it assigns new tickets: by hand, round_robin among its active members, or least_loaded (fewest open tickets) (admins)",
            "service",
            vec![],
            Some("QueueMode"),
            ok("200", "The queue", None),
        ),
        "delete_queue" => (
            "Stop a team being a queue (admins); refused while tickets are in it",
            "service",
            vec![],
            None,
            ok("204", "Removed", None),
        ),
        "list_calendars" => (
            "Business-hours calendars: working shifts per weekday, Saturday first",
            "service",
            vec![],
            None,
            ok("200", "Calendars", None),
        ),
        "create_calendar" => (
            "Add a business-hours calendar (admins); a calendar without working hours, a shift that ends before it starts or overlaps another is refused by shift",
            "service",
            vec![],
            Some("ServiceCalendar"),
            ok("201", "The calendar", None),
        ),
        "update_calendar" => (
            "Replace a calendar's name, hours and whether it is the default (admins)",
            "service",
            vec![],
            Some("ServiceCalendar"),
            ok("200", "The calendar", None),
        ),
        "delete_calendar" => (
            "Remove a calendar (admins); the default one and one a policy counts in are kept",
            "service",
            vec![],
            None,
            ok("204", "Removed", None),
        ),
        "list_holidays" => (
            "The days off every calendar keeps, earliest first (Gregorian ISO dates, inclusive)",
            "service",
            vec![],
            None,
            ok("200", "Days off", None),
        ),
        "set_holidays" => (
            "Replace the days off (admins); days that overlap are refused naming the later one",
            "service",
            vec![],
            Some("Holidays"),
            ok("200", "Days off", None),
        ),
        "list_sla_policies" => (
            "Service-level policies in the order they are tried: categories and customer groups they are for, the calendar they count in, targets per priority (working minutes), the warning and the escalation",
            "service",
            vec![],
            None,
            ok("200", "Policies", None),
        ),
        "create_sla_policy" => (
            "Add a service-level policy (admins): targets for every priority",
            "service",
            vec![],
            Some("SlaPolicy"),
            ok("201", "The policy", None),
        ),
        "update_sla_policy" => (
            "Replace a service-level policy (admins); open tickets under it get new deadlines as they next change",
            "service",
            vec![],
            Some("SlaPolicy"),
            ok("200", "The policy", None),
        ),
        "delete_sla_policy" => (
            "Remove a service-level policy no ticket is under (admins)",
            "service",
            vec![],
            None,
            ok("204", "Removed", None),
        ),
        "service_settings" => (
            "The desk's settings: what a reply to a closed ticket does (reopen or refuse)",
            "service",
            vec![],
            None,
            ok("200", "Settings", None),
        ),
        "set_service_settings" => (
            "Set what a reply to a closed ticket does, and the dealers' alert threshold (admins)",
            "service",
            vec![],
            Some("ServiceSettings"),
            ok("200", "Settings", None),
        ),
        "service_compliance" => (
            "Service-level compliance of the tickets opened in a range that the caller may read: tickets under a policy, first responses and resolutions late, and the share kept, per month, queue, agent or category",
            "service",
            vec![
                typed_param(
                    "by",
                    "query",
                    "month (default), queue, agent or category",
                    false,
                    json!({ "type": "string", "enum": ["month", "queue", "agent", "category"] }),
                ),
                typed_param(
                    "from",
                    "query",
                    "First day (ISO; default a year before to)",
                    false,
                    json!({ "type": "string", "format": "date" }),
                ),
                typed_param(
                    "to",
                    "query",
                    "Day after the last (ISO; default tomorrow); at most three years after from",
                    false,
                    json!({ "type": "string", "format": "date" }),
                ),
                typed_param(
                    "calendar",
                    "query",
                    "Months as gregorian (default) or jalali",
                    false,
                    json!({ "type": "string", "enum": ["gregorian", "jalali"] }),
                ),
            ],
            None,
            ok("200", "Rows", None),
        ),
        "search_kb" => (
            "Published knowledge-base articles matching the words of a question (three letters or more; title, summary, tags; the Persian normalization), those matching most first",
            "service",
            vec![
                param("q", "query", "The question", false),
                typed_param(
                    "lang",
                    "query",
                    "Only articles in this language",
                    false,
                    json!({ "type": "string", "enum": ["fa", "en"] }),
                ),
                count("limit", "Articles (default 10; brought into 1 to 50)"),
            ],
            None,
            ok("200", "Articles", None),
        ),
        "vote_kb" => (
            "Say whether a published article helped (its counts of helpful and not)",
            "service",
            vec![],
            Some("KbVote"),
            ok("200", "The article", Some("Record")),
        ),
        "dealer_rates" => (
            "Dealer quality: complaints per 10,000 units serviced per dealer (and product) and Jalali month, with the change from the month before and whether it is above the alert threshold; a month without units has no rate",
            "service",
            vec![
                typed_param(
                    "from",
                    "query",
                    "First Jalali month, as 1405-01 (default eleven months before this one)",
                    false,
                    json!({ "type": "string", "maxLength": 10 }),
                ),
                typed_param(
                    "to",
                    "query",
                    "Last Jalali month (default this one); at most three years after from",
                    false,
                    json!({ "type": "string", "maxLength": 10 }),
                ),
                typed_param(
                    "by",
                    "query",
                    "dealer (default) or product",
                    false,
                    json!({ "type": "string", "enum": ["dealer", "product"] }),
                ),
            ],
            None,
            ok("200", "Rates and the threshold", None),
        ),
        "count_dealer_units" => (
            "Count a dealer's units serviced in a Jalali month from their orders (the quantities of the dealer's orders, neither cancelled nor returned) and keep them as the month's units",
            "service",
            vec![],
            Some("DealerCount"),
            ok("200", "The month's units (a record of service_volume)", Some("Record")),
        ),
        "list_forms" => ("The web forms (admins)", "forms", vec![], None, ok("200", "Forms", None)),
        "get_form" => ("A web form (admins)", "forms", vec![], None, ok("200", "The form", Some("WebFormOut"))),
        "create_form" => (
            "Build a public web form from a lead's or a contact's fields (admins): published at /f/{slug}; the object's required fields must be asked and required",
            "forms",
            vec![],
            Some("WebForm"),
            ok("201", "The form, with its slug", Some("WebFormOut")),
        ),
        "update_form" => (
            "Replace a web form's definition (admins); its address stays",
            "forms",
            vec![],
            Some("WebForm"),
            ok("200", "The form", Some("WebFormOut")),
        ),
        "delete_form" => {
            ("Remove a web form (admins); the records it made stay", "forms", vec![], None, ok("204", "Removed", None))
        }
        "form_submissions" => (
            "What a web form received, newest first: each record made, its owner, attribution (UTM, referrer), the consent text shown and whether it was given, and the records it may repeat",
            "forms",
            vec![count("limit", "At most this many (default 50; brought into 1 to 500)")],
            None,
            ok("200", "Submissions", None),
        ),
        "record_timeline" => (
            "A contact's or a company's story, newest first, as the caller may see it: activities, e-mails, changes to its fields, its deals' stages, quotes and orders (a company's with its contacts'); paged by keyset",
            "records",
            vec![
                param(
                    "kind",
                    "query",
                    "Only these kinds, comma-separated: activity, email, change, stage, quote, order, ticket",
                    false,
                ),
                param("cursor", "query", "The previous page's `next`", false),
                count("limit", "Entries (default 50; brought into 1 to 100)"),
            ],
            None,
            ok("200", "Entries and the next page's cursor", None),
        ),
        "record_duplicates" => (
            "A record's likely duplicates: the same e-mail or phone, or a name that reads the same written the Persian way",
            "records",
            vec![],
            None,
            ok("200", "Duplicates, each with its reasons", None),
        ),
        "merge_records" => (
            "Merge another record into this one in one transaction: its related records move here, e-mails and phones join, empty fields fill, `take` names fields whose value comes from the other; the other goes to the trash and its id redirects here",
            "records",
            vec![],
            Some("Merge"),
            ok("200", "The record merged into", Some("Record")),
        ),
        "list_notifications" => (
            "The caller's newest notifications (reminders of their tasks, …), with how many are unread",
            "notifications",
            vec![
                flag("unread", "true: only those unread"),
                count("limit", "At most this many (default 50; brought into 1 to 200)"),
            ],
            None,
            ok("200", "Notifications", None),
        ),
        "read_notification" => (
            "Mark one of the caller's notifications read (another's is not found)",
            "notifications",
            vec![],
            None,
            ok("200", "The notification", None),
        ),
        "read_all_notifications" => (
            "Mark all the caller's notifications read",
            "notifications",
            vec![],
            None,
            ok("200", "How many were marked", None),
        ),
        "sales_settings" => (
            "The business's details (as quotes and invoices name it) and how quotes and orders are numbered, with each kind's next number",
            "sales",
            vec![],
            None,
            ok("200", "The sales settings", Some("SalesSettings")),
        ),
        "set_sales_settings" => (
            "Change the business's details (keys sent; an empty value removes one) and numbering patterns, all or nothing (admins)",
            "sales",
            vec![],
            Some("SalesSettingsInput"),
            ok("200", "The sales settings", Some("SalesSettings")),
        ),
        "order_from_quote" => (
            "Make the order a quote becomes, at the quoted prices, and accept the quote (once)",
            "sales",
            vec![],
            None,
            ok("201", "The order and its lines", None),
        ),
        "order_from_deal" => (
            "Make the order a won deal becomes: from its accepted (or sent) quote, else one line of its amount (once)",
            "sales",
            vec![],
            None,
            ok("201", "The order and its lines", None),
        ),
        "deal_stages" => (
            "Every stage a deal was in, oldest first: entered, left, by whom, seconds spent",
            "sales",
            vec![],
            None,
            ok("200", "Stage stays", None),
        ),
        "list_workflows" => (
            "Workflows (admins): each one's trigger, condition, steps, version and whether it is enabled",
            "automation",
            vec![],
            None,
            ok("200", "Workflows", None),
        ),
        "get_workflow" => ("A workflow (admins)", "automation", vec![], None, ok("200", "The workflow", None)),
        "create_workflow" => (
            "Build a workflow (admins): a trigger (created, changed: a field, from or to a value; trashed; a date field reached; a schedule), a condition in the lists' filter syntax, and steps (update, create, assign, send_email, send_sms, call_webhook, notify, add_tag, remove_tag, wait, branch); checked whole: every field, object, template, user and team it names",
            "automation",
            vec![],
            Some("Workflow"),
            ok("201", "The workflow (version 1)", None),
        ),
        "update_workflow" => (
            "Save a new version of a workflow (admins): runs under way keep the version they began with",
            "automation",
            vec![],
            Some("Workflow"),
            ok("200", "The workflow", None),
        ),
        "delete_workflow" => (
            "Remove a workflow with its versions and runs (admins)",
            "automation",
            vec![],
            None,
            ok("204", "Removed", None),
        ),
        "test_workflow" => (
            "Try a workflow on a record without doing anything: whether its condition holds and what each step would do, templates rendered",
            "automation",
            vec![],
            Some("RecordRef"),
            ok("200", "What would happen", None),
        ),
        "workflow_runs" => (
            "A workflow's runs, newest first, each step's outcome and error",
            "automation",
            vec![param("status", "query", "running, waiting, done, failed or stopped", false), limit_param()],
            None,
            ok("200", "Runs", None),
        ),
        "list_workflow_runs" => (
            "Every workflow's runs, newest first (status=failed: what failed, to retry)",
            "automation",
            vec![param("status", "query", "running, waiting, done, failed or stopped", false), limit_param()],
            None,
            ok("200", "Runs", None),
        ),
        "retry_workflow_run" => (
            "Take a failed run up again at the step that failed",
            "automation",
            vec![],
            None,
            ok("200", "The run", None),
        ),
        "list_templates" => {
            ("Templates of e-mails, SMS and letters", "automation", vec![], None, ok("200", "Templates", None))
        }
        "get_template" => ("A template", "automation", vec![], None, ok("200", "The template", None)),
        "create_template" => (
            "Write a template (admins): Jinja text with merge fields (record.*, raw.*, related.<object>, owner.*, today) and filters (long_date, short_date, number, digits); a syntax error or an unknown merge field is refused with its line and column",
            "automation",
            vec![],
            Some("MessageTemplate"),
            ok("201", "The template", None),
        ),
        "update_template" => (
            "Change a template (admins)",
            "automation",
            vec![],
            Some("MessageTemplate"),
            ok("200", "The template", None),
        ),
        "delete_template" => {
            ("Remove a template no workflow sends (admins)", "automation", vec![], None, ok("204", "Removed", None))
        }
        "preview_template" => (
            "A template rendered for a record one may read",
            "automation",
            vec![],
            Some("RecordRef"),
            ok("200", "Subject and body", None),
        ),
        "list_webhooks" => {
            ("Webhook subscriptions (admins)", "automation", vec![], None, ok("200", "Subscriptions", None))
        }
        "get_webhook" => {
            ("A webhook subscription (admins)", "automation", vec![], None, ok("200", "The subscription", None))
        }
        "create_webhook" => (
            "Subscribe a URL to an object's record events (admins): each is posted as JSON with Peyvand-Event-Id, Peyvand-Timestamp and Peyvand-Signature (v1=HMAC-SHA256 of timestamp.body under the secret), retried on its schedule, paused after 20 failed attempts in a row",
            "automation",
            vec![],
            Some("WebhookSubscription"),
            ok("201", "The subscription with its secret", None),
        ),
        "update_webhook" => (
            "Change a webhook subscription (admins); without a secret it keeps its own",
            "automation",
            vec![],
            Some("WebhookSubscription"),
            ok("200", "The subscription", None),
        ),
        "delete_webhook" => (
            "Remove a webhook subscription and its delivery log (admins)",
            "automation",
            vec![],
            None,
            ok("204", "Removed", None),
        ),
        "resume_webhook" => (
            "Resume a paused subscription: its waiting deliveries are tried now",
            "automation",
            vec![],
            None,
            ok("200", "The subscription", None),
        ),
        "webhook_deliveries" => (
            "A subscription's deliveries, newest first: event, status, attempts, the receiver's answer",
            "automation",
            vec![limit_param()],
            None,
            ok("200", "Deliveries", None),
        ),
        "replay_delivery" => (
            "Send a delivery again, with its body and event id",
            "automation",
            vec![],
            None,
            ok("200", "The delivery", None),
        ),
        "list_messages" => (
            "The outbox of e-mails and SMS, newest first (status: queued, sent, failed)",
            "automation",
            vec![param("status", "query", "queued, sent or failed", false), limit_param()],
            None,
            ok("200", "Messages", None),
        ),
        "retry_message" => {
            ("Queue a failed message again (the same id)", "automation", vec![], None, ok("200", "The message", None))
        }
        "smtp_settings" => (
            "The SMTP server Peyvand sends through (never its password)",
            "automation",
            vec![],
            None,
            ok("200", "The settings, or null", None),
        ),
        "set_smtp_settings" => (
            "Set the SMTP server (admins): security none, starttls or tls; a blank password keeps the stored one",
            "automation",
            vec![],
            Some("SmtpSettings"),
            ok("200", "The settings", None),
        ),
        "sms_settings" => {
            ("The SMS gateway (never its key)", "automation", vec![], None, ok("200", "The settings, or null", None))
        }
        "set_sms_settings" => (
            "Set the SMS gateway (admins): an HTTP post whose URL and body are templates over to, text, sender and id",
            "automation",
            vec![],
            Some("SmsSettings"),
            ok("200", "The settings", None),
        ),
        "list_report_schedules" => (
            "Scheduled reports (managers and admins): saved list views sent by e-mail on a schedule",
            "automation",
            vec![],
            None,
            ok("200", "Schedules", None),
        ),
        "create_report_schedule" => (
            "Schedule a saved list view or a saved report by e-mail (managers and admins): CSV, XLSX or an HTML table, every day or every week on a day (0 = Saturday) at an hour; each recipient gets what they may see",
            "automation",
            vec![],
            Some("ReportSchedule"),
            ok("201", "The schedule", None),
        ),
        "update_report_schedule" => (
            "Change a scheduled report (managers and admins)",
            "automation",
            vec![],
            Some("ReportSchedule"),
            ok("200", "The schedule", None),
        ),
        "delete_report_schedule" => {
            ("Remove a scheduled report (managers and admins)", "automation", vec![], None, ok("204", "Removed", None))
        }
        "send_report_schedule" => (
            "Send a scheduled report now (managers and admins)",
            "automation",
            vec![],
            None,
            ok("200", "How many e-mails were queued", None),
        ),
        "notification_preferences" => (
            "The caller's choices per kind of notification: under the bell, and by e-mail (none, instant, or daily: the morning's digest)",
            "notifications",
            vec![],
            None,
            ok("200", "Every kind's choice", None),
        ),
        "set_notification_preferences" => (
            "Set the caller's choices for the kinds given (the others stay)",
            "notifications",
            vec![],
            Some("NotificationPreferences"),
            ok("200", "Every kind's choice", None),
        ),
        "list_inbound_hooks" => (
            "Inbound webhooks (admins): each one's object, match field and secret",
            "automation",
            vec![],
            None,
            ok("200", "Inbound webhooks", None),
        ),
        "create_inbound_hook" => (
            "Make an inbound webhook (admins): POST /hooks/{id} with {\"fields\": {…}} signed as outbound deliveries are (Peyvand-Timestamp, Peyvand-Signature) creates a record of its object, or updates the one whose match field (unique or indexed) has the value given; an optional Peyvand-Event-Id makes a repeat change nothing",
            "automation",
            vec![],
            Some("InboundHook"),
            ok("201", "The inbound webhook with its secret", None),
        ),
        "delete_inbound_hook" => {
            ("Remove an inbound webhook (admins)", "automation", vec![], None, ok("204", "Removed", None))
        }
        "receive_hook" => (
            "Another system's signed request to an inbound webhook (no session): 201 created, 200 updated or repeated; a wrong signature or a timestamp older than five minutes is 401",
            "automation",
            vec![
                typed_param("Peyvand-Timestamp", "header", "Unix seconds", false, json!({ "type": "string" })),
                typed_param(
                    "Peyvand-Signature",
                    "header",
                    "v1= and the HMAC-SHA256 (hex) of timestamp.body",
                    false,
                    json!({ "type": "string" }),
                ),
                typed_param(
                    "Peyvand-Event-Id",
                    "header",
                    "Makes a repeat change nothing",
                    false,
                    json!({ "type": "string" }),
                ),
            ],
            Some("InboundBody"),
            ok("201", "The record made", None),
        ),
        "imap_settings" => (
            "The mailbox Peyvand reads (never its password)",
            "automation",
            vec![],
            None,
            ok("200", "The settings, or null", None),
        ),
        "set_imap_settings" => (
            "Set the mailbox Peyvand reads over IMAP (admins): replies to what it sent join their ticket or timeline, messages to the support address open tickets, a contact's messages go on their timeline; read every poll_seconds",
            "automation",
            vec![],
            Some("ImapSettings"),
            ok("200", "The settings", None),
        ),
        "received_messages" => (
            "E-mail received, newest first, with what each became (ticket_reply, ticket, timeline, bounce, unmatched, unreadable)",
            "automation",
            vec![limit_param()],
            None,
            ok("200", "Messages", None),
        ),
        "list_loyalty_programs" => (
            "The loyalty programs with their earning rules, tiers and expiry",
            "loyalty",
            vec![],
            None,
            ok("200", "Programs", None),
        ),
        "get_loyalty_program" => {
            ("A loyalty program and its members per tier", "loyalty", vec![], None, ok("200", "The program", None))
        }
        "create_loyalty_program" => (
            "Configure a loyalty program (admins): points per amount spent (on a product or category, or the whole order), per action (join, birthday, referral, referred, survey_answered, review), multipliers by tier and campaign period, caps per order and per period; tiers from 0 up, qualified by points or spend in a rolling window, each with a multiplier and a discount that becomes the member's benefit; expiry in days; the order statuses that earn (cancelled and returned take back)",
            "loyalty",
            vec![],
            Some("LoyaltyProgram"),
            ok("201", "The program", None),
        ),
        "update_loyalty_program" => (
            "Replace a loyalty program's configuration (admins); a tier members are in cannot be removed",
            "loyalty",
            vec![],
            Some("LoyaltyProgram"),
            ok("200", "The program", None),
        ),
        "post_loyalty_orders" => (
            "Earn the points of orders written before the program (or by a bulk load) that have earned nothing in it (admins); once per order",
            "loyalty",
            vec![],
            None,
            ok("200", "How many orders earned", None),
        ),
        "list_loyalty_rewards" => {
            ("A program's rewards catalogue, the cheapest first", "loyalty", vec![], None, ok("200", "Rewards", None))
        }
        "create_loyalty_reward" => (
            "Add a reward (admins): a percent or amount off the next order or a free product (a single-use benefit), a voucher code, or a custom reward; its points, stock and validity in days",
            "loyalty",
            vec![],
            Some("LoyaltyReward"),
            ok("201", "The reward", None),
        ),
        "update_loyalty_reward" => {
            ("Replace a reward (admins)", "loyalty", vec![], Some("LoyaltyReward"), ok("200", "The reward", None))
        }
        "list_loyalty_members" => (
            "A program's members one may read (their contacts'), the largest balance first",
            "loyalty",
            vec![
                typed_param(
                    "limit",
                    "query",
                    "At most this many (50 by default)",
                    false,
                    json!({ "type": "integer", "minimum": 0, "maximum": 500 }),
                ),
                typed_param(
                    "offset",
                    "query",
                    "Skip this many",
                    false,
                    json!({ "type": "integer", "minimum": 0, "maximum": 1000000 }),
                ),
            ],
            None,
            ok("200", "Members", None),
        ),
        "enrol_loyalty_member" => (
            "Enrol a contact one may read (the join's points if a rule gives them); enrolling a member again changes nothing",
            "loyalty",
            vec![],
            Some("LoyaltyEnrol"),
            ok("201", "The member", None),
        ),
        "get_loyalty_member" => (
            "A member: balance, points earned, redeemed and expired, tier and the next, the latest entries and redemptions (kept, not summed)",
            "loyalty",
            vec![],
            None,
            ok("200", "The member", None),
        ),
        "loyalty_statement" => (
            "A member's statement: the balance before the period, its entries, the balance after",
            "loyalty",
            vec![
                typed_param(
                    "from",
                    "query",
                    "First day (ISO; default a year ago)",
                    false,
                    json!({ "type": "string", "format": "date" }),
                ),
                typed_param(
                    "to",
                    "query",
                    "Last day (ISO; default today)",
                    false,
                    json!({ "type": "string", "format": "date" }),
                ),
            ],
            None,
            ok("200", "The statement", None),
        ),
        "adjust_loyalty_points" => (
            "Correct a member's balance with a reason (managers and admins): never below zero; with Idempotency-Key a retry adds nothing",
            "loyalty",
            vec![idempotency_key("Makes a retry the same correction")],
            Some("LoyaltyAdjust"),
            ok("200", "The member", None),
        ),
        "redeem_loyalty_reward" => (
            "Redeem a reward for a member (optionally on an order): refused beyond the balance or the stock; two at once are one after the other; with Idempotency-Key a retry is the same redemption",
            "loyalty",
            vec![idempotency_key("Makes a retry the same redemption")],
            Some("LoyaltyRedeem"),
            ok("201", "The redemption (its voucher code or benefit)", None),
        ),
        "award_loyalty_action" => (
            "Give a member an action's points as the program's rule says (0 when no rule, or when the reference earned before)",
            "loyalty",
            vec![],
            Some("LoyaltyAward"),
            ok("200", "The points given", None),
        ),
        "use_loyalty_voucher" => (
            "Use a voucher code on an order: refused when unknown, used or past its day",
            "loyalty",
            vec![],
            Some("LoyaltyVoucherUse"),
            ok("200", "The redemption, used", None),
        ),
        "contact_referrals" => (
            "A contact's referral code (made when first asked for), the links that carry it (each program's referral form), whom they brought and who brought them",
            "loyalty",
            vec![],
            None,
            ok("200", "Referrals", None),
        ),
        "create_referral" => (
            "Attribute a new customer (a contact one may read, with no orders, not referred before) to the owner of a referral code; the same e-mail, phone, national ID or address on both sides is refused; both are rewarded by the programs' rules when the new customer's first order earns",
            "loyalty",
            vec![],
            Some("Referral"),
            ok("201", "The referral", None),
        ),
        "contact_consent" => (
            "A contact's consent per channel (email, sms, phone: granted, pending or withdrawn, with source, time and text) and its history",
            "consent",
            vec![],
            None,
            ok("200", "Consent and history", None),
        ),
        "set_contact_consent" => (
            "Record a contact's consent on a channel: granted (the text agreed to required; an e-mail grant is pending until the person follows the confirmation link sent to them) or withdrawn; every change is kept in the history",
            "consent",
            vec![],
            Some("ConsentInput"),
            ok("200", "Where the contact stands on the channel", None),
        ),
        "contact_portal" => (
            "A contact's customer-portal account (null when none): the addresses it signs in with, its status (invited, active, disabled), whether it acts for the company",
            "portal",
            vec![],
            None,
            ok("200", "The account", None),
        ),
        "invite_to_portal" => (
            "Open (or refresh) a contact's portal account with their first e-mail and phone, and with send tell them where to sign in; refused without an address (portal_no_address)",
            "portal",
            vec![],
            Some("PortalInvite"),
            ok("201", "The account", None),
        ),
        "set_portal_access" => (
            "Disable a contact's portal account (every session ends) or enable it again; company_access lets them see and act on their company's orders and requests",
            "portal",
            vec![],
            Some("PortalAccess"),
            ok("200", "The account", None),
        ),
        "portal_settings" => (
            "The customer portal's settings: sign_up lets a customer not invited sign up with an address one contact has; colour, the brand's; host, a host name of the portal's own",
            "portal",
            vec![],
            None,
            ok("200", "Settings", None),
        ),
        "set_portal_settings" => (
            "Change the customer portal's settings (admins)",
            "portal",
            vec![],
            Some("PortalSettings"),
            ok("200", "Settings", None),
        ),
        "list_suppressions" => (
            "The addresses nothing marketing is sent to (unsubscribed, bounced, or put there by a person), newest first (managers and admins)",
            "consent",
            vec![],
            None,
            ok("200", "Suppressions", None),
        ),
        "set_suppression" => (
            "Put an address on the suppression list, or take it off with remove (managers and admins)",
            "consent",
            vec![],
            Some("SuppressionInput"),
            ok("204", "Done", None),
        ),
        "list_reports" => {
            ("One's own reports and everyone's shared ones", "reports", vec![], None, ok("200", "Reports", None))
        }
        "get_report" => (
            "A report one owns, or a shared one (admins read every one)",
            "reports",
            vec![],
            None,
            ok("200", "The report", Some("Report")),
        ),
        "create_report" => (
            "Save a report: an object's records (a filter in the lists' syntax), up to three groupings as the aggregate's group, measures as its measure (sum, avg, min, max, distinct), a calendar (empty: the reader's) and a chart; a grouping on a removed field or a measure that does not fit its field is refused naming it",
            "reports",
            vec![],
            Some("ReportInput"),
            ok("201", "The report", Some("Report")),
        ),
        "update_report" => (
            "Replace a report (its owner or an admin)",
            "reports",
            vec![],
            Some("ReportInput"),
            ok("200", "The report", Some("Report")),
        ),
        "delete_report" => {
            ("Delete a report (its owner or an admin)", "reports", vec![], None, ok("204", "Deleted", None))
        }
        "run_report" => (
            "A report's figures, counting only the records the caller may see: each group's count and measures, and per group the filter of the records it counts (drill)",
            "reports",
            vec![],
            None,
            ok("200", "The figures", Some("ReportFigures")),
        ),
        "list_dashboards" => (
            "The caller's default dashboard (their role's: an admin's choice, else the built-in one for what they do) and their own and the shared dashboards",
            "dashboards",
            vec![],
            None,
            ok("200", "Dashboards", None),
        ),
        "get_dashboard" => (
            "A dashboard one owns or a shared one; the id default is the caller's default dashboard",
            "dashboards",
            vec![],
            None,
            ok("200", "The dashboard", Some("Dashboard")),
        ),
        "create_dashboard" => (
            "Save a dashboard: widgets in order, each a saved report (kind report) or a built-in (pipeline, revenue, forecast, quota, commission, leaderboard, tasks, queues, service_levels, csat, segments, campaigns, loyalty), one to four columns wide; only an admin makes one a role's default",
            "dashboards",
            vec![],
            Some("DashboardInput"),
            ok("201", "The dashboard", Some("Dashboard")),
        ),
        "update_dashboard" => (
            "Replace a dashboard (its owner or an admin)",
            "dashboards",
            vec![],
            Some("DashboardInput"),
            ok("200", "The dashboard", Some("Dashboard")),
        ),
        "delete_dashboard" => {
            ("Delete a dashboard (its owner or an admin)", "dashboards", vec![], None, ok("204", "Deleted", None))
        }
        "list_quotas" => (
            "The quotas the caller reads (their own, their teams', a manager's people's; an admin every one), each with its attainment",
            "performance",
            vec![],
            None,
            ok("200", "Quotas", None),
        ),
        "get_quota" => (
            "A quota and its attainment: reached so far, percent of the target, percent of the period passed, and the filter of the deals or orders counted",
            "performance",
            vec![],
            None,
            ok("200", "The attainment", Some("Attainment")),
        ),
        "create_quota" => (
            "Set a quota (admins anyone's; managers their people's and the teams they manage): a person or a team, a Jalali or Gregorian month, quarter or year by its key (1405-09, 1405-Q3, 1405), a measure (won_amount, won_count, paid_amount, paid_count) and a target; one person's quotas of one measure never overlap",
            "performance",
            vec![],
            Some("QuotaInput"),
            ok("201", "The quota", Some("Quota")),
        ),
        "update_quota" => (
            "Replace a quota (whoever may set it)",
            "performance",
            vec![],
            Some("QuotaInput"),
            ok("200", "The quota", Some("Quota")),
        ),
        "delete_quota" => {
            ("Delete a quota (whoever may set it)", "performance", vec![], None, ok("204", "Deleted", None))
        }
        "leaderboard" => (
            "The people the caller works with (an admin everyone who sells, a manager their people, a rep their teams) ranked by a measure over days from..to (before to; the current month by default); people with the same figure share a rank",
            "performance",
            vec![
                typed_param(
                    "measure",
                    "query",
                    "What ranks",
                    false,
                    json!({ "enum": ["won_amount", "won_count", "paid_amount", "paid_count", "win_rate", "activities"] }),
                ),
                typed_param(
                    "from",
                    "query",
                    "First day (YYYY-MM-DD)",
                    false,
                    json!({ "type": "string", "format": "date" }),
                ),
                typed_param(
                    "to",
                    "query",
                    "The day after the last",
                    false,
                    json!({ "type": "string", "format": "date" }),
                ),
                param("currency", "query", "Amounts in this currency (IRR)", false),
            ],
            None,
            ok("200", "The standings", None),
        ),
        "revenue_forecast" => (
            "The revenue forecast of the orders the caller reads (all but cancelled and returned): whole periods' actuals, the period under way so far (not fitted), the exponential smoothing model chosen by AIC, each forecast period with its 95% interval (never below zero), the seasonal-naive baseline, both backtested on the last periods, and the open pipeline weighted by stage probability by expected close; no model (null) without four whole periods",
            "performance",
            vec![
                typed_param("period", "query", "month (default) or week", false, json!({ "enum": ["month", "week"] })),
                typed_param(
                    "horizon",
                    "query",
                    "Periods ahead (1-24, default 6)",
                    false,
                    json!({ "type": "integer", "minimum": 1, "maximum": 24 }),
                ),
                typed_param(
                    "calendar",
                    "query",
                    "jalali or gregorian (default: the reader's)",
                    false,
                    json!({ "enum": ["", "jalali", "gregorian"] }),
                ),
                param("currency", "query", "Amounts in this currency (IRR)", false),
            ],
            None,
            ok("200", "The forecast", None),
        ),
        "performance" => (
            "Each person the caller works with (as the leaderboard's) over days from..to (before to; the current month by default): revenue from paid orders, deals won and lost, won amount, win rate, average deal, sales cycle in days (created to won), activities by kind, their customers' CSAT; and each stage's average days for the deals that left it in the period",
            "performance",
            vec![
                typed_param(
                    "from",
                    "query",
                    "First day (YYYY-MM-DD)",
                    false,
                    json!({ "type": "string", "format": "date" }),
                ),
                typed_param(
                    "to",
                    "query",
                    "The day after the last",
                    false,
                    json!({ "type": "string", "format": "date" }),
                ),
                param("currency", "query", "Amounts in this currency (IRR)", false),
            ],
            None,
            ok("200", "The scorecards", None),
        ),
        "customer_value" => (
            "The last customer-value fit (null before the first): when it ran, the BG/NBD and Gamma-Gamma parameters, the calibration against the last 26 weeks held out, and customers by churn risk and RFM segment",
            "analytics",
            vec![],
            None,
            ok("200", "The last fit", None),
        ),
        "run_customer_value" => (
            "Fit the customer-value models to every contact's orders now and write each contact's expected purchases, probability still buying, churn risk, expected spend, lifetime value and RFM score and segment (managers and admins); 422 not_enough_history with too few customers or repeat buyers",
            "analytics",
            vec![],
            None,
            ok("200", "The run", None),
        ),
        "list_commission_plans" => (
            "The commission plans the caller reads (admins and managers every plan, others the one they are in)",
            "commissions",
            vec![],
            None,
            ok("200", "Plans", None),
        ),
        "get_commission_plan" => {
            ("A commission plan", "commissions", vec![], None, ok("200", "The plan", Some("CommissionPlan")))
        }
        "create_commission_plan" => (
            "Make a commission plan (admins): a percent of won deals' amounts or of paid orders' lines (after discounts, before tax), a percent per product category (paid orders only), tiers multiplying the rate from a percent of the person's quota (no two tiers overlap), its members (one plan per person on any day), a statement period (a Jalali month by default) and the days it applies",
            "commissions",
            vec![],
            Some("CommissionPlanInput"),
            ok("201", "The plan", Some("CommissionPlan")),
        ),
        "update_commission_plan" => (
            "Replace a commission plan (admins); approved statements stay as they were",
            "commissions",
            vec![],
            Some("CommissionPlanInput"),
            ok("200", "The plan", Some("CommissionPlan")),
        ),
        "delete_commission_plan" => {
            ("Delete a commission plan (admins)", "commissions", vec![], None, ok("204", "Deleted", None))
        }
        "commission_overview" => (
            "The statements of the period holding a day (today by default) of everyone the caller may read who is in a plan then: their own, a manager's people, an admin everyone",
            "commissions",
            vec![typed_param(
                "day",
                "query",
                "A day of the period (YYYY-MM-DD)",
                false,
                json!({ "type": "string", "format": "date" }),
            )],
            None,
            ok("200", "Statements", None),
        ),
        "commission_statement" => (
            "A person's commission statement of a period of their plan (key 1405-08, 1405-Q3 or 2026-12; read by the person, their manager and admins): each deal or order line credited with its share, rate, multiplier and commission, clawbacks of records paid before that no longer count (after the period's own lines), totals, and attainment of the quota the tiers read; an approved statement as it was locked. The totals count every line; `lines` holds the part from `offset`, at most `limit` (500 by default), and `line_count` says how many there are",
            "commissions",
            vec![
                typed_param(
                    "offset",
                    "query",
                    "The first line answered (0 by default)",
                    false,
                    json!({ "type": "integer", "minimum": 0, "maximum": 4_294_967_295u64 }),
                ),
                typed_param(
                    "limit",
                    "query",
                    "Lines answered (500 by default, at most 5,000)",
                    false,
                    json!({ "type": "integer", "minimum": 0, "maximum": 5000 }),
                ),
            ],
            None,
            ok("200", "The statement", Some("CommissionStatement")),
        ),
        "approve_commission_statement" => (
            "Approve and lock a statement whose period is over (a manager of the person, or an admin): its lines are kept as they are, and what each record earned is recorded for clawbacks; 409 already_approved",
            "commissions",
            vec![],
            None,
            ok("200", "The approved statement", Some("CommissionStatement")),
        ),
        "get_commission_splits" => (
            "How a deal or an order is split between people for commissions (empty: its owner has it all)",
            "commissions",
            vec![],
            None,
            ok("200", "Splits", None),
        ),
        "set_commission_splits" => (
            "Split a deal or an order between active people, shares adding up to 100 (managers and admins who may change the record); an empty list gives it back to its owner",
            "commissions",
            vec![],
            Some("CommissionSplitsInput"),
            ok("200", "Splits", None),
        ),
        "customer_profitability" => (
            "A contact's or a company's profitability (object contact or company; for those who read products' cost price, else 403): its order lines' revenue after discounts and before tax, the products' cost (quantity × cost price; lines of a product without one counted apart), its tickets × the business's cost per ticket, profit and margin; cancelled and returned orders count for nothing",
            "analytics",
            vec![param("currency", "query", "Amounts in this currency (IRR)", false)],
            None,
            ok("200", "The profitability", None),
        ),
        "lead_scores" => (
            "The last lead-scoring run (null before the first): leads converted and lost it learned from, the share converted, its accuracy on a quarter of the history held out (AUC), its strongest weights, and the open leads scored",
            "analytics",
            vec![],
            None,
            ok("200", "The last run", None),
        ),
        "run_lead_scores" => (
            "Train the lead-score model on the converted and disqualified leads now and write every open lead's score, 0 to 100 (managers and admins); 422 not_enough_leads with fewer than 20 decided leads or 5 of either outcome",
            "analytics",
            vec![],
            None,
            ok("200", "The run", None),
        ),
        "list_award_rules" => {
            ("The award rules (everyone reads them)", "performance", vec![], None, ok("200", "Rules", None))
        }
        "create_award_rule" => (
            "Make an award rule (admins): when each Jalali month, quarter or year ends, the people in the first places (top, 1 to 10) by a leaderboard measure, with a figure above zero, get an award of this title, once per period",
            "performance",
            vec![],
            Some("AwardRuleInput"),
            ok("201", "The rule", None),
        ),
        "delete_award_rule" => (
            "Delete an award rule (admins); the awards it gave stay",
            "performance",
            vec![],
            None,
            ok("204", "Deleted", None),
        ),
        "apply_award_rules" => (
            "Give the awards of every rule for its last period that ended, as each night does (admins); those given already are not given again",
            "performance",
            vec![],
            None,
            ok("200", "How many were given", None),
        ),
        "user_awards" => ("A person's awards, newest first", "performance", vec![], None, ok("200", "Awards", None)),
        "give_award" => (
            "Give an active person an award (admins anyone; managers their people)",
            "performance",
            vec![],
            Some("AwardInput"),
            ok("201", "The award", Some("Award")),
        ),
        "withdraw_award" => {
            ("Withdraw an award (whoever may give it)", "performance", vec![], None, ok("204", "Withdrawn", None))
        }
        "list_segments" => ("The segments", "marketing", vec![], None, ok("200", "Segments", None)),
        "get_segment" => ("A segment's definition", "marketing", vec![], None, ok("200", "The segment", None)),
        "create_segment" => (
            "Define a segment (managers and admins): contacts or companies, the lists' filter, and conditions: spent_more (amount, currency, days), bought_within (days), bought_category (category, days), no_order_for (days), consented (channel; contacts), loyalty_tier (program, tier; contacts); or a static list whose members are added by hand",
            "marketing",
            vec![],
            Some("Segment"),
            ok("201", "The segment", None),
        ),
        "update_segment" => (
            "Replace a segment (managers and admins)",
            "marketing",
            vec![],
            Some("Segment"),
            ok("200", "The segment", None),
        ),
        "segment_members" => (
            "A segment's live count and first members, as far as one's access reaches; a filter naming a removed field is refused (segment_filter_broken)",
            "marketing",
            vec![typed_param(
                "limit",
                "query",
                "Members listed (50 by default)",
                false,
                json!({ "type": "integer", "minimum": 0, "maximum": 500 }),
            )],
            None,
            ok("200", "Count and members", None),
        ),
        "set_segment_members" => (
            "Add or remove members of a static segment (records one may read; managers and admins)",
            "marketing",
            vec![],
            Some("SegmentMembers"),
            ok("200", "The count", None),
        ),
        "list_campaigns" => ("The campaigns, newest first", "marketing", vec![], None, ok("200", "Campaigns", None)),
        "get_campaign" => (
            "A campaign and its report: recipients, sent, held back for want of consent, bounced, clicked, unsubscribed, and orders placed within the attribution window",
            "marketing",
            vec![],
            None,
            ok("200", "The campaign and its report", None),
        ),
        "create_campaign" => (
            "Make a campaign (managers and admins): a contact template, a contact segment, a start time (or by hand), messages a minute and the attribution window in days",
            "marketing",
            vec![],
            Some("Campaign"),
            ok("201", "The campaign", None),
        ),
        "update_campaign" => (
            "Replace a campaign not yet started (managers and admins)",
            "marketing",
            vec![],
            Some("Campaign"),
            ok("200", "The campaign", None),
        ),
        "start_campaign" => (
            "Start a draft campaign at its time (or now): a message per member of its segment is queued, sent throttled, each only with the person's consent then (managers and admins; once)",
            "marketing",
            vec![],
            None,
            ok("200", "The campaign, scheduled", None),
        ),
        "cancel_campaign" => (
            "Cancel a campaign; messages not yet sent are held back (managers and admins)",
            "marketing",
            vec![],
            None,
            ok("200", "The campaign", None),
        ),
        "award_segment_points" => (
            "Points in a loyalty program for every member of a contacts' segment now (managers and admins), each with the note on their statement; an Idempotency-Key makes a retry give nobody points twice. Answers the members and how many were given points",
            "marketing",
            vec![idempotency_key("Makes a retry the same grant")],
            Some("PointsGrant"),
            ok("200", "Members and those given", None),
        ),
        "grant_segment_benefit" => (
            "A benefit of their own for every member of a segment now (managers and admins): fields are a benefit's (name, kind, percent, amount, product, price_list, valid_from, valid_to, max_uses, description); whom it is for is the grant's. An Idempotency-Key makes a retry give nothing twice",
            "marketing",
            vec![idempotency_key("Makes a retry the same grant")],
            Some("BenefitGrant"),
            ok("200", "Members and those given", None),
        ),
        "contact_offers" => (
            "A contact's offers: the products they are most likely to buy next (others who bought what they bought bought them: reason bought_with, with a score), then best sellers they do not own (popular); never what they own or a product no longer sold. With the model's build time",
            "sales",
            vec![typed_param(
                "limit",
                "query",
                "Offers listed (5 by default)",
                false,
                json!({ "type": "integer", "minimum": 1, "maximum": 20 }),
            )],
            None,
            ok("200", "Offers", None),
        ),
        "get_offer_model" => (
            "When the offers' co-purchase model was built and from how many customers, products and pairs (null before the first build)",
            "sales",
            vec![],
            None,
            ok("200", "The model", None),
        ),
        "build_offer_model" => (
            "Build the offers' model now from every sold order's lines (managers and admins); it is also rebuilt each night",
            "sales",
            vec![],
            None,
            ok("202", "Queued", None),
        ),
        "contact_loyalty" => {
            ("A contact's memberships in every program", "loyalty", vec![], None, ok("200", "Memberships", None))
        }
        "list_surveys" => {
            ("The surveys: the built-in CSAT, NPS and polls", "feedback", vec![], None, ok("200", "Surveys", None))
        }
        "get_survey" => ("A survey with its questions", "feedback", vec![], None, ok("200", "The survey", None)),
        "create_survey" => (
            "Build a survey (admins): CSAT (first question a 1-5 rating), NPS (first question 0-10) or a poll; questions single or multiple choice, rating, NPS or free text, each shown only when an earlier answer is one of given values; NPS and polls may run on a schedule (every N days, the next contacts of customer groups)",
            "feedback",
            vec![],
            Some("Survey"),
            ok("201", "The survey", None),
        ),
        "update_survey" => (
            "Replace a survey (admins); a changed schedule starts again",
            "feedback",
            vec![],
            Some("Survey"),
            ok("200", "The survey", None),
        ),
        "delete_survey" => (
            "Remove a survey no one has answered (admins; one with answers is made inactive instead)",
            "feedback",
            vec![],
            None,
            ok("204", "Removed", None),
        ),
        "invite_survey" => (
            "Invite customers one may read to answer a survey, each about a record (a ticket, an order) and a member of staff; each invitation has a signed, single-use link that needs no login",
            "feedback",
            vec![],
            Some("SurveyInvitations"),
            ok("201", "The invitations with their links", None),
        ),
        "send_survey" => (
            "Send a survey now to up to limit contacts of customer groups (all contacts when none) not yet asked (admins); runs in the background",
            "feedback",
            vec![],
            Some("SurveySend"),
            ok("202", "Queued", None),
        ),
        "survey_results" => (
            "A survey's results: invitations, answers, response rate, CSAT (average, share of 4 and 5) or NPS, counts per question and value, per Jalali month, and the latest verbatims",
            "feedback",
            vec![
                typed_param(
                    "from",
                    "query",
                    "First day (ISO; default a year before to)",
                    false,
                    json!({ "type": "string", "format": "date" }),
                ),
                typed_param(
                    "to",
                    "query",
                    "Day after the last (ISO; default tomorrow)",
                    false,
                    json!({ "type": "string", "format": "date" }),
                ),
            ],
            None,
            ok("200", "Results", None),
        ),
        "answer_survey" => (
            "A customer answers through their invitation's link (its token; no login): once; a forged token is 404, one used 409",
            "feedback",
            vec![],
            Some("SurveyAnswer"),
            ok("201", "Answered", None),
        ),
        "staff_ratings" => (
            "Every rated member of staff's and team's CSAT from their customers' answers (average, share of 4 and 5, answers), best first",
            "feedback",
            vec![
                typed_param(
                    "from",
                    "query",
                    "First day (ISO; default a year before to)",
                    false,
                    json!({ "type": "string", "format": "date" }),
                ),
                typed_param(
                    "to",
                    "query",
                    "Day after the last (ISO; default tomorrow)",
                    false,
                    json!({ "type": "string", "format": "date" }),
                ),
            ],
            None,
            ok("200", "Ratings", None),
        ),
        "staff_feedback" => (
            "A member of staff's CSAT and their customers' latest answers",
            "feedback",
            vec![
                typed_param(
                    "from",
                    "query",
                    "First day (ISO; default a year before to)",
                    false,
                    json!({ "type": "string", "format": "date" }),
                ),
                typed_param(
                    "to",
                    "query",
                    "Day after the last (ISO; default tomorrow)",
                    false,
                    json!({ "type": "string", "format": "date" }),
                ),
            ],
            None,
            ok("200", "Rating and answers", None),
        ),
        "suggestion_askers" => (
            "The customers who asked for a suggestion (its first and each who voted), and whether they were told it is done",
            "feedback",
            vec![],
            None,
            ok("200", "Askers", None),
        ),
        "add_suggestion_asker" => (
            "Count a customer among those who asked for a suggestion (a vote; a second is no change)",
            "feedback",
            vec![],
            Some("SuggestionAsker"),
            ok("200", "The suggestion with its votes", Some("Record")),
        ),
        "suggestion_told" => (
            "Record that the customers who asked for a done suggestion were told",
            "feedback",
            vec![],
            None,
            ok("200", "How many", None),
        ),
        _ => ("", "", vec![], None, ok("200", "", None)),
    }
}

fn path_params(path: &str) -> Vec<Json_> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| param(name, "path", "", true))
        .collect()
}

fn operation(route: &Route) -> Json_ {
    let (summary, tag, extra, request, (status, response)) = describe(route.operation);
    let mut parameters = path_params(route.path);
    parameters.extend(extra);
    let mut responses = serde_json::Map::new();
    // Creations that may find what they would create: a replayed idempotency key, a rollup or
    // compound index the object already has.
    if matches!(route.operation, "create_record" | "create_rollup" | "create_compound_index") {
        responses.insert(
            "200".into(),
            json!({ "description": "Made before: the same as then", "content": response["content"].clone() }),
        );
    }
    responses.insert(status, response);
    let problem = json!({ "description": "A problem", "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } });
    responses.insert("4XX".into(), problem.clone());
    let mut op = json!({ "operationId": route.operation, "summary": summary, "tags": [tag], "parameters": parameters, "responses": responses });
    if let Some(schema) = request {
        op["requestBody"] = body(schema);
    }
    if !matches!(route.operation, "create_token" | "openapi_json" | "answer_survey" | "receive_hook") {
        op["security"] = json!([{ "bearer": [] }, { "session": [] }]);
    } else {
        op["security"] = json!([]);
    }
    op
}

/// The schemas of bodies and answers. Request bodies refuse members they do not name
/// (`additionalProperties: false`, as the server's `deny_unknown_fields`), and a member that
/// may be null says so: the server takes null for "not given".
fn schemas() -> Json_ {
    let string = json!({ "type": "string" });
    let nullable = |schema: Json_| -> Json_ {
        let mut schema = schema;
        if let Some(t) = schema.get("type").and_then(Json_::as_str).map(str::to_string) {
            schema["type"] = json!([t, "null"]);
        }
        schema
    };
    // Control characters (C0, DEL, C1) are refused in names and labels.
    let no_control = "[^\\u0000-\\u001f\\u007f-\\u009f]";
    // A name: trimmed, 1 to 100 characters, at least one that is not a space.
    let name = json!({ "type": "string", "maxLength": 100, "pattern": format!("^{no_control}*[^\\s\\u0000-\\u001f\\u007f-\\u009f]{no_control}*$") });
    let label = json!({ "type": "string", "maxLength": 100, "pattern": format!("^{no_control}*$") });
    let api_name = json!({ "type": "string", "maxLength": 40, "pattern": "^[a-z][a-z0-9]*(_[a-z0-9]+)*$" });
    let roles = json!(["admin", "manager", "agent", "read_only"]);
    let field_types: Vec<&str> = peyvand_records::FieldType::ALL.iter().map(|t| t.as_str()).collect();
    let new_field_types: Vec<&str> = field_types.iter().copied().filter(|t| *t != "user").collect();
    let options = json!({ "type": "object", "additionalProperties": false, "properties": {
        "options": { "type": "array", "items": { "type": "object", "required": ["value"], "properties": {
            "value": { "type": "string", "maxLength": 200, "pattern": format!("^{no_control}*[^\\s\\u0000-\\u001f\\u007f-\\u009f]{no_control}*$") },
            "label_fa": label, "label_en": label,
            "parent": { "type": ["string", "null"], "description": "The value of the depends_on field this choice belongs under" } } } },
        "depends_on": { "type": ["string", "null"], "description": "Another select field of the object whose value decides which choices apply" },
        "allow_new": { "type": "boolean" }, "multiple": { "type": "boolean" },
        "scale": { "type": ["integer", "null"], "minimum": 0, "maximum": 6 },
        "currency": { "type": ["string", "null"], "pattern": "^[A-Z]{3}$" }, "target": { "type": ["string", "null"] },
        "max": { "type": ["integer", "null"], "minimum": 1, "maximum": 10 },
        "max_length": { "type": ["integer", "null"], "minimum": 0, "maximum": u32::MAX } } });
    let new_field_type = json!({ "$ref": "#/components/schemas/NewFieldType" });
    let field_patch = json!({ "type": "object", "additionalProperties": false, "properties": {
        "label_fa": nullable(label.clone()), "label_en": nullable(label.clone()),
        "type": { "anyOf": [new_field_type, { "type": "null" }] },
        "required": { "type": ["boolean", "null"] }, "unique": { "type": ["boolean", "null"] }, "indexed": { "type": ["boolean", "null"] },
        "hidden": { "type": ["boolean", "null"] },
        "archived": { "type": ["boolean", "null"], "description": "false restores a removed field" }, "default_value": {},
        "help_fa": { "type": ["string", "null"] }, "help_en": { "type": ["string", "null"] },
        "options": { "anyOf": [{ "$ref": "#/components/schemas/FieldOptions" }, { "type": "null" }] },
        "position": { "type": ["integer", "null"], "minimum": i64::MIN, "maximum": i64::MAX } } });
    let mut all = json!({
        "Problem": { "type": "object", "required": ["type", "title", "status", "code"], "properties": {
            "type": string, "title": string, "status": { "type": "integer" }, "code": string, "detail": string,
            "errors": { "type": "array", "items": { "type": "object", "properties": {
                "field": string, "code": string, "message": string, "params": {} } } } } },
        "TokenRequest": { "type": "object", "required": ["email", "password"], "additionalProperties": false,
            "properties": { "email": string, "password": string, "name": nullable(name.clone()), "code": { "type": ["string", "null"] } } },
        "TokenName": { "type": "object", "required": ["name"], "additionalProperties": false, "properties": { "name": name } },
        "NewToken": { "type": "object", "properties": { "token": string, "id": string, "name": string } },
        "User": { "type": "object", "properties": { "id": string, "email": string, "name": string,
            "role": { "enum": roles }, "language": { "enum": ["fa", "en"] }, "active": { "type": "boolean" } } },
        "NewUser": { "type": "object", "required": ["email", "role", "password"], "additionalProperties": false, "properties": {
            "email": { "type": "string", "format": "email", "maxLength": 254 }, "name": label,
            "role": { "enum": roles }, "password": { "type": "string", "minLength": 8 }, "language": { "enum": ["fa", "en"] } } },
        "UserPatch": { "type": "object", "additionalProperties": false, "properties": { "name": nullable(name.clone()),
            "role": { "enum": ["admin", "manager", "agent", "read_only", null] }, "active": { "type": ["boolean", "null"] } } },
        "FieldType": { "enum": field_types },
        "NewFieldType": { "enum": new_field_types, "description": "A field of one's own cannot hold a user (use owner, or a relation)" },
        "FieldOptions": options,
        "NewField": { "type": "object", "required": ["api_name", "type"], "additionalProperties": false, "properties": {
            "api_name": { "allOf": [api_name, { "not": { "enum": peyvand_records::meta::RESERVED_NAMES } }] }, "label_fa": label, "label_en": label,
            "type": new_field_type, "required": { "type": "boolean" }, "unique": { "type": "boolean" },
            "indexed": { "type": "boolean" }, "hidden": { "type": "boolean" }, "default_value": {}, "help_fa": string, "help_en": string,
            "options": { "$ref": "#/components/schemas/FieldOptions" } } },
        "FieldPatch": field_patch,
        "Field": { "type": "object", "properties": {
            "id": string, "object": string, "api_name": string, "label_fa": string, "label_en": string,
            "type": { "$ref": "#/components/schemas/FieldType" }, "origin": { "enum": ["builtin", "custom"] },
            "required": { "type": "boolean" }, "unique": { "type": "boolean" }, "indexed": { "type": "boolean" }, "hidden": { "type": "boolean" },
            "archived": { "type": "boolean" }, "default_value": {}, "help_fa": string, "help_en": string,
            "options": { "type": "object" }, "position": { "type": "integer" } } },
        "NewObject": { "type": "object", "required": ["api_name", "label_fa", "label_en", "fields"], "additionalProperties": false, "properties": {
            "api_name": api_name, "label_fa": label, "label_en": label, "plural_fa": label, "plural_en": label,
            "title_field": { "type": ["string", "null"] },
            "fields": { "type": "array", "minItems": 1, "items": { "$ref": "#/components/schemas/NewField" } } } },
        "Object": { "type": "object", "properties": { "id": string, "api_name": string, "label_fa": string, "label_en": string,
            "plural_fa": string, "plural_en": string, "origin": { "enum": ["builtin", "custom"] }, "title_field": string,
            "fields": { "type": "array", "items": { "$ref": "#/components/schemas/Field" } } } },
        "RecordBody": { "type": "object", "required": ["fields"], "additionalProperties": false, "properties": {
            "fields": { "type": "object", "additionalProperties": true },
            "version": { "type": ["integer", "null"], "minimum": i64::MIN, "maximum": i64::MAX } } },
        "Record": { "type": "object", "properties": { "id": string, "object": string, "version": { "type": "integer" }, "title": string,
            "created_at": string, "updated_at": string, "created_by": { "type": ["string", "null"] }, "updated_by": { "type": ["string", "null"] },
            "deleted_at": { "type": ["string", "null"] }, "fields": { "type": "object", "additionalProperties": true } } },
        "NewView": { "type": "object", "required": ["object", "name"], "additionalProperties": false, "properties": {
            "object": string, "name": name, "shared": { "type": "boolean" }, "kind": { "enum": ["list", "board"] },
            "filter": { "description": "A filter in the syntax of docs/filters.md" }, "sort": string,
            "columns": { "type": "array", "items": string }, "group_by": { "type": ["string", "null"] } } },
        "View": { "type": "object", "properties": { "id": string, "owner_id": string, "object": string, "name": string,
            "shared": { "type": "boolean" }, "kind": { "enum": ["list", "board"] }, "filter": {}, "sort": string,
            "columns": { "type": "array", "items": string }, "group_by": { "type": ["string", "null"] } } },
        "NewRollup": { "type": "object", "additionalProperties": false, "properties": {
            "group": { "type": "string", "description": "As the aggregate's group parameter" },
            "sum": { "type": "string", "description": "As the aggregate's sum parameter" } } },
        "Rollup": { "type": "object", "properties": { "id": string, "object": string, "group": string, "sum": string, "created_at": string } },
        "NewCompoundIndex": { "type": "object", "additionalProperties": false, "required": ["fields"], "properties": {
            "fields": { "type": "array", "items": string, "minItems": 2, "maxItems": 4, "description": "Field names, in the index's order" } } },
        "CompoundIndex": { "type": "object", "properties": { "id": string, "object": string,
            "fields": { "type": "array", "items": string }, "created_at": string } },
        "Page": { "type": "object", "properties": { "records": { "type": "array", "items": { "$ref": "#/components/schemas/Record" } },
            "next_cursor": { "type": ["string", "null"] }, "total": { "type": "integer" }, "total_exact": { "type": "boolean" }, "total_is": { "enum": ["exact", "estimate", "at_least"] } } }
    });
    if let (Some(all), Json_::Object(access)) = (all.as_object_mut(), access_schemas(no_control, &roles)) {
        all.extend(access);
    }
    if let (Some(all), Json_::Object(insights)) = (all.as_object_mut(), insights_schemas()) {
        all.extend(insights);
    }
    if let (Some(all), Json_::Object(performance)) = (all.as_object_mut(), performance_schemas()) {
        all.extend(performance);
    }
    if let (Some(all), Json_::Object(sales)) = (all.as_object_mut(), sales_schemas(&name)) {
        all.extend(sales);
    }
    if let (Some(all), Json_::Object(service)) = (all.as_object_mut(), service_schemas()) {
        all.extend(service);
    }
    if let (Some(all), Json_::Object(feedback)) = (all.as_object_mut(), feedback_schemas()) {
        all.extend(feedback);
    }
    if let (Some(all), Json_::Object(automation)) = (all.as_object_mut(), automation_schemas()) {
        all.extend(automation);
    }
    if let (Some(all), Json_::Object(loyalty)) = (all.as_object_mut(), loyalty_schemas()) {
        all.extend(loyalty);
    }
    all
}

/// A list's size: 1 to 500, 100 by default.
fn limit_param() -> Json_ {
    typed_param(
        "limit",
        "query",
        "How many (1-500, default 100)",
        false,
        json!({ "type": "integer", "minimum": 1, "maximum": 500 }),
    )
}

/// The schemas of workflows, templates, webhooks and the outbox.
fn automation_schemas() -> Json_ {
    let string = json!({ "type": "string" });
    json!({
        "Workflow": { "type": "object", "required": ["name", "object", "definition"], "additionalProperties": false, "properties": {
            "name": { "type": "string", "maxLength": 200 }, "object": string, "enabled": { "type": "boolean" },
            "definition": { "type": "object", "required": ["trigger", "steps"], "additionalProperties": false, "properties": {
                "trigger": { "type": "object", "required": ["kind"], "description": "kind: created, changed (field, from, to), trashed, date_reached (field, offset_days, hour), schedule (weekday 0 = Saturday, hour), form_submitted (form), breach_near (target: first_response or resolution; tickets), email_received, hook_received (hook), tier_changed (program; contacts), points_expiring (program; contacts)",
                    "properties": { "kind": { "enum": ["created", "changed", "trashed", "date_reached", "schedule", "form_submitted", "breach_near", "email_received", "hook_received", "tier_changed", "points_expiring"] } } },
                "condition": { "type": ["object", "null"], "description": "A filter in the lists' JSON syntax" },
                "steps": { "type": "array", "items": { "type": "object", "required": ["kind"], "description": "kind: update, create, assign, send_email, send_sms, call_webhook, notify, add_tag, remove_tag, wait (minutes), wait_until (condition, timeout_minutes), branch, add_points (program, points: to the record's contact)",
                    "properties": { "kind": { "enum": ["update", "create", "assign", "send_email", "send_sms", "call_webhook", "notify", "add_tag", "remove_tag", "wait", "wait_until", "branch", "add_points"] } } } } } } } },
        "ReportSchedule": { "type": "object", "required": ["name", "format", "recipients", "hour"], "additionalProperties": false, "properties": {
            "name": { "type": "string", "maxLength": 200 }, "view_id": { "type": "string", "description": "A saved list view the caller can see (or else report_id)" },
            "report_id": { "type": ["string", "null"], "description": "A saved report the caller reads, sent instead of a view: its groups, count and measures" },
            "format": { "enum": ["csv", "xlsx", "html"] }, "recipients": { "type": "array", "minItems": 1, "maxItems": 100, "items": string },
            "weekday": { "type": ["integer", "null"], "minimum": 0, "maximum": 6, "description": "0 = Saturday; null: every day" },
            "hour": { "type": "integer", "minimum": 0, "maximum": 23 }, "enabled": { "type": "boolean" } } },
        "NotificationPreferences": { "type": "object", "required": ["preferences"], "additionalProperties": false, "properties": {
            "preferences": { "type": "array", "maxItems": 20, "items": { "type": "object", "required": ["kind", "bell", "email"], "additionalProperties": false, "properties": {
                "kind": { "enum": ["assigned", "reminder", "web_form", "workflow", "sla_warning", "sla_breach", "dealer_alert", "suggestion_done"] },
                "bell": { "type": "boolean" }, "email": { "enum": ["none", "instant", "daily"], "description": "daily: the morning's digest" } } } } } },
        "ImapSettings": { "type": "object", "required": ["host", "port", "security", "username"], "additionalProperties": false, "properties": {
            "host": string, "port": { "type": "integer", "minimum": 1, "maximum": 65535 }, "security": { "enum": ["none", "starttls", "tls"] },
            "username": string, "password": string, "mailbox": string,
            "support_address": { "type": "string", "description": "Messages to it open tickets; empty: none do" },
            "poll_seconds": { "type": "integer", "minimum": 10, "maximum": 3600 } } },
        "InboundHook": { "type": "object", "required": ["name", "object"], "additionalProperties": false, "properties": {
            "name": { "type": "string", "maxLength": 200 }, "object": string,
            "match_field": { "type": ["string", "null"], "description": "A unique or indexed field: a record with its value is updated" } } },
        "InboundBody": { "type": "object", "required": ["fields"], "properties": { "fields": { "type": "object" } } },
        "RecordRef": { "type": "object", "required": ["record_id"], "additionalProperties": false, "properties": { "record_id": string } },
        "MessageTemplate": { "type": "object", "required": ["name", "channel", "object", "body"], "additionalProperties": false, "properties": {
            "name": { "type": "string", "maxLength": 200 }, "channel": { "enum": ["email", "sms", "letter"] }, "object": string,
            "language": { "enum": ["fa", "en"] }, "subject": string, "body": string } },
        "WebhookSubscription": { "type": "object", "required": ["url"], "additionalProperties": false, "properties": {
            "url": { "type": "string", "format": "uri", "maxLength": 2000 }, "object": { "type": ["string", "null"], "description": "All objects when null" },
            "events": { "type": "array", "items": { "enum": ["created", "updated", "deleted", "restored"] }, "description": "All when empty" },
            "secret": { "type": ["string", "null"], "minLength": 16, "maxLength": 200, "description": "Made for it when absent" },
            "active": { "type": "boolean" } } },
        "SmtpSettings": { "type": "object", "required": ["host", "port", "security", "from_address"], "additionalProperties": false, "properties": {
            "host": string, "port": { "type": "integer", "minimum": 1, "maximum": 65535 }, "security": { "enum": ["none", "starttls", "tls"] },
            "username": string, "password": string, "from_address": { "type": "string", "format": "email" }, "from_name": string,
            "extra_root_pem": { "type": "string", "description": "A certificate authority to trust besides the system's (PEM)" },
            "public_url": { "type": "string", "description": "Where people open Peyvand (https://crm.example.com): links in messages start here" } } },
        "SmsSettings": { "type": "object", "required": ["url", "body_kind", "body"], "additionalProperties": false, "properties": {
            "url": { "type": "string", "description": "A template over to, text, sender, id" }, "body_kind": { "enum": ["form", "json"] },
            "body": { "type": "string", "description": "A template over to, text, sender, id (filters urlencode, json)" },
            "auth_header": string, "auth_value": string, "sender": string } }
    })
}

/// The schemas of loyalty programs, rewards and members' operations.
fn loyalty_schemas() -> Json_ {
    let text = |max: u32| json!({ "type": "string", "maxLength": max });
    let amount = json!({ "type": "string", "pattern": "^[0-9]{1,15}(\\.[0-9]{1,6})?$" });
    let factor = json!({ "type": "string", "pattern": "^[0-9]{1,4}(\\.[0-9]{1,2})?$" });
    let day = json!({ "type": "string", "format": "date" });
    let points = json!({ "type": "integer", "minimum": 1, "maximum": 1000000000 });
    let key = json!({ "type": "string", "pattern": "^[a-z0-9_]{1,40}$" });
    json!({
        "LoyaltyProgram": { "type": "object", "required": ["name_fa", "name_en"], "additionalProperties": false, "properties": {
            "name_fa": text(200), "name_en": text(200), "active": { "type": "boolean" },
            "currency": { "type": "string", "pattern": "^[A-Z]{3}$" },
            "spend_rules": { "type": "array", "maxItems": 10, "items": { "type": "object", "required": ["per", "points"], "additionalProperties": false,
                "properties": { "per": amount, "points": points, "product": { "type": ["string", "null"] }, "category": { "type": ["string", "null"] } } } },
            "action_rules": { "type": "array", "maxItems": 6, "items": { "type": "object", "required": ["action", "points"], "additionalProperties": false,
                "properties": { "action": { "enum": ["join", "birthday", "referral", "referred", "survey_answered", "review"] }, "points": points } } },
            "periods": { "type": "array", "maxItems": 10, "items": { "type": "object", "required": ["from", "to", "factor"], "additionalProperties": false,
                "properties": { "from": day, "to": day, "factor": factor } } },
            "tiers": { "type": "array", "maxItems": 10, "description": "Lowest first; the first at threshold 0, each above the one before",
                "items": { "type": "object", "required": ["key", "name_fa", "name_en", "threshold"], "additionalProperties": false,
                "properties": { "key": key, "name_fa": text(200), "name_en": text(200), "threshold": { "type": "integer", "minimum": 0, "maximum": 1000000000000_i64 },
                    "factor": factor, "discount_percent": { "type": ["string", "null"], "pattern": "^[0-9]{1,3}(\\.[0-9]{1,2})?$" } } } },
            "qualify_by": { "enum": ["points", "spend"] },
            "window_days": { "type": "integer", "minimum": 1, "maximum": 3650 },
            "keep_days": { "type": "integer", "minimum": 0, "maximum": 3650 },
            "expiry_days": { "type": ["integer", "null"], "minimum": 1, "maximum": 3650 },
            "cap_per_order": { "type": ["integer", "null"], "minimum": 1, "maximum": 1000000000 },
            "cap_per_period": { "type": ["object", "null"], "required": ["points", "days"], "additionalProperties": false,
                "properties": { "points": points, "days": { "type": "integer", "minimum": 1, "maximum": 3650 } } },
            "earn_on": { "type": "array", "minItems": 1, "items": { "enum": ["pending", "paid", "part_shipped", "shipped", "delivered"] } },
            "starts_on": { "type": ["string", "null"], "format": "date" },
            "warn_days": { "type": "integer", "minimum": 0, "maximum": 365 },
            "referral_form": { "type": ["string", "null"], "description": "The slug of a published web form making contacts: referral links open it" } } },
        "LoyaltyReward": { "type": "object", "required": ["name_fa", "name_en", "kind", "points"], "additionalProperties": false, "properties": {
            "name_fa": text(200), "name_en": text(200),
            "kind": { "enum": ["discount_percent", "discount_amount", "free_product", "voucher", "custom"] },
            "points": points, "value": { "type": ["string", "null"], "description": "The percent (discount_percent) or amount (discount_amount, voucher)" },
            "product": { "type": ["string", "null"], "description": "The free product" },
            "stock": { "type": ["integer", "null"], "minimum": 0, "maximum": 1000000000 }, "valid_days": { "type": "integer", "minimum": 1, "maximum": 3650 },
            "active": { "type": "boolean" } } },
        "LoyaltyEnrol": { "type": "object", "required": ["contact"], "additionalProperties": false, "properties": { "contact": { "type": "string" } } },
        "LoyaltyAdjust": { "type": "object", "required": ["points", "note"], "additionalProperties": false, "properties": {
            "points": { "type": "integer", "minimum": -1000000000, "maximum": 1000000000, "description": "Not zero" }, "note": text(500) } },
        "LoyaltyRedeem": { "type": "object", "required": ["reward"], "additionalProperties": false, "properties": {
            "reward": { "type": "string" }, "order": { "type": ["string", "null"] } } },
        "LoyaltyAward": { "type": "object", "required": ["action", "reference"], "additionalProperties": false, "properties": {
            "action": { "enum": ["join", "birthday", "referral", "referred", "survey_answered", "review"] }, "reference": text(200) } },
        "PointsGrant": { "type": "object", "required": ["program", "points", "note"], "additionalProperties": false, "properties": {
            "program": { "type": "string" },
            "points": { "type": "integer", "minimum": 1, "maximum": 1000000 },
            "note": { "type": "string", "minLength": 1, "maxLength": 500 }
        } },
        "BenefitGrant": { "type": "object", "required": ["fields"], "additionalProperties": false, "properties": {
            "fields": { "type": "object", "description": "A benefit's fields: name, kind, percent, amount, product, price_list, valid_from, valid_to, max_uses, description" }
        } },
        "Segment": { "type": "object", "required": ["name", "object"], "additionalProperties": false, "properties": {
            "name": { "type": "string", "minLength": 1, "maxLength": 200 }, "object": { "enum": ["contact", "company"] },
            "kind": { "enum": ["dynamic", "static"] }, "filter": { "type": ["object", "null"], "description": "The lists' filter syntax" },
            "conditions": { "type": "array", "maxItems": 10, "items": { "oneOf": [
                { "type": "object", "required": ["kind", "amount", "days"], "additionalProperties": false, "properties": {
                    "kind": { "const": "spent_more" }, "amount": { "type": "string", "pattern": "^[0-9]{1,15}(\\.[0-9]{1,6})?$" },
                    "currency": { "type": "string", "pattern": "^[A-Z]{3}$" }, "days": { "type": "integer", "minimum": 1, "maximum": 3650 } } },
                { "type": "object", "required": ["kind", "days"], "additionalProperties": false, "properties": {
                    "kind": { "enum": ["bought_within", "no_order_for"] }, "days": { "type": "integer", "minimum": 1, "maximum": 3650 } } },
                { "type": "object", "required": ["kind", "category"], "additionalProperties": false, "properties": {
                    "kind": { "const": "bought_category" }, "category": { "type": "string", "minLength": 1, "maxLength": 100 },
                    "days": { "type": ["integer", "null"], "minimum": 1, "maximum": 3650 } } },
                { "type": "object", "required": ["kind", "channel"], "additionalProperties": false, "properties": {
                    "kind": { "const": "consented" }, "channel": { "enum": ["email", "sms", "phone"] } } },
                { "type": "object", "required": ["kind", "program", "tier"], "additionalProperties": false, "properties": {
                    "kind": { "const": "loyalty_tier" }, "program": { "type": "string" }, "tier": { "type": "string" } } }
            ] } } } },
        "SegmentMembers": { "type": "object", "additionalProperties": false, "properties": {
            "add": { "type": "array", "maxItems": 5000, "items": { "type": "string" } }, "remove": { "type": "array", "maxItems": 5000, "items": { "type": "string" } } } },
        "Campaign": { "type": "object", "required": ["name", "template", "segment"], "additionalProperties": false, "properties": {
            "name": { "type": "string", "minLength": 1, "maxLength": 200 }, "template": { "type": "string" }, "segment": { "type": "string" },
            "scheduled_at": { "type": ["string", "null"], "format": "date-time" }, "per_minute": { "type": "integer", "minimum": 1, "maximum": 100000 },
            "attribution_days": { "type": "integer", "minimum": 0, "maximum": 365 } } },
        "ConsentInput": { "type": "object", "required": ["channel", "status", "source"], "additionalProperties": false, "properties": {
            "channel": { "enum": ["email", "sms", "phone"] }, "status": { "enum": ["granted", "withdrawn"] },
            "source": { "enum": ["form", "staff", "api", "import", "portal", "phone_call"] },
            "consent_text": { "type": ["string", "null"], "maxLength": 2000, "description": "Required when granted" } } },
        "PortalInvite": { "type": "object", "additionalProperties": false, "properties": {
            "company_access": { "type": "boolean" }, "send": { "type": "boolean", "default": true } } },
        "PortalAccess": { "type": "object", "required": ["active"], "additionalProperties": false, "properties": {
            "active": { "type": "boolean" }, "company_access": { "type": ["boolean", "null"] } } },
        "PortalSettings": { "type": "object", "additionalProperties": false, "properties": {
            "sign_up": { "type": "boolean" },
            "colour": { "type": ["string", "null"], "description": "The brand's colour, #rrggbb" },
            "host": { "type": ["string", "null"], "maxLength": 253, "description": "A host name where the portal alone answers" } } },
        "SuppressionInput": { "type": "object", "required": ["address", "channel"], "additionalProperties": false, "properties": {
            "address": { "type": "string", "minLength": 1, "maxLength": 320 }, "channel": { "enum": ["email", "sms", "phone"] },
            "remove": { "type": "boolean" } } },
        "Referral": { "type": "object", "required": ["code", "contact"], "additionalProperties": false, "properties": {
            "code": { "type": "string", "maxLength": 40 }, "contact": { "type": "string" } } },
        "LoyaltyVoucherUse": { "type": "object", "required": ["order"], "additionalProperties": false, "properties": { "order": { "type": "string" } } }
    })
}

/// The schemas of surveys and the suggestion box.
fn feedback_schemas() -> Json_ {
    let string = json!({ "type": "string" });
    let key = json!({ "type": "string", "pattern": "^[a-z0-9_]{1,40}$" });
    let choice = json!({ "type": "object", "required": ["value", "label_fa"], "additionalProperties": false, "properties": {
        "value": key, "label_fa": { "type": "string", "maxLength": 200 }, "label_en": { "type": "string", "maxLength": 200 } } });
    let when = json!({ "type": ["object", "null"], "required": ["question", "any_of"], "additionalProperties": false,
        "description": "Asked only when an earlier question's answer is one of any_of",
        "properties": { "question": key, "any_of": { "type": "array", "items": string } } });
    let question = json!({ "type": "object", "required": ["key", "kind", "label_fa"], "additionalProperties": false, "properties": {
        "key": key, "kind": { "enum": ["rating", "nps", "single", "multiple", "text"] },
        "label_fa": { "type": "string", "maxLength": 500 }, "label_en": { "type": "string", "maxLength": 500 },
        "required": { "type": "boolean" }, "choices": { "type": "array", "maxItems": 20, "items": choice }, "when": when } });
    let schedule = json!({ "type": ["object", "null"], "required": ["every_days", "per_run"], "additionalProperties": false, "properties": {
        "every_days": { "type": "integer", "minimum": 1, "maximum": 365 }, "per_run": { "type": "integer", "minimum": 1, "maximum": 10000 },
        "customer_groups": { "type": "array", "maxItems": 50, "items": string } } });
    json!({
        "Survey": { "type": "object", "required": ["name", "kind", "questions"], "additionalProperties": false, "properties": {
            "name": { "type": "string", "maxLength": 200 }, "kind": { "enum": ["csat", "nps", "poll"] }, "active": { "type": "boolean" },
            "intro_fa": string, "intro_en": string, "thanks_fa": string, "thanks_en": string,
            "expires_days": { "type": "integer", "minimum": 1, "maximum": 365, "description": "Days an invitation stays open (default 30)" },
            "questions": { "type": "array", "minItems": 1, "maxItems": 30, "items": { "$ref": "#/components/schemas/SurveyQuestion" } },
            "schedule": schedule } },
        "SurveyQuestion": question,
        "SurveyInvitations": { "type": "object", "required": ["invitations"], "additionalProperties": false, "properties": {
            "invitations": { "type": "array", "minItems": 1, "maxItems": 1000, "items": { "type": "object", "required": ["contact"], "additionalProperties": false, "properties": {
                "contact": string, "record_object": { "type": ["string", "null"] }, "record_id": { "type": ["string", "null"] },
                "staff": { "type": ["string", "null"], "description": "The user who served the customer" } } } } } },
        "SurveySend": { "type": "object", "required": ["limit"], "additionalProperties": false, "properties": {
            "customer_groups": { "type": "array", "items": string }, "limit": { "type": "integer", "minimum": 1, "maximum": 10000 } } },
        "SurveyAnswer": { "type": "object", "required": ["answers"], "additionalProperties": false, "properties": {
            "answers": { "type": "object", "description": "Each question's key: a number (rating, NPS), a choice's value, a list of values (multiple) or text", "additionalProperties": true } } },
        "SuggestionAsker": { "type": "object", "required": ["contact"], "additionalProperties": false, "properties": { "contact": string } }
    })
}

/// The schemas of the support desk.
fn service_schemas() -> Json_ {
    let string = json!({ "type": "string" });
    json!({
        "TicketReply": { "type": "object", "additionalProperties": false, "properties": {
            "body": { "type": "string", "maxLength": 20000 }, "public": { "type": "boolean" },
            "status": { "type": ["string", "null"], "enum": ["new", "open", "waiting", "resolved", "closed", "reopened", null] },
            "article": { "type": ["string", "null"], "description": "A published article the reply answers with" },
            "files": { "type": "array", "maxItems": 5, "items": { "type": "object", "required": ["file_name", "content_base64"], "additionalProperties": false,
                "properties": { "file_name": { "type": "string", "maxLength": 255 }, "content_base64": string } } } } },
        "TicketMerge": { "type": "object", "required": ["into"], "additionalProperties": false, "properties": { "into": { "type": "string", "description": "The ticket this one is merged into" } } },
        "QueueMode": { "type": "object", "required": ["mode"], "additionalProperties": false, "properties": { "mode": { "enum": ["manual", "round_robin", "least_loaded"] } } },
        "ServiceCalendar": { "type": "object", "required": ["name", "hours"], "additionalProperties": false, "properties": {
            "id": { "type": "string", "description": "Ignored: the path or a new id names it" }, "name": string, "is_default": { "type": "boolean" },
            "hours": { "type": "object", "required": ["shifts"], "additionalProperties": false, "properties": {
                "shifts": { "type": "array", "items": { "type": "object", "required": ["day", "from", "to"], "additionalProperties": false, "properties": {
                    "day": { "enum": ["saturday", "sunday", "monday", "tuesday", "wednesday", "thursday", "friday"] },
                    "from": { "type": "string", "description": "HH:MM" }, "to": { "type": "string", "description": "HH:MM; 24:00 is the end of the day" } } } } } } } },
        "Holidays": { "type": "object", "required": ["holidays"], "additionalProperties": false, "properties": {
            "holidays": { "type": "array", "maxItems": 1000, "items": { "type": "object", "required": ["from", "to", "name_fa"], "additionalProperties": false, "properties": {
                "from": { "type": "string", "format": "date" }, "to": { "type": "string", "format": "date" }, "name_fa": string, "name_en": string } } } } },
        "SlaPolicy": { "type": "object", "required": ["name", "calendar", "targets"], "additionalProperties": false, "properties": {
            "id": { "type": "string", "description": "Ignored: the path or a new id names it" }, "name": string,
            "position": { "type": "integer", "minimum": i64::MIN, "maximum": i64::MAX, "description": "Policies are tried by position; 0 keeps it or puts a new one last" },
            "categories": { "type": "array", "items": string }, "customer_groups": { "type": "array", "items": string },
            "calendar": { "type": "string", "description": "The calendar's id" },
            "targets": { "type": "array", "items": { "type": "object", "required": ["priority", "first_response_minutes", "resolution_minutes"], "additionalProperties": false, "properties": {
                "priority": { "enum": ["low", "normal", "high", "urgent"] }, "first_response_minutes": { "type": "integer", "minimum": 1, "maximum": 525_600 },
                "resolution_minutes": { "type": "integer", "minimum": 1, "maximum": 525_600 } } } },
            "warn_minutes": { "type": "integer", "minimum": 0, "maximum": 10_080, "description": "How long before a deadline its warning comes (0: none)" },
            "escalation": { "type": "object", "additionalProperties": false, "properties": {
                "notify": { "type": "boolean" }, "raise_priority": { "type": "boolean" }, "reassign_to": { "type": ["string", "null"] } } } } },
        "KbVote": { "type": "object", "required": ["helpful"], "additionalProperties": false, "properties": { "helpful": { "type": "boolean" } } },
        "ServiceSettings": { "type": "object", "additionalProperties": false, "properties": { "closed_reply": { "enum": ["reopen", "refuse", null], "description": "null or absent leaves it" },
            "dealer_threshold": { "type": ["number", "null"], "minimum": 0, "maximum": 10000, "description": "Complaints per 10,000 units above which a dealer raises an alert; 0 clears it, null or absent leaves it" } } },
        "DealerCount": { "type": "object", "required": ["month"], "additionalProperties": false, "properties": { "month": { "type": "string", "description": "A Jalali month, as 1405-09" } } }
    })
}

/// The schemas of pipelines.
fn sales_schemas(name: &Json_) -> Json_ {
    let string = json!({ "type": "string" });
    // A key as an API name; empty or left out, one is made.
    let key = json!({ "type": "string", "maxLength": 40, "pattern": "^([a-z][a-z0-9]*(_[a-z0-9]+)*)?$" });
    let kind = json!({ "enum": ["open", "won", "lost"] });
    json!({
        "Stage": { "type": "object", "required": ["label_fa", "label_en", "probability", "kind"], "additionalProperties": false,
            "properties": { "key": key, "label_fa": name, "label_en": name,
                "probability": { "type": "integer", "minimum": 0, "maximum": 100, "description": "Won stages 100, lost 0" },
                "kind": kind } },
        "Pipeline": { "type": "object", "required": ["name_fa", "name_en", "stages"], "additionalProperties": false,
            "properties": { "key": key, "name_fa": name, "name_en": name,
                "position": { "type": "integer", "minimum": 0, "maximum": 1_000_000 },
                "stale_days": { "type": ["integer", "null"], "minimum": 1, "maximum": 3650 },
                "stages": { "type": "array", "minItems": 3, "maxItems": 30, "items": { "$ref": "#/components/schemas/Stage" } } } },
        "Conversion": { "type": "object", "additionalProperties": false, "properties": {
            "contact_id": { "type": ["string", "null"], "description": "An existing contact instead of a new one" },
            "company_id": { "type": ["string", "null"], "description": "An existing company instead of a new one" },
            "no_company": { "type": "boolean", "description": "Make no company even if the lead names one" },
            "deal": { "type": ["object", "null"], "description": "Open a deal with these fields (name, amount, pipeline, stage…)" } } },
        "Converted": { "type": "object", "properties": {
            "lead": { "$ref": "#/components/schemas/Record" }, "contact": { "$ref": "#/components/schemas/Record" },
            "company": { "anyOf": [{ "$ref": "#/components/schemas/Record" }, { "type": "null" }] },
            "deal": { "anyOf": [{ "$ref": "#/components/schemas/Record" }, { "type": "null" }] },
            "activities": { "type": "integer" } } },
        "Lines": { "type": "object", "required": ["lines"], "additionalProperties": false, "properties": {
            "version": { "type": ["integer", "null"], "minimum": 0, "maximum": i64::MAX, "description": "The document's version as read" },
            "lines": { "type": "array", "maxItems": 200, "items": { "type": "object", "properties": {
                "product": { "type": ["string", "null"] }, "description": { "type": ["string", "null"] },
                "quantity": { "type": ["string", "number"] }, "unit_price": {}, "discount_percent": {},
                "discount_amount": {}, "tax_percent": {} } } } } },
        "DuplicateScan": { "type": "object", "required": ["object"], "additionalProperties": false, "properties": {
            "object": { "enum": ["contact", "company", "lead"] } } },
        "DuplicatePair": { "type": "object", "required": ["object", "a", "b"], "additionalProperties": false, "properties": {
            "object": { "enum": ["contact", "company", "lead"] }, "a": string, "b": string } },
        "Participants": { "type": "object", "additionalProperties": false, "properties": {
            "contacts": { "type": "array", "maxItems": 50, "items": string }, "users": { "type": "array", "maxItems": 50, "items": string } } },
        "WebForm": { "type": "object", "required": ["name", "object", "fields", "assign"], "additionalProperties": false, "properties": {
            "name": { "type": "string", "maxLength": 100 }, "object": { "enum": ["lead", "contact", "ticket"] },
            "fields": { "type": "array", "minItems": 1, "maxItems": 30, "items": { "type": "object", "required": ["field"],
                "additionalProperties": false, "properties": { "field": string, "required": { "type": "boolean" } } } },
            "intro_fa": string, "intro_en": string, "consent_fa": string, "consent_en": string,
            "consent_required": { "type": "boolean" }, "thanks_fa": string, "thanks_en": string,
            "redirect": { "type": ["string", "null"], "description": "An http(s) address to go to after sending" },
            "campaign": { "type": ["string", "null"], "description": "Tags the records when the address has no utm_campaign" },
            "assign": { "oneOf": [
                { "type": "object", "required": ["kind", "user"], "additionalProperties": false, "properties": { "kind": { "const": "user" }, "user": string } },
                { "type": "object", "required": ["kind", "team"], "additionalProperties": false, "properties": { "kind": { "const": "round_robin" }, "team": string } } ] },
            "active": { "type": "boolean" } } },
        "WebFormOut": { "type": "object", "properties": { "id": string, "slug": string, "name": string, "object": string,
            "fields": { "type": "array", "items": { "type": "object" } }, "assign": { "type": "object" }, "active": { "type": "boolean" },
            "created_at": string, "updated_at": string } },
        "Merge": { "type": "object", "required": ["with"], "additionalProperties": false, "properties": {
            "with": { "type": "string", "description": "The record merged into this one" },
            "take": { "type": "array", "items": { "type": "string" }, "description": "Fields whose value comes from the other record" } } },
        "SalesSettingsInput": { "type": "object", "additionalProperties": false, "properties": {
            "business": { "type": ["object", "null"], "additionalProperties": false, "properties": business_keys(),
                "description": "The business's details by key; an empty value removes one" },
            "numbering": { "type": "array", "maxItems": 2, "items": { "type": "object", "required": ["kind", "pattern"],
                "additionalProperties": false, "properties": { "kind": { "enum": ["quote", "order"] },
                    "pattern": { "type": "string", "maxLength": 40,
                        "description": "Text with {jy} (Jalali year), {y} (Gregorian year) and exactly one {n} or {n:W} (the counter, zero-padded to W ≤ 12)" },
                    "persian_digits": { "type": "boolean" } } } } } },
        "SalesSettings": { "type": "object", "properties": {
            "business": { "type": "object", "additionalProperties": string },
            "numbering": { "type": "array", "items": { "type": "object", "properties": { "kind": string, "pattern": string,
                "persian_digits": { "type": "boolean" }, "next": string } } } } },
        "PipelineOut": { "type": "object", "properties": { "key": string, "name_fa": string, "name_en": string,
            "position": { "type": "integer" }, "stale_days": { "type": ["integer", "null"] },
            "stages": { "type": "array", "items": { "type": "object", "properties": { "key": string, "label_fa": string,
                "label_en": string, "probability": { "type": "integer" }, "kind": kind } } } } }
    })
}

/// The business's details' keys, each a text of at most 500 characters.
fn business_keys() -> Json_ {
    let value = json!({ "type": "string", "maxLength": 500 });
    peyvand_crm::sales::business::KEYS.iter().map(|k| (k.to_string(), value.clone())).collect()
}

/// The schemas of teams, access rules and shares.
fn access_schemas(no_control: &str, roles: &Json_) -> Json_ {
    let string = json!({ "type": "string" });
    json!({
        "Team": { "type": "object", "required": ["name"], "additionalProperties": false, "properties": {
            "name": { "type": "string", "maxLength": 200, "pattern": format!("^{no_control}*[^\\s\\u0000-\\u001f\\u007f-\\u009f]{no_control}*$") },
            "parent_id": { "type": ["string", "null"] }, "manager_id": { "type": ["string", "null"] },
            "members": { "type": "array", "items": string } } },
        "TeamOut": { "type": "object", "properties": { "id": string, "name": string,
            "parent_id": { "type": ["string", "null"] }, "manager_id": { "type": ["string", "null"] },
            "members": { "type": "array", "items": string }, "created_at": string } },
        "AccessRule": { "type": "object", "required": ["read", "change"], "additionalProperties": false, "properties": {
            "read": { "enum": ["none", "own", "team", "all"] }, "change": { "enum": ["none", "own", "team", "all"] } } },
        "AccessRuleOut": { "type": "object", "properties": { "role": { "enum": roles }, "object": string,
            "read": { "enum": ["none", "own", "team", "all"] }, "change": { "enum": ["none", "own", "team", "all"] },
            "custom": { "type": "boolean" } } },
        "FieldRule": { "type": "object", "required": ["access"], "additionalProperties": false, "properties": {
            "access": { "enum": ["hidden", "read_only", "editable"] } } },
        "FieldRuleOut": { "type": "object", "properties": { "role": { "enum": roles }, "object": string, "field": string,
            "access": { "enum": ["hidden", "read_only", "editable"] } } },
        "HandoverRequest": { "type": "object", "required": ["successor_id"], "additionalProperties": false,
            "properties": { "successor_id": string } },
        "Handover": { "type": "object", "properties": { "id": string, "leaver_id": string, "successor_id": string,
            "moved": { "type": "integer" }, "views": { "type": "integer" }, "started_at": string,
            "finished_at": { "type": ["string", "null"] } } },
        "Share": { "type": "object", "required": ["level"], "additionalProperties": false, "properties": {
            "level": { "enum": ["read", "change"] } } }
    })
}

/// The whole document.
pub fn document() -> Json_ {
    let mut paths = serde_json::Map::new();
    for route in ROUTES {
        let entry = paths.entry(format!("/api/v1{}", route.path)).or_insert_with(|| json!({}));
        entry[route.method] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Peyvand CRM API", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Records of every object (standard and custom), metadata, search and accounts. Errors are RFC 9457 problem details." },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "An API token from POST /api/v1/auth/token" },
                "session": { "type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE, "description": "The web session; unsafe methods also need the X-CSRF-Token header" }
            }
        }
    })
}

pub async fn openapi_json() -> Json<Json_> {
    Json(document())
}

/// The schemas of saved reports and their figures.
fn insights_schemas() -> Json_ {
    let string = json!({ "type": "string" });
    json!({
        "Aggregate": { "type": "object", "properties": { "truncated": { "type": "boolean" },
            "source": { "enum": ["scan", "rollup", "index"], "description": "Computed from the records, from a rollup, or from the records group by group along a compound index" }, "rows": { "type": "array", "items": {
            "type": "object", "properties": { "group": { "type": "object", "additionalProperties": true }, "count": { "type": "integer" },
            "sum": { "type": "object", "additionalProperties": { "type": ["integer", "string", "null"] } },
            "measures": { "type": "object", "description": "Each measure by its name (avg:amount)", "additionalProperties": { "type": ["integer", "string", "null"] } } } } } } },
        "ReportInput": { "type": "object", "required": ["name", "object"], "additionalProperties": false, "properties": {
            "name": { "type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S" }, "object": { "type": "string" },
            "filter": { "type": ["object", "null"], "description": "The lists' filter syntax" },
            "group": { "type": "string", "description": "As the aggregate's group parameter" },
            "measures": { "type": "string", "description": "As the aggregate's measure parameter" },
            "calendar": { "enum": ["", "gregorian", "jalali"] },
            "chart": { "enum": ["bar", "stacked", "line", "area", "donut", "funnel", "kpi", "table"], "description": "kpi: the current period's figure and its trend (the first grouping a period)" },
            "shared": { "type": "boolean" } } },
        "Report": { "type": "object", "properties": { "id": string, "owner_id": string, "name": string, "object": string,
            "filter": { "type": ["object", "null"] }, "group": string, "measures": string, "calendar": string, "chart": string,
            "shared": { "type": "boolean" }, "created_at": string, "updated_at": string } },
        "ReportFigures": { "type": "object", "required": ["aggregate", "calendar", "groups", "measures", "drill"], "properties": {
            "aggregate": { "$ref": "#/components/schemas/Aggregate" }, "calendar": { "enum": ["gregorian", "jalali"] },
            "groups": { "type": "array", "items": { "type": "array" } }, "measures": { "type": "array", "items": string },
            "drill": { "type": "array", "items": { "type": ["object", "null"] } } } }
    })
}

/// The schemas of dashboards, quotas and awards.
fn performance_schemas() -> Json_ {
    let string = json!({ "type": "string" });
    let nullable = json!({ "type": ["string", "null"] });
    json!({
        "DashboardInput": { "type": "object", "required": ["name"], "additionalProperties": false, "properties": {
            "name": { "type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S" },
            "widgets": { "type": "array", "maxItems": 16, "items": { "type": "object", "required": ["kind"], "additionalProperties": false, "properties": {
                "kind": { "enum": ["report", "pipeline", "revenue", "forecast", "quota", "commission", "leaderboard", "tasks", "queues", "service_levels", "csat", "segments", "campaigns", "loyalty"] },
                "report": { "type": ["string", "null"], "description": "The report's id (kind report only)" },
                "width": { "type": "integer", "minimum": 1, "maximum": 4 } } } },
            "shared": { "type": "boolean" },
            "role": { "type": ["string", "null"], "enum": ["admin", "manager", "agent", "read_only", null], "description": "Admins only" } } },
        "Dashboard": { "type": "object", "properties": { "id": string, "owner_id": string, "name": string,
            "widgets": { "type": "array", "items": { "type": "object" } }, "shared": { "type": "boolean" }, "role": nullable,
            "created_at": string, "updated_at": string } },
        "QuotaInput": { "type": "object", "required": ["period", "key", "measure", "target"], "additionalProperties": false, "properties": {
            "user_id": nullable, "team_id": nullable, "period": { "enum": ["month", "quarter", "year"] },
            "calendar": { "enum": ["", "jalali", "gregorian"] }, "key": { "type": "string", "pattern": "^[0-9]{4}(-(Q[1-4]|[0-9]{2}))?$" },
            "measure": { "enum": ["won_amount", "won_count", "paid_amount", "paid_count"] },
            "target": { "type": "string", "pattern": "^[0-9]{1,15}(\\.[0-9]{1,2})?$" }, "currency": { "type": "string", "pattern": "^([A-Z]{3})?$" } } },
        "Quota": { "type": "object", "properties": { "id": string, "user_id": nullable, "team_id": nullable, "period": string,
            "calendar": string, "key": string, "starts_on": string, "ends_before": string, "measure": string, "target": string,
            "currency": string, "created_by": string, "created_at": string, "updated_at": string } },
        "Attainment": { "type": "object", "properties": { "quota": { "$ref": "#/components/schemas/Quota" }, "actual": string,
            "percent": { "type": ["number", "null"] }, "elapsed_percent": { "type": "number" }, "object": string, "drill": { "type": "object" } } },
        "CommissionPlanInput": { "type": "object", "required": ["name", "basis", "rate", "valid_from"], "additionalProperties": false, "properties": {
            "name": { "type": "string", "minLength": 1, "maxLength": 120, "pattern": "\\S" },
            "basis": { "enum": ["won_deals", "paid_orders"] },
            "rate": { "type": "string", "maxLength": 40, "description": "Percent, 0 to 100, up to four decimals (Persian digits welcome)" },
            "currency": { "type": "string", "pattern": "^([A-Z]{3})?$" },
            "period": { "enum": ["", "month", "quarter"] }, "calendar": { "enum": ["", "jalali", "gregorian"] },
            "tiers": { "type": "array", "maxItems": 10, "items": { "type": "object", "required": ["from", "multiplier"], "additionalProperties": false, "properties": {
                "from": { "type": "string", "maxLength": 40, "description": "Percent of quota, up to two decimals" },
                "to": { "type": ["string", "null"], "maxLength": 40, "description": "Percent of quota, above from; empty or null: without end" },
                "multiplier": { "type": "string", "maxLength": 40, "description": "Up to two decimals" } } } },
            "category_rates": { "type": "object", "additionalProperties": { "type": "string", "maxLength": 40 }, "description": "A percent per product category (its choice value); an empty one is left out" },
            "members": { "type": "array", "maxItems": 500, "items": string },
            "valid_from": { "type": "string", "format": "date" },
            "valid_to": { "type": ["string", "null"], "pattern": "^([0-9]{4}-[0-9]{2}-[0-9]{2})?$", "description": "The last day (YYYY-MM-DD); empty or null: without end" } } },
        "CommissionPlan": { "type": "object", "properties": { "id": string, "name": string, "basis": string, "rate": string,
            "currency": string, "period": string, "calendar": string, "tiers": { "type": "array", "items": { "type": "object" } },
            "category_rates": { "type": "object" }, "members": { "type": "array", "items": string }, "valid_from": string,
            "valid_to": nullable, "created_by": string, "created_at": string, "updated_at": string } },
        "CommissionStatement": { "type": "object", "properties": { "user_id": string, "plan_id": string, "plan_name": string,
            "basis": string, "period": string, "calendar": string, "key": string, "starts_on": string, "ends_before": string,
            "currency": string, "lines": { "type": "array", "items": { "type": "object", "properties": { "object": string,
                "record_id": string, "title": string, "day": string, "category": nullable, "amount": string, "share": string,
                "rate": string, "multiplier": string, "commission": string, "clawback": { "type": "boolean" } } } },
            "credited": string, "commission": string, "clawback": string, "total": string, "quota_target": nullable,
            "attainment_before": { "type": ["number", "null"] }, "attainment_after": { "type": ["number", "null"] },
            "status": { "enum": ["open", "approved"] }, "approved_by": nullable, "approved_at": nullable,
            "period_over": { "type": "boolean" }, "line_count": { "type": "integer" }, "lines_from": { "type": "integer" } } },
        "CommissionSplitsInput": { "type": "object", "required": ["splits"], "additionalProperties": false, "properties": {
            "splits": { "type": "array", "maxItems": 20, "items": { "type": "object", "required": ["user_id", "share"], "additionalProperties": false, "properties": {
                "user_id": string, "share": { "type": "string", "maxLength": 40, "description": "Percent, above zero, up to two decimals" } } } } } },
        "AwardRuleInput": { "type": "object", "required": ["title", "measure", "period", "top"], "additionalProperties": false, "properties": {
            "title": { "type": "string", "minLength": 1, "maxLength": 120, "pattern": "\\S" }, "reason": { "type": "string", "maxLength": 1000 },
            "measure": { "enum": ["won_amount", "won_count", "paid_amount", "paid_count", "win_rate", "activities"] },
            "period": { "enum": ["month", "quarter", "year"] }, "top": { "type": "integer", "minimum": 1, "maximum": 10 } } },
        "AwardInput": { "type": "object", "required": ["user_id", "title"], "additionalProperties": false, "properties": {
            "user_id": string, "title": { "type": "string", "minLength": 1, "maxLength": 120, "pattern": "\\S" },
            "reason": { "type": "string", "maxLength": 1000 } } },
        "Award": { "type": "object", "properties": { "id": string, "user_id": string, "title": string, "reason": string,
            "given_by": string, "given_at": string } }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_security_log_kinds_are_the_stores() {
        assert_eq!(KINDS.to_vec(), peyvand_store::security::Kind::ALL.map(|k| k.as_str()).to_vec());
    }

    #[test]
    fn every_route_is_described_and_every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for route in ROUTES {
            let op = &doc["paths"][format!("/api/v1{}", route.path)][route.method];
            assert!(!op["summary"].as_str().unwrap_or("").is_empty(), "{} has no description", route.operation);
        }
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            assert!(schemas.contains_key(&name), "missing schema {name}");
        }
    }
}
