//! Global search across objects: prefix matching on normalized terms (see
//! `peyvand_records::normalize`), so Arabic and Persian letter variants, digits and the
//! zero-width non-joiner all find the same records.

use crate::sql::{Bind, Sql};
use crate::{Db, Result};
use peyvand_records::normalize::{phone_query_form, query_terms};
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;

/// One search hit.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Hit {
    pub object: String,
    pub id: String,
    pub title: String,
}

/// Most words of a query that are matched.
const MAX_QUERY_WORDS: usize = 6;

/// The first code point above every other: `term < prefix || MAX` bounds a prefix range.
const MAX_CHAR: char = '\u{10FFFF}';

fn prefix_range(sql: &mut Sql, prefix: &str, dialect_collation: &str) {
    sql.push("(term").push(dialect_collation).push(" >= ").bind(Bind::text(prefix));
    sql.push(" AND term").push(dialect_collation).push(" < ").bind(Bind::text(format!("{prefix}{MAX_CHAR}"))).push(")");
}

/// Adds the `object, record_id` of the terms starting with `word`, or, for a word typed as a
/// phone number, with the form phone numbers are indexed in: the two ranges as a union of two
/// index reads (PostgreSQL planned `range OR range` under a `LIMIT` as a scan of the whole table).
fn word_hits(sql: &mut Sql, word: &str, dialect_collation: &str) {
    match phone_query_form(word) {
        None => {
            sql.push("SELECT object, record_id FROM search_terms WHERE ");
            prefix_range(sql, word, dialect_collation);
        }
        Some(phone) => {
            sql.push("SELECT object, record_id FROM (SELECT object, record_id FROM search_terms WHERE ");
            prefix_range(sql, word, dialect_collation);
            sql.push(" UNION ALL SELECT object, record_id FROM search_terms WHERE ");
            prefix_range(sql, &phone, dialect_collation);
            sql.push(") phone_hits");
        }
    }
}

impl Db {
    /// Finds live records whose terms start with every word of the query, or with the whole
    /// query written without spaces.
    pub async fn search(&self, query: &str, limit: u32) -> Result<Vec<Hit>> {
        let (words, compacted) = query_terms(query);
        // A query of punctuation alone has no words (and matches nothing: terms hold none).
        if words.is_empty() || compacted.is_empty() {
            return Ok(Vec::new());
        }
        let collation = self.dialect().binary_collation();
        let mut sql = Sql::new("SELECT object, record_id FROM (");
        for (i, w) in words.iter().take(MAX_QUERY_WORDS).enumerate() {
            if i > 0 {
                sql.push(" INTERSECT ");
            }
            word_hits(&mut sql, w, collation);
        }
        if words.len() > 1 {
            sql.push(" UNION ");
            word_hits(&mut sql, &compacted, collation);
        }
        // A user limited to some records has more hits looked at, as others' are passed over.
        let limit = i64::from(limit.clamp(1, 100));
        let looked_at = if self.viewer().is_some() { limit * 5 } else { limit };
        sql.push(") hits LIMIT ").bind(Bind::Int(Some(looked_at)));
        let rows = sql.query().fetch_all(self.pool()).await?;
        let mut by_object: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut order = Vec::new();
        for row in &rows {
            let object: String = row.try_get(0)?;
            let id: String = row.try_get(1)?;
            order.push((object.clone(), id.clone()));
            by_object.entry(object).or_default().push(id);
        }
        let mut titles = std::collections::HashMap::new();
        for (object, ids) in &by_object {
            // An object in the trash keeps its records' terms; they are not found meanwhile.
            let found = match self.titles(object, ids).await {
                Err(crate::Error::NotFound(_)) => continue,
                other => other?,
            };
            for (id, title) in found {
                titles.insert((object.clone(), id), title);
            }
        }
        let mut hits: Vec<Hit> = order
            .into_iter()
            .filter_map(|(object, id)| {
                titles.remove(&(object.clone(), id.clone())).map(|title| Hit { object, id, title })
            })
            .collect();
        // A record found only by a field hidden from the user is not found.
        if let Some(viewer) = self.viewer() {
            let mut seen = Vec::with_capacity(hits.len());
            for hit in hits {
                if viewer.hidden_fields(&hit.object).next().is_some() {
                    let obj = self.object(&hit.object).await?;
                    let terms = self.visible_terms(&obj, &hit.id).await?;
                    let starts = |w: &str| terms.iter().any(|t| t.starts_with(w));
                    let matches = |w: &String| starts(w) || phone_query_form(w).is_some_and(|p| starts(&p));
                    if !(words.iter().take(MAX_QUERY_WORDS).all(matches) || (words.len() > 1 && matches(&compacted))) {
                        continue;
                    }
                }
                seen.push(hit);
            }
            hits = seen;
        }
        hits.sort_by(|a, b| a.title.cmp(&b.title));
        hits.truncate(limit as usize);
        Ok(hits)
    }
}
