//! The seeded simulation (`commerce_core::testkit::simulate`) on
//! `InMemoryStore`: 250 seeds × 400 steps = 100,000 random operations per
//! run, each followed by the invariant checker (I1–I7), the model check and,
//! for refusals and replays, a check that nothing changed.
//!
//! A failure panics with its seed and step; replay exactly that run with
//!
//! ```text
//! COMMERCE_SIM_SEED=<seed> COMMERCE_SIM_STEPS=<step + 1> \
//!     cargo test -p commerce-core --all-features --test simulation -- --nocapture
//! ```
//!
//! (`--nocapture` also prints how often each operation ended each way).
//!
//! How we know it catches a broken engine: each mistake below was put into
//! `InMemoryStore`, a service or the pricing engine by hand, one at a time,
//! and the default run failed, naming a seed and step that replayed the
//! failure exactly (the lowest failing seed is given; "sim only" where the
//! conformance suite, races included, kept passing):
//! - expiry releasing reserved stock twice, saturating so that the store
//!   does not panic: seed 0, step 304, I2 and the model (sim only). Without
//!   saturation the store's own overflow check panics, and the note left
//!   on stderr names seed 0, step 152;
//! - `apply_payment` without its amount check: seed 1, step 44, a capture
//!   one cent short paying the order. The I4 checker cannot see this one (a
//!   payment keeps the amount asked, not the amount captured); the outcome
//!   check does;
//! - a late payment sold again without checking stock: seed 4, step 110;
//! - a late payment sold again without checking usage limits: seed 4,
//!   step 308, I3 on the automatic promotion (sim only);
//! - the store's usage limit off by one (`>` for `>=`): the same seed and
//!   step. Checkout's pricing refuses a used-up code before the store
//!   checks, so sequentially only a late payment reaches the store's check;
//!   the conformance races caught it in one try of two;
//! - paying without voiding the order's other pending payments: seed 0,
//!   step 78 (sim only);
//! - cancelling a pending order without releasing its promotion usage:
//!   seed 0, step 72, I3 (sim only); expiry doing the same: seed 0, step 152;
//! - pricing ignoring per-customer limits: seed 8, step 211 (sim only);
//! - cancelling a paid order without restocking: seed 0, step 39;
//! - refunds not checked against what is left: seed 0, step 328, I7;
//! - the expiry sweep taking `<` for `<=`: seed 0, step 304 (one seed in
//!   250 caught it before the simulation learned to sweep at the very
//!   instant a reservation ends);
//! - a refused checkout keeping its idempotency key: seed 3, step 160;
//! - `set_on_hand` without its `LowStock` event: seed 0, step 252;
//! - checkout not emptying the cart: seed 0, step 17;
//! - an expired order allowed to start a payment: seed 0, step 299;
//! - a refund of at least what is left taken as a full refund: seed 0,
//!   step 129, by the refusal's details only (sim only);
//! - the two bugs fixed alongside the simulation, put back: `refund_order`
//!   with no amount answering `Validation` when nothing is left (seed 0,
//!   step 109), and a wrong amount captured on a voided payment becoming a
//!   refund of the order total (seed 0, step 350).
//!
//! Not caught: dropping the webhook inbox check. Each payment's own status
//! already makes every event idempotent (a replayed event finds its payment
//! succeeded, failed, flagged or voided and changes nothing), so one event
//! at a time the inbox is a second guard with nothing to observe; the
//! conformance suite does not notice either.

#![cfg(feature = "testkit")]

use std::sync::Arc;

use commerce_core::storage::{DynStore, InMemoryStore};
use commerce_core::testkit::{SimulationPlan, SimulationReport, simulate};

