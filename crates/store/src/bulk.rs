//! Creating many records at once (imports, generated data): the same rows, index entries,
//! search terms and audit entries (the records' events) as one create at a time, written with a few
//! multi-row statements per batch instead of a dozen statements per record.

use crate::records::{MEMBER_COLUMNS, audit_changes, field_terms, member_rows};
use crate::sql::{Bind, Script, Sql, field_columns, new_id, now, push_value_binds};
use crate::{Db, Dialect, Error, Result, WriteTx};
use peyvand_records::normalize::normalize;
use peyvand_records::{FieldDef, FieldError, FieldType, ObjectDef, Storage, Value};
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};

/// Most placeholders in one statement (SQLite allows 32,766; PostgreSQL 65,535).
const MAX_BINDS: usize = 30_000;

/// Adds to `script` the statements inserting rows of `columns`, as few as the placeholder limit
/// allows.
pub(crate) fn insert_statements(script: &mut Script, table: &str, columns: &[&str], rows: Vec<Vec<Bind>>) {
    let per_statement = (MAX_BINDS / columns.len().max(1)).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let sql = script.statement(&format!("INSERT INTO {table} ({}) VALUES ", columns.join(", ")));
        for (i, row) in rows.by_ref().take(per_statement).enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" });
            for (j, b) in row.into_iter().enumerate() {
                if j > 0 {
                    sql.push(", ");
                }
                sql.bind(b);
            }
            sql.push(")");
        }
    }
}

/// New records of one object turned into the statements that write them (rows, multi-value
/// index entries, search terms, audit entries) and the checks they must pass,
/// without the database: a bulk load prepares the next batch, on another thread, while
/// [`Db::write_prepared`] (or, on SQLite, [`Db::write_native`]) writes this one.
pub struct PreparedRecords {
    /// The new records' ids, in the order of the rows.
    pub ids: Vec<String>,
    /// When they were made (their `created_at` and `updated_at`).
    pub(crate) made_at: String,
    checks: BatchChecks,
    table: String,
    pub(crate) writes: Writes,
}

/// How prepared records are written.
pub(crate) enum Writes {
    /// Multi-row statements, through sqlx.
    Script(Script),
    /// Each table's rows, for one prepared single-row statement per table (`native`).
    Rows(Vec<TableRows>),
}

/// Rows to insert into one table.
pub(crate) struct TableRows {
    pub table: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Bind>>,
}

impl PreparedRecords {
    /// Prepares `rows` (validated values) as new records of `obj` made by `actor`, for
    /// [`Db::write_prepared`]. Fails if two rows hold the same value of a unique field.
    pub fn new(
        dialect: Dialect,
        actor: Option<&str>,
        obj: &ObjectDef,
        rows: &[Vec<(&FieldDef, Value)>],
    ) -> Result<PreparedRecords> {
        let mut prepared = Self::native(actor, obj, rows)?;
        if let Writes::Rows(tables) = std::mem::replace(&mut prepared.writes, Writes::Rows(Vec::new())) {
            // One record's statements are cached and run again and again; a batch's are a new
            // statement of thousands of placeholders each time, and a hundred cached ones held
            // hundreds of megabytes.
            prepared.writes = Writes::Script(script_of(dialect, tables, rows.len() == 1));
        }
        Ok(prepared)
    }

    /// Whether these records point at records of `object`.
    pub fn refers_to(&self, object: &str) -> bool {
        self.checks.references.keys().any(|target| target.as_deref() == Some(object))
    }

