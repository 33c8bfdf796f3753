//! Importing a file from the web app: upload, check the column mapping on a preview, choose
//! de-duplication and safety options, then watch the progress and read the report (with the
//! failed rows as a CSV to fix). The work is done by the transfer crate, as on the command line.

use super::records::fail;
use super::{CsrfForm, Layout, Session, check_csrf, render};
use crate::AppState;
use crate::error::{ApiError, current_lang};
use crate::i18n::{t, t_args};
use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use peyvand_records::access::Action;
use peyvand_transfer::{ImportOptions, ImportReport, OnDuplicate};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Largest file accepted for import.
pub const MAX_UPLOAD_BYTES: usize = 200 * 1024 * 1024;
/// Most bytes of uploaded, not yet imported files one user may hold (two of the largest).
pub const DEFAULT_UPLOAD_QUOTA_BYTES: u64 = 2 * MAX_UPLOAD_BYTES as u64;
/// An upload whose import was not started within this time is abandoned: its file is deleted.
pub const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Makes the folder of uploads, readable by this user alone.
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Creates an upload's file, readable and writable by this user alone.
fn private_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

/// Bytes of the files `user` uploaded and has not imported yet.
async fn held_bytes(state: &AppState, user: &str) -> Result<u64, ApiError> {
    let paths = state.db.waiting_import_files(user).await?;
    Ok(paths.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum())
}

/// Deletes abandoned uploads: jobs never started within [`ABANDONED_AFTER`] (marked
/// `abandoned`), and files in the upload folder that no waiting or running job holds and
/// that are that old (an upload cut off, a server killed during an import). Run by the server
/// now and then; returns how many files it deleted.
pub async fn sweep_uploads(state: &AppState, older_than: std::time::Duration) -> Result<usize, ApiError> {
    let cutoff = time::OffsetDateTime::now_utc() - older_than;
    let mut deleted = 0;
    for path in state.db.abandon_import_jobs(cutoff).await? {
        if std::fs::remove_file(&path).is_ok() {
            deleted += 1;
        }
    }
    let kept: std::collections::HashSet<String> = state.db.live_import_files().await?.into_iter().collect();
    let Ok(entries) = std::fs::read_dir(&state.config.upload_dir) else { return Ok(deleted) };
    let cutoff = std::time::SystemTime::now() - older_than;
    for entry in entries.flatten() {
        let path = entry.path();
        let old = entry.metadata().and_then(|m| m.modified()).is_ok_and(|at| at <= cutoff);
        if old && !kept.contains(&path.to_string_lossy().into_owned()) && std::fs::remove_file(&path).is_ok() {
            deleted += 1;
        }
    }
    Ok(deleted)
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "import_upload.html")]
struct UploadPage {
    layout: Layout,
    object: String,
    heading: String,
    error: Option<String>,
    tr: super::admin::Words,
}

async fn upload_view(
    state: &AppState,
    session: &Session,
    object: &str,
    error: Option<String>,
) -> Result<Response, ApiError> {
    if !session.user.role.allows(Action::WriteRecords) {
        return Err(ApiError::Forbidden);
    }
    let lang = current_lang();
    let catalog = state.db.visible_catalog().await?;
    let obj = catalog.object(object).ok_or(ApiError::NotFound)?;
    Ok(render(&UploadPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), object),
        object: object.to_string(),
        heading: t_args(lang, "import-title", &[("object", obj.plural(lang).to_string())]),
        error,
        tr: super::admin::Words::new(lang),
    }))
}

pub async fn upload_page(State(state): State<AppState>, session: Session, Path(object): Path<String>) -> Response {
    let state = session.scoped(state);
    upload_view(&state, &session, &object, None).await.unwrap_or_else(fail)
}

