//! Import and export end to end, on SQLite and PostgreSQL: a messy legacy CSV with Persian
//! headers in Windows-1256, its error report, the fixed file imported again without duplicates,
//! de-duplication, dry runs, all-or-nothing, interrupted imports, and export back.

use peyvand_store::Db;
use peyvand_store::records::ListQuery;
use peyvand_store::testing::{Backend, TestDb};
use peyvand_transfer::{ImportOptions, OnDuplicate, TransferError, export_csv, import_csv};
use std::path::PathBuf;

fn file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join("peyvand-transfer-tests");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(format!("{}-{name}", uuid_like()));
    std::fs::write(&path, bytes).expect("write");
    path
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    )
}

/// Text as a Persian Excel export saves it: Windows-1256 has the Arabic Yeh, not the Persian one.
fn windows_1256(text: &str) -> Vec<u8> {
    let text = arabic_yeh(text);
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1256.encode(&text);
    assert!(!unmappable);
    bytes.into_owned()
}

fn arabic_yeh(text: &str) -> String {
    text.replace('ی', "ي")
}

async fn count(db: &Db, object: &str) -> i64 {
    db.list_records(object, &ListQuery { with_total: true, exact_total: true, limit: Some(1), ..Default::default() })
        .await
        .expect("list")
        .total
        .expect("total")
}

const MESSY: &str = "نام,نام خانوادگی,ایمیل,موبایل,شرکت,تاریخ تولد,یادداشت بی‌ربط\r\n\
علی,کریمی,ali@example.ir,09121234567,فولاد پارس,1370/05/12,x\r\n\
سارا,رضایی,not-an-email,0912,آریا,1990-13-45,y\r\n\
مریم,احمدی,maryam@example.ir;m.ahmadi@example.ir,0935 111 2233,فولاد پارس,,z\r\n\
ناقص,ردیف\r\n\
\"Reza\",\"Tehrani\",\"reza@example.com\",\"+44 20 7946 0958\",\"Caspian, Ltd\",\"1985-01-02\",\"multi\nline\"\r\n";

