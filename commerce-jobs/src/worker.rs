//! The worker runtime: reserves jobs from a [`JobQueue`] and runs them with
//! their [`Handler`]s, `concurrency` at a time, each under a time limit; a
//! failure or a panic becomes a retry after a backoff (or a dead letter once
//! the job has had its attempts), and shutdown finishes or hands back what
//! is in flight.
//!
//! Every job runs in a `job` tracing span (`job.id`, `job.kind`,
//! `job.attempt`, `worker`), and the worker records these metrics through
//! the `metrics` facade (the server exports them):
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `commerce_jobs_processed_total` | counter | `kind` |
//! | `commerce_jobs_failed_total` | counter | `kind`, `outcome` (`error`, `panic`, `timeout`) |
//! | `commerce_jobs_dead_lettered_total` | counter | `kind` |
//! | `commerce_jobs_duration_seconds` | histogram | `kind` |
//! | `commerce_jobs_wait_seconds` (enqueue to start) | histogram | `kind` |
//! | `commerce_jobs_queue_depth` | gauge | `state` (`ready`, `scheduled`, `in_flight`, `dead`) |

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use commerce_core::clock::{Clock, SystemClock};
use commerce_core::payment::BoxFuture;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::job::{Job, Lease, until};
use crate::queue::JobQueue;

/// Why a job did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// Try again: after `after`, or after the worker's backoff.
    #[error("{message}")]
    Retry {
        /// For logs and the dead letter.
        message: String,
        /// A delay the handler knows better than the backoff.
        after: Option<Duration>,
    },
    /// Trying again cannot help (malformed input, a refusal that needs a
    /// person): dead-letter now.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl JobError {
    /// A failure worth retrying after the backoff.
    pub fn retry(message: impl Into<String>) -> Self {
        JobError::Retry {
            message: message.into(),
            after: None,
        }
    }

    /// A failure worth retrying after `after`.
    pub fn retry_after(message: impl Into<String>, after: Duration) -> Self {
        JobError::Retry {
            message: message.into(),
            after: Some(after),
        }
    }

    /// A failure no retry can fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        JobError::Permanent(message.into())
    }
}

/// Runs jobs of one kind. Handlers must be idempotent: delivery is at least
/// once, so a job can run again after a crash, a time-out or a lost ack.
pub trait Handler: Send + Sync + 'static {
    /// Runs one job.
    fn handle(&self, job: Job) -> BoxFuture<'static, Result<(), JobError>>;
}

impl<F, Fut> Handler for F
where
    F: Fn(Job) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), JobError>> + Send + 'static,
{
    fn handle(&self, job: Job) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(self(job))
    }
}

/// Retry delays: `base × 2^(attempt - 1)`, at most `max`, spread by ±25 %
/// when `jitter` is on (so that jobs failing together do not retry together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
    /// Spread each delay by ±25 %.
    pub jitter: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(2),
            max: Duration::from_secs(15 * 60),
            jitter: true,
        }
    }
}

impl Backoff {
    /// The delay after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        let d = self.base.saturating_mul(1_u32 << exp).min(self.max);
        if self.jitter {
            // A fraction in [0.75, 1.25) from a random UUID's bits: no RNG crate needed.
            let r = uuid::Uuid::new_v4().as_u128() % 1_000;
            let permille = u32::try_from(750 + r / 2).unwrap_or(1_000);
            (d / 1_000).saturating_mul(permille)
        } else {
            d
        }
    }
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs run at once.
    pub concurrency: usize,
    /// How long a reserved job stays invisible to other workers. A job still
    /// running then may be delivered again elsewhere: keep it well above
    /// `job_timeout`.
    pub visibility: Duration,
    /// The longest one job may run; then it is stopped and retried. Capped
    /// at 90 % of `visibility`.
    pub job_timeout: Duration,
    /// How long one reserve call waits for work (also the longest a shutdown
    /// waits for the reserve in progress).
    pub poll: Duration,
    /// Most jobs reserved in one call.
    pub max_batch: usize,
    /// Retry delays.
    pub backoff: Backoff,
    /// On shutdown, how long running jobs may finish before they are
    /// stopped and handed back to the queue.
    pub shutdown_grace: Duration,
    /// How often the queue depth gauge is refreshed.
    pub stats_interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 16,
            visibility: Duration::from_secs(120),
            job_timeout: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            max_batch: 64,
            backoff: Backoff::default(),
            shutdown_grace: Duration::from_secs(10),
            stats_interval: Duration::from_secs(5),
        }
    }
}

/// What a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Jobs finished and acknowledged.
    pub processed: u64,
    /// Failures scheduled for a retry.
    pub retried: u64,
    /// Jobs dead-lettered.
    pub dead_lettered: u64,
    /// Handlers that panicked (each also counted as retried or dead-lettered).
    pub panicked: u64,
    /// Handlers stopped at `job_timeout` (likewise).
    pub timed_out: u64,
    /// Jobs still running at the end of the shutdown grace, handed back.
    pub handed_back: u64,
}

