//! Import jobs started from the web app: status, options, progress and report.

use crate::sql::{new_id, now};
use crate::{Db, Error, Result};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// An import job.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ImportJob {
    pub id: String,
    pub user_id: String,
    pub object: String,
    pub file_name: String,
    pub file_path: String,
    /// `uploaded`, `running`, `done`, `failed` or `abandoned` (never started; its file deleted).
    pub status: String,
    pub options: serde_json::Value,
    pub rows_done: i64,
    pub report: Option<serde_json::Value>,
    pub message: Option<String>,
}

fn job_from_row(row: &AnyRow) -> Result<ImportJob> {
    let options: String = row.try_get("options_json")?;
    let report: Option<String> = row.try_get("report_json")?;
    Ok(ImportJob {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        object: row.try_get("object")?,
        file_name: row.try_get("file_name")?,
        file_path: row.try_get("file_path")?,
        status: row.try_get("status")?,
        options: serde_json::from_str(&options).unwrap_or(serde_json::Value::Null),
        rows_done: row.try_get("rows_done")?,
        report: report.and_then(|r| serde_json::from_str(&r).ok()),
        message: row.try_get("message")?,
    })
}

impl Db {
    pub async fn create_import_job(
        &self,
        user: &str,
        object: &str,
        file_name: &str,
        file_path: &str,
    ) -> Result<ImportJob> {
        let id = new_id();
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO import_jobs (id, user_id, object, file_name, file_path, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'uploaded', $6, $6)",
        )
        .bind(id.clone())
        .bind(user.to_string())
        .bind(object.to_string())
        .bind(file_name.to_string())
        .bind(file_path.to_string())
        .bind(now())
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await?;
        self.import_job(&id, user).await
    }

    /// The files of `user`'s jobs uploaded and not started yet.
    pub async fn waiting_import_files(&self, user: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT file_path FROM import_jobs WHERE user_id = $1 AND status = 'uploaded'")
            .bind(user.to_string())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// The files of every job uploaded and not started yet, or running.
    pub async fn live_import_files(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT file_path FROM import_jobs WHERE status IN ('uploaded', 'running')")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Marks `abandoned` the jobs uploaded before `cutoff` and never started, and returns
    /// their files (to delete).
    pub async fn abandon_import_jobs(&self, cutoff: time::OffsetDateTime) -> Result<Vec<String>> {
        let mut tx = self.write().await?;
        let rows = sqlx::query(
            "UPDATE import_jobs SET status = 'abandoned', updated_at = $1 \
             WHERE status = 'uploaded' AND updated_at <= $2 RETURNING file_path",
        )
        .bind(now())
        .bind(peyvand_records::value::format_datetime(cutoff))
        .fetch_all(&mut *tx.tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// A job of this user.
    pub async fn import_job(&self, id: &str, user: &str) -> Result<ImportJob> {
        let row = sqlx::query("SELECT * FROM import_jobs WHERE id = $1 AND user_id = $2")
            .bind(id.to_string())
            .bind(user.to_string())
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| Error::NotFound(format!("import {id}")))?;
        job_from_row(&row)
    }

    /// Moves a job to `running` with its options, unless it already left `uploaded`.
    pub async fn start_import_job(&self, id: &str, user: &str, options: &serde_json::Value) -> Result<bool> {
        let mut tx = self.write().await?;
        let done = sqlx::query("UPDATE import_jobs SET status = 'running', options_json = $1, updated_at = $2 WHERE id = $3 AND user_id = $4 AND status = 'uploaded'")
            .bind(options.to_string())
            .bind(now())
            .bind(id.to_string())
            .bind(user.to_string())
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn set_import_progress(&self, id: &str, rows: i64) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE import_jobs SET rows_done = $1, updated_at = $2 WHERE id = $3")
            .bind(rows)
            .bind(now())
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await
    }

    /// Ends a job: `done` with its report, or `failed` with the reason.
    pub async fn finish_import_job(
        &self,
        id: &str,
        report: Option<&serde_json::Value>,
        message: Option<&str>,
        rows: i64,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE import_jobs SET status = $1, report_json = $2, message = $3, rows_done = $4, updated_at = $5 WHERE id = $6")
            .bind(if report.is_some() { "done" } else { "failed" })
            .bind(report.map(|r| r.to_string()))
            .bind(message.map(str::to_string))
            .bind(rows)
            .bind(now())
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await
    }
}
