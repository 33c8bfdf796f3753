//! Write transactions, and on SQLite the group commit.
//!
//! SQLite lets one transaction write at a time, so this process's writers queue for its one
//! writing connection. A commit writes every page the transaction changed to the log; the pages
//! every write touches (the right edge of each id-ordered index, the audit log) were
//! written again by each of the writers in the queue. So when a writer finishes while others
//! wait, it does not commit: it releases its savepoint, hands the open transaction to the next
//! writer, and waits. Whoever finishes with nobody left waiting commits for the whole group and
//! tells every member the outcome; nobody is answered before the commit that holds their change.
//!
//! Each member that joins an open transaction works inside its own savepoint, so a member that
//! fails or gives up rolls back alone and the others' changes stay (the first member of a group
//! needs none: until it hands the transaction on, it is its own). A member that handed over also queues for the lock again:
//! by the time it gets it, every writer that was waiting when it handed over has had its turn,
//! so if the group is still open, it commits it itself (a group cannot be left open).
//!
//! Commits and give-ups run on their own tasks, so a request dropped half-way (a client that went
//! away) cannot leave the shared transaction in between. On PostgreSQL writers run in parallel,
//! each in a transaction of its own; the server groups commits that wait for the disk itself.

use crate::{Error, Result};
use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

/// The thread SQLite's short writes run on (see [`crate::Db::on_writer`]): a runtime of its own
/// with nothing else to do, started on first use and shared by the process. The runtime is made
/// on its thread, once (writers arriving together wait for the first to start it): a runtime
/// made and then dropped by a writer that lost the race would panic inside the request's task.
pub(crate) fn writer_runtime() -> Result<&'static tokio::runtime::Handle, String> {
    static RUNTIME: std::sync::OnceLock<Result<tokio::runtime::Handle, String>> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let (started, handle) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("peyvand-writer".into())
                .spawn(move || match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => {
                        let _ = started.send(Ok(runtime.handle().clone()));
                        runtime.block_on(std::future::pending::<()>())
                    }
                    Err(e) => {
                        let _ = started.send(Err(e.to_string()));
                    }
                })
                .map_err(|e| e.to_string())?;
            handle.recv().map_err(|e| e.to_string())?
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The longest a SQLite writer waits for its turn before the write is refused as unavailable
/// (the web layer answers 503 with `Retry-After`), as the pool's readers wait for a connection.
const WRITE_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The most writers one SQLite commit covers.
const MAX_GROUP: usize = 64;

/// The queue of this process's SQLite writers and the transaction they share.
#[derive(Clone, Default)]
pub(crate) struct Writers {
    group: Arc<Mutex<Group>>,
    /// Writers waiting for the lock to start (not those waiting for a commit).
    queued: Arc<AtomicUsize>,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    writers: AtomicU64,
    commits: AtomicU64,
    /// Whether the last attempt to begin, commit or roll back the shared transaction failed
    /// (a full disk, an I/O error): `/readyz` then tries a write before saying it is ready.
    failing: AtomicBool,
}

/// How many write transactions this process ran and how many commits they took (on SQLite,
/// fewer than writers when commits were grouped; on PostgreSQL, not counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteCounts {
    pub writers: u64,
    pub commits: u64,
}

#[derive(Default)]
pub(crate) struct Group {
    tx: Option<Transaction<'static, Any>>,
    /// Members whose changes are in `tx`, waiting for its commit.
    waiting: Vec<oneshot::Sender<std::result::Result<(), Failure>>>,
    /// Counts transactions begun: a member that finds another number knows its own was ended.
    generation: u64,
    /// Whether the member holding the lock works in a savepoint. The first member of a group
    /// does not need one (the transaction is its own until it hands it on): two statements
    /// fewer for every write made while nobody queues.
    in_savepoint: bool,
    /// Whether the member holding the lock writes alone (a long write: see [`Writers::begin`]).
    alone: bool,
    /// Whether a savepoint is open for the next member: the member that hands the transaction
    /// on opens it in the same trip to the connection as it releases its own, so a member
    /// that hands on takes one trip besides its statements instead of two (open, release), and
    /// the member that commits none (a commit releases every savepoint).
    next_savepoint: bool,
}

