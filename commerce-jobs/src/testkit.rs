//! The queue conformance suite: one set of tests, run on every [`JobQueue`]
//! backend (feature `testkit`).
//!
//! Each test is a plain async function over a [`QueueHarness`]: the queue
//! under test, a second handle on the same queue (another connection, for
//! a networked backend) and the [`FixedClock`] the queue tells time by, so
//! delays and visibility timeouts are tested by moving the clock, never by
//! sleeping. A backend runs the whole suite with one macro line:
//!
//! ```ignore
//! commerce_jobs::queue_conformance!(async {
//!     let clock = commerce_jobs::testkit::test_clock();
//!     let queue = Arc::new(InProcessQueue::new(Arc::new(clock.clone())));
//!     Some(QueueHarness::new(Arc::clone(&queue), queue, clock))
//! });
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use commerce_core::clock::{Clock, FixedClock};

pub mod smtp;

use crate::job::{Job, JobId, NewJob};
use crate::queue::{JobQueue, JobState};
use crate::worker::{Backoff, JobError, Worker, WorkerConfig};

/// The instant every test starts at.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A clock at [`start_time`].
pub fn test_clock() -> FixedClock {
    FixedClock::new(start_time())
}

/// What a harness runs after a passing test (deleting a Redis namespace).
pub type Cleanup = Box<dyn FnOnce() -> commerce_core::payment::BoxFuture<'static, ()> + Send>;

/// A queue under test.
pub struct QueueHarness<Q> {
    /// The queue.
    pub queue: Arc<Q>,
    /// A second handle on the same queue (another connection, for Redis).
    pub other: Arc<Q>,
    /// The clock both handles tell time by.
    pub clock: FixedClock,
    cleanup: Mutex<Option<Cleanup>>,
}

impl<Q> std::fmt::Debug for QueueHarness<Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueHarness").finish_non_exhaustive()
    }
}

impl<Q: JobQueue> QueueHarness<Q> {
    /// A harness.
    pub fn new(queue: Arc<Q>, other: Arc<Q>, clock: FixedClock) -> Self {
        QueueHarness {
            queue,
            other,
            clock,
            cleanup: Mutex::new(None),
        }
    }

    /// Runs `cleanup` after a test that passed.
    #[must_use]
    pub fn with_cleanup(self, cleanup: Cleanup) -> Self {
        *self.cleanup.lock().unwrap_or_else(PoisonError::into_inner) = Some(cleanup);
        self
    }

    /// Runs the cleanup, if any (the conformance macro calls it).
    pub async fn finish(&self) {
        let cleanup = self
            .cleanup
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(cleanup) = cleanup {
            cleanup().await;
        }
    }

    fn advance(&self, d: Duration) {
        self.clock
            .advance(chrono::Duration::from_std(d).unwrap_or_default());
    }
}

/// Unwraps in test code, naming what failed.
#[track_caller]
fn ok<T, E: std::fmt::Debug>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e:?}"),
    }
}

fn job(n: u32) -> NewJob {
    NewJob::raw("test", format!("{{\"n\":{n}}}"))
}

fn n_of(job: &Job) -> u32 {
    let v: serde_json::Value = ok(job.payload(), "payload");
    v["n"]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(u32::MAX)
}

const VIS: Duration = Duration::from_secs(30);
const NO_WAIT: Duration = Duration::ZERO;