#[derive(Debug, Default)]
struct Counters {
    processed: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    panicked: AtomicU64,
    timed_out: AtomicU64,
    handed_back: AtomicU64,
}

impl Counters {
    fn report(&self) -> WorkerReport {
        WorkerReport {
            processed: self.processed.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            panicked: self.panicked.load(Ordering::Relaxed),
            timed_out: self.timed_out.load(Ordering::Relaxed),
            handed_back: self.handed_back.load(Ordering::Relaxed),
        }
    }
}

/// A worker over a queue: register handlers, then [`Worker::spawn`].
pub struct Worker<Q> {
    queue: Arc<Q>,
    handlers: HashMap<String, Arc<dyn Handler>>,
    config: WorkerConfig,
    clock: Arc<dyn Clock>,
    name: String,
}

impl<Q> std::fmt::Debug for Worker<Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kinds: Vec<&String> = self.handlers.keys().collect();
        kinds.sort();
        f.debug_struct("Worker")
            .field("name", &self.name)
            .field("kinds", &kinds)
            .field("config", &self.config)
            .finish()
    }
}

impl<Q: JobQueue> Worker<Q> {
    /// A worker with no handlers yet.
    pub fn new(queue: Arc<Q>, config: WorkerConfig) -> Self {
        Worker {
            queue,
            handlers: HashMap::new(),
            config,
            clock: Arc::new(SystemClock),
            name: "worker".to_owned(),
        }
    }

    /// Names the worker in spans and logs.
    #[must_use]
    pub fn with_name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// Tells time by `clock` when measuring how long jobs waited (the
    /// queue's own clock, normally).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Runs jobs of `kind` with `handler` (replacing any before).
    #[must_use]
    pub fn handle(mut self, kind: &str, handler: impl Handler) -> Self {
        self.handlers.insert(kind.to_owned(), Arc::new(handler));
        self
    }

    /// Starts the worker on the current tokio runtime.
    pub fn spawn(self) -> WorkerHandle {
        let (stop, stopped) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(self.run(stopped, Arc::clone(&counters)));
        WorkerHandle {
            stop,
            task,
            counters,
        }
    }

