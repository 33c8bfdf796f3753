//! The substring index: `contains` on an indexed text, e-mail, phone or national-ID field, and on
//! a multi-valued e-mail or phone field, is answered from a trigram index instead of reading
//! every record.
//!
//! The indexed text is the field's value folded as [`peyvand_records::normalize`] folds a
//! pattern (Persian letter variants, digits, diacritics, the zero-width non-joiner, Latin case;
//! the members of a multi-valued field one per line, never the JSON they are kept in), made by
//! the database itself on every write, so every write path (a record, a bulk load, a restore,
//! a change of the field) keeps it without knowing of it:
//! - **SQLite**: an FTS5 table with the trigram tokenizer per field (`gt_f…`, contentless, keyed
//!   by the record's rowid). Three triggers on the record table write each change to a plain
//!   table beside it (`gq_f…`), which [`flush_object`] and [`Db::flush_substring_indexes`] move
//!   into the index in sets; a query reads the index less the changed records, plus the changed
//!   ones that match. A pattern is a phrase: consecutive trigrams, which is exactly "contains".
//!   (Peyvand never runs VACUUM, which may renumber the rowids of a table keyed by text.)
//! - **PostgreSQL**: a stored generated column (`gc_f…`) holding the folded text, with a GIN
//!   index of pg_trgm's trigram operator class (`gx_f…`); a pattern is a `LIKE` on that column.
//!
//! Cost (measured, see BENCHMARKS.md): what a write adds per indexed value, and the index's size.

use crate::records::COUNT_CAP;
use crate::schema::exec;
use crate::sql::{Bind, Sql};
use crate::{Db, Dialect, Result, WriteTx};
use peyvand_records::filter::{Filter, Op, Operand};
use peyvand_records::meta::{FieldDef, FieldType, ObjectDef, Storage};
use peyvand_records::normalize::FOLDED_CHARS;
use sqlx::Row;

/// Whether `field` has a substring index: a live indexed text, e-mail, phone or national-ID
/// field, or a multi-valued e-mail or phone field (how customers are found).
pub(crate) fn substring_indexed(field: &FieldDef) -> bool {
    let textual =
        matches!(field.field_type, FieldType::Text | FieldType::Email | FieldType::Phone | FieldType::NationalId);
    !field.archived && textual && (field.indexed || field.storage() == Storage::List)
}

fn name(prefix: &str, field: &FieldDef) -> String {
    format!("{prefix}_f{}", field.id.replace('-', ""))
}

/// A SQL string literal of `s` (the fold's characters are constants; none holds a quote).
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The SQL expression of `column` folded as a pattern is: multi-valued fields' JSON arrays of
/// strings become their members, one per line.
fn fold_sql(dialect: Dialect, field: &FieldDef, column: &str) -> String {
    let mut text = column.to_string();
    if field.storage() == Storage::List {
        text = format!("replace(replace(replace({text}, '\",\"', {}), '[\"', ''), '\"]', '')", newline(dialect));
    }
    match dialect {
        Dialect::Sqlite => {
            // Without translate(), each character is one more replace() around the last, and
            // SQLite's parser (of versions before 3.46, as in the sqlite3 tools people open a
            // database with) stops at about 25 levels: the letters, the joiner and the common
            // marks here; digits are matched by writing the pattern's in each script
            // (`digit_forms`). Multi-valued fields hold e-mails and phones: no letters to fold.
            if field.storage() != Storage::List {
                for (from, to) in FOLDED_CHARS.iter().filter(|(c, _)| SQLITE_FOLDED.contains(c)) {
                    text = format!("replace({text}, {}, {})", literal(&from.to_string()), literal(to));
                }
            }
            format!("lower({text})")
        }
        Dialect::Postgres => {
            // translate maps each character of the second text to the one at its place in the
            // third, and drops those past its end: the one-for-one pairs first, then the dropped.
            let mut from = String::new();
            let mut to = String::new();
            for (f, t) in FOLDED_CHARS.iter().filter(|(_, t)| !t.is_empty()) {
                from.push(*f);
                to.push_str(t);
            }
            for (f, _) in FOLDED_CHARS.iter().filter(|(_, t)| t.is_empty()) {
                from.push(*f);
            }
            format!("lower(translate({text}, {}, {}))", literal(&from), literal(&to))
        }
    }
}