/// Receives the file (streamed to disk) and opens a job for it.
pub async fn upload(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(object): Path<String>,
    mut multipart: Multipart,
) -> Response {
    let state = session.scoped(state);
    let result = async {
        if !session.user.role.allows(Action::WriteRecords) {
            return Err(ApiError::Forbidden);
        }
        state.db.visible_object(&object).await?;
        // Nothing is written before the form proves where it comes from: the CSRF token comes
        // before the file in the form, and a file part before a valid token is refused.
        if !crate::auth::same_origin(&headers) {
            return Ok(super::error_page(axum::http::StatusCode::FORBIDDEN, "error-forbidden"));
        }
        let dir = &state.config.upload_dir;
        private_dir(dir).map_err(|e| ApiError::Internal(format!("the upload folder {}: {e}", dir.display())))?;
        let path = dir.join(format!("{}.upload", uuid::Uuid::now_v7()));
        let room = state.config.upload_quota_bytes.saturating_sub(held_bytes(&state, &session.user.id).await?);
        let mut csrf_checked = false;
        let mut encoding = String::new();
        let mut file_name = String::new();
        let mut written = 0usize;
        let mut over_quota = false;
        while let Some(mut field) = multipart
            .next_field()
            .await
            .map_err(|e| ApiError::BadRequest { code: "bad_upload", detail: e.body_text() })?
        {
            match field.name().unwrap_or("") {
                "csrf" => {
                    let csrf = field.text().await.unwrap_or_default();
                    if let Err(r) = check_csrf(&session, &headers, &csrf) {
                        return Ok(r);
                    }
                    csrf_checked = true;
                }
                "encoding" => encoding = field.text().await.unwrap_or_default(),
                "file" if !csrf_checked => {
                    return Ok(super::error_page(axum::http::StatusCode::FORBIDDEN, "error-forbidden"));
                }
                "file" => {
                    file_name = field
                        .file_name()
                        .unwrap_or("import.csv")
                        .chars()
                        .filter(|c| !c.is_control())
                        .take(200)
                        .collect();
                    let mut out = private_file(&path).map_err(|e| ApiError::Internal(e.to_string()))?;
                    while let Some(chunk) = field
                        .chunk()
                        .await
                        .map_err(|e| ApiError::BadRequest { code: "bad_upload", detail: e.body_text() })?
                    {
                        written += chunk.len();
                        if written as u64 > room {
                            over_quota = true;
                            break;
                        }
                        std::io::Write::write_all(&mut out, &chunk).map_err(|e| ApiError::Internal(e.to_string()))?;
                    }
                    if over_quota {
                        break;
                    }
                }
                _ => {}
            }
        }
        if !csrf_checked {
            let _ = std::fs::remove_file(&path);
            return Ok(super::error_page(axum::http::StatusCode::FORBIDDEN, "error-forbidden"));
        }
        if over_quota {
            let _ = std::fs::remove_file(&path);
            let held = state.config.upload_quota_bytes.saturating_sub(room);
            let lang = current_lang();
            let size = |bytes: u64| {
                let (amount, unit) = if bytes >= 1 << 20 {
                    (bytes.div_ceil(1 << 20), "size-mb")
                } else {
                    (bytes.div_ceil(1 << 10), "size-kb")
                };
                format!("{} {}", super::display::format_number(lang, &amount.to_string()), t(lang, unit))
            };
            let message =
                t_args(lang, "import-quota", &[("quota", size(state.config.upload_quota_bytes)), ("held", size(held))]);
            return upload_view(&state, &session, &object, Some(message)).await;
        }
        if written == 0 {
            let _ = std::fs::remove_file(&path);
            return upload_view(&state, &session, &object, Some(t(current_lang(), "import-no-file"))).await;
        }
        let job = state.db.create_import_job(&session.user.id, &object, &file_name, &path.to_string_lossy()).await?;
        let suffix = if encoding.is_empty() {
            String::new()
        } else {
            format!("?encoding={}", super::session::encode(&encoding))
        };
        Ok(Redirect::to(&format!("/imports/{}{suffix}", job.id)).into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

pub struct ColumnRow {
    pub index: usize,
    pub name: String,
    pub sample: String,
    pub choices: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "import_job.html")]
struct JobPage {
    layout: Layout,
    tr: super::admin::Words,
    job_id: String,
    object: String,
    heading: String,
    file_name: String,
    status: String,
    encoding: String,
    columns: Vec<ColumnRow>,
    dedupe: Vec<Choice>,
    report: Option<ImportReport>,
    summary: String,
    message: Option<String>,
    error: Option<String>,
}

pub async fn job_page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let state = session.scoped(state);
    job_view(&state, &session, &id, q.get("encoding").map(String::as_str).filter(|e| !e.is_empty()))
        .await
        .unwrap_or_else(fail)
}

async fn job_view(state: &AppState, session: &Session, id: &str, encoding: Option<&str>) -> Result<Response, ApiError> {
    let lang = current_lang();
    let job = state.db.import_job(id, &session.user.id).await?;
    let catalog = state.db.visible_catalog().await?;
    let obj = catalog.object(&job.object).ok_or(ApiError::NotFound)?;
    let mut page = JobPage {
        layout: Layout::new(lang, Some(session), Some(&catalog), &job.object),
        tr: super::admin::Words::new(lang),
        job_id: job.id.clone(),
        object: job.object.clone(),
        heading: t_args(lang, "import-title", &[("object", obj.plural(lang).to_string())]),
        file_name: job.file_name.clone(),
        status: job.status.clone(),
        encoding: encoding.unwrap_or("").to_string(),
        columns: Vec::new(),
        dedupe: Vec::new(),
        report: job.report.clone().and_then(|r| serde_json::from_value(r).ok()),
        summary: String::new(),
        message: job.message.clone(),
        error: None,
    };
    if job.status == "uploaded" {
        match peyvand_transfer::preview(&state.db, &job.object, std::path::Path::new(&job.file_path), encoding, 3).await
        {
            Ok(preview) => {
                page.encoding = preview.encoding.clone();
                let fields: Vec<(String, String)> =
                    obj.visible_fields().map(|f| (f.api_name.clone(), f.label(lang).to_string())).collect();
                page.columns = preview
                    .headers
                    .iter()
                    .enumerate()
                    .map(|(i, h)| {
                        let suggested = preview.suggested.get(i).cloned().flatten().unwrap_or_default();
                        let mut choices = vec![Choice {
                            value: String::new(),
                            label: t(lang, "import-ignore"),
                            selected: suggested.is_empty(),
                        }];
                        choices.extend(fields.iter().map(|(n, l)| Choice {
                            value: n.clone(),
                            label: l.clone(),
                            selected: *n == suggested,
                        }));
                        let sample = preview
                            .rows
                            .iter()
                            .filter_map(|r| r.get(i))
                            .filter(|c| !c.is_empty())
                            .take(3)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(" · ");
                        ColumnRow { index: i, name: h.clone(), sample, choices }
                    })
                    .collect();
                page.dedupe = std::iter::once(Choice {
                    value: String::new(),
                    label: t(lang, "import-dedupe-none"),
                    selected: true,
                })
                .chain(
                    obj.visible_fields()
                        .filter(|f| {
                            matches!(
                                f.field_type,
                                peyvand_records::FieldType::Email
                                    | peyvand_records::FieldType::Phone
                                    | peyvand_records::FieldType::Text
                                    | peyvand_records::FieldType::NationalId
                            )
                        })
                        .map(|f| Choice {
                            value: f.api_name.clone(),
                            label: f.label(lang).to_string(),
                            selected: false,
                        }),
                )
                .collect();
            }
            Err(e) => page.error = Some(e.to_string()),
        }
    }
    if let Some(r) = &page.report {
        page.summary = t_args(
            lang,
            if r.committed { "import-summary" } else { "import-summary-dry" },
            &[
                ("rows", r.rows.to_string()),
                ("created", r.created.to_string()),
                ("updated", r.updated.to_string()),
                ("skipped", r.skipped.to_string()),
                ("already", r.already_imported.to_string()),
                ("failed", r.failed.to_string()),
            ],
        );
    }
    Ok(render(&page))
}

/// Starts the import with the chosen mapping and options, in the background.
pub async fn run(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(session, pairs): CsrfForm,
) -> Response {
    let state = session.scoped(state);
    let get = |k: &str| pairs.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let result = async {
        if !session.user.role.allows(Action::WriteRecords) {
            return Err(ApiError::Forbidden);
        }
        let job = state.db.import_job(&id, &session.user.id).await?;
        let preview = peyvand_transfer::preview(
            &state.db,
            &job.object,
            std::path::Path::new(&job.file_path),
            Some(&get("encoding")).filter(|e| !e.is_empty()).map(String::as_str),
            0,
        )
        .await
        .map_err(|e| ApiError::BadRequest { code: "unreadable_file", detail: e.to_string() })?;
        let mut opts = ImportOptions::new(&job.object);
        opts.encoding = Some(preview.encoding.clone());
        opts.mapping = preview.headers.iter().enumerate().map(|(i, h)| (h.clone(), get(&format!("map.{i}")))).collect();
        opts.dedupe_by = Some(get("dedupe_by")).filter(|d| !d.is_empty());
        opts.on_duplicate = OnDuplicate::parse(&get("on_duplicate")).unwrap_or_default();
        opts.dry_run = get("dry_run") == "on";
        opts.all_or_nothing = get("all_or_nothing") == "on";
        let options = serde_json::to_value(&opts).map_err(|e| ApiError::Internal(e.to_string()))?;
        if state.db.start_import_job(&id, &session.user.id, &options).await? {
            spawn_import(state.clone(), job.id.clone(), session.user.id.clone(), job.file_path.clone(), opts);
        }
        Ok(Redirect::to(&format!("/imports/{id}")).into_response())
    }
    .await;
    result.unwrap_or_else(fail)
}

fn spawn_import(state: AppState, job: String, user: String, path: String, opts: ImportOptions) {
    tokio::spawn(async move {
        let rows = Arc::new(AtomicUsize::new(0));
        let counter = rows.clone();
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let db = state.db.clone();
        let watched = job.clone();
        let watcher = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    () = tokio::time::sleep(std::time::Duration::from_millis(500)) => {
                        let _ = db.set_import_progress(&watched, counter.load(Ordering::Relaxed) as i64).await;
                    }
                }
            }
        });
        let outcome = peyvand_transfer::import_csv(&state.db, Some(&user), std::path::Path::new(&path), &opts, |n| {
            rows.store(n, Ordering::Relaxed)
        })
        .await;
        let _ = stop_tx.send(());
        let _ = watcher.await;
        let done = rows.load(Ordering::Relaxed) as i64;
        let result = match outcome {
            Ok(report) => {
                let json = serde_json::to_value(&report).unwrap_or_default();
                state.db.finish_import_job(&job, Some(&json), None, report.rows as i64).await
            }
            Err(e) => state.db.finish_import_job(&job, None, Some(&e.to_string()), done).await,
        };
        if let Err(e) = result {
            tracing::error!(error = %e, job, "could not record the end of an import");
        }
        let _ = std::fs::remove_file(&path);
    });
}