/// The savepoint each member of a group works in.
const BEGIN_MEMBER: &str = "SAVEPOINT group_member";
/// A member hands the transaction on: its savepoint released, the next one's opened.
const HAND_OVER: &str = "RELEASE SAVEPOINT group_member; SAVEPOINT group_member";
const UNDO_MEMBER: &str = "ROLLBACK TO SAVEPOINT group_member; RELEASE SAVEPOINT group_member";

/// A write transaction; dropped without [`WriteTx::commit`] it rolls back (on SQLite, its own
/// part of the group).
pub struct WriteTx {
    /// The connection to run statements on, inside the transaction (`&mut *tx.tx`).
    pub tx: Conn,
    /// Notes a module's operation leaves for its own hooks in this transaction (the sales
    /// module's "these lines are written together: total the document once, at the end").
    pub notes: std::collections::HashSet<String>,
    /// What a module's operation looked up once for its hooks in this transaction (a document's
    /// customer and price lists while its lines are written together), by the module's key.
    pub memo: std::collections::HashMap<String, Arc<dyn std::any::Any + Send + Sync>>,
}

/// The connection of a [`WriteTx`].
pub struct Conn(Inner);

enum Inner {
    /// PostgreSQL: a transaction of its own.
    Own(Transaction<'static, Any>),
    /// SQLite: a member of the group, holding the writers' lock.
    Member { guard: OwnedMutexGuard<Group>, writers: Writers },
    /// Committed or given up.
    Done,
}

impl Deref for Conn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match &self.0 {
            Inner::Own(tx) => tx,
            Inner::Member { guard, .. } => guard.tx.as_deref().expect("a member's transaction is open"),
            Inner::Done => unreachable!("a finished write transaction is not used"),
        }
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.0 {
            Inner::Own(tx) => tx,
            Inner::Member { guard, .. } => guard.tx.as_deref_mut().expect("a member's transaction is open"),
            Inner::Done => unreachable!("a finished write transaction is not used"),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // A PostgreSQL transaction rolls itself back when dropped; a member undoes its savepoint.
        if let Inner::Member { guard, writers } = std::mem::replace(&mut self.0, Inner::Done) {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(writers.give_up(guard));
                }
                // Outside a runtime nothing can run the statements: end the whole transaction
                // (dropping it rolls it back) and tell the members waiting for it.
                Err(_) => {
                    let mut guard = guard;
                    guard.tx = None;
                    for waiting in guard.waiting.drain(..) {
                        let _ = waiting
                            .send(Err(Failure::from("the transaction was dropped outside a runtime".to_string())));
                    }
                }
            }
        }
    }
}

impl WriteTx {
    pub(crate) fn own(tx: Transaction<'static, Any>) -> WriteTx {
        WriteTx { tx: Conn(Inner::Own(tx)), notes: Default::default(), memo: Default::default() }
    }

    /// Commits: the changes are stored (and visible to readers) when this returns `Ok`.
    pub async fn commit(mut self) -> Result<()> {
        match std::mem::replace(&mut self.tx.0, Inner::Done) {
            Inner::Own(tx) => Ok(tx.commit().await?),
            Inner::Member { guard, writers } => {
                let committing = tokio::spawn(writers.commit(guard));
                match committing.await {
                    Ok(outcome) => outcome.map_err(group_failed),
                    Err(e) => Err(group_failed(e.to_string())),
                }
            }
            Inner::Done => Ok(()),
        }
    }
}

/// Why the shared transaction failed, told to each of its members.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    cause: String,
    /// The database could not serve (a full disk, an I/O error): see [`Error::is_unavailable`].
    unavailable: bool,
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Failure {
        let e = Error::Database(e);
        Failure { cause: e.to_string(), unavailable: e.is_unavailable() }
    }
}

impl From<String> for Failure {
    fn from(cause: String) -> Failure {
        Failure { cause, unavailable: false }
    }
}

/// A failure of the shared transaction itself (not of a member's own statements).
fn group_failed(failure: impl Into<Failure>) -> Error {
    let Failure { cause, unavailable } = failure.into();
    let cause = format!("the shared write transaction failed: {cause}");
    if unavailable { Error::Unavailable(cause) } else { Error::Database(sqlx::Error::Protocol(cause)) }
}

