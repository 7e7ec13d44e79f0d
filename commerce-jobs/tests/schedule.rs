//! Periodic work: the built-in sweeps, leases that let one node of many run
//! a task per interval, and custom tasks. Time moves by a fixed clock.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use commerce_core::clock::SystemClock;
use commerce_core::idempotency::{Begin, Fingerprint};
use commerce_core::order::OrderStatus;
use commerce_core::storage::{IdempotencyStore, InMemoryStore};
use commerce_core::testkit::{Harness, expect, new_key};
use commerce_jobs::schedule::{
    EXPIRE_TASK, LeaseLock, LocalLocks, PRUNE_TASK, RECONCILE_TASK, Scheduler, SweepConfig, Task,
    TaskRun, builtin_tasks,
};

fn harness() -> Harness<InMemoryStore> {
    Harness::new(Arc::new(InMemoryStore::new()))
}

fn outcome<'a>(runs: &'a [(String, TaskRun)], task: &str) -> Option<&'a TaskRun> {
    runs.iter().find(|(n, _)| n == task).map(|(_, r)| r)
}

fn counter(name: &str, every: Duration, n: &Arc<AtomicU32>) -> Task {
    let n = Arc::clone(n);
    Task::new(name, every, move || {
        let n = Arc::clone(&n);
        async move {
            n.fetch_add(1, Ordering::SeqCst);
            Ok("counted".to_owned())
        }
    })
}

#[tokio::test]
async fn unpaid_orders_are_expired_by_the_ten_second_sweep() {
    let h = harness();
    let config = SweepConfig::default();
    assert_eq!(config.expire_every, Duration::from_secs(10));
    assert_eq!(config.keep_keys, Duration::from_secs(24 * 3600));
    let (_, shop) = h.seller("sweep").await;
    let v = h.product(shop, None, "Clock", "9.00", 5).await;
    let order = expect(h.guest_buys(v, 2).await, "checkout");
    let clock = Arc::new(h.clock.clone());
    let mut scheduler = Scheduler::new(Arc::new(LocalLocks::new(clock.clone())), clock)
        .register_all(builtin_tasks(&h.commerce, &config));

    let runs = scheduler.tick().await;
    assert_eq!(
        outcome(&runs, EXPIRE_TASK),
        Some(&TaskRun::Ran("0 orders expired".into()))
    );
    h.clock.advance(chrono::Duration::seconds(5));
    assert_eq!(
        outcome(&scheduler.tick().await, EXPIRE_TASK),
        None,
        "not due before 10 s"
    );
    h.clock.advance(chrono::Duration::minutes(15));
    let runs = scheduler.tick().await;
    assert_eq!(
        outcome(&runs, EXPIRE_TASK),
        Some(&TaskRun::Ran("1 orders expired".into()))
    );
    assert_eq!(
        expect(h.commerce.order(order.id).await, "order").status,
        OrderStatus::Expired
    );
    assert_eq!(h.stock(v).await.reserved, 0, "stock released");
    h.clock.advance(chrono::Duration::seconds(10));
    let runs = scheduler.tick().await;
    assert_eq!(
        outcome(&runs, EXPIRE_TASK),
        Some(&TaskRun::Ran("0 orders expired".into())),
        "once"
    );
    h.assert_invariants().await;
}

#[tokio::test]
async fn idempotency_keys_older_than_a_day_are_pruned() {
    let h = harness();
    let key = new_key();
    let now = h.clock_now();
    let fp = Fingerprint::of(&[b"x"]);
    let begun = expect(h.store().begin("mail", &key, fp, now, now).await, "begin");
    assert_eq!(begun, Begin::Started);
    expect(
        h.store().complete("mail", &key, "sent".into()).await,
        "complete",
    );
    let clock = Arc::new(h.clock.clone());
    let mut scheduler = Scheduler::new(Arc::new(LocalLocks::new(clock.clone())), clock)
        .register_all(builtin_tasks(&h.commerce, &SweepConfig::default()));
    let runs = scheduler.tick().await;
    assert_eq!(
        outcome(&runs, PRUNE_TASK),
        Some(&TaskRun::Ran("0 idempotency keys pruned".into()))
    );
    h.clock.advance(chrono::Duration::hours(23));
    let runs = scheduler.tick().await;
    assert_eq!(
        outcome(&runs, PRUNE_TASK),
        Some(&TaskRun::Ran("0 idempotency keys pruned".into())),
        "kept 24 h"
    );
    h.clock.advance(chrono::Duration::hours(2));
    let runs = scheduler.tick().await;
    assert_eq!(
        outcome(&runs, PRUNE_TASK),
        Some(&TaskRun::Ran("1 idempotency keys pruned".into()))
    );
    let later = h.clock_now();
    assert_eq!(
        expect(
            h.store().begin("mail", &key, fp, later, later).await,
            "begin"
        ),
        Begin::Started
    );
}

