//! Feedback on both backends: a resolved ticket's CSAT through a signed, single-use link (a
//! forged or reused link opens nothing), skip logic kept by the server, results (CSAT, NPS,
//! months, verbatims) and staff ratings, NPS rounds on a schedule that ask each contact once per
//! period and survive a changed schedule, and the suggestion box's askers and votes.

use peyvand_crm::crm_tests;
use peyvand_crm::feedback::suggestions;
use peyvand_crm::feedback::surveys::{self, Choice, Condition, Definition, Invitee, Question, Schedule};
use peyvand_crm::notifications;
use peyvand_records::access::Role;
use peyvand_store::runner::Runner;
use peyvand_store::{Db, Error};
use serde_json::{Map, Value as Json, json};

crm_tests!(
    a_resolved_ticket_asks_its_customer_once,
    a_link_is_signed_and_single_use,
    polls_skip_questions_and_sum_up,
    nps_rounds_ask_each_contact_once_per_period,
    suggestions_count_their_askers
);

fn input(value: Json) -> Map<String, Json> {
    value.as_object().cloned().expect("an object")
}

fn codes(e: &Error) -> Vec<(String, &'static str)> {
    match e {
        Error::Validation(errors) | Error::Conflict { details: errors, .. } => {
            errors.iter().map(|e| (e.field.clone(), e.code)).collect()
        }
        other => panic!("not a validation error: {other:?}"),
    }
}

async fn contact(db: &Db, last: &str, group: Option<&str>) -> String {
    let mut fields = json!({ "last_name": last });
    if let Some(g) = group {
        fields["customer_group"] = json!(g);
    }
    db.create_record(None, "contact", &input(fields), None).await.expect("contact").0.id
}

async fn run_jobs(db: &Db) {
    let (consumers, kinds) = db.modules().runner_parts();
    let runner = Runner::new(db.clone(), consumers, kinds);
    while runner.round().await.expect("round") > 0 {}
}

fn year() -> (String, String) {
    ("2000-01-01T00:00:00.000000Z".into(), "2100-01-01T00:00:00.000000Z".into())
}

async fn a_resolved_ticket_asks_its_customer_once(db: &Db) {
    let agent = db.create_user("agent@t.ir", "مریم", Role::Agent, "x", "fa").await.expect("agent").id;
    let customer = contact(db, "کریمی", None).await;
    let t = db
        .create_record(None, "ticket", &input(json!({"subject": "کولر", "contact": customer, "owner": agent})), None)
        .await
        .expect("ticket")
        .0;
    assert!(surveys::invitations_for(db, &t.id).await.expect("none").is_empty(), "not before it is resolved");
    db.update_record(None, "ticket", &t.id, &input(json!({"status": "resolved"})), None).await.expect("resolved");
    let invited = surveys::invitations_for(db, &t.id).await.expect("invited");
    assert_eq!(invited.len(), 1);
    assert_eq!(invited[0].survey_id, surveys::CSAT);
    assert_eq!((invited[0].contact_id.as_deref(), invited[0].staff_id.as_deref()), (Some(&*customer), Some(&*agent)));
    // Reopened and resolved again: still one invitation.
    db.update_record(None, "ticket", &t.id, &input(json!({"status": "open"})), None).await.expect("reopened");
    db.update_record(None, "ticket", &t.id, &input(json!({"status": "closed"})), None).await.expect("closed");
    assert_eq!(surveys::invitations_for(db, &t.id).await.expect("invited").len(), 1);
    // The customer answers 2 and says why; the praise question was not asked and is dropped.
    let token = surveys::link_token(db, &invited[0].id).await.expect("token");
    let answers = input(json!({"score": "۲", "comment": "دیر جواب دادید", "praise": "x"}));
    surveys::answer(db, &token, &answers).await.expect("answered");
    let said = surveys::responses_for(db, &t.id).await.expect("responses");
    assert_eq!(said[0].score, Some(2));
    assert_eq!(said[0].answers, json!({"score": 2, "comment": "دیر جواب دادید"}));
    // The agent's rating and the survey's results say the same.
    let (from, to) = year();
    let ratings = surveys::staff_ratings(db, &from, &to).await.expect("ratings");
    assert_eq!(ratings.len(), 1);
    assert_eq!((ratings[0].staff_id.as_str(), ratings[0].scores.average), (agent.as_str(), Some(2.0)));
    assert_eq!(ratings[0].scores.satisfied_pct, Some(0.0));
    let r = surveys::results(db, surveys::CSAT, &from, &to).await.expect("results");
    assert_eq!((r.invitations, r.responses, r.response_rate), (1, 1, Some(100.0)));
    assert_eq!(r.questions[0].counts[1], ("2".to_string(), 1));
    assert_eq!(r.verbatims[0].text, "دیر جواب دادید");
    assert_eq!(r.months.len(), 1);
    // A ticket merged into another is closed without asking its customer.
    let twin = db
        .create_record(
            None,
            "ticket",
            &input(json!({"subject": "کولر باز", "contact": customer, "owner": agent})),
            None,
        )
        .await
        .expect("ticket")
        .0;
    let kept = db
        .create_record(None, "ticket", &input(json!({"subject": "کولر", "contact": customer, "owner": agent})), None)
        .await
        .expect("ticket")
        .0;
    peyvand_crm::service::conversation::merge(db, &agent, &twin.id, &kept.id).await.expect("merged");
    let merged = db.get_record("ticket", &twin.id, false).await.expect("merged ticket");
    assert_eq!(merged.fields["status"], "closed");
    assert!(surveys::invitations_for(db, &twin.id).await.expect("none").is_empty(), "merged away: not asked");
    // A ticket without a customer asks no one.
    let lone = db.create_record(None, "ticket", &input(json!({"subject": "بی‌مشتری"})), None).await.expect("t").0;
    db.update_record(None, "ticket", &lone.id, &input(json!({"status": "resolved"})), None).await.expect("resolved");
    assert!(surveys::invitations_for(db, &lone.id).await.expect("none").is_empty());
    // An inactive CSAT sends nothing.
    let mut csat = surveys::get(db, surveys::CSAT).await.expect("csat").definition;
    csat.active = false;
    surveys::save(db, Some(surveys::CSAT), csat).await.expect("saved");
    let t2 = db
        .create_record(None, "ticket", &input(json!({"subject": "دوم", "contact": customer})), None)
        .await
        .expect("ticket")
        .0;
    db.update_record(None, "ticket", &t2.id, &input(json!({"status": "resolved"})), None).await.expect("resolved");
    assert!(surveys::invitations_for(db, &t2.id).await.expect("none").is_empty());
}

