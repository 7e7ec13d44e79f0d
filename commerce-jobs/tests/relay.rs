//! The outbox relay under crashes: nothing announced is lost, nothing is
//! mailed twice.
//!
//! - In-process: a process dies after some jobs ran (some acknowledged, one
//!   mailed but never acknowledged); a new process over the same store
//!   relays again what was not finished.
//! - Redis: the relay dies between the enqueue and marking the events
//!   relayed; the next relay enqueues them again, and the handlers absorb
//!   the duplicates.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use commerce_core::outbox::OutboxEvent;
use commerce_core::storage::{InMemoryStore, OutboxStore};
use commerce_core::testkit::{Harness, expect};
use commerce_jobs::handlers::Handlers;
use commerce_jobs::mail::RecordingMailer;
use commerce_jobs::{InProcessQueue, Job, JobQueue};

const ORDERS: usize = 12;

/// A shop with `ORDERS` paid orders from one seller: 3 mails each (placed,
/// paid, the seller's new order).
async fn shop() -> (Harness<InMemoryStore>, Arc<InMemoryStore>) {
    let store = Arc::new(InMemoryStore::new());
    let h = Harness::new(Arc::clone(&store));
    let (_, seller) = common::seller(&h, "relay", "seller@example.com").await;
    let v = h.product(seller, None, "Cup", "4.00", 1_000).await;
    for _ in 0..ORDERS {
        let order = expect(h.guest_buys(v, 1).await, "checkout");
        h.pay(order.id).await;
    }
    (h, store)
}

