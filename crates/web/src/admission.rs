//! Admission: at most so many requests are handled at once; a few more wait a short while for
//! their turn, and the rest are answered 503 with `Retry-After` at once. Under overload the
//! server answers quickly and says so, instead of queueing without end until pool time-outs
//! (which answered 500). The number waiting is logged as it grows.

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// How many requests are handled at once, how many may wait, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub in_flight: usize,
    pub waiting: usize,
    pub wait: Duration,
}

impl Default for Limits {
    /// Two cores serve 64 requests at once well (the database pools hold 8 readers and one
    /// writer on SQLite, 16 connections on PostgreSQL; the rest wait there); 256 more wait up to
    /// 5 s, about what a person waits before trying again.
    fn default() -> Self {
        Limits { in_flight: 64, waiting: 256, wait: Duration::from_secs(5) }
    }
}

/// The shared state of admission.
#[derive(Clone)]
pub struct Admission {
    limits: Limits,
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

impl Admission {
    pub fn new(limits: Limits) -> Admission {
        Admission { limits, permits: Arc::new(Semaphore::new(limits.in_flight.max(1))), waiting: Arc::default() }
    }
}

/// The answer to a request that is not let in: 503, `Retry-After`, a problem document.
fn refused() -> Response {
    ApiError::Store(peyvand_store::Error::Unavailable("overloaded".into())).into_response()
}

/// A request being handled. When its client goes away before the answer, the server drops the
/// request's work at its next wait (the database's included: no further statement is sent, and
/// an unfinished write is rolled back); this notes it in the log as it happens.
struct Handling {
    answered: bool,
}

impl Drop for Handling {
    fn drop(&mut self) {
        if !self.answered {
            tracing::info!("a client left before its answer: the request's work stopped");
        }
    }
}

/// Runs the request's handler, noting a client that leaves first (see [`Handling`]).
async fn handle(req: Request, next: Next) -> Response {
    let mut handling = Handling { answered: false };
    let response = next.run(req).await;
    handling.answered = true;
    response
}

/// Lets a request in when a handler is free, or after waiting its turn; health checks always.
pub async fn admit(State(admission): State<Admission>, req: Request, next: Next) -> Response {
    if matches!(req.uri().path(), "/healthz" | "/readyz") {
        return next.run(req).await;
    }
    if let Ok(permit) = admission.permits.clone().try_acquire_owned() {
        let response = handle(req, next).await;
        drop(permit);
        return response;
    }
    let waiting = admission.waiting.fetch_add(1, Ordering::AcqRel) + 1;
    if waiting > admission.limits.waiting {
        admission.waiting.fetch_sub(1, Ordering::AcqRel);
        tracing::warn!(
            waiting = waiting - 1,
            in_flight = admission.limits.in_flight,
            "overloaded: a request was refused"
        );
        return refused();
    }
    if waiting.is_power_of_two() && waiting >= 16 {
        tracing::warn!(waiting, in_flight = admission.limits.in_flight, "requests are waiting for a free handler");
    }
    let permit = tokio::time::timeout(admission.limits.wait, admission.permits.clone().acquire_owned()).await;
    admission.waiting.fetch_sub(1, Ordering::AcqRel);
    match permit {
        Ok(Ok(permit)) => {
            let response = handle(req, next).await;
            drop(permit);
            response
        }
        _ => {
            tracing::warn!(waited_secs = admission.limits.wait.as_secs_f64(), "overloaded: a request waited too long");
            refused()
        }
    }
}
