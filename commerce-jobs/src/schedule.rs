//! Periodic work, safe to run on every node at once.
//!
//! A [`Scheduler`] runs registered [`Task`]s at their intervals. Before a
//! run, it takes the task's lease in a [`LeaseLock`] for one interval
//! (`SET key token NX PX <interval>` in Redis, `RedisLocks` (feature `redis`); a local
//! table in one process, [`LocalLocks`]). The lease is not given back
//! after the run: it expires by itself, so across all nodes a task runs
//! about once per interval, whichever node gets there first. Two runs can
//! still overlap (a run longer than its interval, clocks apart), so the
//! built-in sweeps are idempotent anyway: expiring, pruning and
//! reconciling twice changes nothing twice.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use commerce_core::clock::Clock;
use commerce_core::payment::BoxFuture;
use commerce_core::service::Commerce;
use commerce_core::storage::Store;
use tokio::sync::watch;
use tracing::Instrument;

use crate::job::{after, until};

/// A lease store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lease lock: {0}")]
pub struct LockError(pub String);

/// Leases by name, each held for a time by one taker.
///
/// # Contract
/// - `try_acquire(name, ttl)` is atomic: of several callers (in any number
///   of processes sharing the backend) while the lease is free, exactly one
///   gets `true`; the lease is then held for `ttl` and frees itself.
pub trait LeaseLock: Send + Sync + fmt::Debug {
    /// Takes the lease `name` for `ttl` if it is free.
    fn try_acquire<'a>(
        &'a self,
        name: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LockError>>;
}

/// Leases in this process's memory, timed by a clock: for one node.
#[derive(Debug)]
pub struct LocalLocks {
    clock: Arc<dyn Clock>,
    held: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl LocalLocks {
    /// Leases timed by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        LocalLocks {
            clock,
            held: Mutex::default(),
        }
    }
}

impl LeaseLock for LocalLocks {
    fn try_acquire<'a>(
        &'a self,
        name: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        let now = self.clock.now();
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let free = held.get(name).is_none_or(|until| *until <= now);
        if free {
            held.insert(name.to_owned(), after(now, ttl));
        }
        Box::pin(std::future::ready(Ok(free)))
    }
}

/// Leases in Redis: `SET <prefix>:lease:<name> <token> NX PX <ttl>`, timed
/// by the Redis server, shared by every node (feature `redis`).
#[cfg(feature = "redis")]
#[derive(Clone)]
pub struct RedisLocks {
    con: redis::aio::ConnectionManager,
    prefix: String,
    token: String,
}

#[cfg(feature = "redis")]
impl fmt::Debug for RedisLocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLocks")
            .field("prefix", &self.prefix)
            .finish()
    }
}

#[cfg(feature = "redis")]
impl RedisLocks {
    /// Leases next to a queue's keys (same connection, same prefix).
    pub fn for_queue(queue: &crate::queue::RedisQueue) -> Self {
        RedisLocks {
            con: queue.connection(),
            prefix: queue.prefix().to_owned(),
            token: uuid::Uuid::new_v4().to_string(),
        }
    }
}

#[cfg(feature = "redis")]
impl LeaseLock for RedisLocks {
    fn try_acquire<'a>(
        &'a self,
        name: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        Box::pin(async move {
            let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let mut con = self.con.clone();
            let set: Option<String> = redis::cmd("SET")
                .arg(format!("{}:lease:{name}", self.prefix))
                .arg(&self.token)
                .arg("NX")
                .arg("PX")
                .arg(ms)
                .query_async(&mut con)
                .await
                .map_err(|e| LockError(e.to_string()))?;
            Ok(set.is_some())
        })
    }
}

/// A periodic task's failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TaskError(pub String);

type TaskFn = Arc<dyn Fn() -> BoxFuture<'static, Result<String, TaskError>> + Send + Sync>;

/// A task to run every so often. It returns a short summary for the logs.
#[derive(Clone)]
pub struct Task {
    name: String,
    every: Duration,
    run: TaskFn,
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("name", &self.name)
            .field("every", &self.every)
            .finish()
    }
}

