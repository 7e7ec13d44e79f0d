//! Shared test helpers: a Redis namespace per test.

#![allow(dead_code)]

use std::sync::Arc;

#[cfg(feature = "redis")]
use commerce_core::clock::Clock;

/// `TEST_REDIS_URL`, or the local default.
pub(crate) fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A fresh key prefix, so tests run in parallel on one Redis.
pub(crate) fn fresh_prefix() -> String {
    format!("test:{}", uuid::Uuid::new_v4().simple())
}

/// A queue on a fresh prefix; `None` (after saying so) when Redis is not
/// reachable here. With `CI=true` a missing Redis is a failure.
#[cfg(feature = "redis")]
pub(crate) async fn redis_queue(
    prefix: &str,
    clock: Arc<dyn Clock>,
) -> Option<commerce_jobs::RedisQueue> {
    let url = redis_url();
    let config = commerce_jobs::RedisConfig::new(&url).with_prefix(prefix);
    match commerce_jobs::RedisQueue::connect_with_clock(&config, clock).await {
        Ok(q) => Some(q),
        Err(e) if ci() => panic!("CI=true and Redis at {url} is unreachable: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: Redis at {url} is unreachable ({e}); set TEST_REDIS_URL");
            None
        }
    }
}

use std::time::Duration;

use commerce_core::account::{Account, Email};
use commerce_core::ids::{CustomerId, StoreId};
use commerce_core::seller::SellerStore;
use commerce_core::storage::{AccountStore, CatalogStore, InMemoryStore, OutboxStore};
use commerce_core::testkit::{Harness, expect};
use commerce_jobs::mail::{MailSettings, RecordingMailer};
use commerce_jobs::relay::{OutboxRelay, RelayConfig};
use commerce_jobs::{Backoff, JobQueue, Worker, WorkerConfig, WorkerHandle};

/// Mail settings for tests.
pub(crate) fn settings() -> MailSettings {
    MailSettings::new("https://shop.test", "Shop <no-reply@shop.test>", "Shop")
}

/// A seller whose owner has an account with `email`; returns (owner, store).
pub(crate) async fn seller(
    h: &Harness<InMemoryStore>,
    slug: &str,
    email: &str,
) -> (CustomerId, StoreId) {
    let account = Account::new(
        expect(Email::parse(email), "email"),
        None,
        None,
        h.clock_now(),
    );
    let owner = account.id;
    expect(
        expect(h.store().create_account(account).await, "account"),
        "email free",
    );
    let store = SellerStore {
        id: StoreId::new(),
        owner_id: owner,
        name: slug.to_owned(),
        slug: slug.to_owned(),
        created_at: h.clock_now(),
    };
    let id = store.id;
    expect(h.store().put_seller_store(store).await, "store");
    (owner, id)
}

/// Worker settings for tests: retries at once (the queue's clock stands still).
pub(crate) fn worker_config() -> WorkerConfig {
    WorkerConfig {
        concurrency: 8,
        poll: Duration::from_millis(20),
        backoff: Backoff {
            base: Duration::ZERO,
            max: Duration::ZERO,
            jitter: false,
        },
        ..WorkerConfig::default()
    }
}

/// A worker with the shop's handlers, sending to `mailer`.
pub(crate) fn shop_worker<Q: JobQueue>(
    h: &Harness<InMemoryStore>,
    queue: Arc<Q>,
    mailer: &RecordingMailer,
) -> WorkerHandle {
    let handlers = commerce_jobs::handlers::Handlers::new(
        h.commerce.clone(),
        Arc::new(mailer.clone()),
        settings(),
    );
    handlers
        .register(Worker::new(queue, worker_config()))
        .spawn()
}

/// A relay over the harness's outbox.
pub(crate) fn relay<S: OutboxStore + 'static, Q: JobQueue>(
    store: Arc<S>,
    queue: Arc<Q>,
) -> OutboxRelay<S, Q> {
    OutboxRelay::new(
        store,
        queue,
        RelayConfig {
            batch: 64,
            idle: Duration::from_millis(20),
            max_in_flight: 1_000,
            rescan: Duration::from_secs(1),
        },
    )
}

/// Steps the relay until the outbox is empty and the queue has nothing left
/// to do (bounded: a minute).
pub(crate) async fn drain<S: OutboxStore + 'static, Q: JobQueue>(
    relay: &mut OutboxRelay<S, Q>,
    store: &S,
    queue: &Q,
) {
    let done = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let _ = relay.step().await;
            let pending = expect(store.pending_events(1).await, "pending").len();
            let stats = expect(queue.stats().await, "stats");
            if pending == 0 && stats.depth() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    expect(done, "the outbox and the queue drained within a minute");
}

/// Mails sent, as (recipient, subject).
pub(crate) fn sent(mailer: &RecordingMailer) -> Vec<(String, String)> {
    let mut v: Vec<_> = mailer
        .sent()
        .iter()
        .map(|m| (m.to.as_str().to_owned(), m.subject.clone()))
        .collect();
    v.sort();
    v
}