/// The characters SQLite's fold maps (see `fold_sql`): Arabic Yeh, Alef Maksura and Kaf, the
/// zero-width non-joiner, tatweel and the eight common vowel marks.
const SQLITE_FOLDED: [char; 13] = [
    '\u{064A}', '\u{0649}', '\u{0643}', '\u{200C}', '\u{0640}', '\u{064B}', '\u{064C}', '\u{064D}', '\u{064E}',
    '\u{064F}', '\u{0650}', '\u{0651}', '\u{0652}',
];

/// The pattern as it is matched on `dialect`: PostgreSQL's fold makes every digit Latin, as the
/// pattern's are; on SQLite a pattern with digits is also looked for with them in Persian and
/// in Arabic-Indic digits (a value typed in one script throughout).
fn digit_forms(dialect: Dialect, pattern: &str) -> Vec<String> {
    if dialect == Dialect::Postgres || !pattern.chars().any(|c| c.is_ascii_digit()) {
        return vec![pattern.to_string()];
    }
    let script = |zero: u32| -> String {
        pattern
            .chars()
            .map(|c| match c.to_digit(10) {
                Some(d) if c.is_ascii_digit() => char::from_u32(zero + d).unwrap_or(c),
                _ => c,
            })
            .collect()
    };
    vec![pattern.to_string(), script(0x06F0), script(0x0660)]
}

fn newline(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "char(10)",
        Dialect::Postgres => "chr(10)",
    }
}

/// Builds the substring index of `field` (a no-op for a field that has none), filling it from
/// the records already there.
pub(crate) async fn create(tx: &mut WriteTx, dialect: Dialect, table: &str, field: &FieldDef) -> Result<()> {
    if !substring_indexed(field) {
        return Ok(());
    }
    drop(tx, dialect, table, field).await?;
    let column = &field.column;
    match dialect {
        Dialect::Sqlite => {
            let (grams, pending) = (name("gt", field), name("gq", field));
            let fold_new = fold_sql(dialect, field, &format!("new.{column}"));
            order_blocks(tx, table).await?;
            exec(
                tx,
                &format!(
                    "CREATE VIRTUAL TABLE {grams} USING fts5(v, content='', contentless_delete=1, tokenize='trigram')"
                ),
            )
            .await?;
            exec(
                tx,
                &format!(
                    "INSERT INTO {grams} (rowid, v) SELECT rowid, {} FROM {table} WHERE {column} IS NOT NULL",
                    fold_sql(dialect, field, column)
                ),
            )
            .await?;
            // The triggers write a plain table of changes (an empty value: a record to forget),
            // moved into the index in sets (`flush_statements`): FTS5 writes its pending terms at
            // every savepoint, and a trigger's statement opens one (20 µs a value instead of 2–3).
            exec(tx, &format!("CREATE TABLE {pending} (rowid INTEGER PRIMARY KEY, v TEXT)")).await?;
            let changes = [
                (
                    "gi",
                    format!("AFTER INSERT ON {table} WHEN new.{column} IS NOT NULL"),
                    "new.rowid",
                    fold_new.as_str(),
                ),
                ("gu", format!("AFTER UPDATE OF {column} ON {table}"), "new.rowid", fold_new.as_str()),
                ("gd", format!("AFTER DELETE ON {table}"), "old.rowid", "NULL"),
            ];
            for (prefix, when, rowid, value) in changes {
                let trigger = name(prefix, field);
                exec(
                    tx,
                    &format!(
                        "CREATE TRIGGER {trigger} {when} BEGIN \
                         INSERT OR REPLACE INTO {pending} (rowid, v) VALUES ({rowid}, {value}); END"
                    ),
                )
                .await?;
            }
        }
        Dialect::Postgres => {
            let folded = name("gc", field);
            exec(
                tx,
                &format!(
                    "ALTER TABLE {table} ADD COLUMN {folded} TEXT GENERATED ALWAYS AS ({}) STORED",
                    fold_sql(dialect, field, column)
                ),
            )
            .await?;
            exec(tx, &format!("CREATE INDEX {} ON {table} USING gin ({folded} gin_trgm_ops)", name("gx", field)))
                .await?;
        }
    }
    Ok(())
}