impl Writers {
    /// Joins the group (beginning its transaction if none is open) once the lock is free.
    ///
    /// A writer that may run long (`alone`: a schema change, an import batch, a bulk change)
    /// commits the group it finds first and then writes in a transaction of its own, which it
    /// commits without waiting for anyone: the short writes before it are answered without
    /// waiting for it, and none waits behind it for a commit.
    pub(crate) async fn begin(&self, pool: &AnyPool, alone: bool) -> Result<WriteTx> {
        let (writers, pool) = (self.clone(), pool.clone());
        // On a task of its own, so a caller that gives up while waiting cannot leave the group
        // between statements: the member it would have been gives up instead (see `Conn::drop`).
        let joining = tokio::spawn(async move {
            writers.queued.fetch_add(1, Ordering::AcqRel);
            let locked = tokio::time::timeout(WRITE_QUEUE_WAIT, writers.group.clone().lock_owned()).await;
            writers.queued.fetch_sub(1, Ordering::AcqRel);
            let Ok(mut guard) = locked else {
                // Overloaded (or a write that does not end): an answer the client can act on.
                return Err(Error::Unavailable(format!(
                    "waited {} s for the write lock behind {} writers",
                    WRITE_QUEUE_WAIT.as_secs(),
                    writers.queued.load(Ordering::Acquire)
                )));
            };
            if alone && guard.tx.is_some() {
                // Its members learn the outcome from `end`; this writer begins afresh either way.
                let _ = writers.end(&mut guard).await;
            }
            guard.alone = alone;
            if guard.tx.is_none() {
                let begun = pool.begin_with("BEGIN IMMEDIATE").await;
                if begun.is_err() {
                    writers.counts.failing.store(true, Ordering::Relaxed);
                }
                guard.tx = Some(begun?);
                guard.generation += 1;
                guard.in_savepoint = false;
                guard.next_savepoint = false;
            } else if guard.next_savepoint {
                guard.next_savepoint = false;
                guard.in_savepoint = true;
            } else {
                let conn = guard.tx.as_deref_mut().expect("open");
                if let Err(e) = sqlx::query(BEGIN_MEMBER).execute(conn).await {
                    let failure = writers.fail(&mut guard, Failure::from(e)).await;
                    return Err(group_failed(failure));
                }
                guard.in_savepoint = true;
            }
            writers.counts.writers.fetch_add(1, Ordering::Relaxed);
            Ok::<WriteTx, Error>(WriteTx {
                tx: Conn(Inner::Member { guard, writers }),
                notes: Default::default(),
                memo: Default::default(),
            })
        });
        joining.await.map_err(|e| group_failed(e.to_string()))?
    }

    async fn commit(self, mut guard: OwnedMutexGuard<Group>) -> std::result::Result<(), Failure> {
        let generation = guard.generation;
        if guard.alone || self.queued.load(Ordering::Acquire) == 0 || guard.waiting.len() + 1 >= MAX_GROUP {
            // The commit releases the member's savepoint with everything else.
            return self.end(&mut guard).await;
        }
        // Handing on: release this member's savepoint (the first member has none) and open the
        // next member's, in one trip.
        let hand_over = if guard.in_savepoint { HAND_OVER } else { BEGIN_MEMBER };
        let conn = guard.tx.as_deref_mut().expect("a member's transaction is open");
        if let Err(e) = sqlx::raw_sql(hand_over).execute(conn).await {
            return Err(self.fail(&mut guard, e.into()).await);
        }
        guard.in_savepoint = false;
        guard.next_savepoint = true;
        let (done, mut outcome) = oneshot::channel();
        guard.waiting.push(done);
        drop(guard);
        let lost = || Failure::from("the group ended without an answer".to_string());
        tokio::select! {
            biased;
            answer = &mut outcome => answer.unwrap_or_else(|_| Err(lost())),
            mut guard = self.group.clone().lock_owned() => {
                if guard.generation == generation && guard.tx.is_some() {
                    // Everyone who was waiting has had a turn and the group is still open.
                    self.end(&mut guard).await?;
                }
                drop(guard);
                outcome.await.unwrap_or_else(|_| Err(lost()))
            }
        }
    }