/// Enqueue, reserve oldest first, ack; a second ack of the same lease changes nothing.
pub async fn enqueue_reserve_ack<Q: JobQueue>(h: &QueueHarness<Q>) {
    let q = &h.queue;
    assert_eq!(
        ok(q.enqueue((1..=3).map(job).collect()).await, "enqueue"),
        3
    );
    let stats = ok(q.stats().await, "stats");
    assert_eq!((stats.ready, stats.in_flight, stats.depth()), (3, 0, 3));

    let got = ok(q.reserve(2, VIS, NO_WAIT).await, "reserve");
    assert_eq!(
        got.iter().map(n_of).collect::<Vec<_>>(),
        vec![1, 2],
        "oldest first"
    );
    assert!(got.iter().all(|j| j.attempt == 1 && j.kind == "test"));
    assert_eq!(got[0].enqueued_at, h.clock.now());
    assert_eq!(
        ok(q.state(got[0].id).await, "state"),
        Some(JobState::InFlight)
    );
    let stats = ok(q.stats().await, "stats");
    assert_eq!((stats.ready, stats.in_flight), (1, 2));

    let leases: Vec<_> = got.iter().map(Job::lease).collect();
    assert_eq!(ok(q.ack(&leases).await, "ack"), 2);
    assert_eq!(
        ok(q.ack(&leases).await, "ack again"),
        0,
        "a spent lease acks nothing"
    );
    assert_eq!(ok(q.state(got[0].id).await, "state"), None);

    let last = ok(q.reserve(10, VIS, NO_WAIT).await, "reserve rest");
    assert_eq!(last.iter().map(n_of).collect::<Vec<_>>(), vec![3]);
    assert!(ok(q.reserve(10, VIS, NO_WAIT).await, "empty").is_empty());
    assert_eq!(
        ok(
            h.other.ack(&[last[0].lease()]).await,
            "ack from the other handle"
        ),
        1
    );
    let stats = ok(q.stats().await, "stats");
    assert_eq!((stats.depth(), stats.acked), (0, 3));
}

/// A job with `run_at` is not reserved before its time, and is at its time.
pub async fn delayed_jobs_fire_on_time<Q: JobQueue>(h: &QueueHarness<Q>) {
    let q = &h.queue;
    let at = h.clock.now() + chrono::Duration::seconds(5);
    let delayed = job(1).at(at);
    let id = delayed.id;
    ok(q.enqueue(vec![delayed, job(2)]).await, "enqueue");
    assert_eq!(ok(q.state(id).await, "state"), Some(JobState::Scheduled));
    assert_eq!(ok(q.stats().await, "stats").scheduled, 1);

    let now = ok(q.reserve(10, VIS, NO_WAIT).await, "reserve");
    assert_eq!(
        now.iter().map(n_of).collect::<Vec<_>>(),
        vec![2],
        "only the due job"
    );
    h.advance(Duration::from_millis(4_999));
    assert!(
        ok(q.reserve(10, VIS, NO_WAIT).await, "early").is_empty(),
        "not a millisecond early"
    );
    h.advance(Duration::from_millis(1));
    let fired = ok(q.reserve(10, VIS, NO_WAIT).await, "on time");
    assert_eq!(fired.iter().map(|j| j.id).collect::<Vec<_>>(), vec![id]);
    assert_eq!(fired[0].attempt, 1);
}

/// A reserved job never acknowledged (its worker was dropped) comes back
/// after its visibility timeout, as the next attempt; the old lease is void.
pub async fn unacked_jobs_come_back_after_visibility<Q: JobQueue>(h: &QueueHarness<Q>) {
    let q = &h.queue;
    ok(q.enqueue(vec![job(1)]).await, "enqueue");
    let first = ok(q.reserve(1, VIS, NO_WAIT).await, "reserve");
    assert_eq!(first.len(), 1);
    // The worker holding it is dropped without a word.
    h.advance(VIS - Duration::from_millis(1));
    assert!(ok(h.other.reserve(1, VIS, NO_WAIT).await, "too early").is_empty());
    h.advance(Duration::from_millis(1));
    let again = ok(h.other.reserve(1, VIS, NO_WAIT).await, "after visibility");
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempt), (first[0].id, 2));
    assert_eq!(
        ok(q.ack(&[first[0].lease()]).await, "stale ack"),
        0,
        "the old lease is void"
    );
    assert!(!ok(
        q.retry_after(first[0].lease(), NO_WAIT, "x").await,
        "stale retry"
    ));
    assert!(!ok(
        q.dead_letter(first[0].lease(), "x").await,
        "stale dead"
    ));
    assert_eq!(ok(q.ack(&[again[0].lease()]).await, "ack"), 1);
    assert_eq!(ok(q.stats().await, "stats").depth(), 0);
}

