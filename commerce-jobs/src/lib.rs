//! # commerce-jobs
//!
//! Background work for [`commerce_core`], delivered at least once and never
//! lost: every announced change (an outbox event, written in the same
//! atomic operation as the change) goes through a queue that survives
//! crashes, in one process or across machines.
//!
//! - [`JobQueue`]: enqueue now or at a time, reserve with a visibility
//!   timeout, ack, retry after a backoff, dead-letter, state and stats.
//!   [`InProcessQueue`] (the embedded default) and `RedisQueue` (feature
//!   `redis`: every state change one Lua script; any number of workers in
//!   any number of processes). [`AnyQueue`] picks one from `REDIS_URL`.
//! - [`Worker`]: N handlers at once, a time limit per job, a panic becomes a
//!   retry, graceful shutdown, tracing spans and metrics.
//! - [`relay::OutboxRelay`]: committed outbox events into the queue; an
//!   event is marked relayed only once safely handed over.
//! - [`handlers::Handlers`]: order, seller and low-stock mails, account
//!   mails (verification, sign-in code, password reset) and refunds, each
//!   at most once per event through core's idempotency store.
//! - [`mail`]: the [`mail::Mailer`] trait over lettre: SMTP, or `.eml`
//!   files in a folder (the default).
//! - [`schedule`]: periodic sweeps (expiry every 10 s, idempotency-key
//!   pruning, payment reconciliation), each under a lease so that running
//!   them on every node is safe.
//!
//! The design, the guarantees and their limits are in `docs/jobs.md`.
//!
//! ## Example: an account mail, sent by a worker
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use commerce_core::account::Email;
//! use commerce_core::clock::SystemClock;
//! use commerce_core::service::{Commerce, Config};
//! use commerce_core::storage::InMemoryStore;
//! use commerce_jobs::handlers::{AccountMail, AccountMailKind, Handlers, enqueue_account_mail};
//! use commerce_jobs::mail::{MailSettings, RecordingMailer};
//! use commerce_jobs::{InProcessQueue, JobQueue, Worker, WorkerConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! # rt.block_on(async {
//! let commerce = Commerce::new(Arc::new(InMemoryStore::new()), Arc::new(SystemClock), Config::default());
//! let queue = Arc::new(InProcessQueue::default());
//! let mailer = RecordingMailer::new(); // `mail::mailer_from_env` in a real shop
//! let settings = MailSettings::new("https://shop.example", "Shop <no-reply@shop.example>", "Shop");
//! let worker = Handlers::new(commerce, Arc::new(mailer.clone()), settings)
//!     .register(Worker::new(Arc::clone(&queue), WorkerConfig::default()))
//!     .spawn();
//!
//! // What the HTTP layer does after a registration: the token never
//! // touches the database, only the job.
//! let mail = AccountMail {
//!     to: Email::parse("ada@example.com")?,
//!     kind: AccountMailKind::Verify { token: "t0k3n".into() },
//! };
//! enqueue_account_mail(queue.as_ref(), &mail).await?;
//!
//! while queue.stats().await?.acked < 1 {
//!     tokio::time::sleep(Duration::from_millis(5)).await;
//! }
//! worker.shutdown().await;
//! let sent = mailer.sent();
//! assert!(sent[0].text.contains("https://shop.example/verify-email?token=t0k3n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```

pub mod handlers;
pub mod job;
pub mod mail;
pub mod queue;
pub mod relay;
pub mod schedule;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod worker;

pub use job::{Job, JobId, Lease, NewJob};
pub use queue::{
    AnyQueue, DeadJob, Handover, InProcessQueue, JobQueue, JobQueueExt, JobState, QueueError,
    QueueStats,
};
#[cfg(feature = "redis")]
pub use queue::{RedisConfig, RedisQueue};
pub use worker::{Backoff, Handler, JobError, Worker, WorkerConfig, WorkerHandle, WorkerReport};