/// The table of `table`'s order blocks (SQLite): for each [`BLOCK_SHIFT`]-sized run of rowids,
/// the largest id ever given a record in it. A page in creation order reads the substring
/// index's matches in rowid order (`records::Stream`), which is the ids' order except where a
/// record was written with an id older than others' (an import keeping its ids, two creates
/// whose ids were made in one order and written in the other): the blocks say when no record
/// further down can still come first.
pub(crate) fn blocks_name(table: &str) -> String {
    format!("gb_{table}")
}

/// Rowids per order block: 2^8.
pub(crate) const BLOCK_SHIFT: u32 = 8;

/// Makes `table`'s order blocks where they are not yet (filled from its records, then kept by
/// a trigger on every insert; a block's largest id only grows, so a deleted record leaves it
/// as it was, which only makes a page read a little further).
async fn order_blocks(tx: &mut WriteTx, table: &str) -> Result<()> {
    let blocks = blocks_name(table);
    if table_exists(&mut tx.tx, &blocks).await? {
        return Ok(());
    }
    exec(tx, &format!("CREATE TABLE {blocks} (block INTEGER PRIMARY KEY, max_id TEXT NOT NULL)")).await?;
    exec(
        tx,
        &format!("INSERT INTO {blocks} (block, max_id) SELECT rowid >> {BLOCK_SHIFT}, MAX(id) FROM {table} GROUP BY 1"),
    )
    .await?;
    exec(
        tx,
        &format!(
            "CREATE TRIGGER gbi_{table} AFTER INSERT ON {table} BEGIN \
             INSERT INTO {blocks} (block, max_id) VALUES (new.rowid >> {BLOCK_SHIFT}, new.id) \
             ON CONFLICT (block) DO UPDATE SET max_id = MAX(max_id, excluded.max_id); END"
        ),
    )
    .await
}

/// Removes the substring index of `field`, if it has one.
pub(crate) async fn drop(tx: &mut WriteTx, dialect: Dialect, table: &str, field: &FieldDef) -> Result<()> {
    match dialect {
        Dialect::Sqlite => {
            for prefix in ["gi", "gu", "gd"] {
                exec(tx, &format!("DROP TRIGGER IF EXISTS {}", name(prefix, field))).await?;
            }
            exec(tx, &format!("DROP TABLE IF EXISTS {}", name("gq", field))).await?;
            exec(tx, &format!("DROP TABLE IF EXISTS {}", name("gt", field))).await
        }
        Dialect::Postgres => {
            exec(tx, &format!("DROP INDEX IF EXISTS {}", name("gx", field))).await?;
            exec(tx, &format!("ALTER TABLE {table} DROP COLUMN IF EXISTS {}", name("gc", field))).await
        }
    }
}

/// After a change of a field's definition from `old` to `new`: builds, rebuilds or removes its
/// substring index where it had or now has one on another column; leaves it alone otherwise
/// (a change of a label rewrites nothing).
pub(crate) async fn update(
    tx: &mut WriteTx,
    dialect: Dialect,
    table: &str,
    old: &FieldDef,
    new: &FieldDef,
) -> Result<()> {
    let (had, has) = (substring_indexed(old), substring_indexed(new));
    let same = old.column == new.column && old.storage() == new.storage();
    if had && !(has && same) {
        drop(tx, dialect, table, old).await?;
    }
    if has && !(had && same) {
        create(tx, dialect, table, new).await?;
    }
    Ok(())
}

/// Whether SQLite's table `name` is there.
async fn table_exists(conn: &mut sqlx::AnyConnection, name: &str) -> Result<bool> {
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM sqlite_master WHERE name = $1")
        .bind(name.to_string())
        .fetch_one(conn)
        .await?
        .try_get(0)?;
    Ok(n > 0)
}

