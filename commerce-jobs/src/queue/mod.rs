//! The [`JobQueue`] trait and its backends: [`InProcessQueue`] (memory, one
//! process, the embedded default) and `RedisQueue` (feature `redis`: any
//! number of workers in any number of processes).

mod memory;
#[cfg(feature = "redis")]
pub(crate) mod redis;

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use memory::InProcessQueue;
#[cfg(feature = "redis")]
pub use redis::{RedisConfig, RedisQueue};

use crate::job::{Job, JobId, Lease, NewJob};

/// A queue backend failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The backend could not do what was asked; `retryable` when trying
    /// again may work (a lost connection, a time-out).
    #[error("queue backend: {message}")]
    Backend {
        /// For logs.
        message: String,
        /// Whether a retry may succeed.
        retryable: bool,
    },
    /// A stored job could not be read back.
    #[error("stored job is malformed: {0}")]
    Malformed(String),
}

/// Where a job the queue holds stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobState {
    /// Waiting to be reserved.
    Ready,
    /// Waiting for its time (delayed, or retrying after a backoff).
    Scheduled,
    /// Reserved by a worker, until its visibility timeout.
    InFlight,
    /// Dead-lettered: kept for a person to look at, never run again.
    Dead,
}

/// When a job counts as safely handed over to the queue, which tells the
/// outbox relay when it may mark an event relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handover {
    /// Once `enqueue` returns: the queue is durable on its own (Redis).
    OnEnqueue,
    /// Only once the job is acknowledged: the queue lives in memory and dies
    /// with the process, so the outbox stays the durable copy until then.
    OnAck,
}

/// Counts, now and since the queue began.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Jobs waiting to be reserved.
    pub ready: u64,
    /// Jobs waiting for their time.
    pub scheduled: u64,
    /// Jobs reserved by workers.
    pub in_flight: u64,
    /// Jobs dead-lettered and kept.
    pub dead: u64,
    /// Acknowledgements, in all.
    pub acked: u64,
    /// Retries scheduled, in all.
    pub retried: u64,
    /// Jobs dead-lettered, in all.
    pub dead_lettered: u64,
}

impl QueueStats {
    /// Jobs still to be done: ready, scheduled and in flight.
    pub fn depth(&self) -> u64 {
        self.ready + self.scheduled + self.in_flight
    }
}

/// A dead-lettered job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadJob {
    /// The job as its last delivery saw it.
    pub job: Job,
    /// Why it died.
    pub error: String,
    /// When.
    pub died_at: DateTime<Utc>,
}