/// `retry_after` holds the job back for its delay; zero makes it ready now.
pub async fn retry_waits_for_its_backoff<Q: JobQueue>(h: &QueueHarness<Q>) {
    let q = &h.queue;
    ok(q.enqueue(vec![job(1)]).await, "enqueue");
    let a = ok(q.reserve(1, VIS, NO_WAIT).await, "reserve");
    assert!(ok(
        q.retry_after(a[0].lease(), Duration::from_secs(10), "flaky")
            .await,
        "retry"
    ));
    assert_eq!(
        ok(q.state(a[0].id).await, "state"),
        Some(JobState::Scheduled)
    );
    h.advance(Duration::from_millis(9_999));
    assert!(ok(q.reserve(1, VIS, NO_WAIT).await, "early").is_empty());
    h.advance(Duration::from_millis(1));
    let b = ok(q.reserve(1, VIS, NO_WAIT).await, "after backoff");
    assert_eq!((b[0].id, b[0].attempt), (a[0].id, 2));
    assert!(ok(
        q.retry_after(b[0].lease(), NO_WAIT, "again").await,
        "retry now"
    ));
    let c = ok(q.reserve(1, VIS, NO_WAIT).await, "at once");
    assert_eq!(c[0].attempt, 3);
    let stats = ok(q.stats().await, "stats");
    assert_eq!((stats.retried, stats.in_flight), (2, 1));
}

/// A dead-lettered job is kept with its error and never delivered again.
pub async fn dead_letters_are_kept_and_never_run<Q: JobQueue>(h: &QueueHarness<Q>) {
    let q = &h.queue;
    let new = job(7).max_attempts(3);
    ok(q.enqueue(vec![new]).await, "enqueue");
    let a = ok(q.reserve(1, VIS, NO_WAIT).await, "reserve");
    assert_eq!(a[0].max_attempts, 3);
    assert!(ok(q.dead_letter(a[0].lease(), "poison").await, "dead"));
    assert_eq!(ok(q.state(a[0].id).await, "state"), Some(JobState::Dead));
    h.advance(VIS * 2);
    assert!(ok(q.reserve(1, VIS, NO_WAIT).await, "never again").is_empty());
    let dead = ok(q.dead_jobs(10).await, "dead jobs");
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].job.id, dead[0].error.as_str()),
        (a[0].id, "poison")
    );
    assert_eq!(n_of(&dead[0].job), 7);
    let stats = ok(q.stats().await, "stats");
    assert_eq!((stats.dead, stats.dead_lettered, stats.depth()), (1, 1, 0));
}

/// Enqueueing an id the queue still holds adds nothing; after its ack it may be enqueued anew.
pub async fn enqueue_is_idempotent_by_id<Q: JobQueue>(h: &QueueHarness<Q>) {
    let q = &h.queue;
    let id = JobId::new();
    assert_eq!(
        ok(
            q.enqueue(vec![job(1).with_id(id), job(2).with_id(id)])
                .await,
            "enqueue"
        ),
        1
    );
    assert_eq!(
        ok(h.other.enqueue(vec![job(3).with_id(id)]).await, "again"),
        0
    );
    let a = ok(q.reserve(10, VIS, NO_WAIT).await, "reserve");
    assert_eq!(a.len(), 1);
    assert_eq!(n_of(&a[0]), 1, "the first one stays");
    assert_eq!(
        ok(q.enqueue(vec![job(4).with_id(id)]).await, "while in flight"),
        0
    );
    ok(q.ack(&[a[0].lease()]).await, "ack");
    assert_eq!(
        ok(q.enqueue(vec![job(5).with_id(id)]).await, "after ack"),
        1
    );
}

