//! The worker's metrics and spans: a recorder installed for this test
//! binary sees processed and failed counts, latencies and the queue depth.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use commerce_core::testkit::expect;
use commerce_jobs::testkit::test_clock;
use commerce_jobs::{
    Backoff, InProcessQueue, Job, JobError, JobQueue, NewJob, Worker, WorkerConfig,
};
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(value);
    }
}

/// Keeps every counter, gauge and histogram by its name and labels.
#[derive(Default)]
struct TestRecorder {
    counters: Mutex<HashMap<String, Arc<AtomicU64>>>,
    gauges: Mutex<HashMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<String, Arc<Samples>>>,
}

fn name(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut m = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        Counter::from_arc(Arc::clone(m.entry(name(key)).or_default()))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut m = self.gauges.lock().unwrap_or_else(PoisonError::into_inner);
        Gauge::from_arc(Arc::clone(m.entry(name(key)).or_default()))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut m = self
            .histograms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Histogram::from_arc(Arc::clone(m.entry(name(key)).or_default()))
    }
}

#[derive(Clone)]
struct Shared(Arc<TestRecorder>);

impl Recorder for Shared {
    fn describe_counter(&self, k: KeyName, u: Option<Unit>, d: SharedString) {
        self.0.describe_counter(k, u, d);
    }
    fn describe_gauge(&self, k: KeyName, u: Option<Unit>, d: SharedString) {
        self.0.describe_gauge(k, u, d);
    }
    fn describe_histogram(&self, k: KeyName, u: Option<Unit>, d: SharedString) {
        self.0.describe_histogram(k, u, d);
    }
    fn register_counter(&self, key: &Key, m: &Metadata<'_>) -> Counter {
        self.0.register_counter(key, m)
    }
    fn register_gauge(&self, key: &Key, m: &Metadata<'_>) -> Gauge {
        self.0.register_gauge(key, m)
    }
    fn register_histogram(&self, key: &Key, m: &Metadata<'_>) -> Histogram {
        self.0.register_histogram(key, m)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_reports_depth_throughput_failures_and_latency() {
    let recorder = Arc::new(TestRecorder::default());
    if metrics::set_global_recorder(Shared(Arc::clone(&recorder))).is_err() {
        panic!("a recorder was already installed");
    }
    let clock = test_clock();
    let queue = Arc::new(InProcessQueue::new(Arc::new(clock.clone())));
    let jobs: Vec<NewJob> = (0..5)
        .map(|i| NewJob::raw("mail", format!("{{\"n\":{i}}}")))
        .chain([NewJob::raw("flaky", "{}".into()).max_attempts(2)])
        .collect();
    expect(queue.enqueue(jobs).await, "enqueue");
    let worker = Worker::new(
        Arc::clone(&queue),
        WorkerConfig {
            poll: Duration::from_millis(20),
            backoff: Backoff {
                base: Duration::ZERO,
                max: Duration::ZERO,
                jitter: false,
            },
            ..WorkerConfig::default()
        },
    )
    .with_clock(Arc::new(clock.clone()))
    .handle("mail", |_job: Job| async { Ok::<(), JobError>(()) })
    .handle("flaky", |_job: Job| async { panic!("always") })
    .spawn();
    let done = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let s = expect(queue.stats().await, "stats");
            if s.acked == 5 && s.dead == 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    expect(done, "all jobs settled");
    worker.shutdown().await;

    let counter = |k: &str| {
        recorder
            .counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(k)
            .map_or(0, |c| c.load(Ordering::SeqCst))
    };
    assert_eq!(counter("commerce_jobs_processed_total{kind=mail}"), 5);
    assert_eq!(
        counter("commerce_jobs_failed_total{kind=flaky,outcome=panic}"),
        2
    );
    assert_eq!(counter("commerce_jobs_dead_lettered_total{kind=flaky}"), 1);
    let hist = |k: &str| {
        recorder
            .histograms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(k)
            .map_or(0, |h| {
                h.0.lock().unwrap_or_else(PoisonError::into_inner).len()
            })
    };
    assert_eq!(hist("commerce_jobs_duration_seconds{kind=mail}"), 5);
    assert_eq!(hist("commerce_jobs_wait_seconds{kind=mail}"), 5);
    let gauges = recorder
        .gauges
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    for state in ["ready", "scheduled", "in_flight", "dead"] {
        assert!(
            gauges.contains_key(&format!("commerce_jobs_queue_depth{{state={state}}}")),
            "depth gauge for {state}"
        );
    }
}

/// Records the spans opened, with their fields.
#[derive(Default)]
struct SpanLog {
    spans: Mutex<Vec<(String, String)>>,
    next: AtomicU64,
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

#[derive(Clone)]
struct SharedSpans(Arc<SpanLog>);

impl tracing::Subscriber for SharedSpans {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = Fields(String::new());
        attrs.record(&mut fields);
        self.0
            .spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((attrs.metadata().name().to_owned(), fields.0));
        tracing::span::Id::from_u64(self.0.next.fetch_add(1, Ordering::SeqCst) + 1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_job_runs_in_a_span_naming_it() {
    let log = Arc::new(SpanLog::default());
    if tracing::subscriber::set_global_default(SharedSpans(Arc::clone(&log))).is_err() {
        panic!("a subscriber was already installed");
    }
    let queue = Arc::new(InProcessQueue::new(Arc::new(test_clock())));
    // A kind of its own: the other test of this binary counts `mail` jobs.
    let job = NewJob::raw("traced", "{}".into());
    let id = job.id;
    expect(queue.enqueue(vec![job]).await, "enqueue");
    let worker = Worker::new(Arc::clone(&queue), WorkerConfig::default())
        .with_name("mailer-1")
        .handle("traced", |_job: Job| async { Ok::<(), JobError>(()) })
        .spawn();
    let done = tokio::time::timeout(Duration::from_secs(30), async {
        while expect(queue.stats().await, "stats").acked < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    expect(done, "the job ran");
    worker.shutdown().await;
    let spans = log.spans.lock().unwrap_or_else(PoisonError::into_inner);
    let job_spans: Vec<&String> = spans
        .iter()
        .filter(|(n, f)| n == "job" && f.contains("mailer-1"))
        .map(|(_, f)| f)
        .collect();
    assert_eq!(job_spans.len(), 1, "{spans:?}");
    let fields = job_spans[0];
    for want in [
        format!("job.id={id}"),
        "job.kind=traced".into(),
        "job.attempt=1".into(),
        "worker=mailer-1".into(),
    ] {
        assert!(fields.contains(&want), "{want} in {fields}");
    }
}