async fn a_link_is_signed_and_single_use(db: &Db) {
    let customer = contact(db, "رضایی", None).await;
    let made = surveys::invite(db, surveys::CSAT, &[Invitee { contact: Some(customer.clone()), ..Invitee::default() }])
        .await
        .expect("invited");
    let (inv, token) = &made[0];
    assert_eq!(token, &surveys::link_token(db, &inv.id).await.expect("the same link again"));
    // Forged: another signature, or another invitation's id under this one's signature.
    let (id, sig) = token.split_once('.').expect("id.sig");
    let forged = format!("{id}.{}", sig.chars().rev().collect::<String>());
    assert!(matches!(surveys::open(db, &forged).await, Err(Error::NotFound(_))));
    let other =
        surveys::invite(db, surveys::CSAT, &[Invitee { contact: Some(customer.clone()), ..Invitee::default() }])
            .await
            .expect("invited");
    assert!(matches!(surveys::open(db, &format!("{}.{sig}", other[0].0.id)).await, Err(Error::NotFound(_))));
    assert!(matches!(surveys::open(db, "nonsense").await, Err(Error::NotFound(_))));
    // A score out of range is refused and the link stays open.
    let e = surveys::answer(db, token, &input(json!({"score": 9}))).await.expect_err("out of range");
    assert_eq!(codes(&e), [("answers.score".to_string(), "out_of_range")]);
    assert_eq!(surveys::invitation(db, &inv.id).await.expect("inv").answered_at, None, "nothing half-written");
    // Two answers at once: one wins, the other is told it was answered.
    let answer = input(json!({"score": 5, "praise": "عالی"}));
    let (a, b) = tokio::join!(surveys::answer(db, token, &answer), surveys::answer(db, token, &answer));
    let won = [a.is_ok(), b.is_ok()].iter().filter(|x| **x).count();
    assert_eq!(won, 1, "exactly one answer counts");
    for e in [a, b].into_iter().filter_map(Result::err) {
        assert!(matches!(e, Error::Conflict { code: "survey_answered", .. }), "{e:?}");
    }
    assert!(matches!(surveys::open(db, token).await, Err(Error::Conflict { code: "survey_answered", .. })));
    let (from, to) = year();
    assert_eq!(surveys::results(db, surveys::CSAT, &from, &to).await.expect("results").responses, 1);
    // Bad invitations are refused by name.
    let e = surveys::invite(
        db,
        surveys::CSAT,
        &[Invitee {
            contact: Some("nobody".into()),
            record_object: Some("ticket".into()),
            staff: Some("nobody".into()),
            ..Invitee::default()
        }],
    )
    .await
    .expect_err("refused");
    let fields: Vec<String> = codes(&e).into_iter().map(|c| c.0).collect();
    assert_eq!(fields, ["invitations.0.contact", "invitations.0.record_id", "invitations.0.staff"]);
    assert!(matches!(surveys::delete(db, surveys::CSAT).await, Err(Error::Conflict { code: "survey_built_in", .. })));
}