/// A queue of jobs with at-least-once delivery.
///
/// # Contract
/// - `enqueue` adds jobs atomically one by one (each is entirely added or
///   not); a job whose id the queue still holds (ready, scheduled, in flight
///   or dead) is left as it is and not counted. A job with `run_at` in the
///   future is scheduled; otherwise it is ready. Ready jobs are reserved
///   oldest first.
/// - `reserve` hands out at most `max` ready jobs (and scheduled ones whose
///   time has come), each to exactly one caller, however many callers there
///   are; it marks each in flight until `now + visibility` and numbers the
///   delivery ([`Job::attempt`]). When nothing is ready it waits up to `wait`
///   for work, then returns what it has (possibly nothing).
/// - A job in flight whose visibility timeout passed without an `ack`,
///   `retry_after` or `dead_letter` (its worker died, hung, or was dropped)
///   becomes ready again and is delivered once more, with the next attempt
///   number. Its old [`Lease`] stops counting once that happens.
/// - `ack` forgets the jobs whose leases still hold and returns how many;
///   `retry_after` schedules the job again `delay` later (zero: ready now);
///   `dead_letter` keeps it apart for a person, never to run again. A lease
///   that no longer holds changes nothing (`0` / `false`).
/// - Each state change above is one atomic step of the backend.
/// - Time is the queue's clock: deadlines and `run_at` compare with it.
/// - `state` says where a job stands; `None` once it was acknowledged (or
///   was never enqueued). `stats` counts jobs per state and operations.
/// - Errors are [`QueueError`]; a call that failed may or may not have
///   happened (a time-out), which at-least-once delivery absorbs: a lost
///   reservation comes back after its visibility timeout, a lost `ack` means
///   one more delivery, and enqueueing again with the same id adds nothing
///   while the job is held.
pub trait JobQueue: Send + Sync + 'static {
    /// Adds jobs; returns how many were new.
    fn enqueue(&self, jobs: Vec<NewJob>) -> impl Future<Output = Result<usize, QueueError>> + Send;

    /// Reserves up to `max` jobs for `visibility`, waiting up to `wait` when none is ready.
    fn reserve(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Job>, QueueError>> + Send;

    /// Acknowledges finished jobs; returns how many leases still held.
    fn ack(&self, leases: &[Lease]) -> impl Future<Output = Result<usize, QueueError>> + Send;

    /// Runs the job again `delay` from now; `false` if the lease no longer holds.
    fn retry_after(
        &self,
        lease: Lease,
        delay: Duration,
        error: &str,
    ) -> impl Future<Output = Result<bool, QueueError>> + Send;

    /// Dead-letters the job; `false` if the lease no longer holds.
    fn dead_letter(
        &self,
        lease: Lease,
        error: &str,
    ) -> impl Future<Output = Result<bool, QueueError>> + Send;

    /// Where a job stands; `None` when acknowledged or unknown.
    fn state(&self, id: JobId)
    -> impl Future<Output = Result<Option<JobState>, QueueError>> + Send;

    /// Counts per state and in all.
    fn stats(&self) -> impl Future<Output = Result<QueueStats, QueueError>> + Send;

    /// Dead-lettered jobs, oldest first, at most `limit`.
    fn dead_jobs(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<DeadJob>, QueueError>> + Send;

    /// When a job counts as handed over (see [`Handover`]).
    fn handover(&self) -> Handover;
}

/// Conveniences over any [`JobQueue`].
pub trait JobQueueExt: JobQueue {
    /// Enqueues one job; `true` when it was new.
    fn push(&self, job: NewJob) -> impl Future<Output = Result<bool, QueueError>> + Send {
        async move { Ok(self.enqueue(vec![job]).await? == 1) }
    }
}

impl<Q: JobQueue + ?Sized> JobQueueExt for Q {}

impl<Q: JobQueue> JobQueue for std::sync::Arc<Q> {
    fn enqueue(&self, jobs: Vec<NewJob>) -> impl Future<Output = Result<usize, QueueError>> + Send {
        Q::enqueue(self, jobs)
    }
    fn reserve(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Job>, QueueError>> + Send {
        Q::reserve(self, max, visibility, wait)
    }
    fn ack(&self, leases: &[Lease]) -> impl Future<Output = Result<usize, QueueError>> + Send {
        Q::ack(self, leases)
    }
    fn retry_after(
        &self,
        lease: Lease,
        delay: Duration,
        error: &str,
    ) -> impl Future<Output = Result<bool, QueueError>> + Send {
        Q::retry_after(self, lease, delay, error)
    }
    fn dead_letter(
        &self,
        lease: Lease,
        error: &str,
    ) -> impl Future<Output = Result<bool, QueueError>> + Send {
        Q::dead_letter(self, lease, error)
    }
    fn state(
        &self,
        id: JobId,
    ) -> impl Future<Output = Result<Option<JobState>, QueueError>> + Send {
        Q::state(self, id)
    }
    fn stats(&self) -> impl Future<Output = Result<QueueStats, QueueError>> + Send {
        Q::stats(self)
    }
    fn dead_jobs(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<DeadJob>, QueueError>> + Send {
        Q::dead_jobs(self, limit)
    }
    fn handover(&self) -> Handover {
        Q::handover(self)
    }
}

/// The queue a deployment picked at run time: in-process, or Redis when
/// configured (`REDIS_URL`). Every [`JobQueue`] call goes to the one inside.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AnyQueue {
    /// In this process's memory.
    InProcess(InProcessQueue),
    /// In Redis.
    #[cfg(feature = "redis")]
    Redis(RedisQueue),
}

impl AnyQueue {
    /// Redis at `REDIS_URL` when it is set (with the feature `redis`),
    /// otherwise an in-process queue; telling time by `clock`.
    ///
    /// # Errors
    /// `REDIS_URL` is set but Redis cannot be reached, or it is set and the
    /// crate was built without the `redis` feature.
    pub async fn from_env(
        clock: std::sync::Arc<dyn commerce_core::clock::Clock>,
    ) -> Result<Self, QueueError> {
        match std::env::var("REDIS_URL") {
            Ok(url) if !url.trim().is_empty() => {
                #[cfg(feature = "redis")]
                {
                    let config = RedisConfig::new(url.trim());
                    Ok(AnyQueue::Redis(
                        RedisQueue::connect_with_clock(&config, clock).await?,
                    ))
                }
                #[cfg(not(feature = "redis"))]
                {
                    let _ = (url, clock);
                    Err(QueueError::Backend {
                        message: "REDIS_URL is set but commerce-jobs was built without the `redis` feature".into(),
                        retryable: false,
                    })
                }
            }
            _ => Ok(AnyQueue::InProcess(InProcessQueue::new(clock))),
        }
    }
}

macro_rules! each {
    ($self:ident, $q:ident => $e:expr) => {
        match $self {
            AnyQueue::InProcess($q) => $e,
            #[cfg(feature = "redis")]
            AnyQueue::Redis($q) => $e,
        }
    };
}

impl JobQueue for AnyQueue {
    async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<usize, QueueError> {
        each!(self, q => q.enqueue(jobs).await)
    }
    async fn reserve(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Job>, QueueError> {
        each!(self, q => q.reserve(max, visibility, wait).await)
    }
    async fn ack(&self, leases: &[Lease]) -> Result<usize, QueueError> {
        each!(self, q => q.ack(leases).await)
    }
    async fn retry_after(
        &self,
        lease: Lease,
        delay: Duration,
        error: &str,
    ) -> Result<bool, QueueError> {
        each!(self, q => q.retry_after(lease, delay, error).await)
    }
    async fn dead_letter(&self, lease: Lease, error: &str) -> Result<bool, QueueError> {
        each!(self, q => q.dead_letter(lease, error).await)
    }
    async fn state(&self, id: JobId) -> Result<Option<JobState>, QueueError> {
        each!(self, q => q.state(id).await)
    }
    async fn stats(&self) -> Result<QueueStats, QueueError> {
        each!(self, q => q.stats().await)
    }
    async fn dead_jobs(&self, limit: usize) -> Result<Vec<DeadJob>, QueueError> {
        each!(self, q => q.dead_jobs(limit).await)
    }
    fn handover(&self) -> Handover {
        each!(self, q => q.handover())
    }
}