#[tokio::test]
async fn payments_pending_with_their_gateway_are_reconciled() {
    let h = harness();
    let (_, shop) = h.seller("reconcile").await;
    let v = h.product(shop, None, "Rug", "80.00", 5).await;
    let order = expect(h.guest_buys(v, 1).await, "checkout");
    let payment = expect(
        h.commerce
            .start_payment(order.id, "sandbox", &new_key())
            .await,
        "start",
    );
    // Paid at the gateway; the webhook never comes.
    expect(
        h.sandbox.complete(&payment.reference, true, h.clock_now()),
        "pay",
    );
    let clock = Arc::new(h.clock.clone());
    let mut scheduler = Scheduler::new(Arc::new(LocalLocks::new(clock.clone())), clock)
        .register_all(builtin_tasks(&h.commerce, &SweepConfig::default()));
    let runs = scheduler.tick().await;
    assert_eq!(
        outcome(&runs, RECONCILE_TASK),
        Some(&TaskRun::Ran("0 payments settled".into())),
        "not before 2 minutes"
    );
    h.clock.advance(chrono::Duration::minutes(3));
    let runs = scheduler.tick().await;
    assert_eq!(
        outcome(&runs, RECONCILE_TASK),
        Some(&TaskRun::Ran("1 payments settled".into()))
    );
    assert_eq!(
        expect(h.commerce.order(order.id).await, "order").status,
        OrderStatus::Paid
    );
    h.assert_invariants().await;
}

#[tokio::test]
async fn nodes_sharing_leases_run_a_task_once_per_interval() {
    let h = harness();
    let clock = Arc::new(h.clock.clone());
    let locks: Arc<dyn LeaseLock> = Arc::new(LocalLocks::new(clock.clone()));
    let runs = Arc::new(AtomicU32::new(0));
    // A custom task, as the HTTP server registers OTP pruning.
    let mut nodes: Vec<Scheduler> = (0..3)
        .map(|_| {
            Scheduler::new(Arc::clone(&locks), clock.clone()).register(counter(
                "prune_otps",
                Duration::from_secs(60),
                &runs,
            ))
        })
        .collect();
    for round in 1..=3 {
        let mut ran = 0;
        for node in &mut nodes {
            for (_, r) in node.tick().await {
                match r {
                    TaskRun::Ran(_) => ran += 1,
                    TaskRun::Skipped => {}
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!(ran, 1, "round {round}: one node of three ran it");
        assert_eq!(runs.load(Ordering::SeqCst), round);
        h.clock.advance(chrono::Duration::seconds(60));
    }
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_leases_let_one_process_run_a_task_per_interval() {
    use commerce_jobs::schedule::RedisLocks;
    let prefix = common::fresh_prefix();
    let clock = Arc::new(SystemClock);
    let (Some(a), Some(b)) = (
        common::redis_queue(&prefix, clock.clone()).await,
        common::redis_queue(&prefix, clock.clone()).await,
    ) else {
        return;
    };
    let runs = Arc::new(AtomicU32::new(0));
    // Two nodes (two connections), each with its own lease holder identity.
    let mut nodes = [
        Scheduler::new(Arc::new(RedisLocks::for_queue(&a)), clock.clone()).register(counter(
            "sweep",
            Duration::from_secs(600),
            &runs,
        )),
        Scheduler::new(Arc::new(RedisLocks::for_queue(&b)), clock.clone()).register(counter(
            "sweep",
            Duration::from_secs(600),
            &runs,
        )),
    ];
    let (x, y) = nodes.split_at_mut(1);
    let (ra, rb) = tokio::join!(x[0].tick(), y[0].tick());
    let outcomes: Vec<&TaskRun> = ra.iter().chain(rb.iter()).map(|(_, r)| r).collect();
    assert_eq!(runs.load(Ordering::SeqCst), 1, "{outcomes:?}");
    assert_eq!(
        outcomes
            .iter()
            .filter(|r| matches!(r, TaskRun::Skipped))
            .count(),
        1
    );
    let lock = RedisLocks::for_queue(&a);
    assert!(expect(
        lock.try_acquire("other", Duration::from_secs(60)).await,
        "free lease"
    ));
    assert!(!expect(
        lock.try_acquire("other", Duration::from_secs(60)).await,
        "held lease"
    ));
    expect(a.purge().await, "purge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawned_scheduler_keeps_running_until_stopped() {
    let clock = Arc::new(SystemClock);
    let runs = Arc::new(AtomicU32::new(0));
    let scheduler = Scheduler::new(Arc::new(LocalLocks::new(clock.clone())), clock)
        .register(counter("often", Duration::from_millis(20), &runs));
    let (stop, task) = scheduler.spawn();
    let ran = tokio::time::timeout(Duration::from_secs(30), async {
        while runs.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    expect(ran, "three runs");
    let _ = stop.send(true);
    expect(task.await, "stopped");
}
