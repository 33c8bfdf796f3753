//! Web forms on both backends: a form is refused unless it can make its record; a submission
//! makes a lead with its source, campaign, attribution and consent, owned in turn by a team's
//! active members; a contact's form tells its owner and notes a duplicate; what a form does not
//! ask, markup, a missing required value or an unticked required consent is refused with
//! nothing written; a form switched off is not there.

use peyvand_crm::crm_tests;
use peyvand_crm::forms::{self, Assign, Definition, FormField, Submission};
use peyvand_records::access::Role;
use peyvand_store::access::TeamInput;
use peyvand_store::{Db, Error};
use serde_json::json;

crm_tests!(a_lead_form_round_robins_and_keeps_its_attribution, a_contact_form_tells_its_owner_and_refuses_bad_input);

fn field(name: &str, required: bool) -> FormField {
    FormField { field: name.into(), required }
}

fn definition(object: &str, fields: Vec<FormField>, assign: Assign) -> Definition {
    Definition {
        name: "Website enquiry".into(),
        object: object.into(),
        fields,
        intro_fa: String::new(),
        intro_en: "Tell us what you need".into(),
        consent_fa: "با دریافت خبرنامه موافقم".into(),
        consent_en: "I agree to receive the newsletter".into(),
        consent_required: false,
        thanks_fa: String::new(),
        thanks_en: "Thank you".into(),
        redirect: None,
        campaign: Some("always-on".into()),
        assign,
        active: true,
    }
}

fn codes(e: Error) -> Vec<(String, &'static str)> {
    match e {
        Error::Validation(errors) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
        other => panic!("not a validation error: {other:?}"),
    }
}

fn sent(values: &[(&str, &str)], attribution: &[(&str, &str)], lang: &str) -> Submission {
    let map = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Submission { values: map(values), consent: true, attribution: map(attribution), lang: lang.into() }
}

async fn count(db: &Db, object: &str) -> usize {
    db.list_records(object, &Default::default()).await.expect("list").records.len()
}

async fn a_lead_form_round_robins_and_keeps_its_attribution(db: &Db) {
    let user = async |email: &str| db.create_user(email, email, Role::Agent, "x", "fa").await.expect("user").id;
    let (a, b, gone) = (user("a@forms.ir").await, user("b@forms.ir").await, user("gone@forms.ir").await);
    let team = db
        .create_team(&TeamInput {
            name: "Web sales".into(),
            parent_id: None,
            manager_id: None,
            members: vec![a.clone(), b.clone(), gone.clone()],
        })
        .await
        .expect("team");
    db.update_user(None, &gone, None, None, Some(false)).await.expect("deactivate");
    let fields = vec![field("first_name", false), field("last_name", true), field("emails", false)];

    // A form that cannot make its record, or names what is not there, is refused.
    let mut bad = definition(
        "lead",
        vec![field("first_name", true), field("owner", false)],
        Assign::User { user: "nobody".into() },
    );
    bad.redirect = Some("javascript:alert(1)".into());
    let mut got = codes(forms::save(db, None, bad).await.expect_err("refused"));
    got.sort();
    let mut expected = vec![
        ("assign.user".to_string(), "unknown_user"),
        ("fields".to_string(), "required_field_missing"),
        ("fields.1.field".to_string(), "not_askable"),
        ("redirect".to_string(), "invalid_url"),
    ];
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(
        codes(
            forms::save(db, None, definition("deal", fields.clone(), Assign::User { user: a.clone() }))
                .await
                .expect_err("deal")
        ),
        vec![("object".to_string(), "invalid_option")]
    );

    let form = forms::save(db, None, definition("lead", fields, Assign::RoundRobin { team: team.id.clone() }))
        .await
        .expect("saved");
    assert_eq!(form.slug.len(), 10);
    let mut owners = Vec::new();
    for (i, name) in ["Ahmadi", "Karimi", "Rezaei"].iter().enumerate() {
        let utm = [("utm_source", "instagram"), ("utm_campaign", "yalda-1405"), ("referrer", "https://pars.example/")];
        let s = sent(
            &[("last_name", name), ("emails", &format!("p{i}@mail.example"))],
            if i == 0 { &utm } else { &[] },
            "fa",
        );
        let made = forms::submit(db, &form.slug, &s).await.expect("submitted");
        owners.push(made.owner.clone().expect("an owner"));
        let lead = db.get_record("lead", &made.record_id, false).await.expect("the lead");
        assert_eq!(lead.fields["source"], json!("web_form"));
        assert_eq!(lead.fields["owner"], json!(made.owner.clone().expect("owner")));
        let campaign = if i == 0 { "yalda-1405" } else { "always-on" };
        assert_eq!(lead.fields["campaign"], json!(campaign), "the address's campaign, else the form's");
    }
    assert_eq!(owners, vec![a.clone(), b.clone(), a.clone()], "the active members in turn, the one who left skipped");
    let kept = forms::submissions(db, &form.id, 10).await.expect("submissions");
    assert_eq!(kept.len(), 3);
    let first = kept.iter().find(|k| k.attribution["utm_source"] == "instagram").expect("attributed");
    assert_eq!(first.attribution["referrer"], json!("https://pars.example/"));
    assert_eq!(
        first.consent_text.as_deref(),
        Some("با دریافت خبرنامه موافقم"),
        "the text shown, in the form's language"
    );
    assert!(first.consent_given);

    // Switched off, the form is not there.
    let mut off = form.definition.clone();
    off.active = false;
    forms::save(db, Some(&form.id), off).await.expect("switched off");
    let e = forms::submit(db, &form.slug, &sent(&[("last_name", "Late")], &[], "en")).await.expect_err("off");
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    assert_eq!(count(db, "lead").await, 3);
}