    /// Prepares `rows` as [`PreparedRecords::new`] does, for [`Db::write_native`] (SQLite): each
    /// table's rows instead of statements.
    pub fn native(actor: Option<&str>, obj: &ObjectDef, rows: &[Vec<(&FieldDef, Value)>]) -> Result<PreparedRecords> {
        let checks = BatchChecks::of(rows)?;
        let ts = now();
        let ids: Vec<String> = rows.iter().map(|_| new_id()).collect();
        // Every column any row sets; the others stay NULL, as in a single create.
        let mut fields: Vec<&FieldDef> = Vec::new();
        for row in rows {
            for (f, _) in row {
                if !fields.iter().any(|x| same_field(x, f)) {
                    fields.push(f);
                }
            }
        }
        let mut columns: Vec<String> = ["id", "version", "created_at", "updated_at", "created_by", "updated_by"]
            .iter()
            .map(|c| c.to_string())
            .collect();
        for f in &fields {
            columns.extend(field_columns(f));
        }
        let mut record_rows = Vec::with_capacity(rows.len());
        let mut value_rows = Vec::new();
        let mut term_rows = Vec::new();
        let mut audit_rows = Vec::with_capacity(rows.len());
        for (row, id) in rows.iter().zip(&ids) {
            let mut binds = vec![
                Bind::text(id.clone()),
                Bind::Int(Some(1)),
                Bind::text(ts.clone()),
                Bind::text(ts.clone()),
                Bind::Text(actor.map(str::to_string)),
                Bind::Text(actor.map(str::to_string)),
            ];
            for f in &fields {
                match row.iter().find(|(g, _)| same_field(g, f)) {
                    Some((_, v)) => push_value_binds(&mut binds, f, v),
                    None => push_value_binds(&mut binds, f, &Value::Null),
                }
            }
            record_rows.push(binds);
            for (f, v) in row {
                if let Value::List(items) = v {
                    value_rows.extend(member_rows(f, id, items, true));
                }
            }
            for term in field_terms(row.iter().map(|(f, v)| (*f, v))) {
                term_rows.push(vec![Bind::text(term), Bind::text(obj.api_name.clone()), Bind::text(id.clone())]);
            }
            audit_rows.push(vec![
                Bind::text(new_id()),
                Bind::text(obj.api_name.clone()),
                Bind::text(id.clone()),
                Bind::text("create"),
                Bind::Text(actor.map(str::to_string)),
                Bind::text(ts.clone()),
                Bind::text(audit_changes(row)),
            ]);
        }
        // Search terms and members in their tables' key order: each B-tree is then filled a page
        // after another instead of at random places, each term's new rows one after the other (the
        // batch's ids are in order, and `object` is the same in every row). Generating a million
        // activities: writing their terms took about a sixth less time.
        // The ids are made in order, so a stable sort by term alone gives the key order (comparing
        // whole rows, equal terms then compared ids, was about an eighth of preparing an activity).
        term_rows.sort_by(|a, b| a[0].cmp(&b[0]));
        value_rows.sort_unstable();
        let table = |table: &str, columns: &[&str], rows: Vec<Vec<Bind>>| TableRows {
            table: table.to_string(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows,
        };
        let column_refs: Vec<&str> = columns.iter().map(String::as_str).collect();
        let tables = vec![
            table(&obj.table, &column_refs, record_rows),
            table("record_values", &MEMBER_COLUMNS, value_rows),
            table("search_terms", &["term", "object", "record_id"], term_rows),
            table("audit_log", &["id", "object", "record_id", "action", "actor", "at", "changes_json"], audit_rows),
        ];
        Ok(PreparedRecords { ids, made_at: ts, checks, table: obj.table.clone(), writes: Writes::Rows(tables) })
    }
}

impl PreparedRecords {
    /// Notes the records as made by the import rows of `hashes` (one per record, in order; `None`
    /// for a row the import log does not keep, which its de-duplication key identifies), in the
    /// same transaction as the records: a file run again finds them done. Refuses as many
    /// hashes as there are not records.
    pub fn log_import(&mut self, object: &str, hashes: Vec<Option<String>>) -> Result<()> {
        if hashes.len() != self.ids.len() {
            return Err(Error::Config(format!(
                "{} import rows for {} records: each record is logged with the row that made it",
                hashes.len(),
                self.ids.len()
            )));
        }
        let rows: Vec<Vec<Bind>> = hashes
            .into_iter()
            .zip(&self.ids)
            .filter_map(|(hash, id)| Some((hash?, id)))
            .map(|(hash, id)| {
                vec![
                    Bind::text(hash),
                    Bind::text(object),
                    Bind::text(id.clone()),
                    Bind::text("created"),
                    Bind::text(self.made_at.clone()),
                ]
            })
            .collect();
        match &mut self.writes {
            Writes::Script(script) => insert_statements(script, "import_log", &IMPORT_LOG_COLUMNS, rows),
            Writes::Rows(tables) => tables.push(TableRows {
                table: "import_log".into(),
                columns: IMPORT_LOG_COLUMNS.iter().map(|c| c.to_string()).collect(),
                rows,
            }),
        }
        Ok(())
    }
}

const IMPORT_LOG_COLUMNS: [&str; 5] = ["row_hash", "object", "record_id", "outcome", "at"];

/// Whether two definitions are the same field: the same definition of the object's, as a batch's
/// rows hold them (compared by address first: comparing ids, rows × fields² times, was a tenth
/// of preparing an imported contact), or of the same id.
fn same_field(a: &FieldDef, b: &FieldDef) -> bool {
    std::ptr::eq(a, b) || a.id == b.id
}

/// The multi-row statements inserting `tables`' rows.
fn script_of(dialect: Dialect, tables: Vec<TableRows>, persistent: bool) -> Script {
    let mut script = Script::new(dialect, persistent);
    for t in tables {
        let columns: Vec<&str> = t.columns.iter().map(String::as_str).collect();
        insert_statements(&mut script, &t.table, &columns, t.rows);
    }
    script
}

/// The records a bulk load has written of the objects its records point at (by id), so that a
/// reference to one of them needs no look-up while the load goes on ([`Db::check_native_knowing`]).
///
/// The generator draws its references from the records it made: each batch of activities pointed
/// at ~5,000 random contacts and companies among a million, and looking them up was a quarter of
/// the generation's time (a reader's page cache and memory map start anew after every commit of
/// the writer's, so each look-up faulted its pages in again). A record written by the load is
/// taken as live until the load ends: one a person trashes meanwhile is pointed at as if it had
/// been trashed just after, which trashing allows anyway (what points at a trashed record stays).
#[derive(Debug, Default)]
pub struct WrittenIds {
    /// Target object → ids written (UUIDs as numbers: 16 bytes each instead of a 36-byte text).
    by_object: HashMap<String, HashSet<u128>>,
}

impl WrittenIds {
    /// Remembers the records written of the objects that a relation field of `objects` points at
    /// (and no others: a load of ten million activities that nothing points at keeps none).
    pub fn for_targets_of(objects: &[&ObjectDef]) -> WrittenIds {
        let by_object = objects
            .iter()
            .flat_map(|o| o.fields.iter())
            .filter(|f| f.field_type == FieldType::Relation)
            .filter_map(|f| f.options.target.clone())
            .map(|target| (target, HashSet::new()))
            .collect();
        WrittenIds { by_object }
    }