fn poll() -> Definition {
    let c = |v: &str, fa: &str| Choice { value: v.into(), label_fa: fa.into(), label_en: String::new() };
    let q = |key: &str, kind: &str| Question {
        key: key.into(),
        kind: kind.into(),
        label_fa: key.into(),
        ..Question::default()
    };
    Definition {
        name: "نظر دربارهٔ کولر تازه".into(),
        kind: "poll".into(),
        active: true,
        intro_fa: String::new(),
        intro_en: String::new(),
        thanks_fa: String::new(),
        thanks_en: String::new(),
        questions: vec![
            Question { required: true, choices: vec![c("yes", "بله"), c("no", "نه")], ..q("bought", "single") },
            Question {
                required: true,
                choices: vec![c("price", "قیمت"), c("noise", "کم‌صدایی"), c("design", "طراحی")],
                when: Some(Condition { question: "bought".into(), any_of: vec!["yes".into()] }),
                ..q("why", "multiple")
            },
            Question {
                when: Some(Condition { question: "bought".into(), any_of: vec!["no".into()] }),
                ..q("why_not", "text")
            },
        ],
        schedule: None,
        expires_days: 30,
    }
}

async fn polls_skip_questions_and_sum_up(db: &Db) {
    let bad = Definition { questions: vec![], ..poll() };
    let e = surveys::save(db, None, bad).await.expect_err("no questions");
    assert_eq!(codes(&e), [("questions".to_string(), "out_of_range")]);
    let survey = surveys::save(db, None, poll()).await.expect("saved");
    let mut who = Vec::new();
    for name in ["الف", "ب", "ج"] {
        who.push(Invitee { contact: Some(contact(db, name, None).await), ..Invitee::default() });
    }
    let made = surveys::invite(db, &survey.id, &who).await.expect("invited");
    // The second question is required once asked.
    let e = surveys::answer(db, &made[0].1, &input(json!({"bought": "yes"}))).await.expect_err("why is asked");
    assert_eq!(codes(&e), [("answers.why".to_string(), "required")]);
    surveys::answer(db, &made[0].1, &input(json!({"bought": "yes", "why": ["price", "noise"]}))).await.expect("1");
    surveys::answer(db, &made[1].1, &input(json!({"bought": "yes", "why": ["noise"]}))).await.expect("2");
    surveys::answer(db, &made[2].1, &input(json!({"bought": "no", "why": ["design"], "why_not": "گران است"})))
        .await
        .expect("3");
    let (from, to) = year();
    let r = surveys::results(db, &survey.id, &from, &to).await.expect("results");
    assert_eq!(r.responses, 3);
    assert_eq!(r.questions[0].counts, [("yes".to_string(), 2), ("no".to_string(), 1)]);
    assert_eq!(r.questions[1].answered, 2, "not asked of the one who did not buy");
    assert_eq!(r.questions[1].counts, [("price".to_string(), 1), ("noise".to_string(), 2), ("design".to_string(), 0)]);
    assert_eq!(r.verbatims.len(), 1);
    assert_eq!(r.scores.average, None, "a poll has no score");
    // Answered, it is kept: deleting makes no sense, deactivating does.
    assert!(matches!(surveys::delete(db, &survey.id).await, Err(Error::Conflict { code: "survey_answered_keep", .. })));
}

