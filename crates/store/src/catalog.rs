//! The metadata catalog: every object with its fields, loaded in two queries and cached.
//!
//! Each instance caches the catalog and checks `meta_version` at most every half second, so an
//! admin's change on one instance reaches the others within that time.

use crate::sql::get_bool;
use crate::{CATALOG_TTL, CachedCatalog, Db, Error, Result};
use peyvand_records::{FieldDef, FieldOptions, FieldType, ObjectDef, Origin};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::sync::Arc;
use std::time::Instant;

/// All objects and fields as of `version`.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub version: i64,
    /// The live objects: everything but the trash sees these alone.
    pub objects: Vec<Arc<ObjectDef>>,
    /// Custom objects in the trash, with their fields (their records stay in their tables).
    pub trashed: Vec<Arc<ObjectDef>>,
    /// Every declared rollup (see [`crate::rollups`]).
    pub rollups: Vec<Arc<crate::rollups::Rollup>>,
    /// Every declared compound index (see [`crate::compound`]).
    pub compound: Vec<Arc<crate::compound::CompoundIndex>>,
}

impl Catalog {
    pub fn object(&self, api_name: &str) -> Option<Arc<ObjectDef>> {
        self.objects.iter().find(|o| o.api_name == api_name).cloned()
    }
}

fn field_from_row(row: &AnyRow, object: &str) -> Result<FieldDef> {
    let type_name: String = row.try_get("field_type")?;
    let origin: String = row.try_get("origin")?;
    let options: String = row.try_get("options_json")?;
    let default_json: Option<String> = row.try_get("default_json")?;
    Ok(FieldDef {
        id: row.try_get("id")?,
        object: object.to_string(),
        api_name: row.try_get("api_name")?,
        label_fa: row.try_get("label_fa")?,
        label_en: row.try_get("label_en")?,
        field_type: FieldType::parse(&type_name).ok_or_else(|| Error::Corrupt(format!("field type {type_name}")))?,
        origin: Origin::parse(&origin).ok_or_else(|| Error::Corrupt(format!("origin {origin}")))?,
        required: get_bool(row, "required")?,
        unique: get_bool(row, "is_unique")?,
        indexed: get_bool(row, "indexed")?,
        hidden: get_bool(row, "hidden")?,
        archived: get_bool(row, "archived")?,
        default_value: default_json.and_then(|d| serde_json::from_str(&d).ok()),
        help_fa: row.try_get("help_fa")?,
        help_en: row.try_get("help_en")?,
        options: serde_json::from_str::<FieldOptions>(&options)
            .map_err(|e| Error::Corrupt(format!("field options: {e}")))?,
        position: row.try_get("position")?,
        column: row.try_get("column_name")?,
    })
}

pub(crate) async fn load(conn: &mut sqlx::AnyConnection) -> Result<Catalog> {
    let version: i64 =
        sqlx::query("SELECT version FROM meta_version WHERE id = 1").fetch_one(&mut *conn).await?.try_get(0)?;
    let object_rows = sqlx::query(
        "SELECT id, api_name, label_fa, label_en, plural_fa, plural_en, origin, title_field, table_name, deleted_at \
         FROM meta_objects ORDER BY created_at, api_name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let field_rows =
        sqlx::query("SELECT * FROM meta_fields ORDER BY object_id, position, created_at").fetch_all(&mut *conn).await?;
    let mut objects = Vec::with_capacity(object_rows.len());
    let mut trashed = Vec::new();
    for row in &object_rows {
        let in_trash = row.try_get::<Option<String>, _>("deleted_at")?.is_some();
        let id: String = row.try_get("id")?;
        let api_name: String = row.try_get("api_name")?;
        let origin: String = row.try_get("origin")?;
        let mut fields = Vec::new();
        for f in field_rows.iter().filter(|f| f.try_get::<String, _>("object_id").is_ok_and(|o| o == id)) {
            fields.push(field_from_row(f, &api_name)?);
        }
        (if in_trash { &mut trashed } else { &mut objects }).push(Arc::new(ObjectDef {
            id,
            api_name,
            label_fa: row.try_get("label_fa")?,
            label_en: row.try_get("label_en")?,
            plural_fa: row.try_get("plural_fa")?,
            plural_en: row.try_get("plural_en")?,
            origin: Origin::parse(&origin).ok_or_else(|| Error::Corrupt(format!("origin {origin}")))?,
            title_field: row.try_get("title_field")?,
            fields,
            table: row.try_get("table_name")?,
        }));
    }
    let mut rollups = Vec::new();
    for row in sqlx::query(crate::rollups::LOAD).fetch_all(&mut *conn).await? {
        rollups.push(Arc::new(crate::rollups::from_row(&row)?));
    }
    let compound = crate::compound::load(&mut *conn).await?.into_iter().map(Arc::new).collect();
    Ok(Catalog { version, objects, trashed, rollups, compound })
}

impl Db {
    /// The current catalog (cached; see the module documentation).
    pub async fn catalog(&self) -> Result<Arc<Catalog>> {
        let cached = {
            let guard = self.catalog.lock().map_err(|_| Error::Corrupt("catalog lock poisoned".into()))?;
            if guard.checked.elapsed() < CATALOG_TTL {
                return Ok(guard.catalog.clone());
            }
            guard.catalog.clone()
        };
        let version: i64 =
            sqlx::query("SELECT version FROM meta_version WHERE id = 1").fetch_one(self.pool()).await?.try_get(0)?;
        if version == cached.version {
            let mut guard = self.catalog.lock().map_err(|_| Error::Corrupt("catalog lock poisoned".into()))?;
            guard.checked = Instant::now();
            return Ok(guard.catalog.clone());
        }
        self.reload_catalog().await
    }

    /// The catalog as last read, without asking the database whether it changed: for code
    /// inside a write transaction, which on PostgreSQL holds a connection of the same pool (with
    /// every connection held by a transaction waiting for one more, the pool starved for its
    /// ten-second timeout). A write reads the catalog fresh before it begins.
    pub fn catalog_cached(&self) -> Result<Arc<Catalog>> {
        let guard = self.catalog.lock().map_err(|_| Error::Corrupt("catalog lock poisoned".into()))?;
        Ok(guard.catalog.clone())
    }

    /// Reads the catalog from the database now. Of two reads at once, the older never replaces
    /// the newer: a read begun before a field was added and ended after the adder's own read
    /// once left the field out until the next change (a start-up job declaring rollups beside a
    /// request adding a field).
    pub async fn reload_catalog(&self) -> Result<Arc<Catalog>> {
        self.load_catalog(true).await
    }

    /// Reads the catalog and caches it even if its version is older than the cached one's (a
    /// restore starts the version again).
    pub(crate) async fn replace_catalog(&self) -> Result<Arc<Catalog>> {
        self.load_catalog(false).await
    }

    async fn load_catalog(&self, newer_only: bool) -> Result<Arc<Catalog>> {
        let mut conn = self.pool().acquire().await?;
        let catalog = Arc::new(load(&mut conn).await?);
        drop(conn);
        let mut guard = self.catalog.lock().map_err(|_| Error::Corrupt("catalog lock poisoned".into()))?;
        if newer_only && catalog.version < guard.catalog.version {
            return Ok(guard.catalog.clone());
        }
        *guard = CachedCatalog { catalog: catalog.clone(), checked: Instant::now() };
        Ok(catalog)
    }

    /// One object's definition, or [`Error::NotFound`].
    pub async fn object(&self, api_name: &str) -> Result<Arc<ObjectDef>> {
        self.catalog().await?.object(api_name).ok_or_else(|| Error::NotFound(format!("object {api_name}")))
    }
}