/// Many concurrent reservers on two handles: each job is handed to exactly one.
pub async fn concurrent_reservers_never_share_a_job<Q: JobQueue>(h: &QueueHarness<Q>) {
    let total = 2_000_u32;
    ok(
        h.queue.enqueue((0..total).map(job).collect()).await,
        "enqueue",
    );
    let mut tasks = Vec::new();
    for i in 0..8 {
        let q = if i % 2 == 0 {
            Arc::clone(&h.queue)
        } else {
            Arc::clone(&h.other)
        };
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = ok(q.reserve(7, VIS, NO_WAIT).await, "reserve");
                if got.is_empty() {
                    break mine;
                }
                let leases: Vec<_> = got.iter().map(Job::lease).collect();
                assert_eq!(ok(q.ack(&leases).await, "ack"), leases.len());
                mine.extend(got.iter().map(n_of));
            }
        }));
    }
    let mut seen = HashSet::new();
    for t in tasks {
        for n in ok(t.await, "task") {
            assert!(seen.insert(n), "job {n} handed out twice");
        }
    }
    assert_eq!(seen.len(), total as usize, "every job handed out");
}

/// A waiting `reserve` wakes when a job is enqueued (from another handle).
pub async fn waiting_reserve_wakes_on_enqueue<Q: JobQueue>(h: &QueueHarness<Q>) {
    let q = Arc::clone(&h.queue);
    let waiter =
        tokio::spawn(
            async move { ok(q.reserve(1, VIS, Duration::from_secs(60)).await, "reserve") },
        );
    tokio::task::yield_now().await;
    ok(h.other.enqueue(vec![job(9)]).await, "enqueue");
    let got = ok(
        ok(
            tokio::time::timeout(Duration::from_secs(50), waiter).await,
            "woken before its wait ran out",
        ),
        "task",
    );
    assert_eq!(got.iter().map(n_of).collect::<Vec<_>>(), vec![9]);
}

