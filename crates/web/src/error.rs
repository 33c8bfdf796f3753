//! One error type for the JSON API: RFC 9457 problem details (`application/problem+json`)
//! with a stable `code` and per-field errors in the request's language. Internal causes are
//! logged, never sent.

use crate::i18n::{field_error_message, t};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use peyvand_records::FieldError;
use peyvand_store::Error as StoreError;
use serde_json::json;
use std::cell::RefCell;

tokio::task_local! {
    /// The language of the request being handled (set by the language middleware, refined by
    /// authentication).
    pub static LANG: RefCell<&'static str>;
}

/// The current request's language.
pub fn current_lang() -> &'static str {
    LANG.try_with(|l| *l.borrow()).unwrap_or(crate::i18n::LANGS[0])
}

/// Sets the current request's language.
pub fn set_lang(lang: &'static str) {
    let _ = LANG.try_with(|l| *l.borrow_mut() = lang);
}

/// Seconds a client is asked to wait before retrying when the database cannot serve.
pub const UNAVAILABLE_RETRY_SECS: u64 = 5;

/// An API failure.
#[derive(Debug)]
pub enum ApiError {
    Store(StoreError),
    BadRequest {
        code: &'static str,
        detail: String,
    },
    Unauthorized,
    /// The password was right; the user signs in with a second factor, and the code was
    /// missing or wrong.
    SecondFactor,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    TooLarge,
    UnsupportedMediaType,
    TooManyRequests {
        retry_after_secs: u64,
    },
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Store(e)
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Store(StoreError::invalid(e))
    }
}

/// The problem document parts of an error: status, stable code, title key, field errors.
fn parts(e: &ApiError) -> (StatusCode, &'static str, &'static str, &[FieldError]) {
    match e {
        ApiError::Store(StoreError::Validation(errors)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "problem-validation", errors)
        }
        ApiError::Store(StoreError::NotFound(_)) | ApiError::NotFound => {
            (StatusCode::NOT_FOUND, "not_found", "problem-not-found", &[])
        }
        ApiError::Store(StoreError::Conflict { code, details }) => {
            (StatusCode::CONFLICT, code, "problem-conflict", details)
        }
        ApiError::Store(StoreError::Forbidden(_)) => (StatusCode::FORBIDDEN, "forbidden", "problem-forbidden", &[]),
        ApiError::Store(e) if e.is_unavailable() => {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "problem-unavailable", &[])
        }
        ApiError::Store(_) | ApiError::Internal(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal", "problem-internal", &[])
        }
        ApiError::BadRequest { code: "route_not_found", .. } => {
            (StatusCode::NOT_FOUND, "route_not_found", "problem-not-found", &[])
        }
        ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code, "problem-bad-request", &[]),
        ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "problem-unauthorized", &[]),
        ApiError::SecondFactor => (StatusCode::UNAUTHORIZED, "second_factor_required", "problem-second-factor", &[]),
        ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "problem-forbidden", &[]),
        ApiError::MethodNotAllowed => {
            (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "problem-method-not-allowed", &[])
        }
        ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "problem-too-large", &[]),
        ApiError::UnsupportedMediaType => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "problem-unsupported-media-type", &[])
        }
        ApiError::TooManyRequests { .. } => {
            (StatusCode::TOO_MANY_REQUESTS, "too_many_requests", "problem-too-many-requests", &[])
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        parts(self).0
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let lang = current_lang();
        let (status, code, title_key, errors) = parts(&self);
        match &self {
            ApiError::Store(
                e @ (StoreError::Database(_)
                | StoreError::Native(_)
                | StoreError::Corrupt(_)
                | StoreError::Config(_)
                | StoreError::Unavailable(_)),
            ) => {
                tracing::error!(error = %e, "store failure");
            }
            ApiError::Internal(cause) => tracing::error!(%cause, "internal error"),
            _ => {}
        }
        let errors: Vec<serde_json::Value> = errors
            .iter()
            .map(|e| json!({ "field": e.field, "code": e.code, "message": field_error_message(lang, e.code, &e.params), "params": e.params }))
            .collect();
        let mut body = json!({
            "type": format!("urn:peyvand:problem:{code}"),
            "title": t(lang, title_key),
            "status": status.as_u16(),
            "code": code,
        });
        if let ApiError::BadRequest { detail, .. } = &self {
            body["detail"] = json!(detail);
        } else if let Some(first) = errors.first() {
            body["detail"] = first["message"].clone();
        }
        if !errors.is_empty() {
            body["errors"] = json!(errors);
        }
        let mut response = (status, body.to_string()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        response.headers_mut().insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(lang));
        let retry_after = match self {
            ApiError::TooManyRequests { retry_after_secs } => Some(retry_after_secs),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => Some(UNAVAILABLE_RETRY_SECS),
            _ => None,
        };
        if let Some(v) = retry_after.and_then(|secs| HeaderValue::from_str(&secs.to_string()).ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
