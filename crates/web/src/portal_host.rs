//! The customer portal at a host name of its own (the portal's settings, `host`): a request to
//! that host reaches the portal and the public pages customers follow links to (surveys, ideas,
//! web forms, unsubscribing, tracked links, assets), its root goes to the portal, and the staff
//! application is not found there. The host is read at most every few seconds (a change made on
//! another instance is seen within them).

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the host read is kept.
const FRESH: Duration = Duration::from_secs(5);

/// Paths a portal host answers (with what follows them).
const OPEN: [&str; 9] = ["/portal", "/assets/", "/s/", "/ideas", "/f/", "/u/", "/c/", "/healthz", "/readyz"];

/// When the host was read, and what it was.
type Read = (Instant, Option<String>);

/// The host as last read.
#[derive(Clone, Debug, Default)]
pub struct Kept(Arc<Mutex<Option<Read>>>);

/// Forgets the host read, so the next request reads it again (after the settings change).
pub fn forget(state: &AppState) {
    if let Ok(mut kept) = state.portal_host.0.lock() {
        *kept = None;
    }
}

async fn portal_host(state: &AppState) -> Option<String> {
    if let Ok(kept) = state.portal_host.0.lock()
        && let Some((at, host)) = kept.as_ref()
        && at.elapsed() < FRESH
    {
        return host.clone();
    }
    let host = match peyvand_crm::portal::settings(&state.db).await {
        Ok(s) => s.host,
        Err(e) => {
            tracing::warn!(error = %e, "the portal's host was not read");
            return None;
        }
    };
    if let Ok(mut kept) = state.portal_host.0.lock() {
        *kept = Some((Instant::now(), host.clone()));
    }
    host
}

/// The layer: on the portal's host, the portal alone.
pub async fn only_the_portal(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let asked = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| {
            h.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(h, |(name, _)| name)
        })
        .map(str::to_ascii_lowercase);
    if let Some(asked) = asked
        && portal_host(&state).await.is_some_and(|h| h == asked)
    {
        let path = req.uri().path();
        if path == "/" {
            return Redirect::to("/portal").into_response();
        }
        if !OPEN.iter().any(|p| path.starts_with(p)) {
            return crate::html::not_found(req.uri().clone()).await;
        }
    }
    next.run(req).await
}
