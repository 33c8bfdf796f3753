//! Changes to objects and fields, and the tables and indexes behind them.
//!
//! Every field is a real column of its object's table `r_<object>` (`c_<field>`; money adds
//! `c_<field>__cur`), standard and custom alike, so a filter or sort on an indexed custom field
//! is the same index scan as on a standard one. Metadata rows and DDL change in one
//! transaction (both databases have transactional DDL). Nothing is dropped: a removed field is
//! archived with its column, and a type change writes the converted values to a new column
//! and keeps the old one, named in `meta_field_history`.

use crate::records::{is_searchable, rebuild_field_values, rewrite_field_terms};
use crate::sql::{Sql, column_type, field_columns, new_id, now, read_value, value_binds};
use crate::{Db, Dialect, Error, Result, WriteTx};
use peyvand_records::access::OWNER_FIELD;
use peyvand_records::meta::{RESERVED_NAMES, SelectOption, valid_api_name};
use peyvand_records::value::parse_value;
use peyvand_records::{FieldDef, FieldError, FieldOptions, FieldType, ObjectDef, Origin, Storage, Value};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use sqlx::{AssertSqlSafe, Row};
use std::sync::Arc;

/// A new object (a custom one, or a standard one at start-up).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewObject {
    pub api_name: String,
    pub label_fa: String,
    pub label_en: String,
    #[serde(default)]
    pub plural_fa: String,
    #[serde(default)]
    pub plural_en: String,
    /// The fields created with the object; the first names its records unless `title_field` says.
    #[serde(default)]
    pub fields: Vec<NewField>,
    /// Space-separated fields whose values, joined, name a record.
    #[serde(default)]
    pub title_field: Option<String>,
}

/// A new field.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewField {
    pub api_name: String,
    #[serde(default)]
    pub label_fa: String,
    #[serde(default)]
    pub label_en: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub indexed: bool,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub default_value: Option<Json>,
    #[serde(default)]
    pub help_fa: String,
    #[serde(default)]
    pub help_en: String,
    #[serde(default)]
    pub options: FieldOptions,
}

/// Changes to a field; absent members stay as they are.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldPatch {
    pub label_fa: Option<String>,
    pub label_en: Option<String>,
    #[serde(rename = "type")]
    pub field_type: Option<FieldType>,
    pub required: Option<bool>,
    pub unique: Option<bool>,
    pub indexed: Option<bool>,
    pub hidden: Option<bool>,
    /// `false` brings back an archived (removed) field with its values.
    pub archived: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    pub default_value: Option<Option<Json>>,
    pub help_fa: Option<String>,
    pub help_en: Option<String>,
    pub options: Option<FieldOptions>,
    pub position: Option<i64>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Option<Json>>, D::Error> {
    Ok(Some(Option::<Json>::deserialize(d)?))
}

fn table_name(object: &str) -> String {
    format!("r_{object}")
}

fn index_name(prefix: &str, field_id: &str) -> String {
    format!("{prefix}_f{}", field_id.replace('-', ""))
}

pub(crate) async fn exec(tx: &mut WriteTx, sql: &str) -> Result<()> {
    sqlx::query(AssertSqlSafe(sql.to_string())).execute(&mut *tx.tx).await?;
    Ok(())
}

pub(crate) async fn bump_version(tx: &mut WriteTx) -> Result<()> {
    exec(tx, "UPDATE meta_version SET version = version + 1 WHERE id = 1").await
}

fn check_label(field: &str, label: &str) -> Result<()> {
    if label.chars().count() > 100 {
        return Err(Error::invalid(FieldError::with(field, "too_long", json!({ "max": 100 }))));
    }
    if label.chars().any(|c| c.is_control() || peyvand_records::normalize::is_bidi_control(c)) {
        return Err(Error::invalid(FieldError::new(field, "control_characters")));
    }
    Ok(())
}

fn check_options(
    catalog_objects: &[Arc<ObjectDef>],
    object: &ObjectDef,
    name: &str,
    field_type: FieldType,
    options: &FieldOptions,
) -> Result<()> {
    let invalid = |code| Err(Error::invalid(FieldError::new("options", code)));
    check_dependency(object, name, field_type, options)?;
    // Choices are checked whatever the type (the API documents one shape for them), though only
    // choice fields use them.
    let mut seen = Vec::new();
    for o in &options.options {
        let label_ok = |l: &str| l.chars().count() <= 100 && !l.chars().any(char::is_control);
        if o.value.trim().is_empty()
            || o.value.chars().count() > 200
            || o.value.chars().any(char::is_control)
            || seen.contains(&&o.value)
            || !label_ok(&o.label_fa)
            || !label_ok(&o.label_en)
        {
            return invalid("invalid_option");
        }
        seen.push(&o.value);
    }
    match field_type {
        FieldType::Select | FieldType::MultiSelect if options.options.is_empty() && !options.allow_new => {
            return invalid("options_required");
        }
        FieldType::Relation => match &options.target {
            Some(t) if catalog_objects.iter().any(|o| &o.api_name == t) => {}
            _ => return invalid("unknown_target"),
        },
        FieldType::Decimal | FieldType::Currency if options.scale.is_some_and(|s| s > 6) => {
            return invalid("scale_too_large");
        }
        _ => {}
    }
    // A rating's most stars; out of range for any type (the API documents one range).
    if options.max.is_some_and(|m| !(1..=10).contains(&m)) {
        return invalid("out_of_range");
    }
    if options.multiple && !matches!(field_type, FieldType::Email | FieldType::Phone) {
        return invalid("multiple_not_supported");
    }
    if let Some(c) = &options.currency
        && (c.len() != 3 || !c.chars().all(|c| c.is_ascii_uppercase()))
    {
        return invalid("invalid_currency");
    }
    Ok(())
}