async fn story(backend: Backend) {
    let Some(test_db) = TestDb::new(backend).await else {
        return;
    };
    let db = peyvand_crm::open(&test_db.url).await.expect("open");

    // A messy file in Windows-1256 with Persian headers: the good rows go in, the bad ones are named.
    let messy = file("messy.csv", &windows_1256(MESSY));
    let mut opts = ImportOptions::new("contact");
    opts.dedupe_by = Some("emails".into());
    let report = import_csv(&db, None, &messy, &opts, |_| {}).await.expect("import");
    assert_eq!(report.encoding, "windows-1256");
    let mapped: Vec<(String, Option<String>)> =
        report.mapping.iter().map(|m| (m.column.clone(), m.field.clone())).collect();
    assert_eq!(mapped[0], ("نام".to_string(), Some("first_name".to_string())));
    assert_eq!(mapped[1], (arabic_yeh("نام خانوادگی"), Some("last_name".to_string())));
    assert_eq!(mapped[3], (arabic_yeh("موبایل"), Some("phones".to_string())));
    assert_eq!(mapped[6].1, None, "an unknown column is ignored");
    assert_eq!((report.rows, report.created, report.failed), (5, 3, 2), "{report:?}");
    assert_eq!(report.related_created, 2, "فولاد پارس once, Caspian, Ltd once");
    let bad: Vec<(usize, Option<String>, String)> =
        report.errors.iter().map(|e| (e.row, e.column.clone(), e.code.clone())).collect();
    assert!(bad.contains(&(3, Some(arabic_yeh("ایمیل")), "invalid_email".into())), "{bad:?}");
    assert!(bad.contains(&(3, Some(arabic_yeh("موبایل")), "invalid_phone".into())), "{bad:?}");
    assert!(bad.contains(&(3, Some(arabic_yeh("تاریخ تولد")), "invalid_date".into())), "{bad:?}");
    assert!(bad.contains(&(5, None, "wrong_column_count".into())), "{bad:?}");
    let errors_csv = report.errors_csv();
    assert!(errors_csv.starts_with("row,column,field,code,value\r\n"));
    assert!(errors_csv.contains(&arabic_yeh("\r\n3,ایمیل,emails,invalid_email,not-an-email\r\n")), "{errors_csv}");
    assert_eq!(count(&db, "contact").await, 3);
    assert_eq!(count(&db, "company").await, 2);
    let ali = db.search("کریمی", 5).await.expect("search");
    let ali = db.get_record("contact", &ali[0].id, false).await.expect("ali");
    assert_eq!(ali.fields["birth_date"], serde_json::json!("1991-08-03"), "a Jalali date is read as Jalali");
    assert_eq!(ali.fields["phones"], serde_json::json!(["+989121234567"]));
    let maryam = db.search("احمدی", 5).await.expect("search");
    let maryam = db.get_record("contact", &maryam[0].id, false).await.expect("maryam");
    assert_eq!(maryam.fields["emails"], serde_json::json!(["maryam@example.ir", "m.ahmadi@example.ir"]));
    assert_eq!(maryam.fields["company"], ali.fields["company"], "both point at the one فولاد پارس");

    // The user fixes the two rows and imports the file again: only they are added.
    let fixed = MESSY
        .replace("not-an-email,0912,آریا,1990-13-45", "sara@example.ir,09127654321,آریا,1990-12-25")
        .replace("ناقص,ردیف", "ناقص,ردیف,,,,,");
    let fixed = file("fixed.csv", arabic_yeh(&fixed).as_bytes());
    let report = import_csv(&db, None, &fixed, &opts, |_| {}).await.expect("re-import");
    // The three imported before are found by their e-mails.
    assert_eq!((report.created, report.skipped, report.failed), (2, 3, 0), "{report:?}");
    assert_eq!(count(&db, "contact").await, 5);
    let again = import_csv(&db, None, &fixed, &opts, |_| {}).await.expect("third run");
    // The row without an e-mail is found in the import log.
    assert_eq!((again.created, again.skipped, again.already_imported), (0, 4, 1), "{again:?}");
    assert_eq!(count(&db, "contact").await, 5);

    // Persian digits (UTF-8 files can have them; Windows-1256 cannot) are read as numbers.
    let digits = file("digits.csv", "last_name,phones,birth_date\r\nارقام,۰۹۳۵ ۱۱۱ ۲۲۴۴,۱۳۷۰/۰۵/۱۲\r\n".as_bytes());
    let report = import_csv(&db, None, &digits, &ImportOptions::new("contact"), |_| {}).await.expect("digits");
    assert_eq!(report.created, 1, "{report:?}");
    let found = db.search("09351112244", 5).await.expect("search");
    assert_eq!(found.len(), 1);
    let arqam = db.get_record("contact", &found[0].id, false).await.expect("record");
    assert_eq!(arqam.fields["birth_date"], serde_json::json!("1991-08-03"));

    // Another file with the same people: de-duplicated by e-mail, updated on request.
    let update = file(
        "update.csv",
        "email,job title,city\r\nali@example.ir,مدیر خرید,تهران\r\nnew@example.ir,Buyer,Shiraz\r\n".as_bytes(),
    );
    let mut upd = ImportOptions::new("contact");
    upd.dedupe_by = Some("emails".into());
    upd.on_duplicate = OnDuplicate::Update;
    upd.mapping = vec![("email".into(), "emails".into())];
    let report = import_csv(&db, None, &update, &upd, |_| {}).await.expect("update");
    assert_eq!(
        (report.updated, report.created, report.failed),
        (1, 0, 1),
        "the new person has no last name: {report:?}"
    );
    let ali = db.get_record("contact", &ali.id, false).await.expect("ali");
    assert_eq!(ali.fields["city"], serde_json::json!("تهران"));
    assert_eq!(ali.fields["first_name"], serde_json::json!("علي"), "fields not in the file stay");

    // A dry run and an all-or-nothing import with an error write nothing.
    let batch =
        file("batch.csv", "last_name,emails\r\nOne,one@example.ir\r\nTwo,bad\r\nThree,three@example.ir\r\n".as_bytes());
    let mut dry = ImportOptions::new("contact");
    dry.dry_run = true;
    let report = import_csv(&db, None, &batch, &dry, |_| {}).await.expect("dry run");
    assert_eq!((report.created, report.failed, report.committed), (2, 1, false));
    assert_eq!(count(&db, "contact").await, 6);
    let mut atomic = ImportOptions::new("contact");
    atomic.all_or_nothing = true;
    let report = import_csv(&db, None, &batch, &atomic, |_| {}).await.expect("atomic");
    assert!(!report.committed);
    assert_eq!(count(&db, "contact").await, 6);

    // An import cut short (here: the first half, committed) completes when run again in full.
    let full: String = std::iter::once("last_name,emails\r\n".to_string())
        .chain((0..10).map(|i| format!("Person{i},p{i}@example.ir\r\n")))
        .collect();
    let half: String = full.lines().take(6).map(|l| format!("{l}\r\n")).collect();
    let mut small = ImportOptions::new("contact");
    small.batch_size = 2;
    import_csv(&db, None, &file("half.csv", half.as_bytes()), &small, |_| {}).await.expect("half");
    assert_eq!(count(&db, "contact").await, 11);
    let report = import_csv(&db, None, &file("full.csv", full.as_bytes()), &small, |_| {}).await.expect("full");
    assert_eq!((report.created, report.already_imported), (5, 5));
    assert_eq!(count(&db, "contact").await, 16);

    // vCard files from phones and mail programs: each card a row, a broken card reported.
    let vcf = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:نوری;امیر;;;\r\nEMAIL:amir@example.ir\r\nTEL;TYPE=CELL:09125550000\r\nORG:فولاد پارس\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Broken Card\r\nthis line is not a property\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Lily Evans\r\nEMAIL:lily@exam\r\n ple.com\r\nEND:VCARD\r\n";
    let mut cards = ImportOptions::new("contact");
    cards.dedupe_by = Some("emails".into());
    let report = import_csv(&db, None, &file("phone.vcf", vcf.as_bytes()), &cards, |_| {}).await.expect("vcard");
    assert_eq!((report.rows, report.created, report.failed), (3, 2, 1), "{report:?}");
    assert_eq!(report.errors[0].row, 3);
    assert!(report.errors[0].value.as_deref().is_some_and(|v| v.contains("not a vCard line")));
    let amir = db.search("amir@example.ir", 5).await.expect("search");
    let amir = db.get_record("contact", &amir[0].id, false).await.expect("amir");
    assert_eq!(amir.fields["company"], ali.fields["company"], "the company found by name");
    assert_eq!(db.search("lily@example.com", 5).await.expect("search").len(), 1, "a folded line unfolded");

    // A related record is found by its external id too, and a giant cell is refused by name.
    let external: peyvand_store::schema::NewField =
        serde_json::from_value(serde_json::json!({"api_name": "external_id", "type": "text", "unique": true}))
            .expect("field");
    db.add_field(None, "company", external).await.expect("external id");
    db.create_record(
        None,
        "company",
        &serde_json::json!({"name": "Legacy Co", "external_id": "ACC-77"}).as_object().cloned().unwrap_or_default(),
        None,
    )
    .await
    .expect("legacy company");
    let giant = "x".repeat(101_000);
    let linked =
        file("linked.csv", format!("last_name,company,description\r\nLinked,ACC-77,\r\nGiant,,{giant}\r\n").as_bytes());
    let report = import_csv(&db, None, &linked, &ImportOptions::new("contact"), |_| {}).await.expect("linked");
    assert_eq!((report.created, report.failed, report.related_created), (1, 1, 0), "{:?}", report.errors);
    assert_eq!(
        (report.errors[0].row, report.errors[0].code.as_str(), report.errors[0].column.as_deref()),
        (3, "cell_too_large", Some("description"))
    );
    let linked_id = db.search("Linked", 5).await.expect("search")[0].id.clone();
    let legacy = db.search("Legacy", 5).await.expect("search")[0].id.clone();
    assert_eq!(
        db.get_record("contact", &linked_id, false).await.expect("linked").fields["company"],
        serde_json::json!(legacy)
    );
    let contacts_now = count(&db, "contact").await;

    // Files that cannot be imported say why.
    let dup = import_csv(
        &db,
        None,
        &file("dup.csv", b"email,Email\r\na@b.ir,c@d.ir\r\n"),
        &ImportOptions::new("contact"),
        |_| {},
    )
    .await;
    assert!(matches!(dup, Err(TransferError::DuplicateHeader { column: 2, .. })), "{dup:?}");
    let xlsx =
        import_csv(&db, None, &file("renamed.csv", b"PK\x03\x04\x14\x00rest"), &ImportOptions::new("contact"), |_| {})
            .await;
    assert!(matches!(xlsx, Err(TransferError::NotCsv(_))), "{xlsx:?}");
    let empty = import_csv(&db, None, &file("empty.csv", b""), &ImportOptions::new("contact"), |_| {}).await;
    assert!(matches!(empty, Err(TransferError::Empty)));
    let mut wrong = ImportOptions::new("contact");
    wrong.mapping = vec![("email".into(), "no_such_field".into())];
    let unknown = import_csv(&db, None, &update, &wrong, |_| {}).await;
    assert!(matches!(unknown, Err(TransferError::UnknownField { .. })));

    // Export everything back: every record once, formulas neutralized, and it imports as is.
    db.create_record(
        None,
        "contact",
        &serde_json::json!({"last_name": "=HYPERLINK(\"x\")"}).as_object().cloned().unwrap_or_default(),
        None,
    )
    .await
    .expect("formula");
    let mut out = Vec::new();
    let n = export_csv(&db, "contact", None, &["last_name".into(), "emails".into(), "phones".into()], &mut out)
        .await
        .expect("export");
    assert_eq!(n as i64, contacts_now + 1);
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.starts_with("id,last_name,emails,phones\r\n"));
    assert_eq!(text.lines().count() as i64, contacts_now + 2);
    assert!(text.contains("\"'=HYPERLINK(\"\"x\"\")\""), "formula escaped");
    // XLSX out and back in: every contact is found by e-mail again, nothing is added.
    let workbook = std::env::temp_dir().join(format!("peyvand-transfer-tests/{}-contacts.xlsx", uuid_like()));
    let n = peyvand_transfer::export_xlsx(&db, "contact", None, "", &["last_name".into(), "emails".into()], &workbook)
        .await
        .expect("xlsx");
    assert_eq!(n as i64, contacts_now + 1);
    let mut back = ImportOptions::new("contact");
    back.dedupe_by = Some("emails".into());
    back.mapping = vec![("id".into(), "".into())];
    let report = import_csv(&db, None, &workbook, &back, |_| {}).await.expect("xlsx import");
    assert_eq!(report.encoding, "xlsx");
    assert_eq!(report.rows as i64, contacts_now + 1);
    // Contacts without an e-mail cannot be matched (ناقص ردیف, ارقام, Linked and the formula
    // one): those four come in again; everyone else is found.
    assert_eq!((report.created, report.skipped as i64), (4, contacts_now - 3), "{report:?}");
    // The CSV comes back in as it went out: guarded phones (`'+98…`) are phones again, and the
    // formula is the text it was, not an apostrophe more (the one made above, the one
    // the workbook brought, and this one).
    let mut again = ImportOptions::new("contact");
    again.dedupe_by = Some("emails".into());
    again.on_duplicate = OnDuplicate::Update;
    again.mapping = vec![("id".into(), "".into())];
    let report = import_csv(&db, None, &file("round.csv", text.as_bytes()), &again, |_| {}).await.expect("round trip");
    assert_eq!((report.failed, report.updated as i64, report.created), (0, contacts_now - 3, 4), "{report:?}");
    let formula = serde_json::json!({"field": "last_name", "op": "eq", "value": "=HYPERLINK(\"x\")"});
    assert_eq!(export_csv(&db, "contact", Some(&formula), &[], &mut Vec::new()).await.expect("formula"), 3);
    // A workbook that would unpack to far more than it holds is refused before it is read.
    let bomb = std::env::temp_dir().join(format!("peyvand-transfer-tests/{}-bomb.xlsx", uuid_like()));
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&bomb).expect("create"));
        let deflate = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        z.start_file("xl/workbook.xml", deflate).expect("entry");
        std::io::Write::write_all(&mut z, b"<workbook/>").expect("write");
        z.start_file("xl/worksheets/sheet1.xml", deflate).expect("entry");
        let zeros = vec![b' '; 32 * 1024 * 1024];
        std::io::Write::write_all(&mut z, &zeros).expect("write");
        z.finish().expect("finish");
    }
    let refused = import_csv(&db, None, &bomb, &ImportOptions::new("contact"), |_| {}).await;
    assert!(matches!(&refused, Err(TransferError::NotCsv(m)) if m.contains("ZIP bomb")), "{refused:?}");

    let filter = serde_json::json!({"field": "last_name", "op": "starts_with", "value": "Person"});
    let mut some = Vec::new();
    assert_eq!(export_csv(&db, "contact", Some(&filter), &[], &mut some).await.expect("filtered"), 10);

    db.close().await;
    test_db.cleanup().await;
}

