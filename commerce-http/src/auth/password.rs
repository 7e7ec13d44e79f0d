//! Password hashing: argon2id at OWASP's m = 19 MiB, t = 2, p = 1, run on
//! a small pool of dedicated threads at the lowest CPU priority
//! (`SCHED_IDLE` on Linux, `nice` 19 where that is refused), so a burst of
//! logins queues for spare CPU instead of starving the executor, the
//! checkouts beside it, or the memory.
//!
//! A hash takes tens of milliseconds of CPU. On a busy server, checkouts and
//! catalog reads (normal priority) go first and logins use what is left; on
//! an idle one, logins use every core of the pool.
//!
//! The lowest priority is not enough on its own: a hash that runs in the
//! gaps a busy shop leaves still slows it (on a 2-vCPU VM even an
//! idle-priority loop that touches no memory cost saturated checkouts 5–15 %
//! of their rate and raised their p99 as much). So the pool also
//! **yields**: while the server is busy ([`Yielding`]: more requests in
//! flight, those waiting for a hash aside, than a threshold), hashes start
//! only at a pace that keeps them to a share of one thread, and a hash that
//! cannot start within [`MAX_WAIT`] is refused ([`PasswordError::Busy`],
//! 503 with `Retry-After`) rather than queued without end.
//!
//! A priority ranks a thread only inside its scheduling group, and with
//! Linux's autogroups the server and each PostgreSQL backend are groups of
//! their own. So the pool's threads can hand their hashes to worker
//! processes ([`Isolation::Processes`]), each in a group of its own at the
//! lowest weight (the `worker` module). docs/auth.md has the measurements.

mod worker;

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;

use worker::Worker;
pub use worker::{Isolation, WORKER_ENV, serve_if_worker};

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password accepted, in characters (argon2 takes any length,
/// but hashing megabytes on request would be a denial of service).
pub const MAX_PASSWORD_CHARS: usize = 128;

/// The `nice` value of the hashing threads where Linux refuses them the
/// `SCHED_IDLE` policy (which they take first): the lowest priority, so any
/// request of normal priority preempts a hash.
pub const HASHING_NICE: i32 = 19;

/// Why hashing or verifying failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The password breaks the length rule.
    #[error("a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")]
    Length,
    /// The stored hash cannot be read.
    #[error("the stored password hash is malformed")]
    MalformedHash,
    /// The hasher failed (bad parameters, a task that died).
    #[error("password hashing failed: {0}")]
    Hasher(String),
    /// The server was too busy to start the hash within its wait
    /// ([`Yielding::max_wait`]); the caller may try again.
    #[error("the server is too busy to check a password now; try again shortly")]
    Busy,
}

/// How long a hash may wait for its turn while the server is busy before
/// it is refused with [`PasswordError::Busy`], unless [`Yielding`] says
/// otherwise.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

/// How often a hashing thread that waits for its turn looks again.
const POLL: Duration = Duration::from_millis(10);

/// How long the server must be seen idle before hashes stop yielding.
const QUIET: Duration = Duration::from_millis(100);

/// The requests the server is serving: the router holds a [`Serving`] for
/// each, and the hashing pool yields while there are many.
#[derive(Debug, Default)]
pub struct Foreground {
    serving: AtomicUsize,
}

impl Foreground {
    /// Counts one request until the returned guard is dropped.
    pub fn enter(self: &Arc<Self>) -> Serving {
        self.serving.fetch_add(1, Ordering::Relaxed);
        Serving(Arc::clone(self))
    }

    /// How many requests are being served.
    pub fn serving(&self) -> usize {
        self.serving.load(Ordering::Relaxed)
    }
}

/// One request being served (see [`Foreground::enter`]).
#[derive(Debug)]
pub struct Serving(Arc<Foreground>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.serving.fetch_sub(1, Ordering::Relaxed);
    }
}

