//! The knowledge base: articles (records of `kb_article`: lists, custom fields, access and each
//! change's history — its versions — come from the engine) in Persian or English, drafts until
//! published; found by the words of a question (the Persian normalization of `contains`: ي and ی,
//! ك and ک, Persian and Latin digits, are one); suggested for a ticket from its subject while an
//! agent writes the reply; and "was this helpful" votes.

use peyvand_records::FieldError;
use peyvand_records::FieldType;
use peyvand_records::Value;
use peyvand_records::filter::parse_filter;
use peyvand_records::normalize::normalize;
use peyvand_store::hooks::{BoxFuture, HookCx, Pending, WriteHook};
use peyvand_store::records::{ListQuery, Record};
use peyvand_store::schema::{NewObject, opt, owner_field, std_field, with};
use peyvand_store::{Db, Error, Result};
use serde_json::{Map, Value as Json, json};
use time::OffsetDateTime;

/// Words shorter than this are not looked for (`contains` needs three letters).
const MIN_WORD: usize = 3;
/// Most words of a question looked for.
const MAX_WORDS: usize = 6;

/// The article object's definition.
pub(crate) fn object() -> NewObject {
    use FieldType as T;
    let fields = vec![
        with(std_field("title", T::Text, "عنوان", "Title"), |f| {
            f.required = true;
            f.indexed = true;
        }),
        std_field("summary", T::Text, "خلاصه", "Summary"),
        with(std_field("body", T::LongText, "متن", "Article"), |f| f.required = true),
        with(std_field("category", T::Select, "دسته", "Category"), |f| {
            f.indexed = true;
            f.options.allow_new = true;
            f.options.options = vec![
                opt("getting_started", "شروع کار", "Getting started"),
                opt("troubleshooting", "رفع اشکال", "Troubleshooting"),
                opt("billing", "صورت‌حساب و پرداخت", "Billing"),
                opt("warranty", "گارانتی و تعمیر", "Warranty and repair"),
                opt("delivery", "ارسال و تحویل", "Delivery"),
            ];
        }),
        with(std_field("language", T::Select, "زبان", "Language"), |f| {
            f.indexed = true;
            f.default_value = Some(json!("fa"));
            f.options.options = vec![opt("fa", "فارسی", "Persian"), opt("en", "انگلیسی", "English")];
        }),
        with(std_field("status", T::Select, "وضعیت", "Status"), |f| {
            f.indexed = true;
            f.default_value = Some(json!("draft"));
            f.options.options = vec![
                opt("draft", "پیش‌نویس", "Draft"),
                opt("published", "منتشرشده", "Published"),
                opt("archived", "بایگانی", "Archived"),
            ];
        }),
        std_field("published_at", T::Datetime, "زمان انتشار", "Published"),
        with(std_field("tags", T::MultiSelect, "برچسب‌ها", "Tags"), |f| f.options.allow_new = true),
        with(std_field("helpful_yes", T::Integer, "مفید بود", "Found it helpful"), |f| {
            f.default_value = Some(json!(0))
        }),
        with(std_field("helpful_no", T::Integer, "مفید نبود", "Did not help"), |f| {
            f.default_value = Some(json!(0))
        }),
        owner_field(),
    ];
    NewObject {
        api_name: "kb_article".into(),
        label_fa: "مقالهٔ دانشنامه".into(),
        label_en: "Knowledge article".into(),
        plural_fa: "دانشنامه".into(),
        plural_en: "Knowledge base".into(),
        fields,
        title_field: Some("title".into()),
    }
}

/// An article's rules: published says when (the first time), and votes are never negative.
pub(crate) struct ArticleRules;

impl WriteHook for ArticleRules {
    fn objects(&self) -> &'static [&'static str] {
        &["kb_article"]
    }

    fn before<'a>(&'a self, _cx: HookCx<'a>, write: &'a mut Pending<'_, '_>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for f in ["helpful_yes", "helpful_no"] {
                if write.after(f).as_i64().is_some_and(|n| n < 0) {
                    return Err(Error::invalid(FieldError::new(f, "negative")));
                }
            }
            if write.changes("status")
                && write.after("status").as_str() == Some("published")
                && write.after("published_at").is_null()
            {
                write.set("published_at", Value::Datetime(OffsetDateTime::now_utc()));
            }
            Ok(())
        })
    }
}