/// A select's `depends_on` names another live select of the object, and each choice's parent is
/// one of that field's choices.
fn check_dependency(object: &ObjectDef, name: &str, field_type: FieldType, options: &FieldOptions) -> Result<()> {
    let invalid = |code| Err(Error::invalid(FieldError::new("options", code)));
    let Some(parent_name) = &options.depends_on else {
        return if options.options.iter().any(|o| o.parent.is_some()) {
            invalid("parent_without_depends_on")
        } else {
            Ok(())
        };
    };
    let parent = object.field(parent_name).filter(|f| f.field_type == FieldType::Select && f.api_name != name);
    let Some(parent) = parent else { return invalid("invalid_depends_on") };
    if !matches!(field_type, FieldType::Select | FieldType::MultiSelect) {
        return invalid("invalid_depends_on");
    }
    let known = |p: &String| parent.options.options.iter().any(|o| &o.value == p);
    if options.options.iter().filter_map(|o| o.parent.as_ref()).all(known) { Ok(()) } else { invalid("unknown_parent") }
}

/// Builds every index of a new field (or of a field whose records were just loaded): its
/// b-tree indexes and its substring index.
pub(crate) async fn create_indexes(tx: &mut WriteTx, dialect: Dialect, table: &str, field: &FieldDef) -> Result<()> {
    create_btree_indexes(tx, dialect, table, field).await?;
    crate::grams::create(tx, dialect, table, field).await
}

async fn create_btree_indexes(tx: &mut WriteTx, dialect: Dialect, table: &str, field: &FieldDef) -> Result<()> {
    if field.archived {
        return Ok(());
    }
    if (field.indexed || field.field_type == FieldType::Relation || field.field_type == FieldType::User)
        && field.storage() != Storage::List
    {
        exec(
            tx,
            &format!(
                "CREATE INDEX IF NOT EXISTS {} ON {table} ({}, id) WHERE deleted_at IS NULL",
                index_name("ix", &field.id),
                dialect.index_key(&field.column)
            ),
        )
        .await?;
    }
    if field.unique && field.storage() != Storage::List {
        exec(
            tx,
            &format!(
                "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {table} ({}) WHERE deleted_at IS NULL AND {} IS NOT NULL",
                index_name("ux", &field.id),
                field.column,
                field.column
            ),
        )
        .await?;
    }
    Ok(())
}

async fn drop_indexes(tx: &mut WriteTx, field_id: &str) -> Result<()> {
    exec(tx, &format!("DROP INDEX IF EXISTS {}", index_name("ix", field_id))).await?;
    exec(tx, &format!("DROP INDEX IF EXISTS {}", index_name("ux", field_id))).await
}

async fn live_count(tx: &mut WriteTx, table: &str, condition: &str) -> Result<i64> {
    let row =
        sqlx::query(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table} WHERE deleted_at IS NULL AND ({condition})")))
            .fetch_one(&mut *tx.tx)
            .await?;
    Ok(row.try_get(0)?)
}

/// Refuses to make a field unique while live records share a value.
async fn check_no_duplicates(tx: &mut WriteTx, object: &ObjectDef, field: &FieldDef) -> Result<()> {
    let sql = if field.storage() == Storage::List {
        format!(
            "SELECT COUNT(*) FROM (SELECT v.value_norm FROM record_values v JOIN {t} r ON r.id = v.record_id \
             WHERE v.field_id = $1 AND r.deleted_at IS NULL GROUP BY v.value_norm HAVING COUNT(*) > 1) d",
            t = object.table
        )
    } else {
        format!(
            "SELECT COUNT(*) FROM (SELECT {c} FROM {t} WHERE deleted_at IS NULL AND {c} IS NOT NULL AND $1 = $1 \
             GROUP BY {c} HAVING COUNT(*) > 1) d",
            c = field.column,
            t = object.table
        )
    };
    let n: i64 = sqlx::query(AssertSqlSafe(sql)).bind(field.id.clone()).fetch_one(&mut *tx.tx).await?.try_get(0)?;
    if n > 0 {
        return Err(Error::Conflict {
            code: "duplicate_values",
            details: vec![FieldError::with(&field.api_name, "duplicate_values", json!({ "values": n }))],
        });
    }
    Ok(())
}

async fn insert_field_row(tx: &mut WriteTx, object_id: &str, f: &FieldDef) -> Result<()> {
    let mut sql = Sql::new(
        "INSERT INTO meta_fields (id, object_id, api_name, label_fa, label_en, field_type, origin, required, is_unique, indexed, \
         hidden, archived, default_json, help_fa, help_en, options_json, position, column_name, created_at, updated_at) VALUES (",
    );
    let ts = now();
    let binds = field_row_binds(f);
    sql.bind(crate::sql::Bind::text(f.id.clone())).push(", ").bind(crate::sql::Bind::text(object_id));
    for b in binds {
        sql.push(", ").bind(b);
    }
    sql.push(", ").bind(crate::sql::Bind::text(ts.clone())).push(", ").bind(crate::sql::Bind::text(ts)).push(")");
    sql.query().execute(&mut *tx.tx).await?;
    Ok(())
}