async fn a_contact_form_tells_its_owner_and_refuses_bad_input(db: &Db) {
    let rep = db.create_user("rep@forms.ir", "Rep", Role::Agent, "x", "fa").await.expect("rep").id;
    db.create_record(
        None,
        "contact",
        json!({"last_name": "Rezaei", "emails": ["sara@mail.example"]}).as_object().expect("map"),
        None,
    )
    .await
    .expect("an existing contact");
    let mut d = definition(
        "contact",
        vec![field("first_name", false), field("last_name", true), field("emails", true), field("description", false)],
        Assign::User { user: rep.clone() },
    );
    d.consent_required = true;
    let form = forms::save(db, None, d).await.expect("saved");

    let refused = [
        (
            sent(&[("last_name", "X"), ("emails", "x@mail.example"), ("salary", "1")], &[], "en"),
            ("salary", "unknown_field"),
        ),
        (
            sent(&[("last_name", "<script>alert(1)</script>"), ("emails", "x@mail.example")], &[], "en"),
            ("last_name", "markup_not_allowed"),
        ),
        (sent(&[("last_name", "X")], &[], "en"), ("emails", "required")),
        (sent(&[("last_name", "X"), ("emails", "not an e-mail")], &[], "en"), ("emails", "invalid_email")),
        (
            sent(&[("last_name", &"long ".repeat(200)), ("emails", "x@mail.example")], &[], "en"),
            ("last_name", "too_long"),
        ),
        (
            sent(&[("last_name", "X"), ("emails", "x@mail.example")], &[("utm_evil", "1")], "en"),
            ("utm_evil", "unknown_field"),
        ),
    ];
    for (s, (field, code)) in refused {
        let got = codes(forms::submit(db, &form.slug, &s).await.expect_err(code));
        assert!(got.contains(&(field.to_string(), code)), "{field} {code}: {got:?}");
    }
    let mut unticked = sent(&[("last_name", "X"), ("emails", "x@mail.example")], &[], "en");
    unticked.consent = false;
    assert_eq!(
        codes(forms::submit(db, &form.slug, &unticked).await.expect_err("consent")),
        vec![("consent".into(), "consent_required")]
    );
    assert_eq!(count(db, "contact").await, 1, "nothing half-written");

    let s = sent(&[("first_name", "Sara"), ("last_name", "Rezaei"), ("emails", "sara@mail.example")], &[], "en");
    let made = forms::submit(db, &form.slug, &s).await.expect("submitted");
    assert_eq!(made.owner.as_deref(), Some(rep.as_str()));
    let contact = db.get_record("contact", &made.record_id, false).await.expect("contact");
    assert_eq!((contact.fields["source"].clone(), contact.fields["owner"].clone()), (json!("web"), json!(rep)));
    let told = peyvand_crm::notifications::list(db, &rep, true, 10).await.expect("notifications");
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].link.as_deref(), Some(format!("/records/contact/{}", made.record_id).as_str()));
    let kept = forms::submissions(db, &form.id, 10).await.expect("submissions");
    assert_eq!(kept[0].consent_text.as_deref(), Some("I agree to receive the newsletter"));
    assert_eq!(
        kept[0].duplicates.as_array().map(Vec::len),
        Some(1),
        "the contact with the same e-mail: {:?}",
        kept[0].duplicates
    );
}