/// When and how far hashing yields to the rest of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Yielding {
    /// The server is busy while more requests than this are in flight,
    /// those waiting for a hash aside.
    pub busy_above: usize,
    /// While it is busy, hashes start only so often that they take at most
    /// this share of one thread, in percent (1–100; 100 never holds a hash
    /// back). A hash's cost is the CPU time the last one took (its wall
    /// time where the thread's CPU clock is not read: outside Linux).
    pub share_percent: u8,
    /// A hash that could not start within this long is refused with
    /// [`PasswordError::Busy`] ([`MAX_WAIT`] by default).
    pub max_wait: Duration,
}

impl Yielding {
    /// Busy with more requests in flight than cores; 10 % of one thread
    /// while busy.
    pub fn for_cores(cores: usize) -> Self {
        Yielding {
            busy_above: cores.max(1),
            share_percent: 10,
            max_wait: MAX_WAIT,
        }
    }

    /// Never holds a hash back.
    pub fn never() -> Self {
        Yielding {
            busy_above: usize::MAX,
            share_percent: 100,
            max_wait: MAX_WAIT,
        }
    }
}

/// When the next hash may start while the server is busy, and when it was
/// last seen busy.
#[derive(Debug)]
struct Turn {
    next_start: Instant,
    last_busy: Option<Instant>,
}

/// Decides when a queued hash may start.
#[derive(Debug)]
struct Gate {
    foreground: Arc<Foreground>,
    yielding: Yielding,
    /// Hashes submitted and not yet answered, counted like the requests
    /// in flight: their requests are in flight but wait, so they do not
    /// make the server busy.
    waiting: Arc<Foreground>,
    /// What the last hash cost ([`HashClock`]), in microseconds.
    last_hash_us: AtomicU64,
    /// Whose turn it is while the server is busy.
    turn: Mutex<Turn>,
}

impl Gate {
    fn new(yielding: Yielding) -> Self {
        Gate {
            foreground: Arc::new(Foreground::default()),
            yielding,
            waiting: Arc::new(Foreground::default()),
            // Until a hash is measured, assume OWASP's cost on a slow core.
            last_hash_us: AtomicU64::new(50_000),
            turn: Mutex::new(Turn {
                next_start: Instant::now(),
                last_busy: None,
            }),
        }
    }

    fn busy(&self) -> bool {
        let serving = self.foreground.serving();
        let waiting = self.waiting.serving();
        serving.saturating_sub(waiting) > self.yielding.busy_above
    }

    /// How long apart hashes start while the server is busy.
    fn spacing(&self) -> Duration {
        let share = u64::from(self.yielding.share_percent.clamp(1, 100));
        let last = self.last_hash_us.load(Ordering::Relaxed);
        Duration::from_micros(last.saturating_mul(100) / share)
    }

    /// `Ok` when a hash may start at `now`; else how long to wait before
    /// asking again. The server counts as busy from the moment it is seen
    /// busy until it has been seen idle for [`QUIET`], so that the short
    /// dips of a saturated server do not let hashes through.
    fn admit(&self, now: Instant) -> Result<(), Duration> {
        if self.yielding.share_percent >= 100 {
            return Ok(());
        }
        let busy_now = self.busy();
        let mut turn = self
            .turn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if busy_now {
            turn.last_busy = Some(now);
        }
        let busy = turn
            .last_busy
            .is_some_and(|seen| now.saturating_duration_since(seen) < QUIET);
        if !busy {
            return Ok(());
        }
        if now >= turn.next_start {
            turn.next_start = now + self.spacing();
            Ok(())
        } else {
            Err((turn.next_start - now).min(POLL))
        }
    }

    fn record(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.last_hash_us.store(us.max(1), Ordering::Relaxed);
    }
}

/// What a hash costs: the CPU time of the thread that ran it (Linux), or
/// its wall time elsewhere. A hash at idle priority on a busy server runs
/// in the gaps, so its wall time says how busy the server was, not what
/// the hash took.
struct HashClock {
    #[cfg(target_os = "linux")]
    cpu: Duration,
    #[cfg(not(target_os = "linux"))]
    wall: Instant,
}

impl HashClock {
    fn start() -> Self {
        HashClock {
            #[cfg(target_os = "linux")]
            cpu: Self::thread_cpu(),
            #[cfg(not(target_os = "linux"))]
            wall: Instant::now(),
        }
    }