/// Binds for the columns from api_name to column_name, in table order.
fn field_row_binds(f: &FieldDef) -> Vec<crate::sql::Bind> {
    use crate::sql::Bind;
    vec![
        Bind::text(f.api_name.clone()),
        Bind::text(f.label_fa.clone()),
        Bind::text(f.label_en.clone()),
        Bind::text(f.field_type.as_str()),
        Bind::text(f.origin.as_str()),
        Bind::Int(Some(i64::from(f.required))),
        Bind::Int(Some(i64::from(f.unique))),
        Bind::Int(Some(i64::from(f.indexed))),
        Bind::Int(Some(i64::from(f.hidden))),
        Bind::Int(Some(i64::from(f.archived))),
        Bind::Text(f.default_value.as_ref().map(|d| d.to_string())),
        Bind::text(f.help_fa.clone()),
        Bind::text(f.help_en.clone()),
        Bind::text(serde_json::to_string(&f.options).unwrap_or_else(|_| "{}".into())),
        Bind::Int(Some(f.position)),
        Bind::text(f.column.clone()),
    ]
}

async fn update_field_row(tx: &mut WriteTx, f: &FieldDef) -> Result<()> {
    use crate::sql::Bind;
    let names = [
        "api_name",
        "label_fa",
        "label_en",
        "field_type",
        "origin",
        "required",
        "is_unique",
        "indexed",
        "hidden",
        "archived",
        "default_json",
        "help_fa",
        "help_en",
        "options_json",
        "position",
        "column_name",
    ];
    let mut sql = Sql::new("UPDATE meta_fields SET ");
    for (i, (name, b)) in names.iter().zip(field_row_binds(f)).enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push(name).push(" = ").bind(b);
    }
    sql.push(", updated_at = ").bind(Bind::text(now())).push(" WHERE id = ").bind(Bind::text(f.id.clone()));
    sql.query().execute(&mut *tx.tx).await?;
    Ok(())
}

async fn record_history(tx: &mut WriteTx, field_id: &str, actor: Option<&str>, change: Json) -> Result<()> {
    sqlx::query("INSERT INTO meta_field_history (id, field_id, changed_at, changed_by, change_json) VALUES ($1, $2, $3, $4, $5)")
        .bind(new_id())
        .bind(field_id.to_string())
        .bind(now())
        .bind(actor.map(str::to_string))
        .bind(change.to_string())
        .execute(&mut *tx.tx)
        .await?;
    Ok(())
}

fn build_field(object: &ObjectDef, new: NewField, origin: Origin, position: i64) -> FieldDef {
    FieldDef {
        id: new_id(),
        object: object.api_name.clone(),
        column: format!("c_{}", new.api_name),
        api_name: new.api_name,
        label_fa: new.label_fa,
        label_en: new.label_en,
        field_type: new.field_type,
        origin,
        required: new.required,
        unique: new.unique,
        indexed: new.indexed || new.unique,
        hidden: new.hidden,
        archived: false,
        default_value: new.default_value,
        help_fa: new.help_fa,
        help_en: new.help_en,
        options: new.options,
        position,
    }
}

/// Checks a new field and adds its column(s) and indexes inside `tx`; existing records get the
/// default value, if there is one.
async fn add_field_in(
    tx: &mut WriteTx,
    db: &Db,
    objects: &[Arc<ObjectDef>],
    object: &ObjectDef,
    new: NewField,
    origin: Origin,
) -> Result<FieldDef> {
    if !valid_api_name(&new.api_name) || RESERVED_NAMES.contains(&new.api_name.as_str()) {
        return Err(Error::invalid(FieldError::new("api_name", "invalid_api_name")));
    }
    if object.fields.iter().any(|f| f.api_name == new.api_name && !f.archived) {
        return Err(Error::Conflict {
            code: "field_exists",
            details: vec![FieldError::new("api_name", "field_exists")],
        });
    }
    if origin == Origin::Custom && new.field_type == FieldType::User {
        return Err(Error::invalid(FieldError::new("type", "custom_user_field")));
    }
    check_label("label_fa", &new.label_fa)?;
    check_label("label_en", &new.label_en)?;
    check_options(objects, object, &new.api_name, new.field_type, &new.options)?;
    let position = object.fields.iter().map(|f| f.position).max().unwrap_or(0) + 1;
    let mut field = build_field(object, new, origin, position);
    if field.label_en.is_empty() {
        field.label_en = field.api_name.replace('_', " ");
    }
    if object.fields.iter().any(|f| f.column == field.column) {
        // An archived field kept the plain column name.
        field.column = format!("c_{}__{}", field.api_name, object.fields.len() + 1);
    }
    let default = match &field.default_value {
        Some(d) => {
            let v = parse_value(&field, d)
                .map_err(|e| Error::invalid(FieldError { field: "default_value".into(), ..e }))?;
            (!v.is_null()).then_some(v)
        }
        None => None,
    };
    for col in field_columns(&field) {
        let ty = if col == field.column { column_type(field.storage()) } else { "TEXT" };
        exec(tx, &format!("ALTER TABLE {} ADD COLUMN {col} {ty}", object.table)).await?;
    }
    let existing = live_count(tx, &object.table, "1 = 1").await?;
    if existing > 0 {
        match &default {
            Some(v) => {
                if field.unique && existing > 1 {
                    return Err(Error::conflict("unique_default_with_records"));
                }
                let mut sql = Sql::new(&format!("UPDATE {} SET ", object.table));
                for (i, (col, b)) in field_columns(&field).iter().zip(value_binds(&field, v)).enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.push(col).push(" = ").bind(b);
                }
                sql.query().execute(&mut *tx.tx).await?;
                if field.storage() == Storage::List {
                    rebuild_field_values(tx, db.dialect(), object, &field).await?;
                }
            }
            None if field.required => return Err(Error::conflict("required_needs_default")),
            None => {}
        }
    }
    insert_field_row(tx, &object.id, &field).await?;
    create_indexes(tx, db.dialect(), &object.table, &field).await?;
    Ok(field)
}

