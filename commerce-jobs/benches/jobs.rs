//! No-op jobs per second and enqueue-to-start latency, in-process and on
//! Redis with 1 and 2 worker *processes* (this binary re-run as children).
//!
//! Run with:
//!
//! ```text
//! CARGO_TARGET_DIR=... cargo bench -p commerce-jobs --features redis --bench jobs
//! ```
//!
//! Environment: `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`),
//! `COMMERCE_BENCH_JOBS` (jobs per throughput run on Redis, default 100,000;
//! in-process runs twice as many), `COMMERCE_BENCH_SECONDS` (length of each
//! latency run, default 3).
//!
//! Method, per configuration:
//! - **Throughput**: the queue is filled first; then the workers start and
//!   drain it. Jobs/s = jobs / (last job finished − first job started), as
//!   the workers' own clocks say (process start-up is not counted).
//! - **Latency**: the workers start idle; a producer enqueues one job at a
//!   time at a steady rate, each stamped with the wall clock (µs) just
//!   before its `enqueue` call; the handler takes `now − stamp` when it
//!   starts. p50 and p99 over every job.

#![allow(missing_docs, clippy::cast_precision_loss)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use commerce_jobs::{InProcessQueue, Job, JobError, JobQueue, NewJob, Worker, WorkerConfig};

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn env_num(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a worker records.
#[derive(Default)]
struct Probe {
    count: AtomicU64,
    first_start: AtomicU64,
    last_end: AtomicU64,
    latencies: Mutex<Vec<u64>>,
}

impl Probe {
    fn handler(
        self: &Arc<Self>,
    ) -> impl Fn(Job) -> std::future::Ready<Result<(), JobError>> + Send + Sync + 'static {
        let probe = Arc::clone(self);
        move |job: Job| {
            let start = u64::try_from(now_us()).unwrap_or(0);
            let _ =
                probe
                    .first_start
                    .compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst);
            if let Some(stamp) = stamp_of(&job.payload) {
                probe
                    .latencies
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(start.saturating_sub(stamp));
            }
            probe.count.fetch_add(1, Ordering::SeqCst);
            probe
                .last_end
                .fetch_max(u64::try_from(now_us()).unwrap_or(0), Ordering::SeqCst);
            std::future::ready(Ok(()))
        }
    }

    #[cfg(feature = "redis")]
    fn report(&self) -> String {
        let lat = self
            .latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let lat: Vec<String> = lat.iter().map(u64::to_string).collect();
        format!(
            "report {} {} {} {}",
            self.count.load(Ordering::SeqCst),
            self.first_start.load(Ordering::SeqCst),
            self.last_end.load(Ordering::SeqCst),
            lat.join(",")
        )
    }
}

/// `{"t":123}` → 123, without a JSON parser on the hot path.
fn stamp_of(payload: &str) -> Option<u64> {
    payload
        .strip_prefix("{\"t\":")?
        .strip_suffix('}')?
        .parse()
        .ok()
}

fn stamped() -> NewJob {
    NewJob::raw("noop", format!("{{\"t\":{}}}", now_us()))
}