    #[cfg(target_os = "linux")]
    fn thread_cpu() -> Duration {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(
            u64::try_from(t.tv_sec).unwrap_or(0),
            u32::try_from(t.tv_nsec).unwrap_or(0),
        )
    }

    fn elapsed(&self) -> Duration {
        #[cfg(target_os = "linux")]
        return Self::thread_cpu().saturating_sub(self.cpu);
        #[cfg(not(target_os = "linux"))]
        return self.wall.elapsed();
    }
}

/// What a hashing thread is asked to do.
#[derive(Debug)]
enum Task {
    /// Hash a new password with these parameters (and a random salt).
    Hash {
        params: Params,
        password: SecretString,
    },
    /// Check a password against a PHC string (whose own parameters are
    /// used).
    Verify {
        params: Params,
        password: SecretString,
        hash: String,
    },
}

/// A task's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// The new PHC string.
    Hashed(String),
    /// Whether the password matched.
    Verified(bool),
}

impl Task {
    /// Runs the task on the calling thread; its answer and what it cost
    /// ([`HashClock`]), which the gate spaces hashes by.
    fn perform_measured(&self) -> (Result<Outcome, PasswordError>, Duration) {
        let clock = HashClock::start();
        let answer = self.perform();
        (answer, clock.elapsed())
    }

    /// Runs the task on the calling thread.
    fn perform(&self) -> Result<Outcome, PasswordError> {
        match self {
            Task::Hash { params, password } => Passwords::hasher(params.clone())
                .hash_password(password.expose_secret().as_bytes())
                .map(|h| Outcome::Hashed(h.to_string()))
                .map_err(|e| PasswordError::Hasher(e.to_string())),
            Task::Verify {
                params,
                password,
                hash,
            } => match Passwords::hasher(params.clone())
                .verify_password(password.expose_secret().as_bytes(), hash.as_str())
            {
                Ok(()) => Ok(Outcome::Verified(true)),
                Err(argon2::password_hash::Error::PasswordInvalid) => Ok(Outcome::Verified(false)),
                Err(_) => Err(PasswordError::MalformedHash),
            },
        }
    }
}

/// A queued task, its answer's way back, and its request's place among
/// those waiting for a hash (given up when answered or dropped unrun).
struct Job {
    queued: Instant,
    task: Task,
    reply: oneshot::Sender<Result<Outcome, PasswordError>>,
    pending: Serving,
}

/// The hashing threads: each takes the next job from one queue, waits for
/// the gate, and runs it, itself or in its worker process
/// ([`Isolation`]). They stop, and their workers with them, when the last
/// [`Passwords`] sharing them is dropped.
#[derive(Debug)]
struct Pool {
    jobs: Mutex<mpsc::Sender<Job>>,
    gate: Arc<Gate>,
    /// Each thread's worker process id (0: none running).
    workers: Vec<Arc<AtomicU32>>,
}

impl Pool {
    /// `threads` threads, each at `nice` if given.
    fn start(threads: usize, nice: Option<i32>, yielding: Yielding, isolation: &Isolation) -> Pool {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let gate = Arc::new(Gate::new(yielding));
        let program = worker::program(isolation);
        let mut workers = Vec::new();
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            let gate = Arc::clone(&gate);
            let id = Arc::new(AtomicU32::new(0));
            workers.push(Arc::clone(&id));
            let program = program.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    if let Some(nice) = nice {
                        lower_priority(nice);
                    }
                    let mut worker = program.map(|program| Worker::new(program, id));
                    loop {
                        // The lock is held only to take a job, not to run it.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => Self::when_admitted(&gate, worker.as_mut(), job),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Pool {
            jobs: Mutex::new(tx),
            gate,
            workers,
        }
    }

    /// Runs `job` once the gate lets it (in `worker` if there is one and
    /// it can), or refuses it after its wait.
    fn when_admitted(gate: &Gate, worker: Option<&mut Worker>, job: Job) {
        let Job {
            queued,
            task,
            reply,
            pending,
        } = job;
        let answer = loop {
            match gate.admit(Instant::now()) {
                Ok(()) => {
                    let (answer, cost) = worker
                        .and_then(|worker| worker.perform(&task))
                        .unwrap_or_else(|| task.perform_measured());
                    gate.record(cost);
                    break answer;
                }
                Err(_) if queued.elapsed() >= gate.yielding.max_wait => {
                    break Err(PasswordError::Busy);
                }
                Err(wait) => std::thread::sleep(wait),
            }
        };
        drop(pending);
        let _ = reply.send(answer);
    }