    /// Notes records of `object` as written (committed); ids that are not UUIDs are not noted,
    /// so references to them are looked up as before.
    pub fn note(&mut self, object: &str, ids: &[String]) {
        if let Some(set) = self.by_object.get_mut(object) {
            set.extend(ids.iter().filter_map(|id| id_number(id)));
        }
    }

    /// Whether a record of `object` with this id was noted.
    pub fn holds(&self, object: &str, id: &str) -> bool {
        match (self.by_object.get(object), id_number(id)) {
            (Some(set), Some(n)) => set.contains(&n),
            _ => false,
        }
    }
}

/// A record id as a number, if it is a UUID in its usual text form.
fn id_number(id: &str) -> Option<u128> {
    uuid::Uuid::try_parse(id).ok().map(|u| u.as_u128())
}

/// What a batch must be checked for against the database.
struct BatchChecks {
    /// Records referred to: the target object (or `None` for users) → ids.
    references: HashMap<Option<String>, HashSet<String>>,
    /// Values of unique fields: field → keys.
    unique: Vec<(FieldDef, HashSet<String>)>,
}

impl BatchChecks {
    /// Found in the batch alone; a unique value that two rows share is an error here already.
    fn of(rows: &[Vec<(&FieldDef, Value)>]) -> Result<BatchChecks> {
        let mut references: HashMap<Option<String>, HashSet<String>> = HashMap::new();
        let mut unique: HashMap<String, (FieldDef, HashSet<String>)> = HashMap::new();
        for row in rows {
            for (f, v) in row {
                if let (FieldType::Relation | FieldType::User, Value::Text(id)) = (f.field_type, v) {
                    let target = match f.field_type {
                        FieldType::User => Some(None),
                        _ => f.options.target.clone().map(Some),
                    };
                    if let Some(target) = target {
                        references.entry(target).or_default().insert(id.clone());
                    }
                }
                if f.unique && !v.is_null() {
                    let entry = unique.entry(f.id.clone()).or_insert_with(|| ((*f).clone(), HashSet::new()));
                    let keys: Vec<String> = match v {
                        Value::List(items) => items.iter().map(|i| normalize(i)).collect(),
                        other => vec![other.to_plain()],
                    };
                    for key in keys {
                        if !entry.1.insert(key) {
                            return Err(Error::Conflict {
                                code: "not_unique",
                                details: vec![FieldError::new(&f.api_name, "not_unique")],
                            });
                        }
                    }
                }
            }
        }
        Ok(BatchChecks { references, unique: unique.into_values().collect() })
    }
}

impl Db {
    /// Creates validated records in `tx`, all or none, and returns their ids in order. References
    /// and unique values are checked for the whole batch first (against the database and within
    /// the batch); any problem returns an error before anything is written, so a caller can go
    /// on one record at a time to find which.
    pub async fn create_many(
        &self,
        tx: &mut WriteTx,
        actor: Option<&str>,
        obj: &ObjectDef,
        rows: &[Vec<(&FieldDef, Value)>],
    ) -> Result<Vec<String>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        for row in rows {
            crate::records::check_dependent(obj, None, row)?;
        }
        let prepared = PreparedRecords::new(self.dialect(), actor, obj, rows)?;
        self.write_prepared(tx, prepared).await
    }