/// Whether the substring index of `field` is there.
async fn exists(db: &Db, field: &FieldDef) -> Result<bool> {
    let dialect = db.dialect();
    let sql = match dialect {
        Dialect::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE name = $1",
        Dialect::Postgres => "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1",
    };
    // On SQLite the table of changes, the last part made (an index built before it existed
    // was kept by triggers writing to the index itself, and is built again).
    let index = name(if dialect == Dialect::Sqlite { "gq" } else { "gx" }, field);
    let n: i64 = sqlx::query(sql).bind(index).fetch_one(db.pool()).await?.try_get(0)?;
    Ok(n > 0)
}

impl Db {
    /// At start-up: builds the substring index of every field that should have one and has not
    /// (a database made before they existed, or a load that was killed while building one).
    /// Returns how many it built.
    pub(crate) async fn ensure_substring_indexes(&self) -> Result<usize> {
        let catalog = self.reload_catalog().await?;
        let mut built = 0;
        for object in &catalog.objects {
            // Order blocks came after the indexes (a database made before them gets them here).
            if self.dialect() == Dialect::Sqlite
                && object.fields.iter().any(substring_indexed)
                && !table_exists(&mut *self.pool().acquire().await?, &blocks_name(&object.table)).await?
            {
                let mut tx = self.write_long().await?;
                order_blocks(&mut tx, &object.table).await?;
                tx.commit().await?;
            }
            for field in object.fields.iter().filter(|f| substring_indexed(f)) {
                if exists(self, field).await? {
                    continue;
                }
                let mut tx = self.write_long().await?;
                create(&mut tx, self.dialect(), &object.table, field).await?;
                tx.commit().await?;
                tracing::info!(object = %object.api_name, field = %field.api_name, "built a substring index");
                built += 1;
            }
        }
        Ok(built)
    }
}

/// Appends the condition "`field` contains `pattern`" (a pattern normalized as
/// [`peyvand_records::normalize::normalize`] does, of three characters or more) answered from
/// the field's substring index; `None` (nothing appended) when the field has none.
/// `dense` (SQLite): the pattern is in many of the newest records (see [`probe`]), so the page
/// reads records in its order and checks each against the matches (the unary `+` keeps SQLite
/// from reading the matches first and sorting them all).
pub(crate) fn contains_sql(
    sql: &mut Sql,
    dialect: Dialect,
    object: &ObjectDef,
    field: &FieldDef,
    pattern: &str,
    dense: bool,
) -> Option<()> {
    if !substring_indexed(field) || pattern.chars().count() < 3 {
        return None;
    }
    match dialect {
        Dialect::Sqlite => {
            // The index's matches (the pattern as a phrase of trigrams) less the records changed
            // since it was last written, and the changed ones whose new value matches.
            let (grams, pending) = (name("gt", field), name("gq", field));
            let rowid = format!("{}{}.rowid", if dense { "+" } else { "" }, object.table);
            sql.push("((")
                .push(&rowid)
                .push(" IN (SELECT rowid FROM ")
                .push(&grams)
                .push(" WHERE ")
                .push(&grams)
                .push(" MATCH ")
                .bind(Bind::text(match_query(dialect, pattern)))
                .push(") AND ")
                .push(&rowid)
                .push(" NOT IN (SELECT rowid FROM ")
                .push(&pending)
                .push(")) OR ")
                .push(&rowid)
                .push(" IN (SELECT rowid FROM ")
                .push(&pending)
                .push(" WHERE ");
            like_any_form(sql, dialect, "v", "LIKE", &format!("%{}%", crate::records::escape_like(pattern)));
            sql.push("))");
        }
        Dialect::Postgres => {
            sql.push(&name("gc", field))
                .push(" LIKE ")
                .bind(Bind::text(format!("%{}%", crate::records::escape_like(pattern))))
                .push(" ESCAPE '\\'");
        }
    }
    Some(())
}

/// The FTS5 query of a pattern: each of its forms (`digit_forms`) as a phrase, any of them.
fn match_query(dialect: Dialect, pattern: &str) -> String {
    let phrases: Vec<String> =
        digit_forms(dialect, pattern).iter().map(|p| format!("\"{}\"", p.replace('"', "\"\""))).collect();
    phrases.join(" OR ")
}