/// Every kind of value is written in the export as a record shows it (`export::plain`): money as
/// amount and currency, decimals at their scale, lists joined with `; `, yes/no, dates, instants.
async fn every_kind_of_value_exports_as_a_record_shows_it(backend: Backend) {
    let Some(test_db) = TestDb::new(backend).await else { return };
    let db = peyvand_crm::open(&test_db.url).await.expect("open");
    for field in [
        serde_json::json!({"api_name": "budget", "type": "currency", "options": {"scale": 2}}),
        serde_json::json!({"api_name": "ratio", "type": "decimal", "options": {"scale": 3}}),
        serde_json::json!({"api_name": "vip", "type": "boolean"}),
        serde_json::json!({"api_name": "met_at", "type": "datetime"}),
        serde_json::json!({"api_name": "seats", "type": "integer"}),
    ] {
        db.add_field(None, "contact", serde_json::from_value(field).expect("field")).await.expect("add field");
    }
    let people = [
        serde_json::json!({"last_name": "کریمی, \"علی\"", "budget": {"amount": "1250.5", "currency": "IRR"}, "ratio": "0.125",
            "vip": true, "met_at": "2026-03-20T10:15:00Z", "seats": 12, "birth_date": "1990-03-21",
            "emails": ["a@example.ir", "b@example.ir"], "tags": ["VIP", "=risky"], "city": "+Tehran"}),
        serde_json::json!({"last_name": "Empty", "vip": false}),
    ];
    for p in &people {
        db.create_record(None, "contact", p.as_object().expect("map"), None).await.expect("create");
    }
    let mut out = Vec::new();
    export_csv(&db, "contact", None, &[], &mut out).await.expect("export");
    let text = String::from_utf8(out).expect("utf-8");
    let obj = db.object("contact").await.expect("contact");
    let fields: Vec<_> = obj.live_fields().collect();
    let page = db.list_records("contact", &Default::default()).await.expect("list");
    let mut expected = String::new();
    let header: Vec<String> =
        std::iter::once("id".to_string()).chain(fields.iter().map(|f| f.api_name.clone())).collect();
    expected.push_str(&header.iter().map(|h| peyvand_transfer::csv_cell(h)).collect::<Vec<_>>().join(","));
    expected.push_str("\r\n");
    for r in &page.records {
        let cells: Vec<String> = std::iter::once(peyvand_transfer::csv_cell(&r.id))
            .chain(fields.iter().map(|f| peyvand_transfer::csv_cell(&peyvand_transfer::export::plain(r, f))))
            .collect();
        expected.push_str(&cells.join(","));
        expected.push_str("\r\n");
    }
    assert_eq!(text, expected);
    assert!(
        text.contains("1250.50 IRR") && text.contains("0.125") && text.contains("a@example.ir; b@example.ir"),
        "{text}"
    );
    assert!(text.contains("\"کریمی, \"\"علی\"\"\"") && text.contains(",'+Tehran,"), "{text}");
    db.close().await;
    test_db.cleanup().await;
}