    /// Writes records prepared by [`PreparedRecords::new`] in `tx`, as [`Db::create_many`] does:
    /// references and unique values are checked against the database first.
    pub async fn write_prepared(&self, tx: &mut WriteTx, prepared: PreparedRecords) -> Result<Vec<String>> {
        self.check_prepared(&mut tx.tx, &prepared, &WrittenIds::default()).await?;
        self.write_checked(tx, prepared).await
    }

    /// Writes records prepared by [`PreparedRecords::new`] and already checked by
    /// [`Db::check_prepared`]; a unique value taken since is refused by the unique index.
    pub(crate) async fn write_checked(&self, tx: &mut WriteTx, prepared: PreparedRecords) -> Result<Vec<String>> {
        let script = match prepared.writes {
            Writes::Script(script) => script,
            Writes::Rows(tables) => script_of(self.dialect(), tables, false),
        };
        script.execute(&mut tx.tx).await?;
        // A batch's values go into the substring indexes at once (one record: at the next flush).
        if prepared.ids.len() > 1
            && let Some(object) = self.catalog_cached()?.objects.iter().find(|o| o.table == prepared.table)
        {
            crate::grams::flush_object(tx, self.dialect(), object).await?;
        }
        Ok(prepared.ids)
    }

    /// References point at live records and active users, and unique values are free, for a
    /// batch, as seen on `conn` (a write transaction, or a reader before one begins); references
    /// to records `known` holds are not looked up.
    pub(crate) async fn check_prepared(
        &self,
        conn: &mut AnyConnection,
        prepared: &PreparedRecords,
        known: &WrittenIds,
    ) -> Result<()> {
        let catalog = self.catalog_cached()?;
        for (target, ids) in &prepared.checks.references {
            let (table, condition) = match target {
                None => ("users".to_string(), "active = 1"),
                Some(object) => match catalog.object(object) {
                    Some(o) => (o.table.clone(), "deleted_at IS NULL"),
                    None => continue,
                },
            };
            let ids: Vec<String> = match target {
                Some(object) => ids.iter().filter(|id| !known.holds(object, id)).cloned().collect(),
                None => ids.iter().cloned().collect(),
            };
            for chunk in ids.chunks(LOOKUP_CHUNK) {
                let mut sql = Sql::for_dialect(
                    self.dialect(),
                    &format!("SELECT COUNT(*) FROM {table} WHERE {condition} AND id IN ("),
                );
                in_list(&mut sql, chunk);
                let found: i64 = sql.into_query().persistent(false).fetch_one(&mut *conn).await?.try_get(0)?;
                if found != chunk.len() as i64 {
                    return Err(Error::invalid(FieldError::new("reference", "invalid_reference")));
                }
            }
        }
        for (field, keys) in &prepared.checks.unique {
            let keys: Vec<&String> = keys.iter().collect();
            for chunk in keys.chunks(LOOKUP_CHUNK) {
                let mut sql = if field.storage() == Storage::List {
                    let mut sql = Sql::for_dialect(
                        self.dialect(),
                        "SELECT COUNT(*) FROM record_values WHERE uniq = 1 AND field_id = ",
                    );
                    sql.bind(Bind::text(field.id.clone())).push(" AND value_norm IN (");
                    sql
                } else {
                    Sql::for_dialect(
                        self.dialect(),
                        &format!(
                            "SELECT COUNT(*) FROM {} WHERE deleted_at IS NULL AND {} IN (",
                            prepared.table, field.column
                        ),
                    )
                };
                sql.list(chunk.iter().map(|key| match field.storage() {
                    Storage::Int | Storage::Bool | Storage::Scaled | Storage::Money => Bind::Int(key.parse().ok()),
                    _ => Bind::text((*key).clone()),
                }));
                let taken: i64 = sql.into_query().persistent(false).fetch_one(&mut *conn).await?.try_get(0)?;
                if taken > 0 {
                    return Err(Error::Conflict {
                        code: "not_unique",
                        details: vec![FieldError::new(&field.api_name, "not_unique")],
                    });
                }
            }
        }
        Ok(())
    }
}

