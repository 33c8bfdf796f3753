//! Saved views: stored per object, personal or shared. The filter, sort and columns are
//! checked against the object's fields before a view is saved.

use crate::sql::{get_bool, new_id, now};
use crate::{Db, Error, Result};
use peyvand_records::FieldError;
use peyvand_records::filter::{parse_filter, parse_sort, resolve};
use peyvand_records::view::{NewView, ViewDef, ViewKind};
use peyvand_records::{FieldType, Storage};
use sqlx::Row;
use sqlx::any::AnyRow;

fn view_from_row(row: &AnyRow) -> Result<ViewDef> {
    let kind: String = row.try_get("kind")?;
    let filter: Option<String> = row.try_get("filter_json")?;
    let columns: String = row.try_get("columns")?;
    Ok(ViewDef {
        id: row.try_get("id")?,
        object: row.try_get("object")?,
        name: row.try_get("name")?,
        owner_id: row.try_get("owner_id")?,
        shared: get_bool(row, "shared")?,
        kind: ViewKind::parse(&kind).ok_or_else(|| Error::Corrupt(format!("view kind {kind}")))?,
        filter: filter.and_then(|f| serde_json::from_str(&f).ok()),
        sort: row.try_get("sort")?,
        columns: columns.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect(),
        group_by: row.try_get("group_by")?,
    })
}

impl Db {
    /// Checks a view against its object's fields.
    async fn check_view(&self, new: &NewView) -> Result<()> {
        let object = self.object(&new.object).await?;
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(Error::invalid(FieldError::new("name", "required")));
        }
        if let Some(f) = &new.filter {
            parse_filter(&object, f).map_err(Error::invalid)?;
        }
        parse_sort(&object, &new.sort).map_err(Error::invalid)?;
        for c in &new.columns {
            if object.field(c).is_none() {
                return Err(Error::invalid(FieldError::new(c, "unknown_field")));
            }
        }
        if new.kind == ViewKind::Board {
            let group = new.group_by.as_deref().and_then(|g| resolve(&object, g));
            if !group.is_some_and(|g| g.field_type == FieldType::Select && g.storage == Storage::Text) {
                return Err(Error::invalid(FieldError::new("group_by", "not_a_select")));
            }
        }
        Ok(())
    }

    /// Saves a new view owned by `owner`.
    pub async fn create_view(&self, owner: &str, new: &NewView) -> Result<ViewDef> {
        self.check_view(new).await?;
        let id = new_id();
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO views (id, object, name, owner_id, shared, kind, filter_json, sort, columns, group_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(id.clone())
        .bind(new.object.clone())
        .bind(new.name.trim().to_string())
        .bind(owner.to_string())
        .bind(i64::from(new.shared))
        .bind(new.kind.as_str())
        .bind(new.filter.as_ref().map(|f| f.to_string()))
        .bind(new.sort.clone())
        .bind(new.columns.join(","))
        .bind(new.group_by.clone())
        .bind(now())
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await?;
        self.view(&id, owner).await
    }

    /// A view the user may see (their own or a shared one).
    pub async fn view(&self, id: &str, user: &str) -> Result<ViewDef> {
        let row = sqlx::query("SELECT * FROM views WHERE id = $1 AND (owner_id = $2 OR shared = 1)")
            .bind(id.to_string())
            .bind(user.to_string())
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| Error::NotFound(format!("view {id}")))?;
        view_from_row(&row)
    }

    /// The views of an object the user may see: their own and the shared ones, by name.
    pub async fn list_views(&self, object: &str, user: &str) -> Result<Vec<ViewDef>> {
        let rows =
            sqlx::query("SELECT * FROM views WHERE object = $1 AND (owner_id = $2 OR shared = 1) ORDER BY name, id")
                .bind(object.to_string())
                .bind(user.to_string())
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(view_from_row).collect()
    }

    /// Deletes a view; its owner may, and so may whoever `may_delete_shared` for shared views.
    pub async fn delete_view(&self, id: &str, user: &str, may_delete_shared: bool) -> Result<()> {
        let mut tx = self.write().await?;
        let done = sqlx::query("DELETE FROM views WHERE id = $1 AND (owner_id = $2 OR (shared = 1 AND $3 = 1))")
            .bind(id.to_string())
            .bind(user.to_string())
            .bind(i64::from(may_delete_shared))
            .execute(&mut *tx.tx)
            .await?;
        if done.rows_affected() != 1 {
            return Err(Error::NotFound(format!("view {id}")));
        }
        tx.commit().await
    }
}