#[tokio::test]
async fn values_export_sqlite() {
    every_kind_of_value_exports_as_a_record_shows_it(Backend::Sqlite).await;
}

#[tokio::test]
async fn values_export_postgres() {
    every_kind_of_value_exports_as_a_record_shows_it(Backend::Postgres).await;
}

#[tokio::test]
async fn import_export_sqlite() {
    story(Backend::Sqlite).await;
}

#[tokio::test]
async fn import_export_postgres() {
    story(Backend::Postgres).await;
}

/// Each contact's company by title, in id order of the contacts' e-mails.
async fn companies_of_contacts(db: &Db) -> Vec<(String, String)> {
    let page = db.list_records("contact", &ListQuery { limit: Some(100), ..Default::default() }).await.expect("list");
    let mut out = Vec::new();
    for r in &page.records {
        let email = r.fields["emails"][0].as_str().unwrap_or_default().to_string();
        let company = match r.fields["company"].as_str() {
            Some(id) => db.get_record("company", id, false).await.expect("company").title,
            None => String::new(),
        };
        out.push((email, company));
    }
    out.sort();
    out
}

/// Issue 24, item 12: a contact export imports back into the same database unchanged (its
/// companies found by id, even where two share a name) and into an empty one with its
/// relations intact (found by title among the imported companies); before, a company's cell
/// held its id and the import, looking it up by name, made companies named after ids.
async fn an_export_imports_back_with_its_relations(backend: Backend) {
    let Some(source_db) = TestDb::new(backend).await else { return };
    let Some(empty_db) = TestDb::new(backend).await else { return };
    let db = peyvand_crm::open(&source_db.url).await.expect("open");
    let mut companies = Vec::new();
    for name in ["Acme", "Acme", "پارس [تهران]"] {
        let input = serde_json::json!({"name": name});
        companies.push(
            db.create_record(None, "company", input.as_object().expect("map"), None).await.expect("company").0.id,
        );
    }
    for (i, company) in [Some(&companies[1]), Some(&companies[2]), None].into_iter().enumerate() {
        let input = serde_json::json!({"last_name": format!("Person{i}"), "emails": [format!("p{i}@example.ir")], "company": company});
        db.create_record(None, "contact", input.as_object().expect("map"), None).await.expect("contact");
    }
    let before = companies_of_contacts(&db).await;
    let export = |object: &'static str| {
        let db = db.clone();
        async move {
            let mut out = Vec::new();
            export_csv(&db, object, None, &[], &mut out).await.expect("export");
            file(&format!("{object}.csv"), &out)
        }
    };
    let (company_file, contact_file) = (export("company").await, export("contact").await);
    let text = std::fs::read_to_string(&contact_file).expect("csv");
    assert!(text.contains(&format!("Acme [{}]", companies[1])), "title and id: {text}");

    // Back into the same database, updating by e-mail: nothing made, every relation as it was.
    let mut back = ImportOptions::new("contact");
    back.mapping = vec![("id".into(), "".into())];
    back.dedupe_by = Some("emails".into());
    back.on_duplicate = OnDuplicate::Update;
    let report = import_csv(&db, None, &contact_file, &back, |_| {}).await.expect("import back");
    assert_eq!((report.created, report.related_created, report.errors.len()), (0, 0, 0), "{report:?}");
    assert_eq!(count(&db, "company").await, 3);
    assert_eq!(companies_of_contacts(&db).await, before);
    let page = db.list_records("contact", &Default::default()).await.expect("list");
    let second_acme = page.records.iter().find(|r| r.fields["emails"][0] == "p0@example.ir").expect("p0");
    assert_eq!(second_acme.fields["company"], companies[1].as_str(), "the same Acme of two");

    // Into an empty database: companies first, then contacts, found by title.
    let other = peyvand_crm::open(&empty_db.url).await.expect("open empty");
    let mut companies_in = ImportOptions::new("company");
    companies_in.mapping = vec![("id".into(), "".into())];
    import_csv(&other, None, &company_file, &companies_in, |_| {}).await.expect("companies");
    let report = import_csv(&other, None, &contact_file, &back, |_| {}).await.expect("contacts");
    assert_eq!((report.created, report.related_created, report.errors.len()), (3, 0, 0), "{report:?}");
    assert_eq!(count(&other, "company").await, 3, "no company named after an id");
    assert_eq!(companies_of_contacts(&other).await, before);
    for (d, t) in [(db, source_db), (other, empty_db)] {
        d.close().await;
        t.cleanup().await;
    }
}

#[tokio::test]
async fn relations_round_trip_sqlite() {
    an_export_imports_back_with_its_relations(Backend::Sqlite).await;
}

#[tokio::test]
async fn relations_round_trip_postgres() {
    an_export_imports_back_with_its_relations(Backend::Postgres).await;
}