    /// Runs `task` on a hashing thread.
    async fn run(&self, task: Task) -> Result<Outcome, PasswordError> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            queued: Instant::now(),
            task,
            reply,
            pending: self.gate.waiting.enter(),
        };
        self.jobs
            .lock()
            .map_err(|_| PasswordError::Hasher("the hashing pool is poisoned".into()))?
            .send(job)
            .map_err(|_| PasswordError::Hasher("the hashing pool has stopped".into()))?;
        rx.await
            .map_err(|_| PasswordError::Hasher("a hashing thread died".into()))?
    }
}

/// Puts the calling thread at the lowest CPU priority (Linux; a no-op
/// elsewhere): the `SCHED_IDLE` policy, under which a thread runs only when
/// no thread of normal priority of its scheduling group wants the CPU, and
/// any waking one preempts it at once; where the policy is refused, `nice`.
/// On Linux both change only the calling thread. Neither reaches across
/// groups: with autogroups each PostgreSQL backend is a group of its own
/// (docs/auth.md, "Passwords and their cost"), hence the worker processes
/// of [`Isolation::Processes`].
fn lower_priority(nice: i32) {
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
            set_thread_priority_and_policy, thread_native_id,
        };
        let idle = set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Min,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
        );
        if let Err(e) = idle {
            tracing::warn!(error = ?e, "cannot put a password hashing thread under SCHED_IDLE; lowering its nice instead");
            let tid = rustix::thread::gettid();
            if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
                tracing::warn!(error = %e, "cannot lower the priority of a password hashing thread");
            }
        }
    }
}

/// Argon2id parameters and the threads that hash.
#[derive(Debug, Clone)]
pub struct Passwords {
    params: Params,
    pool: Arc<Pool>,
    verifications: Arc<AtomicU64>,
}

impl Passwords {
    /// OWASP's parameters (m = 19 MiB, t = 2, p = 1), on `threads` hashing
    /// threads (at most that many hashes at once), yielding as
    /// [`Yielding::for_cores`]`(threads)`.
    pub fn owasp(threads: usize) -> Self {
        Passwords::owasp_yielding(threads, Yielding::for_cores(threads))
    }

    /// OWASP's parameters on `threads` threads, yielding as told.
    pub fn owasp_yielding(threads: usize, yielding: Yielding) -> Self {
        Passwords::with_params(Passwords::owasp_params(), threads, yielding)
    }

    /// OWASP's argon2id parameters: m = 19 MiB, t = 2, p = 1.
    pub fn owasp_params() -> Params {
        // 19 MiB, 2 passes, 1 lane: valid, so `Params::new` cannot fail.
        Params::new(19 * 1024, 2, 1, None).unwrap_or_default()
    }

    /// Cheap parameters for tests only (m = 1 MiB, t = 1), at normal
    /// priority, never yielding.
    pub fn for_tests() -> Self {
        let params = Params::new(1024, 1, 1, None).unwrap_or_default();
        Passwords::start(params, 4, None, Yielding::never(), &Isolation::Threads)
    }

    /// Any parameters, on `threads` hashing threads at [`HASHING_NICE`],
    /// yielding as told.
    pub fn with_params(params: Params, threads: usize, yielding: Yielding) -> Self {
        Passwords::isolated(params, threads, yielding, &Isolation::Threads)
    }

    /// Any parameters, on `threads` hashing threads at [`HASHING_NICE`],
    /// yielding as told, each thread hashing where `isolation` says.
    pub fn isolated(
        params: Params,
        threads: usize,
        yielding: Yielding,
        isolation: &Isolation,
    ) -> Self {
        Passwords::start(params, threads, Some(HASHING_NICE), yielding, isolation)
    }