impl Task {
    /// A task named `name` (also its lease's name) running `f` every `every`.
    pub fn new<F, Fut>(name: &str, every: Duration, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, TaskError>> + Send + 'static,
    {
        Task {
            name: name.to_owned(),
            every: every.max(Duration::from_millis(1)),
            run: Arc::new(move || Box::pin(f())),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its interval.
    pub fn every(&self) -> Duration {
        self.every
    }
}

/// What a tick did with one task.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskRun {
    /// This node ran it: its summary.
    Ran(String),
    /// Another node holds its lease for this interval.
    Skipped,
    /// It ran and failed.
    Failed(String),
}

/// Runs tasks at their intervals, each under its lease.
#[derive(Debug)]
pub struct Scheduler {
    tasks: Vec<(Task, DateTime<Utc>)>,
    lock: Arc<dyn LeaseLock>,
    clock: Arc<dyn Clock>,
}

impl Scheduler {
    /// A scheduler with no tasks, taking leases in `lock`, telling time by `clock`.
    pub fn new(lock: Arc<dyn LeaseLock>, clock: Arc<dyn Clock>) -> Self {
        Scheduler {
            tasks: Vec::new(),
            lock,
            clock,
        }
    }

    /// Adds a task; its first run is due at once.
    #[must_use]
    pub fn register(mut self, task: Task) -> Self {
        let now = self.clock.now();
        self.tasks.push((task, now));
        self
    }

    /// Adds several tasks.
    #[must_use]
    pub fn register_all(self, tasks: impl IntoIterator<Item = Task>) -> Self {
        tasks.into_iter().fold(self, Scheduler::register)
    }

    /// Runs every task whose time has come and whose lease this node gets;
    /// returns what happened to each task that was due.
    pub async fn tick(&mut self) -> Vec<(String, TaskRun)> {
        let now = self.clock.now();
        let mut out = Vec::new();
        for (task, due) in &mut self.tasks {
            if *due > now {
                continue;
            }
            *due = after(now, task.every);
            let outcome = match self.lock.try_acquire(&task.name, task.every).await {
                Ok(false) => TaskRun::Skipped,
                Err(e) => TaskRun::Failed(e.to_string()),
                Ok(true) => {
                    let span = tracing::info_span!("periodic", task = %task.name);
                    match (task.run)().instrument(span).await {
                        Ok(summary) => TaskRun::Ran(summary),
                        Err(e) => TaskRun::Failed(e.0),
                    }
                }
            };
            let label = match &outcome {
                TaskRun::Ran(s) => {
                    tracing::debug!(task = %task.name, summary = %s, "periodic task ran");
                    "ran"
                }
                TaskRun::Skipped => "skipped",
                TaskRun::Failed(e) => {
                    tracing::warn!(task = %task.name, error = %e, "periodic task failed");
                    "failed"
                }
            };
            metrics::counter!("commerce_jobs_task_runs_total", "task" => task.name.clone(), "outcome" => label)
                .increment(1);
            out.push((task.name.clone(), outcome));
        }
        out
    }

    /// The wait until the next task is due (at most a second, so a moved
    /// clock is noticed).
    fn pause(&self) -> Duration {
        let now = self.clock.now();
        self.tasks
            .iter()
            .map(|(_, due)| until(now, *due))
            .min()
            .unwrap_or(Duration::from_secs(1))
            .clamp(Duration::from_millis(10), Duration::from_secs(1))
    }

    /// Ticks until `stop` turns true.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            self.tick().await;
            tokio::select! {
                _ = stop.changed() => return,
                () = tokio::time::sleep(self.pause()) => {}
            }
        }
    }

    /// Starts [`Scheduler::run`]; send `true` on the returned sender to stop it.
    pub fn spawn(self) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        let (tx, rx) = watch::channel(false);
        (tx, tokio::spawn(self.run(rx)))
    }
}

/// The built-in sweeps' settings.
#[derive(Debug, Clone)]
pub struct SweepConfig {
    /// How often unpaid orders past their reservation are expired (stock and usage released).
    pub expire_every: Duration,
    /// Orders expired per store call (the sweep repeats until fewer are due).
    pub expire_batch: u32,
    /// How often old idempotency keys are pruned.
    pub prune_every: Duration,
    /// Idempotency keys older than this are pruned (and with them the
    /// window in which mails and refunds are deduplicated).
    pub keep_keys: Duration,
    /// How often pending payments are checked with their gateways.
    pub reconcile_every: Duration,
    /// Only payments pending longer than this are checked.
    pub reconcile_after: Duration,
    /// Payments checked per run.
    pub reconcile_batch: u32,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig {
            expire_every: Duration::from_secs(10),
            expire_batch: 500,
            prune_every: Duration::from_secs(3600),
            keep_keys: Duration::from_secs(24 * 3600),
            reconcile_every: Duration::from_secs(60),
            reconcile_after: Duration::from_secs(120),
            reconcile_batch: 100,
        }
    }
}

/// The name of the built-in expiry sweep.
pub const EXPIRE_TASK: &str = "expire_due";
/// The name of the built-in idempotency-key pruning.
pub const PRUNE_TASK: &str = "prune_idempotency";
/// The name of the built-in payment reconciliation.
pub const RECONCILE_TASK: &str = "reconcile_payments";

/// The built-in tasks over `commerce`: [`EXPIRE_TASK`], [`PRUNE_TASK`], [`RECONCILE_TASK`].
pub fn builtin_tasks<S: Store + 'static>(
    commerce: &Commerce<S>,
    config: &SweepConfig,
) -> Vec<Task> {
    let c = commerce.clone();
    let batch = config.expire_batch.max(1);
    let expire = Task::new(EXPIRE_TASK, config.expire_every, move || {
        let c = c.clone();
        async move {
            let mut total = 0_usize;
            loop {
                let n = c
                    .expire_due(batch)
                    .await
                    .map_err(|e| TaskError(e.to_string()))?
                    .len();
                total += n;
                if n < batch as usize {
                    return Ok(format!("{total} orders expired"));
                }
            }
        }
    });

    let c = commerce.clone();
    let keep = chrono::Duration::from_std(config.keep_keys)
        .unwrap_or_else(|_| chrono::Duration::hours(24));
    let prune = Task::new(PRUNE_TASK, config.prune_every, move || {
        let c = c.clone();
        async move {
            let before = c.clock().now() - keep;
            let n = c
                .store()
                .prune(before)
                .await
                .map_err(|e| TaskError(e.to_string()))?;
            Ok(format!("{n} idempotency keys pruned"))
        }
    });

    let c = commerce.clone();
    let older = chrono::Duration::from_std(config.reconcile_after)
        .unwrap_or_else(|_| chrono::Duration::minutes(2));
    let limit = config.reconcile_batch.max(1);
    let reconcile = Task::new(RECONCILE_TASK, config.reconcile_every, move || {
        let c = c.clone();
        async move {
            let settled = c
                .reconcile_payments(older, limit)
                .await
                .map_err(|e| TaskError(e.to_string()))?;
            Ok(format!("{} payments settled", settled.len()))
        }
    });
    vec![expire, prune, reconcile]
}