/// Outcomes every default run must reach at least this often, so that the
/// simulation cannot quietly stop exercising what matters.
const MUST_REACH: [(&str, u64); 26] = [
    ("checkout: placed", 1000),
    ("checkout: replayed", 100),
    ("checkout: key reused, other body", 100),
    ("checkout: insufficient stock", 100),
    ("checkout: price changed", 100),
    ("checkout: product unavailable", 100),
    ("checkout: code used up", 5),
    ("code: used up", 50),
    ("code: not applicable", 100),
    ("payment: paid", 500),
    ("payment: paid late, sold again", 50),
    ("payment: refund required", 100),
    ("payment: amount mismatch", 100),
    ("payment: declined", 100),
    ("payment: already applied", 500),
    ("webhook: stale signature", 50),
    ("webhook: forged signature", 50),
    ("cancel: pending released", 100),
    ("cancel: paid restocked and refunded", 100),
    ("expire: expired", 100),
    ("restock: below reserved", 50),
    ("refund: partial", 100),
    ("refund: in full", 100),
    ("refund: above what is left", 100),
    ("ship: shipped", 100),
    ("deliver: delivered", 100),
];

/// Runs `seeds`, each on a fresh store; panics with the first failure.
async fn run<S, F>(seeds: &[u64], steps: u32, store: F) -> SimulationReport
where
    S: commerce_core::storage::Store,
    F: Fn() -> S,
{
    let mut total = SimulationReport::default();
    for &seed in seeds {
        match simulate(Arc::new(store()), seed, steps).await {
            Ok(report) => total.absorb(report),
            Err(failure) => panic!("{failure}"),
        }
    }
    total
}

/// The seeds are independent: CI's two cores each take every other one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulation_over_in_memory_store() {
    const LANES: usize = 2;
    let plan = SimulationPlan::from_env(0..250, 400);
    let lanes: Vec<_> = (0..LANES)
        .map(|lane| {
            let seeds: Vec<u64> = plan
                .seeds
                .iter()
                .copied()
                .skip(lane)
                .step_by(LANES)
                .collect();
            let steps = plan.steps;
            tokio::spawn(async move { run(&seeds, steps, InMemoryStore::new).await })
        })
        .collect();
    let mut total = SimulationReport::default();
    for lane in lanes {
        match lane.await {
            Ok(report) => total.absorb(report),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    println!("{total}");
    if plan.replaying {
        return;
    }
    assert!(total.steps >= 100_000, "{} steps", total.steps);
    let missed: Vec<String> = MUST_REACH
        .iter()
        .filter(|(outcome, at_least)| total.count(outcome) < *at_least)
        .map(|(outcome, at_least)| format!("{outcome}: {} < {at_least}", total.count(outcome)))
        .collect();
    assert!(
        missed.is_empty(),
        "the simulation no longer reaches: {missed:?}\n{total}"
    );
}

/// The run-time-chosen backend wrapper behaves as the backend it wraps.
#[tokio::test(flavor = "current_thread")]
async fn simulation_through_dyn_store() {
    let plan = SimulationPlan::from_env(1000..1010, 400);
    run(&plan.seeds, plan.steps, || {
        DynStore::new(InMemoryStore::new())
    })
    .await;
}

/// A seed replays the same run: every step ends the same way.
#[tokio::test(flavor = "current_thread")]
async fn a_seed_replays_the_same_run() {
    let first = simulate(Arc::new(InMemoryStore::new()), 7, 600).await;
    let again = simulate(Arc::new(InMemoryStore::new()), 7, 600).await;
    match (first, again) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.fingerprint, b.fingerprint);
            assert_eq!(a, b);
        }
        (a, b) => panic!("{a:?}\n{b:?}"),
    }
}

/// The simulation refuses a store that already holds a shop.
#[tokio::test(flavor = "current_thread")]
async fn the_simulation_needs_an_empty_store() {
    let store = Arc::new(InMemoryStore::new());
    assert!(simulate(Arc::clone(&store), 1, 20).await.is_ok());
    let refused = simulate(store, 2, 20).await;
    assert!(
        matches!(&refused, Err(f) if f.operation == "setup"),
        "{refused:?}"
    );
}