    fn start(
        params: Params,
        threads: usize,
        nice: Option<i32>,
        yielding: Yielding,
        isolation: &Isolation,
    ) -> Self {
        Passwords {
            params,
            pool: Arc::new(Pool::start(threads, nice, yielding, isolation)),
            verifications: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The requests this hasher yields to: the router enters each request
    /// it serves here.
    pub fn foreground(&self) -> &Arc<Foreground> {
        &self.pool.gate.foreground
    }

    /// The process ids of the worker processes running now
    /// ([`Isolation::Processes`]; a worker starts with its thread's first
    /// hash).
    pub fn worker_ids(&self) -> Vec<u32> {
        self.pool
            .workers
            .iter()
            .map(|id| id.load(Ordering::Relaxed))
            .filter(|&id| id != 0)
            .collect()
    }

    /// How many hashes were verified since start (a refusal that skipped
    /// the hash would show here: tests use it to check that every refused
    /// login costs one verification).
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    fn hasher(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// Checks the length rule of a new password.
    ///
    /// # Errors
    /// [`PasswordError::Length`].
    pub fn check_rule(password: &SecretString) -> Result<(), PasswordError> {
        let n = password.expose_secret().chars().count();
        if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
            Ok(())
        } else {
            Err(PasswordError::Length)
        }
    }

    /// Hashes a new password (PHC string, with a random salt).
    ///
    /// # Errors
    /// [`PasswordError::Length`], [`PasswordError::Hasher`],
    /// [`PasswordError::Busy`].
    pub async fn hash_password(&self, password: SecretString) -> Result<String, PasswordError> {
        Self::check_rule(&password)?;
        let task = Task::Hash {
            params: self.params.clone(),
            password,
        };
        match self.pool.run(task).await? {
            Outcome::Hashed(phc) => Ok(phc),
            Outcome::Verified(_) => Err(PasswordError::Hasher("a hash was not answered".into())),
        }
    }

    /// Whether `password` matches `hash` (in constant time, by argon2).
    /// The parameters recorded in the hash are used, so older hashes verify.
    ///
    /// # Errors
    /// [`PasswordError::MalformedHash`], [`PasswordError::Hasher`],
    /// [`PasswordError::Busy`].
    pub async fn verify_password(
        &self,
        password: SecretString,
        hash: String,
    ) -> Result<bool, PasswordError> {
        if password.expose_secret().chars().count() > MAX_PASSWORD_CHARS {
            return Ok(false);
        }
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let task = Task::Verify {
            params: self.params.clone(),
            password,
            hash,
        };
        match self.pool.run(task).await? {
            Outcome::Verified(matched) => Ok(matched),
            Outcome::Hashed(_) => Err(PasswordError::Hasher(
                "a verification was not answered".into(),
            )),
        }
    }
}

/// One shared OWASP hasher for the free functions below.
fn shared() -> &'static Passwords {
    static SHARED: std::sync::OnceLock<Passwords> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| Passwords::owasp(1))
}

/// Hashes a password with OWASP's parameters (see [`Passwords::owasp`]).
///
/// # Errors
/// See [`Passwords::hash_password`].
pub async fn hash_password(password: SecretString) -> Result<String, PasswordError> {
    shared().hash_password(password).await
}