/// Appends "`field` contains `pattern`" for a field with no substring index: its column folded
/// as the index folds, compared with each form of the pattern (a scan).
pub(crate) fn contains_scan_sql(sql: &mut Sql, dialect: Dialect, field: &FieldDef, column: &str, like: &str) {
    like_any_form(sql, dialect, &fold_sql(dialect, field, column), dialect.ilike(), like);
}

/// Appends `(expr op like OR …)` for each form of the `LIKE` pattern `like` (`digit_forms`).
fn like_any_form(sql: &mut Sql, dialect: Dialect, expr: &str, op: &str, like: &str) {
    sql.push("(");
    for (i, form) in digit_forms(dialect, like).into_iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push(expr).push(" ").push(op).push(" ").bind(Bind::text(form)).push(" ESCAPE '\\'");
    }
    sql.push(")");
}

/// How a page reads a `contains` found in at least [`DENSE_MATCHES`] records, close together
/// among the newest: records in the page's order, so a page is found within a few thousand of
/// them, instead of every match read from the index and sorted (a three-letter name part in
/// 26,000 of a million contacts: 230 ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dense {
    /// Each record checked against the matches, listed once from the index (a name part: the
    /// 26,000 matches listed in about 5 ms).
    Checked,
    /// In most records (a phone prefix in all of a million: 220 ms only to list them): each
    /// record's folded value compared with the pattern, which finds a page in a few records.
    Compared,
}

/// How a page reads `field`'s `contains`, per `dense` (a [`Probe`]'s): `None` from the matches.
pub(crate) fn dense_of(dense: &[(String, Dense)], field: &FieldDef) -> Option<Dense> {
    dense.iter().find(|(id, _)| *id == field.id).map(|(_, how)| *how)
}

const DENSE_MATCHES: i64 = 2_000;

/// Records a dense read may pass for each match it finds, among the newest.
const MAX_READ_PER_MATCH: i64 = 100;

/// Records a read may pass for each match it finds where comparing values beats listing the
/// matches.
const COMPARE_READ_PER_MATCH: i64 = 2;

/// What the substring index says of a filter before its page is read (SQLite; PostgreSQL's
/// planner weighs its trigram index itself).
#[derive(Debug, Default)]
pub(crate) struct Probe {
    /// Fields whose `contains` is dense (see [`Dense`]), and how a page reads them.
    pub dense: Vec<(String, Dense)>,
    /// For a filter of `contains` conditions alone (one, or any of several): at least this many
    /// live records match (the most matches of one, less the records in the trash), counted up
    /// to just past [`COUNT_CAP`].
    pub at_least: Option<i64>,
}

/// Adds the substring-indexed `contains` conditions of `filter` to `out`; returns whether they
/// are all the filter is, alone or joined by `or`.
fn contains_conditions(object: &ObjectDef, filter: &Filter, out: &mut Vec<(String, FieldDef)>) -> bool {
    match filter {
        Filter::Cond(c) => match (&c.op, &c.operand, object.field(&c.field.api_name)) {
            (Op::Contains, Operand::Pattern(p), Some(field)) if substring_indexed(field) => {
                let pattern = crate::records::contains_pattern(field.field_type, p);
                let indexed = pattern.chars().count() >= 3;
                if indexed {
                    out.push((pattern, field.clone()));
                }
                indexed
            }
            _ => false,
        },
        Filter::And(children) | Filter::Or(children) => {
            let mut alone = matches!(filter, Filter::Or(_)) || children.len() == 1;
            for child in children {
                alone &= contains_conditions(object, child, out);
            }
            alone && !children.is_empty()
        }
    }
}

/// Every substring-indexed field of `object` as [`Dense::Compared`]: for a sample of records,
/// whose values are compared in place, never looked for among all matches.
pub(crate) fn compared_in_place(object: &ObjectDef) -> Vec<(String, Dense)> {
    object.fields.iter().filter(|f| substring_indexed(f)).map(|f| (f.id.clone(), Dense::Compared)).collect()
}