    /// Takes the write lock with no transaction open on the writer connection, for a write on
    /// another connection to the same database (`native`): the group it finds is committed
    /// first, and this process's other writers queue behind the returned guard as behind a long
    /// write. On a task of its own, as [`Writers::begin`], so a caller that gives up while waiting
    /// cannot drop a group's commit half-way.
    pub(crate) async fn hold(&self) -> Result<OwnedMutexGuard<Group>> {
        let writers = self.clone();
        let holding = tokio::spawn(async move {
            writers.queued.fetch_add(1, Ordering::AcqRel);
            let mut guard = writers.group.clone().lock_owned().await;
            writers.queued.fetch_sub(1, Ordering::AcqRel);
            if guard.tx.is_some() {
                // Its members learn the outcome from `end`.
                let _ = writers.end(&mut guard).await;
            }
            writers.counts.writers.fetch_add(1, Ordering::Relaxed);
            writers.counts.commits.fetch_add(1, Ordering::Relaxed);
            guard
        });
        holding.await.map_err(|e| Error::Config(format!("the write lock's task failed: {e}")))
    }

    /// Commits the group's transaction and tells its members.
    async fn end(&self, group: &mut Group) -> std::result::Result<(), Failure> {
        group.next_savepoint = false;
        let tx = group.tx.take().expect("a member's transaction is open");
        let outcome = tx.commit().await.map_err(Failure::from);
        self.counts.commits.fetch_add(1, Ordering::Relaxed);
        // A commit that failed may leave the connection believing a transaction is open (SQLite
        // rolls back by itself on a full disk, and the rollback then fails): the writer pool's
        // `before_acquire` closes such a connection, and the next writer gets a new one.
        self.counts.failing.store(outcome.is_err(), Ordering::Relaxed);
        for waiting in group.waiting.drain(..) {
            let _ = waiting.send(outcome.clone());
        }
        outcome
    }

    /// Rolls the whole group back after a statement that manages it failed, and tells its
    /// members; returns the cause.
    async fn fail(&self, group: &mut Group, cause: Failure) -> Failure {
        group.next_savepoint = false;
        if let Some(tx) = group.tx.take()
            && tx.rollback().await.is_err()
        {
            self.counts.failing.store(true, Ordering::Relaxed);
        }
        for waiting in group.waiting.drain(..) {
            let _ = waiting.send(Err(cause.clone()));
        }
        cause
    }

    /// Undoes a member that ends without committing; the rest of the group stays.
    async fn give_up(self, mut guard: OwnedMutexGuard<Group>) {
        if !guard.in_savepoint {
            // The first member: nobody has joined yet, the whole transaction is its own.
            self.fail(&mut guard, Failure::from("the writer gave up".to_string())).await;
            return;
        }
        let Some(conn) = guard.tx.as_deref_mut() else { return };
        if let Err(e) = sqlx::raw_sql(UNDO_MEMBER).execute(conn).await {
            self.fail(&mut guard, e.into()).await;
        } else if guard.waiting.is_empty()
            && let Some(tx) = guard.tx.take()
        {
            // Nothing of anyone else's in it: end it, so it holds no lock on the database.
            let _ = tx.rollback().await;
        }
    }

    /// Whether the last begin, commit or rollback of the shared transaction failed.
    pub(crate) fn failing(&self) -> bool {
        self.counts.failing.load(Ordering::Relaxed)
    }

    pub(crate) fn counts(&self) -> WriteCounts {
        WriteCounts {
            writers: self.counts.writers.load(Ordering::Relaxed),
            commits: self.counts.commits.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    /// Writers arriving together at the first write all get the one writers' runtime, and
    /// none of them panics (a runtime dropped inside a task does).
    #[test]
    fn writers_arriving_together_share_one_writer_runtime() {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).build().expect("runtime");
        let (first, ran) = runtime.block_on(async {
            let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
            let mut tasks = Vec::new();
            for _ in 0..8 {
                let barrier = barrier.clone();
                tasks.push(tokio::spawn(async move {
                    barrier.wait().await;
                    super::writer_runtime().map(|h| h as *const tokio::runtime::Handle as usize)
                }));
            }
            let mut seen = Vec::new();
            for task in tasks {
                seen.push(task.await.expect("no writer panicked").expect("the runtime started"));
            }
            assert!(seen.windows(2).all(|w| w[0] == w[1]), "one runtime: {seen:?}");
            let handle = super::writer_runtime().expect("started");
            (seen[0], handle.spawn(async { 6 * 7 }).await.expect("runs tasks"))
        });
        assert_ne!(first, 0);
        assert_eq!(ran, 42);
    }
}