/// The PostgreSQL advisory lock that imports' transactions take in turn.
pub(crate) const PG_IMPORT_LOCK: i64 = 0x7065_7976_696d_7074;

impl Db {
    /// Makes `tx` the only import writing until it ends, so that what it reads of the import
    /// log and of the records it de-duplicates against stays true until it commits: two runs of
    /// one file at once create each record once. On SQLite every write transaction is already
    /// alone; on PostgreSQL an advisory lock held to the end of the transaction (other writers
    /// do not take it).
    pub async fn lock_imports(&self, tx: &mut WriteTx) -> Result<()> {
        if self.dialect() == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PG_IMPORT_LOCK).execute(&mut *tx.tx).await?;
        }
        Ok(())
    }

    /// Which of these import row hashes were imported before.
    pub async fn imported_hashes(&self, tx: &mut WriteTx, hashes: &[String]) -> Result<HashSet<String>> {
        let mut found = HashSet::new();
        for chunk in hashes.chunks(LOOKUP_CHUNK) {
            for row in
                imported_query(self.dialect(), chunk).into_query().persistent(false).fetch_all(&mut *tx.tx).await?
            {
                found.insert(row.try_get::<String, _>(0)?);
            }
        }
        Ok(found)
    }

    /// Live records whose `field` holds one of `keys` (normalized as [`normalize`] for
    /// multi-valued fields, stored text otherwise): key → record id.
    pub async fn find_many_by_value(
        &self,
        tx: &mut WriteTx,
        obj: &ObjectDef,
        field: &FieldDef,
        keys: &[String],
    ) -> Result<HashMap<String, String>> {
        let mut found = HashMap::new();
        for chunk in keys.chunks(LOOKUP_CHUNK) {
            let sql = by_value_query(self.dialect(), &obj.table, field, chunk);
            for row in sql.into_query().persistent(false).fetch_all(&mut *tx.tx).await? {
                found.insert(row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?);
            }
        }
        Ok(found)
    }
}

/// Values looked up in one `IN` list.
const LOOKUP_CHUNK: usize = 500;

/// The hashes among `hashes` in the import log.
fn imported_query(dialect: Dialect, hashes: &[String]) -> Sql {
    let mut sql = Sql::for_dialect(dialect, "SELECT row_hash FROM import_log WHERE row_hash IN (");
    in_list(&mut sql, hashes);
    sql
}

/// Key and record id of the live records of `obj` whose `field` holds one of `keys`.
fn by_value_query(dialect: Dialect, table: &str, field: &FieldDef, keys: &[String]) -> Sql {
    let mut sql = if field.storage() == Storage::List {
        let mut sql = Sql::for_dialect(
            dialect,
            &format!(
                "SELECT v.value_norm, v.record_id FROM record_values v JOIN {table} r ON r.id = v.record_id WHERE r.deleted_at IS NULL AND v.field_id = "
            ),
        );
        sql.bind(Bind::text(field.id.clone())).push(" AND v.value_norm IN (");
        sql
    } else {
        Sql::for_dialect(
            dialect,
            &format!("SELECT {c}, id FROM {table} WHERE deleted_at IS NULL AND {c} IN (", c = field.column),
        )
    };
    in_list(&mut sql, keys);
    sql
}

/// Binds `values` as the rest of an `IN (` list, and closes it.
fn in_list(sql: &mut Sql, values: &[String]) {
    sql.list(values.iter().map(|v| Bind::text(v.clone())));
}

/// What a bulk write on the bulk-load connection must find absent, inside its transaction,
/// to go ahead (see [`Db::write_native_unless`]): looked for once the transaction holds the
/// write lock (SQLite) or the imports' lock (PostgreSQL, [`Db::lock_imports`]), so nothing can
/// arrive between the look and the write.
#[derive(Default)]
pub struct Absent {
    /// Import rows that must not be in the import log.
    imported: Vec<String>,
    /// Keys no live record may hold: table, field, keys.
    values: Vec<(String, FieldDef, Vec<String>)>,
}