/// SQLite: the substring indexes whose matches hold every record `filter` matches, if it has
/// such (a `contains` its index answers, any of several, or such a part of an `and`): for each,
/// the index, its table of changes, and the pattern as the index is asked. A page in creation
/// order is streamed from them (`records::Stream`).
pub(crate) fn stream_sources(object: &ObjectDef, filter: &Filter) -> Vec<(String, String, String)> {
    match filter {
        Filter::And(children) => {
            children.iter().map(|c| stream_sources(object, c)).find(|s| !s.is_empty()).unwrap_or_default()
        }
        _ => {
            let mut conditions = Vec::new();
            if !contains_conditions(object, filter, &mut conditions) {
                return Vec::new();
            }
            conditions
                .iter()
                .map(|(pattern, field)| (name("gt", field), name("gq", field), match_query(Dialect::Sqlite, pattern)))
                .collect()
        }
    }
}

/// Whether `filter` holds a `contains` that a substring index answers.
pub(crate) fn has_indexed_contains(object: &ObjectDef, filter: &Filter) -> bool {
    let mut conditions = Vec::new();
    contains_conditions(object, filter, &mut conditions);
    !conditions.is_empty()
}

/// Matches a substring index counted, by index, pattern and limit: the index's state when
/// counted, and the count.
pub(crate) type Counts = std::collections::HashMap<String, (String, i64)>;

/// Entries [`Counts`] holds before it starts again.
const COUNTS_KEPT: usize = 4_096;

/// How many of the records in `grams` match `query`, up to `limit`: counted once for each state
/// of the index (FTS5 writes its structure record, and its totals, with every change it commits;
/// the server's index changes only when its changes are moved in, every few seconds), so a
/// pattern searched again and again, as the list is paged and others type the same names, is
/// counted once, not once a request (10,000 matches: 2–5 ms).
async fn index_matches(db: &Db, grams: &str, query: &str, limit: i64) -> Result<i64> {
    let state: String = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COALESCE((SELECT hex(block) FROM {grams}_data WHERE id = 10), '') || ':' || \
         COALESCE((SELECT hex(block) FROM {grams}_data WHERE id = 1), '')"
    )))
    .fetch_one(db.pool())
    .await?
    .try_get(0)?;
    let key = format!("{grams}\u{1}{query}\u{1}{limit}");
    if let Ok(counts) = db.gram_counts.lock()
        && let Some((seen, n)) = counts.get(&key)
        && *seen == state
    {
        return Ok(*n);
    }
    let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM (SELECT rowid FROM {grams} WHERE {grams} MATCH $1 LIMIT $2) m"
    )))
    .bind(query.to_string())
    .bind(limit)
    .fetch_one(db.pool())
    .await?
    .try_get(0)?;
    if let Ok(mut counts) = db.gram_counts.lock() {
        if counts.len() >= COUNTS_KEPT {
            counts.clear();
        }
        counts.insert(key, (state, n));
    }
    Ok(n)
}