/// Every mail exactly once.
fn assert_each_mail_once(mailer: &RecordingMailer) {
    let sent = common::sent(mailer);
    let unique: BTreeSet<_> = sent.iter().cloned().collect();
    assert_eq!(unique.len(), sent.len(), "a mail went out twice: {sent:?}");
    assert_eq!(sent.len(), ORDERS * 3, "a mail is missing: {sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_crash_loses_nothing_and_mails_nothing_twice() {
    let (h, store) = shop().await;
    let mailer = RecordingMailer::new();
    let handlers = Handlers::new(
        h.commerce.clone(),
        Arc::new(mailer.clone()),
        common::settings(),
    );

    // Process 1: the relay hands every event to the in-process queue; a
    // worker finishes some jobs, and mails one more without acknowledging
    // it; then the process dies (its queue with it).
    {
        let queue = Arc::new(InProcessQueue::new(Arc::new(h.clock.clone())));
        let mut relay = common::relay(Arc::clone(&store), Arc::clone(&queue));
        let step = expect(relay.step().await, "relay");
        assert_eq!(step.enqueued, ORDERS * 2);
        assert_eq!(
            step.marked, 0,
            "nothing is relayed before its job is acknowledged"
        );
        let jobs = expect(
            queue
                .reserve(9, Duration::from_secs(60), Duration::ZERO)
                .await,
            "reserve",
        );
        for job in &jobs {
            let event: OutboxEvent = expect(job.payload(), "event");
            expect(handlers.handle_event(&event).await, "handle");
        }
        let leases: Vec<_> = jobs[..8].iter().map(Job::lease).collect();
        assert_eq!(expect(queue.ack(&leases).await, "ack"), 8);
        let step = expect(relay.step().await, "relay");
        assert_eq!(step.marked, 8, "acknowledged events are relayed");
        assert_eq!(
            expect(store.pending_events(1_000).await, "pending").len(),
            ORDERS * 2 - 8,
            "the rest stays in the outbox"
        );
        // The crash: queue, relay and the unacknowledged job are gone.
    }

    // Process 2 over the same store.
    let queue = Arc::new(InProcessQueue::new(Arc::new(h.clock.clone())));
    let worker = common::shop_worker(&h, Arc::clone(&queue), &mailer);
    let mut relay = common::relay(Arc::clone(&store), Arc::clone(&queue));
    common::drain(&mut relay, &store, queue.as_ref()).await;
    worker.shutdown().await;
    assert_each_mail_once(&mailer);
}

/// The spawned relay sleeps while the outbox is empty; a nudge (after a
/// checkout) wakes it at once instead of after its idle pause (an hour here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nudge_wakes_the_spawned_relay() {
    let store = Arc::new(InMemoryStore::new());
    let h = Harness::new(Arc::clone(&store));
    let queue = Arc::new(InProcessQueue::new(Arc::new(h.clock.clone())));
    let relay = commerce_jobs::relay::OutboxRelay::new(
        Arc::clone(&store),
        Arc::clone(&queue),
        commerce_jobs::relay::RelayConfig {
            idle: Duration::from_secs(3_600),
            ..Default::default()
        },
    );
    let nudge = relay.nudger();
    let (stop, task) = relay.spawn();
    // Let it find the outbox empty and go to sleep (if it is slower, the
    // nudge is kept for it and the test proves a little less).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, seller) = common::seller(&h, "nudge", "n@example.com").await;
    let v = h.product(seller, None, "Bell", "3.00", 5).await;
    expect(h.guest_buys(v, 1).await, "checkout");
    nudge.notify_one();
    let relayed = tokio::time::timeout(Duration::from_secs(30), async {
        while expect(queue.stats().await, "stats").ready < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    expect(relayed, "the nudged relay enqueued the event");
    let _ = stop.send(true);
    expect(task.await, "stopped");
}

#[cfg(feature = "redis")]
mod on_redis {
    use std::future::Future;
    use std::sync::atomic::{AtomicU32, Ordering};

    use chrono::{DateTime, Utc};
    use commerce_core::ids::EventId;
    use commerce_core::storage::StoreError;

    use super::*;

    /// An outbox whose `mark_relayed` fails while `crashes` is positive: the
    /// relay "dies" right after Redis acknowledged the enqueue.
    struct CrashingOutbox {
        inner: Arc<InMemoryStore>,
        crashes: AtomicU32,
    }

    impl OutboxStore for CrashingOutbox {
        fn pending_events(
            &self,
            limit: u32,
        ) -> impl Future<Output = Result<Vec<OutboxEvent>, StoreError>> + Send {
            self.inner.pending_events(limit)
        }

        fn mark_relayed(
            &self,
            ids: &[EventId],
            now: DateTime<Utc>,
        ) -> impl Future<Output = Result<(), StoreError>> + Send {
            let crash = self
                .crashes
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            let inner = Arc::clone(&self.inner);
            let ids = ids.to_vec();
            async move {
                if crash {
                    return Err(StoreError::Backend {
                        message: "the relay died here".into(),
                        retryable: true,
                    });
                }
                inner.mark_relayed(&ids, now).await
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_relay_crash_between_enqueue_and_mark_mails_nothing_twice() {
        let (h, store) = shop().await;
        let prefix = common::fresh_prefix();
        let Some(queue) = common::redis_queue(&prefix, Arc::new(h.clock.clone())).await else {
            return;
        };
        let queue = Arc::new(queue);
        let outbox = Arc::new(CrashingOutbox {
            inner: Arc::clone(&store),
            crashes: AtomicU32::new(2),
        });
        let mailer = RecordingMailer::new();
        let worker = common::shop_worker(&h, Arc::clone(&queue), &mailer);

        // Two relay runs die after enqueueing: the events stay unrelayed, and
        // the second run enqueues them again while (or after) the worker runs them.
        let mut relay = common::relay(Arc::clone(&outbox), Arc::clone(&queue));
        assert!(relay.step().await.is_err(), "crash 1");
        let seen = tokio::time::timeout(Duration::from_secs(30), async {
            while expect(queue.stats().await, "stats").acked < 10 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        expect(seen, "the worker ran jobs of the first run");
        let mut relay = common::relay(Arc::clone(&outbox), Arc::clone(&queue));
        assert!(relay.step().await.is_err(), "crash 2");
        assert_eq!(
            expect(store.pending_events(1_000).await, "pending").len(),
            ORDERS * 2,
            "nothing was marked relayed"
        );
        // A relay that lives.
        let mut relay = common::relay(Arc::clone(&outbox), Arc::clone(&queue));
        common::drain(&mut relay, &*outbox, queue.as_ref()).await;
        let report = worker.shutdown().await;
        assert!(
            report.processed > (ORDERS * 2) as u64,
            "events were delivered more than once ({} jobs for {} events), yet:",
            report.processed,
            ORDERS * 2
        );
        assert_each_mail_once(&mailer);
        expect(queue.purge().await, "purge");
    }
}