impl Absent {
    /// None of these import rows was imported before.
    pub fn imported(&mut self, hashes: &[String]) -> &mut Self {
        self.imported.extend_from_slice(hashes);
        self
    }

    /// No live record of `obj` holds one of `keys` in `field` (as [`Db::find_many_by_value`]
    /// looks them up).
    pub fn values(&mut self, obj: &ObjectDef, field: &FieldDef, keys: &[String]) -> &mut Self {
        self.values.push((obj.table.clone(), field.clone(), keys.to_vec()));
        self
    }

    /// Whether the write looks for anything: then it is alone among imports (on PostgreSQL; on
    /// SQLite every write is alone), so nothing it looks for can arrive between the look and the
    /// write. An import's batch of rows known by their keys looks for the keys only.
    pub(crate) fn looks_for_anything(&self) -> bool {
        !self.imported.is_empty() || !self.values.is_empty()
    }

    /// The queries that must return no row.
    pub(crate) fn queries(&self, dialect: Dialect) -> Vec<Sql> {
        let mut queries: Vec<Sql> =
            self.imported.chunks(LOOKUP_CHUNK).map(|chunk| imported_query(dialect, chunk)).collect();
        for (table, field, keys) in &self.values {
            queries.extend(keys.chunks(LOOKUP_CHUNK).map(|chunk| by_value_query(dialect, table, field, chunk)));
        }
        queries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peyvand_records::FieldOptions;

    /// The text binds of a table's rows, column by column.
    fn texts(tables: &[TableRows], table: &str) -> Vec<Vec<String>> {
        let t = tables.iter().find(|t| t.table == table).expect("table");
        t.rows
            .iter()
            .map(|row| {
                row.iter().filter_map(|b| if let Bind::Text(Some(s)) = b { Some(s.clone()) } else { None }).collect()
            })
            .collect()
    }

    #[test]
    fn terms_and_members_are_written_in_key_order() {
        let subject = FieldDef::plain("thing", "subject", FieldType::Text);
        let emails = FieldDef {
            options: FieldOptions { multiple: true, ..Default::default() },
            ..FieldDef::plain("thing", "emails", FieldType::Email)
        };
        let obj = ObjectDef::plain("thing", "subject", vec![subject.clone(), emails.clone()]);
        let row = |s: &str, e: &[&str]| {
            vec![(&subject, Value::Text(s.into())), (&emails, Value::List(e.iter().map(|x| x.to_string()).collect()))]
        };
        let rows =
            vec![row("zebra apple", &["z@x.ir", "a@x.ir"]), row("apple mango", &["m@x.ir"]), row("mango", &["b@x.ir"])];
        let prepared = PreparedRecords::native(None, &obj, &rows).expect("prepared");
        let Writes::Rows(tables) = &prepared.writes else { panic!("rows for the bulk-load connection") };

        let terms = texts(tables, "search_terms");
        let mut sorted = terms.clone();
        sorted.sort();
        assert_eq!(terms, sorted, "terms in (term, object, record) order");
        // A term two records have ("mango"): both, in the order the records were made.
        let mango: Vec<&String> = terms.iter().filter(|t| t[0] == "mango").map(|t| &t[2]).collect();
        assert_eq!(mango, vec![&prepared.ids[1], &prepared.ids[2]]);
        // And nothing else: every record's own terms, as a single create writes them.
        let mut expected: Vec<Vec<String>> = rows
            .iter()
            .zip(&prepared.ids)
            .flat_map(|(row, id)| {
                field_terms(row.iter().map(|(f, v)| (*f, v)))
                    .into_iter()
                    .map(move |t| vec![t, "thing".into(), id.clone()])
            })
            .collect();
        expected.sort();
        assert_eq!(terms, expected);
        assert!(terms.iter().any(|t| t[0] == "zebraapple"), "joined words too");

        let members = texts(tables, "record_values");
        let values: Vec<&str> = members.iter().map(|m| m[1].as_str()).collect();
        assert_eq!(values, vec!["a@x.ir", "b@x.ir", "m@x.ir", "z@x.ir"]);
        assert_eq!(members[0][2], prepared.ids[0], "a member keeps its record");
        assert_eq!(members[1][2], prepared.ids[2]);
    }
}