/// Verifies a password against a PHC hash (see [`Passwords::verify_password`]).
///
/// # Errors
/// See [`Passwords::verify_password`].
pub async fn verify_password(password: SecretString, hash: String) -> Result<bool, PasswordError> {
    shared().verify_password(password, hash).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let p = Passwords::for_tests();
        let hash = p
            .hash_password(SecretString::from("correct horse"))
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"));
        assert!(
            p.verify_password(SecretString::from("correct horse"), hash.clone())
                .await
                .unwrap()
        );
        assert!(
            !p.verify_password(SecretString::from("wrong horse"), hash)
                .await
                .unwrap()
        );
        assert_eq!(
            p.verify_password(SecretString::from("x"), "not a hash".into())
                .await,
            Err(PasswordError::MalformedHash)
        );
    }

    #[tokio::test]
    async fn the_owasp_parameters_are_recorded_in_the_hash() {
        let hash = hash_password(SecretString::from("long enough"))
            .await
            .unwrap();
        assert!(hash.contains("m=19456,t=2,p=1"), "{hash}");
        assert!(
            verify_password(SecretString::from("long enough"), hash)
                .await
                .unwrap()
        );
    }

    fn busy_everywhere(share_percent: u8, max_wait: Duration) -> Yielding {
        Yielding {
            busy_above: 0,
            share_percent,
            max_wait,
        }
    }

    #[test]
    fn a_busy_server_spaces_hashes_to_their_share() {
        let gate = Gate::new(busy_everywhere(10, MAX_WAIT));
        gate.record(Duration::from_millis(20));
        let t0 = Instant::now();
        // Idle: every hash starts at once.
        assert_eq!(gate.admit(t0), Ok(()));
        assert_eq!(gate.admit(t0), Ok(()));
        // Busy: one hash, then none for 20 ms × 100 / 10.
        let serving = gate.foreground.enter();
        assert_eq!(gate.admit(t0), Ok(()));
        assert_eq!(gate.admit(t0), Err(POLL));
        assert_eq!(
            gate.admit(t0 + Duration::from_millis(195)),
            Err(Duration::from_millis(5))
        );
        assert_eq!(gate.admit(t0 + Duration::from_millis(200)), Ok(()));
        assert_eq!(gate.admit(t0 + Duration::from_millis(200)), Err(POLL));
        // Idle again: hashes still yield until it has stayed idle for QUIET
        // since it was last seen busy (at 200 ms), then start at once.
        drop(serving);
        let ms = |n| t0 + Duration::from_millis(n);
        assert_eq!(
            gate.admit(ms(250)),
            Err(Duration::from_millis(150).min(POLL))
        );
        assert_eq!(gate.admit(ms(200) + QUIET), Ok(()));
        assert_eq!(gate.admit(ms(200) + QUIET), Ok(()));
        // A share of 100 % never holds a hash back.
        let never = Gate::new(busy_everywhere(100, MAX_WAIT));
        let _serving = never.foreground.enter();
        assert_eq!(never.admit(t0), Ok(()));
        assert_eq!(never.admit(t0), Ok(()));
    }

    #[test]
    fn requests_waiting_for_a_hash_do_not_make_the_server_busy() {
        let gate = Gate::new(Yielding {
            busy_above: 1,
            ..Yielding::for_cores(1)
        });
        let a = gate.foreground.enter();
        let b = gate.foreground.enter();
        assert!(gate.busy(), "2 requests in flight, above 1");
        let waits = gate.waiting.enter();
        assert!(!gate.busy(), "one of the 2 waits for a hash");
        let _c = gate.foreground.enter();
        assert!(gate.busy());
        drop((a, b, waits));
        assert!(!gate.busy());
        assert_eq!(gate.foreground.serving(), 1);
        assert_eq!(gate.waiting.serving(), 0);
    }

    #[tokio::test]
    async fn a_hash_waits_while_the_server_is_busy_and_is_refused_past_its_wait() {
        let cheap = Params::new(1024, 1, 1, None).unwrap();
        let p = Passwords::with_params(cheap, 1, busy_everywhere(1, Duration::from_millis(200)));
        let busy = (p.foreground().enter(), p.foreground().enter());
        let pw = || SecretString::from("correct horse");
        // The first hash takes the busy server's slot; the next one
        // (50 ms × 100 later) cannot start within 200 ms.
        let hash = p.hash_password(pw()).await.unwrap();
        assert_eq!(p.hash_password(pw()).await, Err(PasswordError::Busy));
        assert_eq!(p.pool.gate.waiting.serving(), 0);
        // One that waits is let through as soon as the server is idle.
        let waiting = tokio::spawn({
            let p = p.clone();
            async move { p.verify_password(pw(), hash).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a busy server holds the hash back");
        drop(busy);
        assert_eq!(waiting.await.unwrap(), Ok(true));
    }

    #[tokio::test]
    async fn length_rule() {
        let p = Passwords::for_tests();
        assert_eq!(
            p.hash_password(SecretString::from("short")).await,
            Err(PasswordError::Length)
        );
        assert_eq!(
            p.hash_password(SecretString::from("x".repeat(129))).await,
            Err(PasswordError::Length)
        );
    }
}