#[derive(Template)]
#[template(path = "import_progress.html")]
struct ProgressFragment {
    text: String,
}

/// The progress line (htmx polls it); once the job has ended it asks the page to reload.
pub async fn progress(State(state): State<AppState>, session: Session, Path(id): Path<String>) -> Response {
    let state = session.scoped(state);
    match state.db.import_job(&id, &session.user.id).await {
        Ok(job) if job.status == "running" => render(&ProgressFragment {
            text: t_args(current_lang(), "import-running", &[("rows", job.rows_done.to_string())]),
        }),
        Ok(_) => {
            let mut r = render(&ProgressFragment { text: String::new() });
            r.headers_mut().insert("hx-refresh", HeaderValue::from_static("true"));
            r
        }
        Err(e) => fail(e),
    }
}

/// The failed rows as CSV, to fix and import again.
pub async fn errors_csv(State(state): State<AppState>, session: Session, Path(id): Path<String>) -> Response {
    let state = session.scoped(state);
    match state.db.import_job(&id, &session.user.id).await {
        Ok(job) => {
            let report: ImportReport = job.report.and_then(|r| serde_json::from_value(r).ok()).unwrap_or_default();
            let mut r = format!("\u{FEFF}{}", report.errors_csv()).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            r.headers_mut().insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"import-errors.csv\""),
            );
            r
        }
        Err(e) => fail(e),
    }
}
