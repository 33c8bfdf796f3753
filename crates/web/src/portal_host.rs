//! The customer portal at a host name of its own (the portal's settings, `host`): a request to
//! that host reaches the portal and the public pages customers follow links to (surveys, ideas,
//! web forms, unsubscribing, tracked links, assets), its root goes to the portal, and the staff
//! application is not found there. The host, with the brand every portal page shows (the
//! business's names, whether a logo was given), is read at most every few seconds (a change made
//! on another instance is seen within them).

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long what was read is kept.
const FRESH: Duration = Duration::from_secs(5);

/// Paths a portal host answers (with what follows them).
const OPEN: [&str; 9] = ["/portal", "/assets/", "/s/", "/ideas", "/f/", "/u/", "/c/", "/healthz", "/readyz"];

/// The portal's host and brand, as read.
#[derive(Clone, Debug, Default)]
pub struct Look {
    pub host: Option<String>,
    /// The business's name in Persian and in English (Admin → Business), trimmed; empty if none.
    pub name_fa: String,
    pub name_en: String,
    pub has_logo: bool,
}

/// When the look was read, and what it was.
type Read = (Instant, Look);

/// The look as last read.
#[derive(Clone, Debug, Default)]
pub struct Kept(Arc<Mutex<Option<Read>>>);

/// Forgets what was read, so the next request reads it again (after the settings change).
pub fn forget(state: &AppState) {
    if let Ok(mut kept) = state.portal_host.0.lock() {
        *kept = None;
    }
}

/// The portal's host and brand, read at most every [`FRESH`].
pub async fn look(state: &AppState) -> Look {
    if let Ok(kept) = state.portal_host.0.lock()
        && let Some((at, look)) = kept.as_ref()
        && at.elapsed() < FRESH
    {
        return look.clone();
    }
    let read = async {
        let settings = peyvand_crm::portal::settings(&state.db).await?;
        let details = peyvand_crm::sales::business::get(&state.db).await?;
        let named = |k: &str| details.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
        let has_logo = peyvand_crm::portal::has_logo(&state.db).await?;
        Ok::<_, peyvand_store::Error>(Look {
            host: settings.host,
            name_fa: named("name_fa"),
            name_en: named("name_en"),
            has_logo,
        })
    };
    let look = match read.await {
        Ok(look) => look,
        Err(e) => {
            tracing::warn!(error = %e, "the portal's settings were not read");
            return Look::default();
        }
    };
    if let Ok(mut kept) = state.portal_host.0.lock() {
        *kept = Some((Instant::now(), look.clone()));
    }
    look
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
        && look(&state).await.host.is_some_and(|h| h == asked)
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