/// Two workers (one per handle) share 10,000 jobs: every job is processed
/// exactly once, nothing is lost, nothing runs twice.
pub async fn two_workers_share_ten_thousand_jobs<Q: JobQueue>(h: &QueueHarness<Q>) {
    let total = 10_000_u32;
    let runs: Arc<Mutex<HashMap<u32, u32>>> = Arc::default();
    let config = WorkerConfig {
        concurrency: 32,
        visibility: Duration::from_secs(600),
        poll: Duration::from_millis(50),
        ..WorkerConfig::default()
    };
    let mut handles = Vec::new();
    for (w, q) in [Arc::clone(&h.queue), Arc::clone(&h.other)]
        .into_iter()
        .enumerate()
    {
        let runs = Arc::clone(&runs);
        let worker = Worker::new(q, config.clone())
            .with_name(&format!("w{w}"))
            .handle("test", move |job: Job| {
                let runs = Arc::clone(&runs);
                async move {
                    let n = n_of(&job);
                    *runs
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .entry(n)
                        .or_default() += 1;
                    Ok::<(), JobError>(())
                }
            });
        handles.push(worker.spawn());
    }
    for chunk in (0..total).collect::<Vec<_>>().chunks(1_000) {
        ok(
            h.queue
                .enqueue(chunk.iter().copied().map(job).collect())
                .await,
            "enqueue",
        );
    }
    let drained = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let stats = ok(h.queue.stats().await, "stats");
            if stats.acked >= u64::from(total) {
                break stats;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let mut processed = Vec::new();
    for handle in handles {
        processed.push(handle.shutdown().await.processed);
    }
    let stats = ok(drained, "all 10,000 jobs acknowledged within two minutes");
    assert_eq!(stats.depth(), 0);
    assert_eq!(stats.acked, u64::from(total), "acknowledged once each");
    let runs = runs.lock().unwrap_or_else(PoisonError::into_inner);
    assert_eq!(runs.len(), total as usize, "none lost");
    assert!(runs.values().all(|&n| n == 1), "none processed twice");
    assert_eq!(processed.iter().sum::<u64>(), u64::from(total));
    assert!(
        processed.iter().all(|&p| p > 0),
        "both workers took a share: {processed:?}"
    );
}

fn quick_worker<Q: JobQueue>(queue: Arc<Q>) -> WorkerConfig {
    let _ = queue;
    WorkerConfig {
        concurrency: 4,
        visibility: VIS,
        job_timeout: Duration::from_secs(20),
        poll: Duration::from_millis(20),
        backoff: Backoff {
            base: Duration::ZERO,
            max: Duration::ZERO,
            jitter: false,
        },
        shutdown_grace: Duration::from_secs(20),
        ..WorkerConfig::default()
    }
}

/// Waits (bounded) until `f` holds on the queue's stats.
async fn until_stats<Q: JobQueue>(
    q: &Q,
    what: &str,
    f: impl Fn(&crate::queue::QueueStats) -> bool,
) {
    let done = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if f(&ok(q.stats().await, "stats")) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    ok(done, what);
}

/// A handler that fails every time: retried until its attempts are spent,
/// then dead-lettered with the last error; a permanent error dead-letters at once.
pub async fn failing_jobs_retry_then_dead_letter<Q: JobQueue>(h: &QueueHarness<Q>) {
    let calls = Arc::new(AtomicU32::new(0));
    let c = Arc::clone(&calls);
    let worker = Worker::new(Arc::clone(&h.queue), quick_worker(Arc::clone(&h.queue)))
        .handle("test", move |job: Job| {
            c.fetch_add(1, Ordering::SeqCst);
            async move {
                if n_of(&job) == 0 {
                    Err(JobError::permanent("malformed"))
                } else {
                    Err(JobError::retry(format!("attempt {} failed", job.attempt)))
                }
            }
        })
        .spawn();
    ok(
        h.queue.enqueue(vec![job(1).max_attempts(3), job(0)]).await,
        "enqueue",
    );
    until_stats(h.queue.as_ref(), "both dead-lettered", |s| s.dead == 2).await;
    let report = worker.shutdown().await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "three attempts, then one for the permanent failure"
    );
    assert_eq!(
        (report.retried, report.dead_lettered, report.processed),
        (2, 2, 0)
    );
    let mut dead = ok(h.queue.dead_jobs(10).await, "dead");
    dead.sort_by_key(|d| n_of(&d.job));
    assert_eq!(dead[0].error, "malformed");
    assert_eq!(dead[0].job.attempt, 1);
    assert_eq!(dead[1].error, "attempt 3 failed");
    assert_eq!(dead[1].job.attempt, 3);
    let stats = ok(h.queue.stats().await, "stats");
    assert_eq!(
        (stats.retried, stats.dead_lettered, stats.depth()),
        (2, 2, 0)
    );
}

/// A handler that panics, or overruns its time limit, is retried; the next
/// attempt succeeds and the job is acknowledged once.
pub async fn panics_and_timeouts_become_retries<Q: JobQueue>(h: &QueueHarness<Q>) {
    let config = WorkerConfig {
        job_timeout: Duration::from_millis(200),
        ..quick_worker(Arc::clone(&h.queue))
    };
    let worker = Worker::new(Arc::clone(&h.queue), config)
        .handle("test", |job: Job| async move {
            match (n_of(&job), job.attempt) {
                (1, 1) => panic!("handler bug on the first try"),
                (2, 1) => {
                    // Never finishes on its own: the time limit stops it.
                    std::future::pending::<()>().await;
                    Ok(())
                }
                _ => Ok(()),
            }
        })
        .spawn();
    ok(h.queue.enqueue(vec![job(1), job(2)]).await, "enqueue");
    until_stats(h.queue.as_ref(), "both acknowledged", |s| s.acked == 2).await;
    let report = worker.shutdown().await;
    assert_eq!(
        (
            report.panicked,
            report.timed_out,
            report.retried,
            report.processed
        ),
        (1, 1, 2, 2)
    );
}

