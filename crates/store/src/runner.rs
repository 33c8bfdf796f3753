//! The runtime of `crate::events`: each round places pending events in the stream, gives every
//! consumer the events after its position, and runs the jobs that are due. `peyvand serve` runs
//! one beside the web server; several instances on one PostgreSQL database share the work
//! through the consumers' leases and the jobs' claims.
//!
//! Consumers and job kinds are typed: a module implements [`Consumer`] or [`JobKind`] and hands
//! an instance to [`Runner::new`]; nothing is found by a string at run time except a stored
//! job's kind.

use crate::events::{Event, Job};
use crate::{Db, Result};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration as StdDuration;
use time::Duration;

/// What a handler returns: done, or why not (retried, then parked).
pub type Outcome<'a> = Pin<Box<dyn Future<Output = std::result::Result<(), String>> + Send + 'a>>;

/// Acts on record events after they are committed, at least once each, in order.
pub trait Consumer: Send + Sync + 'static {
    /// Its stable name (its position is kept under it).
    fn name(&self) -> &'static str;
    /// Whether it reads what happened before it first ran (else it starts at the stream's end).
    fn reads_history(&self) -> bool {
        false
    }
    fn handle<'a>(&'a self, db: &'a Db, event: &'a Event) -> Outcome<'a>;
}

/// Runs the scheduled jobs of one kind.
pub trait JobKind: Send + Sync + 'static {
    fn kind(&self) -> &'static str;
    fn run<'a>(&'a self, db: &'a Db, job: &'a Job) -> Outcome<'a>;
    /// Jobs of one group run one after another, the earliest first (a ticket's deadlines: its
    /// warning before its breach); jobs of different groups run at once. None: a group of its
    /// own.
    fn group(&self, _job: &Job) -> Option<String> {
        None
    }
}

/// How long a consumer's lease lasts (renewed every round) and a job's claim, unless
/// [`Runner::with_leases`] says otherwise.
const CONSUMER_LEASE: Duration = Duration::seconds(30);
const JOB_LEASE: Duration = Duration::seconds(120);
/// Events handed to a consumer in one round, and jobs claimed in one round.
const BATCH: i64 = 100;
const JOB_BATCH: i64 = 32;
/// The wait between rounds when there was nothing to do.
const IDLE: StdDuration = StdDuration::from_millis(250);

/// Consumers and job kinds, and this instance's name in leases and claims.
pub struct Runner {
    db: Db,
    owner: String,
    consumers: Vec<Arc<dyn Consumer>>,
    jobs: Vec<Arc<dyn JobKind>>,
    consumer_lease: Duration,
    job_lease: Duration,
}

impl Runner {
    pub fn new(db: Db, consumers: Vec<Arc<dyn Consumer>>, jobs: Vec<Arc<dyn JobKind>>) -> Runner {
        let owner = format!("instance-{}", crate::sql::new_id());
        Runner { db, owner, consumers, jobs, consumer_lease: CONSUMER_LEASE, job_lease: JOB_LEASE }
    }

    /// Shorter leases: how soon another instance takes over from one that died (tests).
    pub fn with_leases(mut self, consumer: Duration, job: Duration) -> Runner {
        self.consumer_lease = consumer;
        self.job_lease = job;
        self
    }

    /// Makes the consumers known (a new one starts at the stream's end unless it asks for all).
    pub async fn register(&self) -> Result<()> {
        for c in &self.consumers {
            self.db.register_consumer(c.name(), c.reads_history()).await?;
        }
        Ok(())
    }

    /// One round; returns how many events and jobs it handled (0: nothing to do).
    pub async fn round(&self) -> Result<usize> {
        Ok(self.events_round().await? + self.jobs_round().await?)
    }

    /// The consumers' part of a round: events placed in the stream and handed to each.
    async fn events_round(&self) -> Result<usize> {
        let mut done = 0;
        if !self.consumers.is_empty() {
            self.db.sequence_events(1000).await?;
        }
        // The consumers side by side: each has its own position and lease, and one's slow
        // handler (a workflow's condition, a webhook's body) does not hold the others back.
        for fed in futures_util::future::join_all(self.consumers.iter().map(|c| self.feed(c.as_ref()))).await {
            done += fed?;
        }
        Ok(done)
    }