fn worker_config() -> WorkerConfig {
    WorkerConfig {
        concurrency: 256,
        max_batch: 256,
        poll: Duration::from_millis(200),
        visibility: Duration::from_secs(300),
        job_timeout: Duration::from_secs(60),
        ..WorkerConfig::default()
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let i = (rank as usize).min(sorted.len()) - 1;
    sorted[i] as f64 / 1_000.0
}

/// Throughput runs per configuration; the table shows the median and the best.
const REPEATS: usize = 3;

struct Row {
    mode: String,
    jobs: u64,
    /// Seconds of each run.
    secs: Vec<f64>,
}

impl Row {
    fn rates(&self) -> (f64, f64) {
        let mut r: Vec<f64> = self.secs.iter().map(|s| self.jobs as f64 / s).collect();
        r.sort_by(f64::total_cmp);
        (r[r.len() / 2], r[r.len() - 1])
    }
}

struct LatRow {
    mode: String,
    rate: u64,
    samples: Vec<u64>,
}

/// Enqueues one stamped job at a time at `rate` per second for `secs`.
async fn paced<Q: JobQueue>(queue: &Q, rate: u64, secs: u64) -> u64 {
    let per_tick = (rate / 1_000).max(1);
    let ticks = secs * rate / per_tick;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 * per_tick / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = 0;
    for _ in 0..ticks {
        tick.tick().await;
        for _ in 0..per_tick {
            if queue.enqueue(vec![stamped()]).await.is_ok() {
                sent += 1;
            }
        }
    }
    sent
}

async fn until_acked<Q: JobQueue>(queue: &Q, total: u64) {
    loop {
        match queue.stats().await {
            Ok(s) if s.acked >= total => return,
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn in_process(jobs: u64, secs: u64, rates: &[u64]) -> (Row, Vec<LatRow>) {
    let mut runs = Vec::new();
    for _ in 0..REPEATS {
        runs.push(in_process_drain(jobs).await);
    }
    let row = Row {
        mode: "in-process".into(),
        jobs,
        secs: runs,
    };
    (row, in_process_latency(secs, rates).await)
}

/// Seconds to drain `jobs` prefilled no-op jobs.
/// CPU seconds this process has used (user + system), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime is the
    // 12th and stime the 13th, in clock ticks (USER_HZ, 100 on Linux).
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0
}

/// CPU seconds the in-process drains used, per run.
static CPU: Mutex<Vec<f64>> = Mutex::new(Vec::new());

async fn in_process_drain(jobs: u64) -> f64 {
    let queue = Arc::new(InProcessQueue::default());
    for chunk in 0..jobs.div_ceil(10_000) {
        let n = (jobs - chunk * 10_000).min(10_000);
        let batch: Vec<NewJob> = (0..n).map(|_| NewJob::raw("noop", "{}".into())).collect();
        let _ = queue.enqueue(batch).await;
    }
    let probe = Arc::new(Probe::default());
    let cpu = cpu_seconds();
    let worker = Worker::new(Arc::clone(&queue), worker_config())
        .handle("noop", probe.handler())
        .spawn();
    until_acked(queue.as_ref(), jobs).await;
    CPU.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(cpu_seconds() - cpu);
    worker.shutdown().await;
    let span = probe.last_end.load(Ordering::SeqCst) - probe.first_start.load(Ordering::SeqCst);
    span as f64 / 1e6
}

async fn in_process_latency(secs: u64, rates: &[u64]) -> Vec<LatRow> {
    let mut lats = Vec::new();
    for &rate in rates {
        let queue = Arc::new(InProcessQueue::default());
        let probe = Arc::new(Probe::default());
        let worker = Worker::new(Arc::clone(&queue), worker_config())
            .handle("noop", probe.handler())
            .spawn();
        let sent = paced(queue.as_ref(), rate, secs).await;
        until_acked(queue.as_ref(), sent).await;
        worker.shutdown().await;
        let mut samples = probe
            .latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        samples.sort_unstable();
        lats.push(LatRow {
            mode: "in-process".into(),
            rate,
            samples,
        });
    }
    lats
}

#[cfg(feature = "redis")]
mod on_redis {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    use commerce_jobs::{RedisConfig, RedisQueue};

    use super::*;

    pub(crate) fn url() -> String {
        std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
    }

    /// The child: a worker process until "stop" on stdin, then its report.
    pub(crate) fn child(prefix: &str) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        rt.block_on(async {
            let queue = RedisQueue::connect(&RedisConfig::new(&url()).with_prefix(prefix))
                .await
                .unwrap_or_else(|e| panic!("redis: {e}"));
            let probe = Arc::new(Probe::default());
            let worker = Worker::new(Arc::new(queue), worker_config())
                .handle("noop", probe.handler())
                .spawn();
            println!("ready");
            let _ = std::io::stdout().flush();
            let stop = tokio::task::spawn_blocking(|| {
                let mut line = String::new();
                let _ = std::io::stdin().read_line(&mut line);
            });
            let _ = stop.await;
            worker.shutdown().await;
            println!("{}", probe.report());
            let _ = std::io::stdout().flush();
        });
    }

    type Lines = std::io::Lines<BufReader<std::process::ChildStdout>>;

    /// Worker processes, with their standard output.
    struct Children(Vec<(Child, Lines)>);

    impl Children {
        fn spawn(n: usize, prefix: &str) -> Self {
            let exe = std::env::current_exe().unwrap_or_else(|e| panic!("exe: {e}"));
            let mut v = Vec::new();
            for _ in 0..n {
                let mut c = Command::new(&exe)
                    .args(["--worker-process", prefix])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap_or_else(|e| panic!("spawn: {e}"));
                let out = c.stdout.take().unwrap_or_else(|| panic!("stdout"));
                let mut lines = BufReader::new(out).lines();
                let ready = lines.any(|l| l.is_ok_and(|l| l == "ready"));
                assert!(ready, "worker process never got ready");
                v.push((c, lines));
            }
            Children(v)
        }

        /// Stops every child; returns (count, first start, last end, latencies) merged.
        fn stop(mut self) -> (u64, u64, u64, Vec<u64>) {
            for (c, _) in &mut self.0 {
                if let Some(stdin) = c.stdin.as_mut() {
                    let _ = stdin.write_all(b"stop\n");
                    let _ = stdin.flush();
                }
            }
            let mut merged = (0, u64::MAX, 0, Vec::new());
            for (c, lines) in &mut self.0 {
                let line = lines
                    .find_map(|l| l.ok().filter(|l| l.starts_with("report ")))
                    .unwrap_or_default();
                let mut f = line.split(' ').skip(1);
                let mut num = || f.next().and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
                let (count, first, last) = (num(), num(), num());
                merged.0 += count;
                if count > 0 {
                    merged.1 = merged.1.min(first);
                    merged.2 = merged.2.max(last);
                }
                if let Some(lat) = line.split(' ').nth(4) {
                    merged
                        .3
                        .extend(lat.split(',').filter_map(|x| x.parse::<u64>().ok()));
                }
                let _ = c.wait();
            }
            merged
        }
    }

    /// Redis server CPU seconds so far (`INFO cpu`: user + system).
    async fn redis_cpu() -> f64 {
        let Ok(client) = redis::Client::open(url()) else {
            return f64::NAN;
        };
        let Ok(mut con) = client.get_multiplexed_async_connection().await else {
            return f64::NAN;
        };
        let info: String = redis::cmd("INFO")
            .arg("cpu")
            .query_async(&mut con)
            .await
            .unwrap_or_default();
        info.lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                matches!(k, "used_cpu_sys" | "used_cpu_user")
                    .then(|| v.trim().parse::<f64>().ok())?
            })
            .sum()
    }

    /// Redis CPU per job in the drains, µs.
    pub(crate) static REDIS_CPU: Mutex<Vec<(usize, f64)>> = Mutex::new(Vec::new());

    fn prefix() -> String {
        format!("bench:{}", uuid::Uuid::new_v4().simple())
    }

    async fn queue(prefix: &str) -> Option<RedisQueue> {
        match RedisQueue::connect(&RedisConfig::new(&url()).with_prefix(prefix)).await {
            Ok(q) => Some(q),
            Err(e) => {
                eprintln!("SKIPPED Redis runs: {} unreachable ({e})", url());
                None
            }
        }
    }

    pub(crate) async fn run(
        processes: usize,
        jobs: u64,
        secs: u64,
        rates: &[u64],
    ) -> Option<(Row, Vec<LatRow>, f64)> {
        let plural = if processes == 1 { "" } else { "es" };
        let mode = format!("Redis, {processes} worker process{plural}");
        let mut runs = Vec::new();
        let mut enqueue_rate = 0.0;
        for _ in 0..REPEATS {
            let (s, e) = drain(processes, jobs).await?;
            runs.push(s);
            enqueue_rate = e;
        }
        let lats = latency(&mode, processes, secs, rates).await?;
        let row = Row {
            mode,
            jobs,
            secs: runs,
        };
        Some((row, lats, enqueue_rate))
    }

    /// Seconds for `processes` worker processes to drain `jobs` prefilled
    /// jobs, and the rate the fill enqueued at.
    async fn drain(processes: usize, jobs: u64) -> Option<(f64, f64)> {
        let p = prefix();
        let q = queue(&p).await?;
        let fill = Instant::now();
        let mut chunks = Vec::new();
        for chunk in 0..jobs.div_ceil(500) {
            let n = (jobs - chunk * 500).min(500);
            chunks.push(
                (0..n)
                    .map(|_| NewJob::raw("noop", "{}".into()))
                    .collect::<Vec<_>>(),
            );
        }
        for chunk in chunks {
            let _ = q.enqueue(chunk).await;
        }
        let enqueue_rate = jobs as f64 / fill.elapsed().as_secs_f64();
        let cpu = redis_cpu().await;
        let children = Children::spawn(processes, &p);
        until_acked(&q, jobs).await;
        let used = redis_cpu().await - cpu;
        REDIS_CPU
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((processes, used / jobs as f64 * 1e6));
        let (count, first, last, _) = children.stop();
        assert_eq!(count, jobs, "every job ran once");
        let _ = q.purge().await;
        Some((last.saturating_sub(first) as f64 / 1e6, enqueue_rate))
    }

    async fn latency(
        mode: &str,
        processes: usize,
        secs: u64,
        rates: &[u64],
    ) -> Option<Vec<LatRow>> {
        let mut lats = Vec::new();
        for &rate in rates {
            let p = prefix();
            let q = queue(&p).await?;
            let children = Children::spawn(processes, &p);
            let sent = paced(&q, rate, secs).await;
            until_acked(&q, sent).await;
            let (_, _, _, mut samples) = children.stop();
            let _ = q.purge().await;
            samples.sort_unstable();
            lats.push(LatRow {
                mode: mode.to_owned(),
                rate,
                samples,
            });
        }
        Some(lats)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    #[cfg(feature = "redis")]
    if let Some(i) = args.iter().position(|a| a == "--worker-process") {
        on_redis::child(args.get(i + 1).map_or("bench", String::as_str));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return; // `cargo bench -- --list` asks harness-less benches to list nothing.
    }
    let jobs = env_num("COMMERCE_BENCH_JOBS", 100_000);
    let secs = env_num("COMMERCE_BENCH_SECONDS", 3);
    let rates = [1_000_u64, 10_000];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average before: {}",
        load.split(' ').take(3).collect::<Vec<_>>().join(" ")
    );
    let (mut rows, mut lats) = (Vec::new(), Vec::new());
    let (row, lat) = rt.block_on(in_process(jobs * 2, secs, &rates));
    rows.push(row);
    lats.extend(lat);
    #[cfg(feature = "redis")]
    for processes in [1, 2] {
        if std::env::var("COMMERCE_BENCH_SKIP_REDIS").is_ok() {
            break;
        }
        if let Some((row, lat, enq)) = rt.block_on(on_redis::run(processes, jobs, secs, &rates)) {
            println!(
                "(Redis fill before the {processes}-process run: {enq:.0} jobs/s enqueued in batches of 500)"
            );
            rows.push(row);
            lats.extend(lat);
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average after: {}",
        load.split(' ').take(3).collect::<Vec<_>>().join(" ")
    );
    println!();
    println!("| throughput ({REPEATS} runs each) | jobs per run | no-op jobs/s, median | best |");
    println!("| --- | ---: | ---: | ---: |");
    for r in &rows {
        let (median, best) = r.rates();
        println!("| {} | {} | {median:.0} | {best:.0} |", r.mode, r.jobs);
    }
    let cpu = CPU.lock().unwrap_or_else(PoisonError::into_inner).clone();
    if let Some(best) = cpu.iter().copied().min_by(f64::total_cmp) {
        let per_job = best / (jobs * 2) as f64 * 1e6;
        println!();
        println!(
            "in-process CPU (user + system, least of {} runs): {per_job:.2} µs per job, \
             {:.0} jobs per CPU-second",
            cpu.len(),
            1e6 / per_job
        );
    }
    #[cfg(feature = "redis")]
    for (processes, us) in on_redis::REDIS_CPU
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
    {
        println!(
            "Redis server CPU while {processes} worker process(es) drained: {us:.2} µs per job"
        );
    }
    println!();
    println!("| enqueue to start | rate (jobs/s) | jobs | p50 (ms) | p99 (ms) | max (ms) |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for l in &lats {
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} |",
            l.mode,
            l.rate,
            l.samples.len(),
            percentile(&l.samples, 50.0),
            percentile(&l.samples, 99.0),
            percentile(&l.samples, 100.0)
        );
    }
}
