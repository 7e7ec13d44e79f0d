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

/// An outbox that counts the events its reads return, and hides the
/// events in `late` from reads after a cursor, as if their transactions
/// had committed after newer events were read.
struct CountingOutbox {
    inner: Arc<InMemoryStore>,
    read: std::sync::atomic::AtomicUsize,
    late: std::sync::Mutex<BTreeSet<commerce_core::ids::EventId>>,
}

impl CountingOutbox {
    fn new(inner: Arc<InMemoryStore>) -> Self {
        CountingOutbox {
            inner,
            read: std::sync::atomic::AtomicUsize::new(0),
            late: std::sync::Mutex::new(BTreeSet::new()),
        }
    }

    fn take_read(&self) -> usize {
        self.read.swap(0, std::sync::atomic::Ordering::SeqCst)
    }

    fn count(&self, events: Vec<OutboxEvent>) -> Vec<OutboxEvent> {
        self.read
            .fetch_add(events.len(), std::sync::atomic::Ordering::SeqCst);
        events
    }
}

impl OutboxStore for CountingOutbox {
    async fn pending_events(
        &self,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, commerce_core::storage::StoreError> {
        Ok(self.count(self.inner.pending_events(limit).await?))
    }

    async fn pending_events_after(
        &self,
        after: commerce_core::ids::EventId,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, commerce_core::storage::StoreError> {
        let events = self.inner.pending_events_after(after, limit).await?;
        let late = self
            .late
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        Ok(self.count(
            events
                .into_iter()
                .filter(|e| !late.contains(&e.id))
                .collect(),
        ))
    }

    async fn mark_relayed(
        &self,
        ids: &[commerce_core::ids::EventId],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), commerce_core::storage::StoreError> {
        self.inner.mark_relayed(ids, now).await
    }
}

/// A relay over `outbox` and an in-process queue nobody works off, so
/// that every event it enqueues stays in flight.
fn relay_in_flight(
    h: &Harness<InMemoryStore>,
    outbox: &Arc<CountingOutbox>,
    rescan: Duration,
) -> (
    commerce_jobs::relay::OutboxRelay<CountingOutbox, InProcessQueue>,
    Arc<InProcessQueue>,
) {
    let queue = Arc::new(InProcessQueue::new(Arc::new(h.clock.clone())));
    let relay = commerce_jobs::relay::OutboxRelay::new(
        Arc::clone(outbox),
        Arc::clone(&queue),
        commerce_jobs::relay::RelayConfig {
            rescan,
            ..Default::default()
        },
    );
    (relay, queue)
}

/// In-process mode: events in flight are not read again at every step;
/// each step reads what was written since the last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_flight_are_not_read_again() {
    let (h, store) = shop().await;
    let outbox = Arc::new(CountingOutbox::new(Arc::clone(&store)));
    let (mut relay, _queue) = relay_in_flight(&h, &outbox, Duration::from_secs(3_600));
    let first = expect(relay.step().await, "step");
    assert_eq!(first.enqueued, ORDERS * 2);
    assert_eq!(outbox.take_read(), ORDERS * 2);

    let (_, seller) = common::seller(&h, "later", "later@example.com").await;
    let v = h.product(seller, None, "Jug", "6.00", 10).await;
    expect(h.guest_buys(v, 1).await, "one more order");
    let next = expect(relay.step().await, "step");
    assert_eq!(next.enqueued, 1, "the new order's event");
    assert_eq!(next.outstanding, ORDERS * 2 + 1);
    assert_eq!(
        outbox.take_read(),
        1,
        "only the new event was read, not the {} in flight",
        ORDERS * 2
    );
}

/// An event that sorts before the relay's cursor (its transaction committed
/// late) is found by the next read from the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_late_is_found_by_the_rescan() {
    let (h, store) = shop().await;
    let outbox = Arc::new(CountingOutbox::new(Arc::clone(&store)));
    let (mut relay, queue) = relay_in_flight(&h, &outbox, Duration::from_millis(300));
    expect(relay.step().await, "step");

    let (_, seller) = common::seller(&h, "late", "late@example.com").await;
    let v = h.product(seller, None, "Jug", "6.00", 10).await;
    let late = expect(h.guest_buys(v, 1).await, "the late order");
    let late_event = expect(store.pending_events(1_000).await, "pending")
        .into_iter()
        .find(|e| {
            matches!(e.kind, commerce_core::outbox::EventKind::OrderPlaced { order_id } if order_id == late.id)
        })
        .map(|e| e.id);
    let Some(late_event) = late_event else {
        panic!("the late order's event is in the outbox");
    };
    outbox
        .late
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(late_event);
    expect(h.guest_buys(v, 1).await, "a newer order");
    let next = expect(relay.step().await, "step");
    assert_eq!(next.enqueued, 1, "only the newer event, past the cursor");
    let job = commerce_jobs::relay::job_id_of(late_event);
    assert!(expect(queue.state(job).await, "state").is_none());

    tokio::time::sleep(Duration::from_millis(350)).await;
    let rescan = expect(relay.step().await, "step");
    assert_eq!(rescan.enqueued, 1, "the late event, found from the start");
    assert!(expect(queue.state(job).await, "state").is_some());
}
