//! Which column feeds which field: suggested from the header row by name, label (Persian or
//! English) and common synonyms, and overridable by the user.

use peyvand_records::ObjectDef;
use peyvand_records::normalize::compact;

/// Common header words of legacy systems, by field.
const SYNONYMS: &[(&str, &[&str])] = &[
    ("first_name", &["firstname", "first", "given name", "نام کوچک", "اسم"]),
    ("last_name", &["lastname", "surname", "family name", "family", "نام فامیلی", "فامیلی", "نام خانوادگی"]),
    ("emails", &["email", "e-mail", "mail", "email address", "ایمیل", "پست الکترونیک", "رایانامه"]),
    (
        "phones",
        &[
            "phone",
            "mobile",
            "cell",
            "tel",
            "telephone",
            "تلفن",
            "موبایل",
            "همراه",
            "تلفن همراه",
            "شماره تماس",
            "شماره موبایل",
        ],
    ),
    ("company", &["company name", "organization", "organisation", "account", "نام شرکت", "سازمان"]),
    ("job_title", &["title", "position", "role", "سمت", "عنوان شغلی"]),
    ("national_id", &["national code", "melli code", "کدملی", "کد ملی", "شماره ملی"]),
    ("birth_date", &["birthday", "date of birth", "dob", "تاریخ تولد"]),
    ("postal_code", &["zip", "zip code", "postcode", "کدپستی"]),
    ("address", &["street", "آدرس", "نشانی"]),
    ("website", &["web", "url", "site", "سایت", "وبسایت"]),
    ("tags", &["tag", "labels", "برچسب"]),
];

/// For each header, the field it should fill, if one is recognized.
pub fn suggest(object: &ObjectDef, headers: &[String]) -> Vec<Option<String>> {
    let mut taken: Vec<String> = Vec::new();
    headers
        .iter()
        .map(|h| {
            let key = compact(h);
            let found = object
                .live_fields()
                .find(|f| {
                    compact(&f.api_name) == key
                        || compact(&f.api_name.replace('_', " ")) == key
                        || compact(&f.label_fa) == key
                        || compact(&f.label_en) == key
                })
                .map(|f| f.api_name.clone())
                .or_else(|| {
                    SYNONYMS
                        .iter()
                        .find(|(field, words)| object.field(field).is_some() && words.iter().any(|w| compact(w) == key))
                        .map(|(field, _)| field.to_string())
                })
                .filter(|f| !taken.contains(f));
            if let Some(f) = &found {
                taken.push(f.clone());
            }
            found
        })
        .collect()
}
