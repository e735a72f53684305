//! The single writer: group commit over one connection.
//!
//! Every write request is a closure sent to the writer thread. The thread takes the first
//! queued request, then whatever else is queued at that moment (up to `max_batch`), runs
//! them in one `BEGIN IMMEDIATE … COMMIT`, each inside its own savepoint so that one
//! failing request rolls back only its own writes. Each caller gets its result only after
//! the `COMMIT` that holds its writes returned, so an acknowledged write is durable (to
//! the configured [`crate::Durability`]). Under load, one fsync covers many requests;
//! with a single caller, a batch is one request and nothing waits for a timer.
//!
//! A std thread (not a tokio task) because every step blocks on SQLite.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Instant;

use natter_store::{CommitStats, StoreError};
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::error::store_error;

/// What a job hands back to the writer loop: whether its savepoint should be kept, and
/// how to deliver its result once the commit outcome is known.
struct Finished {
    keep: bool,
    deliver: Deliver,
}

/// Answers a job's caller, given the commit error if the commit failed.
type Deliver = Box<dyn FnOnce(Option<&str>) + Send>;

/// A queued write. Called with `None` when no transaction could be opened: it then
/// answers its caller with an error without touching the database.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Finished + Send>;

/// Handle to the writer thread.
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread owning `conn`; it records each commit in `stats` and then
    /// calls `after_commit` (which the search indexer uses; it is dropped when the writer
    /// stops). The thread stops once every handle is dropped.
    pub(crate) fn start(
        conn: Connection,
        max_batch: usize,
        stats: Arc<CommitStats>,
        after_commit: impl Fn(&Connection) + Send + 'static,
    ) -> Result<(Self, JoinHandle<()>), StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("natter-sqlite-writer".into())
            .spawn(move || run(conn, queue, max_batch.max(1), &stats, &after_commit))
            .map_err(StoreError::backend)?;
        Ok((Self { jobs }, thread))
    }

    /// Queues `work` for the next group commit without waiting for it: for the store's own
    /// housekeeping, whose failure is only logged.
    pub(crate) fn submit<F>(&self, work: F)
    where
        F: FnOnce(&Connection) -> Result<(), StoreError> + Send + 'static,
    {
        let job: Job = Box::new(move |conn: Option<&Connection>| {
            let keep = match conn.map(work) {
                Some(Ok(())) => true,
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "a housekeeping write failed");
                    false
                }
                None => false,
            };
            Finished {
                keep,
                deliver: Box::new(|_| ()),
            }
        });
        // A stopped writer means the store is gone: nothing is left to keep.
        let _ = self.jobs.send(job);
    }

    /// Runs `work` in the next group commit and returns its result after the commit.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(move |conn: Option<&Connection>| {
            let result = match conn {
                Some(conn) => work(conn),
                None => Err(StoreError::Unavailable(
                    "could not begin a write transaction".into(),
                )),
            };
            let keep = result.is_ok();
            Finished {
                keep,
                deliver: Box::new(move |commit_error: Option<&str>| {
                    let outcome = match commit_error {
                        None => result,
                        Some(message) => Err(StoreError::Backend(
                            format!("commit failed: {message}").into(),
                        )),
                    };
                    // The caller may have gone away (request cancelled); the write stands.
                    let _ = reply.send(outcome);
                }),
            }
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("a write job panicked".into()))?
    }
}

fn run(
    conn: Connection,
    queue: mpsc::Receiver<Job>,
    max_batch: usize,
    stats: &CommitStats,
    after_commit: &dyn Fn(&Connection),
) {
    while let Ok(first) = queue.recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&conn, batch, stats);
        after_commit(&conn);
    }
    tracing::debug!("sqlite writer stopped: every store handle was dropped");
}

/// Runs the batch in one transaction and records it in `stats` if it committed, before
/// anyone is answered (so a caller's next look at `/metrics` includes its write).
fn commit_batch(conn: &Connection, batch: Vec<Job>, stats: &CommitStats) {
    let started = Instant::now();
    let size = batch.len();
    if let Err(err) = conn.execute_batch("BEGIN IMMEDIATE") {
        tracing::error!(error = %err, "could not begin a write transaction");
        for job in batch {
            (job(None).deliver)(None);
        }
        return;
    }
    let mut finished = Vec::with_capacity(batch.len());
    for job in batch {
        finished.push(run_job(conn, job));
    }
    let commit_error = match conn.execute_batch("COMMIT") {
        Ok(()) => None,
        Err(err) => {
            let _ = conn.execute_batch("ROLLBACK");
            tracing::error!(error = %err, "group commit failed");
            Some(err.to_string())
        }
    };
    if commit_error.is_none() {
        stats.record(size, started.elapsed());
    }
    for done in finished {
        (done.deliver)(commit_error.as_deref());
    }
}

/// Runs one job inside its own savepoint; a failed or panicking job leaves no writes.
fn run_job(conn: &Connection, job: Job) -> Finished {
    if let Err(err) = conn.execute_batch("SAVEPOINT job") {
        tracing::error!(error = %err, "could not open a savepoint");
        let refused = job(None);
        return Finished {
            keep: false,
            deliver: refused.deliver,
        };
    }
    let finished = match catch_unwind(AssertUnwindSafe(|| job(Some(conn)))) {
        Ok(finished) => finished,
        // The job's reply channel was dropped while unwinding: its caller sees an error.
        Err(_) => Finished {
            keep: false,
            deliver: Box::new(|_| ()),
        },
    };
    let end = if finished.keep {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    if let Err(err) = conn.execute_batch(end) {
        tracing::error!(error = %store_error(err), "could not close a savepoint");
    }
    finished
}