impl Db {
    /// Moves a custom object to the trash: it leaves the app (lists, forms, the API, search)
    /// with its records, which stay in its table, until [`Db::restore_object`]. Refused for a
    /// standard object, and while a field of another object points to it (remove or convert that
    /// field first), so no relation is left pointing at an object nobody can see.
    pub async fn trash_object(&self, actor: Option<&str>, api_name: &str) -> Result<()> {
        let catalog = self.reload_catalog().await?;
        let object = catalog.object(api_name).ok_or_else(|| Error::NotFound(format!("object {api_name}")))?;
        if object.origin != Origin::Custom {
            return Err(Error::conflict("builtin_object"));
        }
        let pointing: Vec<FieldError> = catalog
            .objects
            .iter()
            .filter(|o| o.api_name != api_name)
            .flat_map(|o| o.live_fields().map(move |f| (o, f)))
            .filter(|(_, f)| f.field_type == FieldType::Relation && f.options.target.as_deref() == Some(api_name))
            .map(|(o, f)| FieldError::with(&f.api_name, "object_referenced", json!({ "object": o.api_name })))
            .collect();
        if !pointing.is_empty() {
            return Err(Error::Conflict { code: "object_referenced", details: pointing });
        }
        self.set_object_trashed(actor, &object.id, true).await
    }