    async fn run(self, mut stop: watch::Receiver<bool>, counters: Arc<Counters>) -> WorkerReport {
        let cfg = self.config.clone();
        let concurrency = cfg.concurrency.max(1);
        let max_batch = cfg.max_batch.clamp(1, concurrency);
        let ctx = Arc::new(Ctx {
            queue: Arc::clone(&self.queue),
            clock: Arc::clone(&self.clock),
            job_timeout: cfg.job_timeout.min(cfg.visibility.mul_f64(0.9)),
            backoff: cfg.backoff,
            counters: Arc::clone(&counters),
        });
        let metered: HashMap<String, (Arc<dyn Handler>, Arc<KindMetrics>)> = self
            .handlers
            .iter()
            .map(|(kind, h)| {
                (
                    kind.clone(),
                    (Arc::clone(h), Arc::new(KindMetrics::new(kind))),
                )
            })
            .collect();
        let (handback, mut handed) = mpsc::unbounded_channel::<Lease>();
        let slots = Arc::new(Semaphore::new(concurrency));
        let (acks, ack_rx) = mpsc::unbounded_channel::<Lease>();
        let mut acker = JoinSet::new();
        acker.spawn(ack_loop(Arc::clone(&self.queue), ack_rx));
        let mut jobs = JoinSet::new();
        let mut next_stats = Instant::now();
        let mut failures = 0_u32;
        let mut busy = false;
        tracing::debug!(worker = %self.name, concurrency, "worker started");

        loop {
            if *stop.borrow() {
                break;
            }
            let first = tokio::select! {
                biased;
                _ = stop.changed() => break,
                p = Arc::clone(&slots).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            if busy && slots.available_permits() + 1 < max_batch {
                // The queue had more than we took: let running jobs finish
                // for a moment, so the next reserve takes a fuller batch
                // (fewer round trips per job) instead of one job at a time.
                tokio::task::yield_now().await;
            }
            let mut permits = vec![first];
            while permits.len() < max_batch {
                match Arc::clone(&slots).try_acquire_owned() {
                    Ok(p) => permits.push(p),
                    Err(_) => break,
                }
            }
            while jobs.try_join_next().is_some() {}
            if Instant::now() >= next_stats {
                next_stats = Instant::now() + cfg.stats_interval;
                if let Ok(s) = self.queue.stats().await {
                    for (state, n) in [
                        ("ready", s.ready),
                        ("scheduled", s.scheduled),
                        ("in_flight", s.in_flight),
                        ("dead", s.dead),
                    ] {
                        #[allow(clippy::cast_precision_loss)]
                        metrics::gauge!("commerce_jobs_queue_depth", "state" => state)
                            .set(n as f64);
                    }
                }
            }
            // Not raced with the stop signal: a reserve cut off halfway could
            // leave jobs reserved by nobody until their visibility ran out.
            let asked = permits.len();
            let got = match self.queue.reserve(asked, cfg.visibility, cfg.poll).await {
                Ok(got) => {
                    failures = 0;
                    busy = got.len() == asked;
                    got
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(worker = %self.name, error = %e, "reserve failed");
                    drop(permits);
                    let pause = Duration::from_millis(50).saturating_mul(failures.min(40));
                    tokio::select! {
                        _ = stop.changed() => break,
                        () = tokio::time::sleep(pause) => continue,
                    }
                }
            };
            for job in got {
                let Some(permit) = permits.pop() else {
                    break;
                };
                let handler = metered.get(&job.kind).cloned();
                let span = tracing::info_span!(
                    "job",
                    job.id = %job.id,
                    job.kind = %job.kind,
                    job.attempt = job.attempt,
                    worker = %self.name,
                );
                let ctx = Arc::clone(&ctx);
                let acks = acks.clone();
                let guard = HandBack {
                    lease: Some(job.lease()),
                    to: handback.clone(),
                };
                jobs.spawn(
                    async move {
                        ctx.run(job, handler, acks, guard).await;
                        drop(permit);
                    }
                    .instrument(span),
                );
            }
        }

        // Shutdown: let running jobs finish within the grace, then stop the
        // rest and hand them back so another worker runs them now.
        let finished = tokio::time::timeout(cfg.shutdown_grace, async {
            while jobs.join_next().await.is_some() {}
        })
        .await
        .is_ok();
        if !finished {
            jobs.abort_all();
            while jobs.join_next().await.is_some() {}
            drop(handback);
            let mut left = Vec::new();
            while let Some(lease) = handed.recv().await {
                left.push(lease);
            }
            for lease in left {
                if let Ok(true) = self
                    .queue
                    .retry_after(lease, Duration::ZERO, "handed back at shutdown")
                    .await
                {
                    counters.handed_back.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        drop(acks);
        drop(ctx);
        while acker.join_next().await.is_some() {}
        tracing::debug!(worker = %self.name, "worker stopped");
        counters.report()
    }
}

/// A running worker.
#[derive(Debug)]
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<WorkerReport>,
    counters: Arc<Counters>,
}

impl WorkerHandle {
    /// What it did so far.
    pub fn report(&self) -> WorkerReport {
        self.counters.report()
    }

    /// Stops taking jobs, lets running ones finish within the shutdown
    /// grace, hands back the rest, acknowledges what finished; then returns
    /// what it did.
    pub async fn shutdown(self) -> WorkerReport {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(report) => report,
            Err(_) => self.counters.report(),
        }
    }

    /// Stops at once, as a crash would: nothing more is acknowledged or
    /// handed back; what it held comes back after its visibility timeout.
    pub fn abort(self) {
        self.task.abort();
    }
}

struct Ctx<Q> {
    queue: Arc<Q>,
    clock: Arc<dyn Clock>,
    job_timeout: Duration,
    backoff: Backoff,
    counters: Arc<Counters>,
}

/// The metric handles of one job kind, registered once per worker.
struct KindMetrics {
    processed: metrics::Counter,
    wait: metrics::Histogram,
    duration: metrics::Histogram,
}

impl KindMetrics {
    fn new(kind: &str) -> Self {
        KindMetrics {
            processed: metrics::counter!("commerce_jobs_processed_total", "kind" => kind.to_owned()),
            wait: metrics::histogram!("commerce_jobs_wait_seconds", "kind" => kind.to_owned()),
            duration: metrics::histogram!("commerce_jobs_duration_seconds", "kind" => kind.to_owned()),
        }
    }
}

/// Hands a running job's lease back when its task is stopped before the
/// job reported an outcome (shutdown past the grace period).
struct HandBack {
    lease: Option<Lease>,
    to: mpsc::UnboundedSender<Lease>,
}

impl HandBack {
    fn disarm(&mut self) {
        self.lease = None;
    }
}

impl Drop for HandBack {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            let _ = self.to.send(lease);
        }
    }
}

enum Outcome {
    Done,
    Failed(JobError),
    Panicked(String),
    TimedOut,
}