/// Counts in the substring index the matches of each `contains` of `filter`, up to just past
/// what a page and its count need: a few milliseconds at a million records, once for each state
/// of the index ([`index_matches`]). `ordered`: the page is read in an order of its own (not
/// streamed from the index, `records::Stream`), so whether a pattern is dense is looked into.
pub(crate) async fn probe(db: &Db, object: &ObjectDef, filter: &Filter, trash: bool, ordered: bool) -> Result<Probe> {
    let mut conditions = Vec::new();
    let alone = contains_conditions(object, filter, &mut conditions);
    if db.dialect() != Dialect::Sqlite || conditions.is_empty() {
        return Ok(Probe::default());
    }
    // Records in the trash are in the index too: matches are live ones only once those are
    // taken off (a list of the trash reads few records; it is never dense).
    if trash {
        return Ok(Probe::default());
    }
    let trashed: i64 =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {} WHERE deleted_at IS NOT NULL", object.table)))
            .fetch_one(db.pool())
            .await?
            .try_get(0)?;
    let mut probe = Probe::default();
    let mut most = 0;
    for (pattern, field) in conditions {
        let grams = name("gt", &field);
        let n = index_matches(db, &grams, &match_query(db.dialect(), &pattern), COUNT_CAP + 1 + trashed).await?;
        // Matches changed since the index was written may match no more.
        let pending: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {}", name("gq", &field))))
            .fetch_one(db.pool())
            .await?
            .try_get(0)?;
        let live = n - trashed - pending;
        if ordered && live >= DENSE_MATCHES && dense_of(&probe.dense, &field).is_none() {
            // Dense where a page is read: the newest records, which rowids follow (a record
            // is added at the end), must hold the matches close together, or reading them in
            // order passes many (e-mails holding "son12" are in old records only).
            let span: Option<i64> = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT (SELECT MAX(rowid) FROM {}) - (SELECT rowid FROM {grams} WHERE {grams} MATCH $1 \
                 ORDER BY rowid DESC LIMIT 1 OFFSET $2)",
                object.table
            )))
            .bind(match_query(db.dialect(), &pattern))
            .bind(DENSE_MATCHES - 1 + trashed)
            .fetch_one(db.pool())
            .await?
            .try_get(0)?;
            match span {
                Some(span) if span <= DENSE_MATCHES * COMPARE_READ_PER_MATCH => {
                    probe.dense.push((field.id.clone(), Dense::Compared))
                }
                Some(span) if span <= DENSE_MATCHES * MAX_READ_PER_MATCH => {
                    probe.dense.push((field.id.clone(), Dense::Checked))
                }
                _ => {}
            }
        }
        most = most.max(live);
    }
    if alone {
        probe.at_least = Some(most);
    }
    Ok(probe)
}

/// Statements moving `field`'s changes into its index (SQLite; none on PostgreSQL): the changed
/// records' old terms out, their new values in, all in one write transaction.
fn flush_statements(field: &FieldDef) -> [String; 3] {
    let (grams, pending) = (name("gt", field), name("gq", field));
    [
        format!("DELETE FROM {grams} WHERE rowid IN (SELECT rowid FROM {pending})"),
        format!("INSERT INTO {grams} (rowid, v) SELECT rowid, v FROM {pending} WHERE v IS NOT NULL"),
        format!("DELETE FROM {pending}"),
    ]
}

/// In a write transaction: moves the changes of `object`'s substring indexes into them (a bulk
/// write does, at the end of each batch).
pub(crate) async fn flush_object(tx: &mut WriteTx, dialect: Dialect, object: &ObjectDef) -> Result<()> {
    if dialect != Dialect::Sqlite {
        return Ok(());
    }
    for field in object.fields.iter().filter(|f| substring_indexed(f)) {
        for statement in flush_statements(field) {
            exec(tx, &statement).await?;
        }
    }
    Ok(())
}

impl Db {
    /// Moves the changes waiting beside every substring index into it (SQLite; run every few
    /// seconds by the server and at the end of a bulk load), one transaction per field that has
    /// some. Returns how many changes it moved.
    pub async fn flush_substring_indexes(&self) -> Result<i64> {
        if self.dialect() != Dialect::Sqlite {
            return Ok(0);
        }
        let catalog = self.catalog().await?;
        let fields: Vec<&FieldDef> =
            catalog.objects.iter().flat_map(|o| o.fields.iter()).filter(|f| substring_indexed(f)).collect();
        if fields.is_empty() {
            return Ok(0);
        }
        // How many changes wait beside each index, in one statement.
        let counts: Vec<String> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| format!("SELECT {i}, (SELECT COUNT(*) FROM {})", name("gq", f)))
            .collect();
        let rows = sqlx::query(sqlx::AssertSqlSafe(counts.join(" UNION ALL "))).fetch_all(self.pool()).await?;
        let mut moved = 0;
        for row in &rows {
            let (i, waiting): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
            let Some(field) = usize::try_from(i).ok().and_then(|i| fields.get(i)) else { continue };
            if waiting == 0 {
                continue;
            }
            let mut tx = self.write().await?;
            for statement in flush_statements(field) {
                exec(&mut tx, &statement).await?;
            }
            tx.commit().await?;
            moved += waiting;
        }
        Ok(moved)
    }
}