    /// Brings a custom object back from the trash, with its fields and records.
    pub async fn restore_object(&self, actor: Option<&str>, api_name: &str) -> Result<Arc<ObjectDef>> {
        let catalog = self.reload_catalog().await?;
        let object = catalog
            .trashed
            .iter()
            .find(|o| o.api_name == api_name)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("object {api_name} in the trash")))?;
        self.set_object_trashed(actor, &object.id, false).await?;
        self.object(api_name).await
    }

    async fn set_object_trashed(&self, actor: Option<&str>, id: &str, trashed: bool) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE meta_objects SET deleted_at = $1 WHERE id = $2")
            .bind(trashed.then(now))
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?;
        let action = if trashed { "trash_object" } else { "restore_object" };
        record_history(&mut tx, id, actor, json!({ "action": action })).await?;
        bump_version(&mut tx).await?;
        tx.commit().await?;
        self.reload_catalog().await?;
        Ok(())
    }

    /// Creates a custom object with its table and first fields.
    pub async fn create_object(&self, actor: Option<&str>, new: NewObject) -> Result<Arc<ObjectDef>> {
        self.create_object_with_origin(actor, new, Origin::Custom).await
    }

    async fn create_object_with_origin(
        &self,
        actor: Option<&str>,
        new: NewObject,
        origin: Origin,
    ) -> Result<Arc<ObjectDef>> {
        if !valid_api_name(&new.api_name) {
            return Err(Error::invalid(FieldError::new("api_name", "invalid_api_name")));
        }
        check_label("label_fa", &new.label_fa)?;
        check_label("label_en", &new.label_en)?;
        if new.label_fa.trim().is_empty() && new.label_en.trim().is_empty() {
            return Err(Error::invalid(FieldError::new("label_en", "required")));
        }
        let catalog = self.reload_catalog().await?;
        if catalog.object(&new.api_name).is_some() {
            return Err(Error::Conflict {
                code: "object_exists",
                details: vec![FieldError::new("api_name", "object_exists")],
            });
        }
        if catalog.trashed.iter().any(|o| o.api_name == new.api_name) {
            return Err(Error::Conflict {
                code: "object_in_trash",
                details: vec![FieldError::new("api_name", "object_in_trash")],
            });
        }
        if new.fields.is_empty() {
            return Err(Error::invalid(FieldError::new("fields", "required")));
        }
        let title_field = new.title_field.clone().unwrap_or_else(|| new.fields[0].api_name.clone());
        if !title_field.split(' ').all(|t| new.fields.iter().any(|f| f.api_name == t)) {
            return Err(Error::invalid(FieldError::new("title_field", "unknown_field")));
        }
        let mut tx = self.write_long().await?;
        let table = table_name(&new.api_name);
        let id = new_id();
        sqlx::query(
            "INSERT INTO meta_objects (id, api_name, label_fa, label_en, plural_fa, plural_en, origin, title_field, table_name, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id.clone())
        .bind(new.api_name.clone())
        .bind(new.label_fa.clone())
        .bind(new.label_en.clone())
        .bind(if new.plural_fa.is_empty() { new.label_fa.clone() } else { new.plural_fa.clone() })
        .bind(if new.plural_en.is_empty() { new.label_en.clone() } else { new.plural_en.clone() })
        .bind(origin.as_str())
        .bind(title_field.clone())
        .bind(table.clone())
        .bind(now())
        .execute(&mut *tx.tx)
        .await?;
        exec(
            &mut tx,
            &format!(
                "CREATE TABLE {table} (id TEXT PRIMARY KEY, version BIGINT NOT NULL DEFAULT 1, created_at TEXT NOT NULL, \
                 updated_at TEXT NOT NULL, created_by TEXT, updated_by TEXT, deleted_at TEXT)"
            ),
        )
        .await?;
        create_system_indexes(&mut tx, self.dialect(), &table).await?;
        let mut object = ObjectDef {
            id,
            api_name: new.api_name.clone(),
            label_fa: new.label_fa,
            label_en: new.label_en,
            plural_fa: new.plural_fa,
            plural_en: new.plural_en,
            origin,
            title_field,
            fields: Vec::new(),
            table,
        };
        let mut objects = catalog.objects.clone();
        objects.push(Arc::new(object.clone()));
        let owned = new.fields.iter().any(|f| f.api_name == OWNER_FIELD);
        for f in new.fields {
            let field = add_field_in(&mut tx, self, &objects, &object, f, origin).await?;
            object.fields.push(field);
        }
        if !owned {
            let field = add_field_in(&mut tx, self, &objects, &object, owner_field(), Origin::Builtin).await?;
            object.fields.push(field);
        }
        bump_version(&mut tx).await?;
        tx.commit().await?;
        tracing::info!(object = %object.api_name, actor, "created object");
        self.reload_catalog().await?.object(&object.api_name).ok_or_else(|| Error::NotFound(object.api_name))
    }

    /// Adds a custom field to an object.
    pub async fn add_field(&self, actor: Option<&str>, object: &str, new: NewField) -> Result<FieldDef> {
        let catalog = self.reload_catalog().await?;
        let obj = catalog.object(object).ok_or_else(|| Error::NotFound(format!("object {object}")))?;
        let mut tx = self.write_long().await?;
        let field = add_field_in(&mut tx, self, &catalog.objects, &obj, new, Origin::Custom).await?;
        record_history(
            &mut tx,
            &field.id,
            actor,
            json!({ "action": "create", "type": field.field_type, "column": field.column }),
        )
        .await?;
        bump_version(&mut tx).await?;
        tx.commit().await?;
        self.reload_catalog().await?;
        Ok(field)
    }

    /// Changes a field. Refused with [`Error::Conflict`] where the change would lose data or
    /// break a rule for existing records (a type change that cannot convert every value,
    /// `required` with empty values, `unique` with duplicates, removing an option in use).
    pub async fn update_field(
        &self,
        actor: Option<&str>,
        object: &str,
        field_name: &str,
        patch: FieldPatch,
    ) -> Result<FieldDef> {
        let catalog = self.reload_catalog().await?;
        let obj = catalog.object(object).ok_or_else(|| Error::NotFound(format!("object {object}")))?;
        let restoring = patch.archived == Some(false);
        let old = obj
            .fields
            .iter()
            .filter(|f| f.api_name == field_name && (f.archived == restoring))
            .max_by_key(|f| f.position)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("field {field_name}")))?;
        let mut new = old.clone();
        let mut tx = self.write_long().await?;
        if restoring {
            if obj.field(field_name).is_some() {
                return Err(Error::Conflict {
                    code: "field_exists",
                    details: vec![FieldError::new("api_name", "field_exists")],
                });
            }
            new.archived = false;
        }
        if let Some(l) = patch.label_fa {
            check_label("label_fa", &l)?;
            new.label_fa = l;
        }
        if let Some(l) = patch.label_en {
            check_label("label_en", &l)?;
            new.label_en = l;
        }
        if let Some(h) = patch.help_fa {
            new.help_fa = h;
        }
        if let Some(h) = patch.help_en {
            new.help_en = h;
        }
        if let Some(p) = patch.position {
            new.position = p;
        }
        if let Some(h) = patch.hidden {
            if h && old.required {
                return Err(Error::Conflict {
                    code: "required_field_hidden",
                    details: vec![FieldError::new(field_name, "required_field_hidden")],
                });
            }
            new.hidden = h;
        }
        if let Some(archived) = patch.archived
            && archived
        {
            return Err(Error::invalid(FieldError::new("archived", "use_delete")));
        }
        if let Some(t) = patch.field_type
            && t != old.field_type
        {
            if old.origin == Origin::Builtin {
                return Err(Error::Conflict {
                    code: "builtin_field_type",
                    details: vec![FieldError::new("type", "builtin_field_type")],
                });
            }
            if t == FieldType::User {
                return Err(Error::invalid(FieldError::new("type", "custom_user_field")));
            }
            new.field_type = t;
        }
        if let Some(options) = patch.options {
            new.options = options;
        }
        if new.field_type != old.field_type || new.options != old.options {
            check_options(&catalog.objects, &obj, field_name, new.field_type, &new.options)?;
            if new.options.target != old.options.target
                && new.field_type == FieldType::Relation
                && old.field_type == FieldType::Relation
            {
                return Err(Error::conflict("relation_target_change"));
            }
        }
        if let Some(d) = patch.default_value {
            if let Some(d) = &d {
                parse_value(&new, d).map_err(|e| Error::invalid(FieldError { field: "default_value".into(), ..e }))?;
            }
            new.default_value = d;
        }
        if let Some(u) = patch.unique {
            new.unique = u;
        }
        if let Some(i) = patch.indexed {
            new.indexed = i;
        }
        if let Some(r) = patch.required {
            new.required = r;
        }
        if new.unique {
            new.indexed = true;
        }
        let converting = new.field_type != old.field_type
            || new.storage() != old.storage()
            || new.options.scale != old.options.scale;
        let mut history = json!({ "action": "update", "before": old_summary(&old) });
        if converting {
            new.column = format!("c_{}__{}", new.api_name, uuid_suffix());
            convert_values(&mut tx, &obj, &old, &new).await?;
            history["old_column"] = json!(old.column);
            // Rollups read the old column, which no longer changes with the records.
            crate::rollups::drop_reading(&mut tx, self.dialect(), &catalog, &obj, &crate::sql::field_columns(&old))
                .await?;
            crate::compound::drop_reading(&mut tx, &catalog, &obj, &crate::sql::field_columns(&old)).await?;
        } else if new.options.options != old.options.options && !new.options.allow_new {
            check_options_in_use(&mut tx, &obj, &old, &new.options.options).await?;
        }
        if new.required && (!old.required || converting) {
            let n = live_count(&mut tx, &obj.table, &format!("{} IS NULL", new.column)).await?;
            if n > 0 {
                return Err(Error::Conflict {
                    code: "required_has_empty",
                    details: vec![FieldError::with(field_name, "required_has_empty", json!({ "records": n }))],
                });
            }
        }
        drop_indexes(&mut tx, &old.id).await?;
        if new.unique {
            check_no_duplicates(&mut tx, &obj, &new).await?;
        }
        if new.storage() == Storage::List && (converting || new.unique != old.unique || restoring) {
            rebuild_field_values(&mut tx, self.dialect(), &obj, &new).await?;
        }
        if (converting || restoring) && (is_searchable(old.field_type) || is_searchable(new.field_type)) {
            // What the field adds to its records' search terms changed with it.
            rewrite_field_terms(&mut tx, self.dialect(), &obj, &with_field(&obj, &new), &new.id).await?;
        }
        create_btree_indexes(&mut tx, self.dialect(), &obj.table, &new).await?;
        crate::grams::update(&mut tx, self.dialect(), &obj.table, &old, &new).await?;
        update_field_row(&mut tx, &new).await?;
        record_history(&mut tx, &new.id, actor, history).await?;
        bump_version(&mut tx).await?;
        tx.commit().await?;
        self.reload_catalog().await?;
        Ok(new)
    }

    /// Replaces the choices of a select field (and the field they depend on) inside `tx`, for a
    /// module that keeps them in step with its own configuration (a pipeline's stages, each
    /// under its pipeline): no index is rebuilt. A removed choice
    /// still in use is refused (`option_in_use`, naming the field). The caller reloads the
    /// catalog once it has committed.
    pub async fn set_choices_in(
        &self,
        tx: &mut WriteTx,
        actor: Option<&str>,
        object: &str,
        field: &str,
        choices: Vec<SelectOption>,
        depends_on: Option<&str>,
    ) -> Result<()> {
        let catalog = self.catalog_cached()?;
        let obj = catalog.object(object).ok_or_else(|| Error::NotFound(format!("object {object}")))?;
        let old = obj.field(field).cloned().ok_or_else(|| Error::NotFound(format!("field {field}")))?;
        if !matches!(old.field_type, FieldType::Select | FieldType::MultiSelect) {
            return Err(Error::invalid(FieldError::new(field, "not_a_choice_field")));
        }
        let mut new = old.clone();
        new.options.options = choices;
        new.options.depends_on = depends_on.map(str::to_string);
        if new.options == old.options {
            return Ok(());
        }
        check_options_in_use(tx, &obj, &old, &new.options.options).await?;
        update_field_row(tx, &new).await?;
        record_history(tx, &new.id, actor, json!({ "action": "update", "before": old_summary(&old) })).await?;
        bump_version(tx).await
    }

    /// Removes a field from every view and form. Its column and values stay in the database
    /// (`PATCH … {"archived": false}` brings it back); standard fields are hidden instead. The
    /// rollups and compound indexes that read it are dropped.
    pub async fn delete_field(&self, actor: Option<&str>, object: &str, field_name: &str) -> Result<()> {
        let catalog = self.reload_catalog().await?;
        let obj = catalog.object(object).ok_or_else(|| Error::NotFound(format!("object {object}")))?;
        let field = obj.field(field_name).cloned().ok_or_else(|| Error::NotFound(format!("field {field_name}")))?;
        if field.origin == Origin::Builtin {
            return Err(Error::Conflict {
                code: "builtin_field",
                details: vec![FieldError::new(field_name, "builtin_field")],
            });
        }
        if obj.is_title_field(field_name) {
            return Err(Error::Conflict {
                code: "title_field",
                details: vec![FieldError::new(field_name, "title_field")],
            });
        }
        let mut tx = self.write_long().await?;
        let mut archived = field.clone();
        archived.archived = true;
        drop_indexes(&mut tx, &field.id).await?;
        crate::grams::drop(&mut tx, self.dialect(), &obj.table, &field).await?;
        crate::rollups::drop_reading(&mut tx, self.dialect(), &catalog, &obj, &crate::sql::field_columns(&field))
            .await?;
        crate::compound::drop_reading(&mut tx, &catalog, &obj, &crate::sql::field_columns(&field)).await?;
        sqlx::query("UPDATE record_values SET uniq = 0 WHERE field_id = $1")
            .bind(field.id.clone())
            .execute(&mut *tx.tx)
            .await?;
        if is_searchable(field.field_type) {
            rewrite_field_terms(&mut tx, self.dialect(), &obj, &with_field(&obj, &archived), &field.id).await?;
        }
        update_field_row(&mut tx, &archived).await?;
        record_history(&mut tx, &field.id, actor, json!({ "action": "archive", "column": field.column })).await?;
        bump_version(&mut tx).await?;
        tx.commit().await?;
        self.reload_catalog().await?;
        Ok(())
    }
}