/// The words of a question worth looking for: normalized, three letters or more, distinct.
pub fn words(question: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in normalize(question).split(|c: char| !c.is_alphanumeric()) {
        if w.chars().count() >= MIN_WORD && !out.iter().any(|o| o == w) {
            out.push(w.to_string());
        }
        if out.len() == MAX_WORDS {
            break;
        }
    }
    out
}

/// Published articles (in `lang`, if given) matching any word of `question` in their title,
/// summary or tags, those matching most words first, at most `limit`; read as the handle's viewer
/// may.
pub async fn search(db: &Db, question: &str, lang: Option<&str>, limit: usize) -> Result<Vec<Record>> {
    let words = words(question);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let obj = db.object("kb_article").await?;
    let mut any = Vec::new();
    for w in &words {
        any.push(json!({ "field": "title", "op": "contains", "value": w }));
        any.push(json!({ "field": "summary", "op": "contains", "value": w }));
        any.push(json!({ "field": "tags", "op": "eq", "value": w }));
    }
    let mut all = vec![json!({ "field": "status", "op": "eq", "value": "published" }), json!({ "or": any })];
    if let Some(lang) = lang {
        all.push(json!({ "field": "language", "op": "eq", "value": lang }));
    }
    let query = ListQuery {
        filter: Some(parse_filter(&obj, &json!({ "and": all })).map_err(Error::invalid)?),
        limit: Some(200),
        ..ListQuery::default()
    };
    let mut found = db.list_records("kb_article", &query).await?.records;
    let score = |r: &Record| {
        let text = |f: &str| normalize(r.fields.get(f).and_then(Json::as_str).unwrap_or(""));
        let (title, summary) = (text("title"), text("summary"));
        let tags: Vec<String> = r
            .fields
            .get("tags")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .map(normalize)
            .collect();
        let helpful = r.fields.get("helpful_yes").and_then(Json::as_i64).unwrap_or(0)
            - r.fields.get("helpful_no").and_then(Json::as_i64).unwrap_or(0);
        let hits = words
            .iter()
            .map(|w| {
                2 * usize::from(title.contains(w.as_str()))
                    + usize::from(summary.contains(w.as_str()))
                    + usize::from(tags.iter().any(|t| t == w))
            })
            .sum::<usize>();
        (hits, helpful)
    };
    found.sort_by_key(|r| std::cmp::Reverse(score(r)));
    found.truncate(limit);
    Ok(found)
}

/// Articles for a ticket: by its subject and category, in the language its words are in.
pub async fn suggest(db: &Db, ticket: &Record, limit: usize) -> Result<Vec<Record>> {
    let subject = ticket.fields.get("subject").and_then(Json::as_str).unwrap_or("");
    let persian = subject.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c));
    search(db, subject, Some(if persian { "fa" } else { "en" }), limit).await
}

/// A reader's "was this helpful" on a published article the handle's viewer may read.
pub async fn vote(db: &Db, id: &str, helpful: bool) -> Result<Record> {
    let article = db.get_record("kb_article", id, false).await?;
    if article.fields.get("status").and_then(Json::as_str) != Some("published") {
        return Err(Error::NotFound(format!("kb_article {id}")));
    }
    let obj = db.object("kb_article").await?;
    let field = if helpful { "helpful_yes" } else { "helpful_no" };
    let mut tx = db.write().await?;
    // Read again in the write, so two votes at once both count.
    let system = db.system();
    let now = system.find_in(&mut tx, &obj, &[("id", Value::Text(id.to_string()))], 1).await?;
    let n = now.first().and_then(|r| r.fields.get(field)).and_then(Json::as_i64).unwrap_or(0);
    let def = obj.field(field).ok_or_else(|| Error::NotFound(field.to_string()))?;
    let record = system.update_in(&mut tx, None, &obj, id, vec![(def, Value::Int(n + 1))], None).await?;
    tx.commit().await?;
    Ok(record)
}

/// The fields of a new article, for a test or the demo.
pub fn article(title: &str, summary: &str, body: &str, lang: &str, tags: &[&str]) -> Map<String, Json> {
    let mut m = Map::new();
    m.insert("title".into(), json!(title));
    m.insert("summary".into(), json!(summary));
    m.insert("body".into(), json!(body));
    m.insert("language".into(), json!(lang));
    m.insert("status".into(), json!("published"));
    m.insert("tags".into(), json!(tags));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_questions_words_are_normalized_and_short_ones_dropped() {
        assert_eq!(words("كولر گازي آب مي‌دهد"), words("کولر گازی آب می‌دهد"));
        assert!(words("a to is").is_empty());
        assert_eq!(words("Reset the reset password").len(), 3);
    }
}
