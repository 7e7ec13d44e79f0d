//! Password hashing: argon2id at OWASP's m = 19 MiB, t = 2, p = 1, run on
//! a small pool of dedicated threads at the lowest CPU priority
//! (`SCHED_IDLE` on Linux, `nice` 19 where that is refused), so a burst of
//! logins queues for spare CPU instead of starving the executor, the
//! checkouts beside it, or the memory.
//!
//! A hash takes tens of milliseconds of CPU. On a busy server, checkouts and
//! catalog reads (normal priority) go first and logins use what is left; on
//! an idle one, logins use every core of the pool. docs/auth.md has the
//! measurements.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;

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
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads: each takes the next job from one queue. They stop
/// when the last [`Passwords`] sharing them is dropped.
#[derive(Debug)]
struct Pool {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl Pool {
    /// `threads` threads, each at `nice` if given.
    fn start(threads: usize, nice: Option<i32>) -> Pool {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    if let Some(nice) = nice {
                        lower_priority(nice);
                    }
                    loop {
                        // The lock is held only to take a job, not to run it.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
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
        }
    }

    /// Runs `f` on a hashing thread.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.jobs
            .lock()
            .map_err(|_| PasswordError::Hasher("the hashing pool is poisoned".into()))?
            .send(job)
            .map_err(|_| PasswordError::Hasher("the hashing pool has stopped".into()))?;
        rx.await
            .map_err(|_| PasswordError::Hasher("a hashing thread died".into()))
    }
}

/// Puts the calling thread at the lowest CPU priority (Linux; a no-op
/// elsewhere): the `SCHED_IDLE` policy, under which a thread runs only when
/// no thread of normal priority of its scheduling group wants the CPU, and
/// any waking one preempts it at once; where the policy is refused, `nice`.
/// On Linux both change only the calling thread. Neither reaches across
/// groups: with autogroups each PostgreSQL backend is a group of its own
/// (docs/auth.md, "Passwords and their cost").
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
    /// threads (at most that many hashes at once).
    pub fn owasp(threads: usize) -> Self {
        // 19 MiB, 2 passes, 1 lane: valid, so `Params::new` cannot fail.
        let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
        Passwords::with_params(params, threads)
    }

    /// Cheap parameters for tests only (m = 1 MiB, t = 1), at normal
    /// priority.
    pub fn for_tests() -> Self {
        let params = Params::new(1024, 1, 1, None).unwrap_or_default();
        Passwords::start(params, 4, None)
    }

    /// Any parameters, on `threads` hashing threads at [`HASHING_NICE`].
    pub fn with_params(params: Params, threads: usize) -> Self {
        Passwords::start(params, threads, Some(HASHING_NICE))
    }

    fn start(params: Params, threads: usize, nice: Option<i32>) -> Self {
        Passwords {
            params,
            pool: Arc::new(Pool::start(threads, nice)),
            verifications: Arc::new(AtomicU64::new(0)),
        }
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
    /// [`PasswordError::Length`], [`PasswordError::Hasher`].
    pub async fn hash_password(&self, password: SecretString) -> Result<String, PasswordError> {
        Self::check_rule(&password)?;
        let params = self.params.clone();
        self.pool
            .run(move || {
                Self::hasher(params)
                    .hash_password(password.expose_secret().as_bytes())
                    .map(|h| h.to_string())
                    .map_err(|e| PasswordError::Hasher(e.to_string()))
            })
            .await?
    }

    /// Whether `password` matches `hash` (in constant time, by argon2).
    /// The parameters recorded in the hash are used, so older hashes verify.
    ///
    /// # Errors
    /// [`PasswordError::MalformedHash`], [`PasswordError::Hasher`].
    pub async fn verify_password(
        &self,
        password: SecretString,
        hash: String,
    ) -> Result<bool, PasswordError> {
        if password.expose_secret().chars().count() > MAX_PASSWORD_CHARS {
            return Ok(false);
        }
        let params = self.params.clone();
        self.verifications.fetch_add(1, Ordering::Relaxed);
        self.pool
            .run(move || {
                match Self::hasher(params)
                    .verify_password(password.expose_secret().as_bytes(), hash.as_str())
                {
                    Ok(()) => Ok(true),
                    Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
                    Err(_) => Err(PasswordError::MalformedHash),
                }
            })
            .await?
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