/// `object` with `field` in place of the definition of the same id.
fn with_field(object: &ObjectDef, field: &FieldDef) -> ObjectDef {
    let mut changed = object.clone();
    if let Some(f) = changed.fields.iter_mut().find(|f| f.id == field.id) {
        *f = field.clone();
    }
    changed
}

/// The indexes every record table has (by creation, by last change, and the trash): each one's
/// name, column and which records it holds.
pub(crate) fn system_indexes(table: &str) -> [(String, &'static str, &'static str); 3] {
    [
        (format!("ix_{table}_created"), "created_at", "deleted_at IS NULL"),
        (format!("ix_{table}_updated"), "updated_at", "deleted_at IS NULL"),
        (format!("ix_{table}_deleted"), "deleted_at", "deleted_at IS NOT NULL"),
    ]
}

/// Creates a record table's [`system_indexes`].
pub(crate) async fn create_system_indexes(tx: &mut WriteTx, dialect: Dialect, table: &str) -> Result<()> {
    for (name, column, holds) in system_indexes(table) {
        // Keys in the list order of `records::list_records` (NULLs first ascending), so an index
        // serves both directions on both backends.
        let key = dialect.index_key(column);
        exec(tx, &format!("CREATE INDEX IF NOT EXISTS {name} ON {table} ({key}, id) WHERE {holds}")).await?;
    }
    Ok(())
}

