//! Peyvand's server: settings, start-up and wiring of the store and the web layer, the demo
//! data set. `main.rs` is only the command line.

pub mod analytics_cli;
pub mod demo;
pub mod settings;

use anyhow::Context;
use peyvand_store::Db;
use peyvand_web::{AppState, WebConfig};
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server started in this process.
pub struct Running {
    pub addr: SocketAddr,
    pub db: Db,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops accepting connections, lets in-flight requests finish, and waits.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.await.context("server task")??;
        self.db.close().await;
        Ok(())
    }
}

/// Opens (and migrates) the database and serves on `listen` until [`Running::stop`] or the
/// `until` future finishes, whichever comes first.
pub async fn start(
    db: Db,
    listen: &str,
    config: WebConfig,
    until: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let takeover = config.takeover;
    let state = AppState::new(db.clone(), config).map_err(|e| anyhow::anyhow!("single sign-on settings: {e}"))?;
    let listener = TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let app = peyvand_web::router(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let maintenance = tokio::spawn(maintain(state));
    // After-commit consumers and scheduled jobs (store::runner); the CRM's modules add theirs.
    let (consumers, job_kinds) = db.modules().runner_parts();
    let mut runner = peyvand_store::runner::Runner::new(db.clone(), consumers, job_kinds);
    if let Some(t) = takeover.and_then(|t| time::Duration::try_from(t).ok()) {
        runner = runner.with_leases(t, t);
    }
    let (runner_stop, runner_stopped) = oneshot::channel::<()>();
    let events = tokio::spawn(runner.run_until(async move {
        let _ = runner_stopped.await;
    }));
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = rx => {}
                    () = until => {}
                }
                tracing::info!("shutting down: finishing requests in flight");
            })
            .await
            .context("serving");
        maintenance.abort();
        // The runner gives its consumers' leases up, so another instance takes over at once.
        let _ = runner_stop.send(());
        let _ = events.await;
        served
    });
    Ok(Running { addr, db, shutdown: Some(tx), task })
}

/// How often the server folds the rows rollups gained (see `peyvand_store::rollups`).
const COMPACT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// How often the server deletes abandoned uploads (see `peyvand_web::html::imports`).
const SWEEP_UPLOADS_EVERY: u32 = 360;

/// Work the server does now and then while it serves: folding rollups every 10 s, deleting
/// abandoned uploads every hour (and at start).
async fn maintain(state: AppState) {
    let mut tick = tokio::time::interval(COMPACT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for round in 0u32.. {
        tick.tick().await;
        if let Err(e) = state.db.compact_rollups().await {
            tracing::warn!(error = %e, "compacting rollups failed; trying again later");
        }
        if let Err(e) = state.db.flush_substring_indexes().await {
            tracing::warn!(error = %e, "writing the substring indexes failed; trying again later");
        }
        if round % SWEEP_UPLOADS_EVERY == 0 {
            match peyvand_web::html::imports::sweep_uploads(&state, peyvand_web::html::imports::ABANDONED_AFTER).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(files = n, "deleted abandoned uploads"),
                Err(e) => tracing::warn!(error = ?e, "deleting abandoned uploads failed; trying again later"),
            }
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

impl Running {
    /// Waits until the server stops by itself (after the shutdown signal).
    pub async fn stop_when_done(self) -> anyhow::Result<()> {
        let Running { db, shutdown, task, .. } = self;
        let result = task.await.context("server task")?;
        drop(shutdown);
        db.close().await;
        result
    }
}