async fn nps_rounds_ask_each_contact_once_per_period(db: &Db) {
    let mut vip = Vec::new();
    for i in 0..5 {
        vip.push(contact(db, &format!("ویژه {i}"), Some("vip")).await);
    }
    contact(db, "عادی", Some("retail")).await;
    let q = Question {
        key: "score".into(),
        kind: "nps".into(),
        label_fa: "چقدر ما را به دوستانتان پیشنهاد می‌کنید؟".into(),
        required: true,
        ..Question::default()
    };
    let def = Definition {
        name: "NPS فصلی".into(),
        kind: "nps".into(),
        questions: vec![q],
        schedule: Some(Schedule { every_days: 90, customer_groups: vec!["vip".into()], per_run: 3 }),
        ..poll()
    };
    let survey = surveys::save(db, None, def.clone()).await.expect("saved");
    run_jobs(db).await;
    let (from, to) = year();
    assert_eq!(surveys::results(db, &survey.id, &from, &to).await.expect("r").invitations, 3, "the first round");
    // The next round is planned 90 days on, not now.
    let pending: Vec<_> = db
        .jobs(Some("pending"), 100)
        .await
        .expect("jobs")
        .into_iter()
        .filter(|j| j.kind == surveys::ROUND_JOB)
        .collect();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].run_at.as_str() > peyvand_store::now().as_str());
    // Sending now to the same group reaches only those not yet asked: two more.
    surveys::send_now(db, &survey.id, &["vip".into()], 10).await.expect("sent");
    run_jobs(db).await;
    let r = surveys::results(db, &survey.id, &from, &to).await.expect("r");
    assert_eq!(r.invitations, 5, "each VIP once, the retail contact never");
    // A changed schedule starts a new chain; the old planned round does nothing when it runs.
    let changed =
        Definition { schedule: Some(Schedule { every_days: 30, customer_groups: vec![], per_run: 10 }), ..def };
    surveys::save(db, Some(&survey.id), changed).await.expect("saved");
    run_jobs(db).await;
    let r = surveys::results(db, &survey.id, &from, &to).await.expect("r");
    assert_eq!(r.invitations, 6, "now every group: only the retail contact was not asked in 30 days");
    // NPS sums promoters and detractors.
    let tokens = surveys::invite(db, &survey.id, &[Invitee { contact: Some(vip[0].clone()), ..Invitee::default() }])
        .await
        .expect("one more");
    surveys::answer(db, &tokens[0].1, &input(json!({"score": 10}))).await.expect("promoter");
    let r = surveys::results(db, &survey.id, &from, &to).await.expect("r");
    assert_eq!((r.scores.promoters, r.scores.nps), (1, Some(100.0)));
    // The list of surveys reads the same numbers from grouped counts.
    let all = surveys::summaries(db, &from, &to).await.expect("summaries");
    let s = &all[&survey.id];
    assert_eq!((s.invitations, s.responses, s.scores.nps), (r.invitations, r.responses, r.scores.nps));
}

async fn suggestions_count_their_askers(db: &Db) {
    let owner = db.create_user("pm@t.ir", "مدیر محصول", Role::Manager, "x", "fa").await.expect("pm").id;
    let s = db
        .create_record(
            None,
            "suggestion",
            &input(json!({
                "title": "پرداخت اقساطی",
                "requester_name": "نرگس احمدی",
                "requester_email": "narges@example.ir",
                "owner": owner,
                "published": true
            })),
            None,
        )
        .await
        .expect("suggestion")
        .0;
    assert_eq!(s.fields["votes"], json!(1), "the suggester is its first vote");
    let first = suggestions::askers(db, &s.id).await.expect("askers");
    assert_eq!(first.len(), 1);
    let other = contact(db, "سعیدی", None).await;
    let after = suggestions::add_asker(db, None, &s.id, &other).await.expect("voted");
    assert_eq!(after.fields["votes"], json!(2));
    let again = suggestions::add_asker(db, None, &s.id, &other).await.expect("no change");
    assert_eq!(again.fields["votes"], json!(2), "a second vote is no change");
    // On the public board a visitor votes by e-mail: the suggester's e-mail is the same person.
    let voted = suggestions::public_vote(db, &s.id, "نرگس", "narges@example.ir").await.expect("voted");
    assert_eq!(voted.fields["votes"], json!(2));
    let voted = suggestions::public_vote(db, &s.id, "Ali Rad", "ali@example.com").await.expect("voted");
    assert_eq!(voted.fields["votes"], json!(3));
    let e = suggestions::public_vote(db, &s.id, "x", " ").await.expect_err("an e-mail is needed");
    assert_eq!(codes(&e), [("requester_email".to_string(), "required")]);
    assert_eq!(suggestions::board(db, 10).await.expect("board").len(), 1);
    // Not done yet: no one is told; done, the owner hears how many to tell.
    assert!(matches!(
        suggestions::mark_told(db, &s.id).await,
        Err(Error::Conflict { code: "suggestion_not_done", .. })
    ));
    db.update_record(None, "suggestion", &s.id, &input(json!({"status": "done"})), None).await.expect("done");
    let heard = notifications::list(db, &owner, false, 10).await.expect("notifications");
    assert_eq!(heard.len(), 1);
    assert!(heard[0].title.ends_with("· 3"), "{}", heard[0].title);
    assert_eq!(suggestions::mark_told(db, &s.id).await.expect("told"), 3);
    assert!(suggestions::askers(db, &s.id).await.expect("askers").iter().all(|a| a.told_at.is_some()));
    // Declined ideas leave the board; negative votes are refused.
    db.update_record(None, "suggestion", &s.id, &input(json!({"status": "declined"})), None).await.expect("declined");
    assert!(suggestions::board(db, 10).await.expect("board").is_empty());
    let e = db.update_record(None, "suggestion", &s.id, &input(json!({"votes": -1})), None).await.expect_err("no");
    assert_eq!(codes(&e), [("votes".to_string(), "negative")]);
}