impl<Q: JobQueue> Ctx<Q> {
    async fn run(
        &self,
        job: Job,
        handler: Option<(Arc<dyn Handler>, Arc<KindMetrics>)>,
        acks: mpsc::UnboundedSender<Lease>,
        mut guard: HandBack,
    ) {
        let lease = job.lease();
        let kind = job.kind.clone();
        let (attempt, max) = (job.attempt, job.max_attempts);
        if attempt > max {
            guard.disarm();
            // Its earlier deliveries never reported back: their workers died
            // or hung each time. Running it again would likely do the same.
            let why =
                format!("delivered {attempt} times without an outcome; its workers died or hung");
            self.bury(lease, &kind, &why).await;
            return;
        }
        let Some((handler, metered)) = handler else {
            guard.disarm();
            self.fail(
                lease,
                &kind,
                attempt,
                max,
                Outcome::Failed(JobError::retry(format!("no handler for {kind:?}"))),
            )
            .await;
            return;
        };
        let waited = until(job.enqueued_at, self.clock.now());
        metered.wait.record(waited.as_secs_f64());
        let started = Instant::now();
        let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| handler.handle(job))) {
            Err(p) => Outcome::Panicked(panic_message(p.as_ref())),
            Ok(fut) => match tokio::time::timeout(self.job_timeout, CatchUnwind(fut)).await {
                Ok(Ok(Ok(()))) => Outcome::Done,
                Ok(Ok(Err(e))) => Outcome::Failed(e),
                Ok(Err(p)) => Outcome::Panicked(panic_message(p.as_ref())),
                Err(_) => Outcome::TimedOut,
            },
        };
        metered.duration.record(started.elapsed().as_secs_f64());
        guard.disarm();
        match outcome {
            Outcome::Done => {
                self.counters.processed.fetch_add(1, Ordering::Relaxed);
                metered.processed.increment(1);
                let _ = acks.send(lease);
            }
            failed => self.fail(lease, &kind, attempt, max, failed).await,
        }
    }

    async fn fail(&self, lease: Lease, kind: &str, attempt: u32, max: u32, outcome: Outcome) {
        let (label, message, permanent, after) = match outcome {
            Outcome::Done => return,
            Outcome::Failed(JobError::Retry { message, after }) => ("error", message, false, after),
            Outcome::Failed(JobError::Permanent(message)) => ("error", message, true, None),
            Outcome::Panicked(message) => {
                self.counters.panicked.fetch_add(1, Ordering::Relaxed);
                ("panic", format!("panicked: {message}"), false, None)
            }
            Outcome::TimedOut => {
                self.counters.timed_out.fetch_add(1, Ordering::Relaxed);
                (
                    "timeout",
                    format!("timed out after {:?}", self.job_timeout),
                    false,
                    None,
                )
            }
        };
        metrics::counter!("commerce_jobs_failed_total", "kind" => kind.to_owned(), "outcome" => label)
            .increment(1);
        if permanent || attempt >= max {
            self.bury(lease, kind, &message).await;
            return;
        }
        let delay = after.unwrap_or_else(|| self.backoff.delay(attempt));
        tracing::warn!(error = %message, retry_in = ?delay, "job failed; will retry");
        match self.queue.retry_after(lease, delay, &message).await {
            Ok(_) => {
                self.counters.retried.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not schedule the retry; the job comes back after its visibility timeout")
            }
        }
    }

    async fn bury(&self, lease: Lease, kind: &str, message: &str) {
        tracing::error!(error = %message, "job dead-lettered");
        match self.queue.dead_letter(lease, message).await {
            Ok(_) => {
                self.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("commerce_jobs_dead_lettered_total", "kind" => kind.to_owned())
                    .increment(1);
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not dead-letter; the job comes back after its visibility timeout")
            }
        }
    }
}

async fn ack_loop<Q: JobQueue>(queue: Arc<Q>, mut rx: mpsc::UnboundedReceiver<Lease>) {
    let mut batch = Vec::with_capacity(512);
    loop {
        batch.clear();
        if rx.recv_many(&mut batch, 512).await == 0 {
            return;
        }
        let mut tries = 0;
        while let Err(e) = queue.ack(&batch).await {
            tries += 1;
            if tries >= 3 {
                tracing::warn!(error = %e, jobs = batch.len(), "ack failed; these jobs will run again");
                break;
            }
            tokio::time::sleep(Duration::from_millis(20 * tries)).await;
        }
    }
}

/// Turns a panic while polling into an error (the future is boxed, hence `Unpin`).
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(p) => Poll::Ready(Err(p)),
        }
    }
}

fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_jitters_within_a_quarter() {
        let b = Backoff {
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
            jitter: false,
        };
        let plain: Vec<u64> = (1..=7).map(|a| b.delay(a).as_secs()).collect();
        assert_eq!(plain, vec![2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(60));
        let j = Backoff { jitter: true, ..b };
        for _ in 0..200 {
            let d = j.delay(3);
            assert!(
                d >= Duration::from_secs(6) && d < Duration::from_secs(10),
                "{d:?}"
            );
        }
    }
}