/// A worker dropped (aborted) while running a job never acknowledges it: the
/// job is delivered again after its visibility timeout, to another worker.
pub async fn dropped_worker_job_runs_again<Q: JobQueue>(h: &QueueHarness<Q>) {
    let (started, mut started_rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
    let first = Worker::new(Arc::clone(&h.queue), quick_worker(Arc::clone(&h.queue)))
        .handle("test", move |job: Job| {
            let started = started.clone();
            async move {
                let _ = started.send(job.attempt);
                std::future::pending::<()>().await;
                Ok(())
            }
        })
        .spawn();
    ok(h.queue.enqueue(vec![job(1)]).await, "enqueue");
    let attempt = tokio::time::timeout(Duration::from_secs(30), started_rx.recv()).await;
    assert_eq!(ok(attempt, "the first worker started the job"), Some(1));
    first.abort();

    let (done, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
    let second = Worker::new(Arc::clone(&h.other), quick_worker(Arc::clone(&h.other)))
        .handle("test", move |job: Job| {
            let done = done.clone();
            async move {
                let _ = done.send(job.attempt);
                Ok(())
            }
        })
        .spawn();
    h.advance(VIS - Duration::from_millis(1));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        done_rx.try_recv().is_err(),
        "not before its visibility timeout"
    );
    h.advance(Duration::from_millis(1));
    let again = tokio::time::timeout(Duration::from_secs(30), done_rx.recv()).await;
    assert_eq!(ok(again, "the job ran again"), Some(2));
    until_stats(h.queue.as_ref(), "acknowledged", |s| s.acked == 1).await;
    assert_eq!(second.shutdown().await.processed, 1);
}

/// Shutdown lets a short job finish (and acknowledges it), and hands back a
/// job still running when the grace period ends, so it runs again at once.
pub async fn shutdown_finishes_or_hands_back<Q: JobQueue>(h: &QueueHarness<Q>) {
    let (started, mut started_rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
    let config = WorkerConfig {
        shutdown_grace: Duration::from_millis(300),
        ..quick_worker(Arc::clone(&h.queue))
    };
    let worker = Worker::new(Arc::clone(&h.queue), config)
        .handle("test", move |job: Job| {
            let started = started.clone();
            async move {
                let n = n_of(&job);
                let _ = started.send(n);
                if n == 1 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                } else {
                    std::future::pending::<()>().await;
                }
                Ok(())
            }
        })
        .spawn();
    ok(h.queue.enqueue(vec![job(1), job(2)]).await, "enqueue");
    for _ in 0..2 {
        ok(
            tokio::time::timeout(Duration::from_secs(30), started_rx.recv()).await,
            "started",
        );
    }
    let report = worker.shutdown().await;
    assert_eq!((report.processed, report.handed_back), (1, 1));
    let stats = ok(h.queue.stats().await, "stats");
    assert_eq!(
        (stats.acked, stats.ready, stats.in_flight),
        (1, 1, 0),
        "handed back, ready now"
    );
    let again = ok(h.queue.reserve(1, VIS, NO_WAIT).await, "reserve");
    assert_eq!((n_of(&again[0]), again[0].attempt), (2, 2));
}

/// Generates one `#[tokio::test]` per conformance test for a queue backend.
/// `$make` is an expression, evaluated once per test, yielding a future of
/// `Option<QueueHarness<Q>>` (`None`: the backend is not available here and
/// the test is skipped; the factory says why).
#[macro_export]
macro_rules! queue_conformance {
    ($make:expr) => {
        $crate::queue_conformance!(@tests $make;
            enqueue_reserve_ack,
            delayed_jobs_fire_on_time,
            unacked_jobs_come_back_after_visibility,
            retry_waits_for_its_backoff,
            dead_letters_are_kept_and_never_run,
            enqueue_is_idempotent_by_id,
            concurrent_reservers_never_share_a_job,
            waiting_reserve_wakes_on_enqueue,
            two_workers_share_ten_thousand_jobs,
            failing_jobs_retry_then_dead_letter,
            panics_and_timeouts_become_retries,
            dropped_worker_job_runs_again,
            shutdown_finishes_or_hands_back,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(h) = $make.await {
                    $crate::testkit::$name(&h).await;
                    h.finish().await;
                }
            }
        )*
    };
}
