//! Jobs: what is enqueued ([`NewJob`]), what a worker gets ([`Job`]) and the
//! [`Lease`] that proves it still holds the job.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// How many times a job runs before it is dead-lettered, unless its
/// [`NewJob::max_attempts`] says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 16;

/// A job's id: a UUID (v7 when made by [`JobId::new`]). Enqueueing a job whose
/// id the queue still holds changes nothing, so an id derived from what the
/// job is about (an outbox event's id) makes enqueueing idempotent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(uuid::Uuid);

impl JobId {
    /// A new time-ordered id.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        JobId(uuid::Uuid::now_v7())
    }

    /// Wraps a UUID (an outbox event's id, for instance).
    pub const fn from_uuid(uuid: uuid::Uuid) -> Self {
        JobId(uuid)
    }

    /// The UUID inside.
    pub const fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobId({})", self.0)
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::str::FromStr for JobId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(JobId)
    }
}

/// A job to enqueue.
#[derive(Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Its id.
    pub id: JobId,
    /// Which handler runs it (`outbox_event`, `account_mail`, ...).
    pub kind: String,
    /// The handler's input, as JSON text.
    pub payload: String,
    /// Not before this instant; `None` (or a past instant) means now.
    pub run_at: Option<DateTime<Utc>>,
    /// Runs (including the first) before the job is dead-lettered.
    pub max_attempts: u32,
}

impl NewJob {
    /// A job of `kind` with `payload` serialised as JSON, to run now.
    ///
    /// # Errors
    /// The payload cannot be serialised.
    pub fn new<T: Serialize + ?Sized>(kind: &str, payload: &T) -> Result<Self, serde_json::Error> {
        Ok(NewJob::raw(kind, serde_json::to_string(payload)?))
    }

    /// A job with a payload that is already JSON text.
    pub fn raw(kind: &str, payload: String) -> Self {
        NewJob {
            id: JobId::new(),
            kind: kind.to_owned(),
            payload,
            run_at: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// With this id (see [`JobId`]: enqueueing is idempotent by id).
    #[must_use]
    pub fn with_id(mut self, id: JobId) -> Self {
        self.id = id;
        self
    }

    /// To run at `at`, not before.
    #[must_use]
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }

    /// Runs at most `n` times (at least once).
    #[must_use]
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }
}

impl fmt::Debug for NewJob {
    // The payload may carry secrets (account mails): never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewJob")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("payload_bytes", &self.payload.len())
            .field("run_at", &self.run_at)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

/// A job a worker holds: reserved for a while (its visibility timeout), then
/// acknowledged, retried or dead-lettered through its [`Lease`].
#[derive(Clone, PartialEq, Eq)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// Which handler runs it.
    pub kind: String,
    /// The handler's input, as JSON text.
    pub payload: String,
    /// This delivery's number: 1 the first time, 2 after a retry or after a
    /// worker lost it (crashed, timed out), and so on.
    pub attempt: u32,
    /// Deliveries allowed before it is dead-lettered.
    pub max_attempts: u32,
    /// When it was enqueued.
    pub enqueued_at: DateTime<Utc>,
}

impl Job {
    /// The payload, parsed.
    ///
    /// # Errors
    /// It is not a `T`.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.payload)
    }

    /// What proves this delivery holds the job.
    pub fn lease(&self) -> Lease {
        Lease {
            job_id: self.id,
            attempt: self.attempt,
        }
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("payload_bytes", &self.payload.len())
            .field("attempt", &self.attempt)
            .field("max_attempts", &self.max_attempts)
            .field("enqueued_at", &self.enqueued_at)
            .finish()
    }
}

/// One delivery's hold on a job. A lease stops counting once its visibility
/// timeout has passed and the job was handed to another delivery: then
/// `ack`, `retry_after` and `dead_letter` with it change nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The job.
    pub job_id: JobId,
    /// The delivery ([`Job::attempt`]).
    pub attempt: u32,
}

/// The instant `d` after `t`, saturating.
pub(crate) fn after(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// How long from `from` until `to`; zero when `to` is not later.
pub(crate) fn until(from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    (to - from).to_std().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_carry_json_and_hide_payloads_from_debug() {
        let job = NewJob::new("mail", &serde_json::json!({"token": "s3cret"}))
            .map(|j| j.max_attempts(0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(job.max_attempts, 1, "at least once");
        assert!(!format!("{job:?}").contains("s3cret"));
        let id: JobId = job.id.to_string().parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(id, job.id);
    }

    #[test]
    fn time_arithmetic_saturates() {
        let t = Utc::now();
        assert_eq!(after(t, Duration::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(until(t, t - chrono::Duration::seconds(1)), Duration::ZERO);
        assert_eq!(
            until(t, after(t, Duration::from_millis(1500))),
            Duration::from_millis(1500)
        );
    }
}