    /// The jobs' part of a round: those due, claimed together.
    async fn jobs_round(&self) -> Result<usize> {
        let mut done = 0;
        // The due jobs claimed together, run at once by group (each group's in order): their
        // writes share commits (SQLite's group commit) or connections (PostgreSQL), where one
        // at a time paid three commits each (10,000 deadlines in the same minute took minutes).
        let kinds: Vec<&str> = self.jobs.iter().map(|k| k.kind()).collect();
        let jobs = self.db.claim_due_jobs(&self.owner, self.job_lease, JOB_BATCH, &kinds).await?;
        let mut groups: Vec<(Option<String>, Vec<Job>)> = Vec::new();
        for job in jobs {
            let group = self.jobs.iter().find(|k| k.kind() == job.kind).and_then(|k| k.group(&job));
            match groups.iter_mut().find(|(g, _)| group.is_some() && *g == group) {
                Some((_, list)) => list.push(job),
                None => groups.push((group, vec![job])),
            }
        }
        let runs = groups.into_iter().map(|(_, list)| async move {
            let mut succeeded = Vec::new();
            let ran = list.len();
            for job in list {
                if self.run_job(&job).await? {
                    succeeded.push(job.id);
                }
            }
            Ok::<(usize, Vec<String>), crate::Error>((ran, succeeded))
        });
        // The jobs that succeeded are marked done together, in one write.
        let mut succeeded = Vec::new();
        for outcome in futures_util::future::join_all(runs).await {
            let (ran, ok) = outcome?;
            done += ran;
            succeeded.extend(ok);
        }
        self.db.finish_jobs_done(&succeeded, &self.owner).await?;
        Ok(done)
    }

    /// Runs a claimed job; a failure is recorded at once, a success left for the round to mark
    /// done with the others (returns whether it succeeded).
    async fn run_job(&self, job: &Job) -> Result<bool> {
        let outcome = match self.jobs.iter().find(|k| k.kind() == job.kind) {
            Some(kind) => kind.run(&self.db, job).await,
            None => Err(format!("no handler for jobs of kind {}", job.kind)),
        };
        match outcome {
            Ok(()) => Ok(true),
            Err(e) => {
                tracing::warn!(job = %job.id, kind = %job.kind, error = %e, "a job failed");
                self.db.finish_job(&job.id, &self.owner, Some(&e)).await?;
                Ok(false)
            }
        }
    }

    /// Gives one consumer its next events, if this instance holds its lease.
    async fn feed(&self, c: &dyn Consumer) -> Result<usize> {
        let name = c.name();
        if !self.db.claim_consumer(name, &self.owner, self.consumer_lease).await? {
            return Ok(0);
        }
        let mut done = 0;
        if let Some(event) = self.db.retried_event(name).await? {
            let outcome = c.handle(&self.db, &event).await;
            self.db.retried_outcome(name, event.seq, outcome.err().as_deref()).await?;
            done += 1;
        }
        let mut claimed = std::time::Instant::now();
        let renew_after = std::time::Duration::from_secs_f64(self.consumer_lease.as_seconds_f64().max(0.0) / 3.0);
        // The position moves once for the events handled together (a write per batch, not per
        // event): a crash before it hands them to the next holder again, as at least once
        // allows (every consumer's effects are keyed by the event).
        let mut handled: Option<i64> = None;
        for event in self.db.next_events(name, BATCH).await? {
            // The lease is renewed as the batch goes on; lost, this instance stops here.
            if claimed.elapsed() > renew_after {
                if let Some(seq) = handled.take() {
                    self.db.advance_consumer(name, &self.owner, seq).await?;
                }
                if !self.db.claim_consumer(name, &self.owner, self.consumer_lease).await? {
                    break;
                }
                claimed = std::time::Instant::now();
            }
            match c.handle(&self.db, &event).await {
                Ok(()) => handled = Some(event.seq),
                Err(e) => {
                    if let Some(seq) = handled.take() {
                        self.db.advance_consumer(name, &self.owner, seq).await?;
                    }
                    let parked = self.db.event_failed(name, &self.owner, event.seq, &e).await?;
                    tracing::warn!(consumer = name, seq = event.seq, error = %e, parked, "an event failed");
                    // Later events wait for this one (order matters to consumers).
                    break;
                }
            }
            done += 1;
        }
        if let Some(seq) = handled {
            self.db.advance_consumer(name, &self.owner, seq).await?;
        }
        Ok(done)
    }

    /// Runs rounds until `stop` resolves, then gives the leases up so another instance takes
    /// over at once. A failing round is logged and tried again. (Events and jobs in one round,
    /// events first: run side by side, a burst of jobs took SQLite's writer from the events and
    /// workflow runs started seconds late.)
    pub async fn run_until(self, stop: impl Future<Output = ()>) {
        if let Err(e) = self.register().await {
            tracing::warn!(error = %e, "registering the event consumers failed; trying again in each round");
        }
        tokio::pin!(stop);
        loop {
            let idle = match self.round().await {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "a round of events and jobs failed; trying again");
                    let _ = self.register().await;
                    true
                }
            };
            let pause = if idle { IDLE } else { StdDuration::ZERO };
            tokio::select! {
                biased;
                () = &mut stop => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
        for c in &self.consumers {
            let _ = self.db.release_consumer(c.name(), &self.owner).await;
        }
    }
}