fn uuid_suffix() -> String {
    new_id().replace('-', "")[20..].to_string()
}

fn old_summary(f: &FieldDef) -> Json {
    json!({ "type": f.field_type, "column": f.column, "required": f.required, "unique": f.unique, "indexed": f.indexed,
            "hidden": f.hidden, "options": f.options, "label_fa": f.label_fa, "label_en": f.label_en })
}

/// Converts every value of `old` into the type of `new`, into `new`'s (new) column. Any value
/// that does not convert refuses the whole change, naming how many and a few record ids.
async fn convert_values(tx: &mut WriteTx, object: &ObjectDef, old: &FieldDef, new: &FieldDef) -> Result<()> {
    for col in field_columns(new) {
        let ty = if col == new.column { column_type(new.storage()) } else { "TEXT" };
        exec(tx, &format!("ALTER TABLE {} ADD COLUMN {col} {ty}", object.table)).await?;
    }
    let select =
        format!("SELECT id, {} FROM {} WHERE {} IS NOT NULL", field_columns(old).join(", "), object.table, old.column);
    let rows = sqlx::query(AssertSqlSafe(select)).fetch_all(&mut *tx.tx).await?;
    let mut failed = Vec::new();
    let mut n_failed = 0usize;
    for row in &rows {
        let id: String = row.try_get("id")?;
        let value = read_value(row, old)?;
        match convert(&value, new) {
            Ok(v) => {
                let mut sql = Sql::new(&format!("UPDATE {} SET ", object.table));
                for (i, (col, b)) in field_columns(new).iter().zip(value_binds(new, &v)).enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.push(col).push(" = ").bind(b);
                }
                sql.push(" WHERE id = ").bind(crate::sql::Bind::text(id));
                sql.query().execute(&mut *tx.tx).await?;
            }
            Err(_) => {
                n_failed += 1;
                if failed.len() < 10 {
                    failed.push(id);
                }
            }
        }
    }
    if n_failed > 0 {
        return Err(Error::Conflict {
            code: "conversion_loses_data",
            details: vec![FieldError::with(
                &old.api_name,
                "conversion_loses_data",
                json!({ "records": n_failed, "examples": failed }),
            )],
        });
    }
    Ok(())
}

/// One value in the new type: through its JSON form where the types agree, else through text.
fn convert(value: &Value, new: &FieldDef) -> std::result::Result<Value, FieldError> {
    let json = match (value, new.storage()) {
        (Value::List(items), Storage::List) => json!(items),
        (Value::List(items), _) => json!(items.join(", ")),
        (Value::Money(d, _), Storage::Scaled | Storage::Int) => json!(d.to_string()),
        (Value::Bool(b), Storage::Text) => json!(b.to_string()),
        (Value::Int(_) | Value::Decimal(_) | Value::Money(..) | Value::Bool(_), Storage::Text | Storage::List) => {
            json!(value.to_plain())
        }
        (v, _) => v.to_json(),
    };
    let v = parse_value(new, &json)?;
    if v.is_null() && !value.is_null() {
        return Err(FieldError::new(&new.api_name, "conversion_loses_data"));
    }
    Ok(v)
}

async fn check_options_in_use(
    tx: &mut WriteTx,
    object: &ObjectDef,
    field: &FieldDef,
    kept: &[SelectOption],
) -> Result<()> {
    for removed in field.options.options.iter().filter(|o| !kept.iter().any(|k| k.value == o.value)) {
        let n: i64 = if field.storage() == Storage::List {
            sqlx::query(AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM record_values v JOIN {} r ON r.id = v.record_id WHERE v.field_id = $1 AND v.value_norm = $2",
                object.table
            )))
            .bind(field.id.clone())
            .bind(removed.value.clone())
            .fetch_one(&mut *tx.tx)
            .await?
            .try_get(0)?
        } else {
            sqlx::query(AssertSqlSafe(format!("SELECT COUNT(*) FROM {} WHERE {} = $1", object.table, field.column)))
                .bind(removed.value.clone())
                .fetch_one(&mut *tx.tx)
                .await?
                .try_get(0)?
        };
        if n > 0 {
            return Err(Error::Conflict {
                code: "option_in_use",
                details: vec![FieldError::with(
                    &field.api_name,
                    "option_in_use",
                    json!({ "value": removed.value, "records": n }),
                )],
            });
        }
    }
    Ok(())
}

/// A choice of a select field.
pub fn opt(value: &str, fa: &str, en: &str) -> SelectOption {
    SelectOption { value: value.into(), label_fa: fa.into(), label_en: en.into(), parent: None }
}

/// A standard relation field pointing at `target`.
pub fn relation(api_name: &str, target: &str, label_fa: &str, label_en: &str) -> NewField {
    with(std_field(api_name, FieldType::Relation, label_fa, label_en), |f| f.options.target = Some(target.into()))
}

/// A standard field of a module's object, with its labels in both languages.
pub fn std_field(api_name: &str, field_type: FieldType, label_fa: &str, label_en: &str) -> NewField {
    NewField {
        api_name: api_name.into(),
        label_fa: label_fa.into(),
        label_en: label_en.into(),
        field_type,
        required: false,
        unique: false,
        indexed: false,
        hidden: false,
        default_value: None,
        help_fa: String::new(),
        help_en: String::new(),
        options: FieldOptions::default(),
    }
}

/// `f` changed by `change` (a field's options, flags).
pub fn with(mut f: NewField, change: impl FnOnce(&mut NewField)) -> NewField {
    change(&mut f);
    f
}

/// The field that says whose a record is (`peyvand_records::access`): every object has one,
/// indexed, so a user's records are an index range.
pub fn owner_field() -> NewField {
    with(std_field(OWNER_FIELD, FieldType::User, "مسئول", "Owner"), |f| f.indexed = true)
}

/// Creates the modules' standard objects (`hooks::Module::objects`), and any standard field a
/// newer version added, if missing; an object of an admin's own that already has a standard
/// object's name is left alone. Then runs the modules' upgrades.
pub async fn ensure_standard_objects(db: &Db) -> Result<()> {
    for new in db.modules().objects() {
        let catalog = db.reload_catalog().await?;
        match catalog.object(&new.api_name) {
            None => {
                db.create_object_with_origin(None, new, Origin::Builtin).await?;
            }
            // An admin's own object of that name (made before the standard one existed) stays
            // as the admin made it.
            Some(existing) if existing.origin != Origin::Builtin => {
                tracing::warn!(object = %new.api_name, "an object of the admin's own has a standard object's name; left as it is");
            }
            Some(existing) => {
                let missing: Vec<NewField> = new
                    .fields
                    .into_iter()
                    .filter(|f| !existing.fields.iter().any(|e| e.api_name == f.api_name))
                    .collect();
                if missing.is_empty() {
                    continue;
                }
                let mut tx = db.write_long().await?;
                let mut obj = (*existing).clone();
                for f in missing {
                    let field = add_field_in(&mut tx, db, &catalog.objects, &obj, f, Origin::Builtin).await?;
                    obj.fields.push(field);
                }
                bump_version(&mut tx).await?;
                tx.commit().await?;
            }
        }
    }
    ensure_owner_fields(db).await?;
    db.reload_catalog().await?;
    for module in db.modules().list() {
        module.upgrade(db).await?;
        db.reload_catalog().await?;
    }
    Ok(())
}

/// Why a module's standard object is malformed (a bad name, a title field it lacks, a label
/// missing), if it is: modules test their objects with it.
pub fn check_new_object(o: &NewObject) -> std::result::Result<(), String> {
    if !valid_api_name(&o.api_name) {
        return Err(format!("bad object name {}", o.api_name));
    }
    let title = o.title_field.clone().unwrap_or_default();
    if !title.split(' ').all(|t| o.fields.iter().any(|f| f.api_name == t)) {
        return Err(format!("{}: no title field {title}", o.api_name));
    }
    for f in &o.fields {
        if !valid_api_name(&f.api_name) || RESERVED_NAMES.contains(&f.api_name.as_str()) {
            return Err(format!("{}: bad field name {}", o.api_name, f.api_name));
        }
        if f.label_fa.is_empty() || f.label_en.is_empty() {
            return Err(format!("{}.{}: a label is missing", o.api_name, f.api_name));
        }
    }
    Ok(())
}

/// Gives every live object an indexed owner field (objects made before access rules had none,
/// and the standard objects' were not indexed).
async fn ensure_owner_fields(db: &Db) -> Result<()> {
    let catalog = db.reload_catalog().await?;
    for obj in catalog.objects.iter() {
        match obj.fields.iter().find(|f| f.api_name == OWNER_FIELD && !f.archived) {
            None => {
                let mut tx = db.write_long().await?;
                add_field_in(&mut tx, db, &catalog.objects, obj, owner_field(), Origin::Builtin).await?;
                bump_version(&mut tx).await?;
                tx.commit().await?;
            }
            Some(f) if f.field_type == FieldType::User && !f.indexed => {
                let patch = FieldPatch { indexed: Some(true), ..FieldPatch::default() };
                db.update_field(None, &obj.api_name, OWNER_FIELD, patch).await?;
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_fit_postgres() {
        assert!(index_name("ux", &new_id()).len() <= 63);
    }
}
