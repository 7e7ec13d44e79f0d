//! The seeded simulation of `commerce_core::testkit` on the SQL stores: a
//! fresh database per seed, a few hundred random operations each, every
//! step checked against the model and the invariants I1–I7.
//!
//! Replay a failing seed with
//! `COMMERCE_SIM_SEED=<seed> COMMERCE_SIM_STEPS=<steps> cargo test -p commerce-sqlx --all-features --test simulation`.

mod common;

use std::sync::Arc;

use commerce_core::testkit::{SimulationPlan, simulate};

const SEEDS: std::ops::Range<u64> = 0..5;
const STEPS: u32 = 250;

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulation_on_sqlite() {
    let plan = SimulationPlan::from_env(SEEDS, STEPS);
    for &seed in &plan.seeds {
        let store = Arc::new(common::sqlite().await);
        if let Err(failure) = simulate(store, seed, plan.steps).await {
            panic!("SQLite: {failure}");
        }
    }
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulation_on_postgres() {
    let plan = SimulationPlan::from_env(SEEDS, STEPS);
    for &seed in &plan.seeds {
        let Some(store) = common::pg().await else {
            return;
        };
        if let Err(failure) = simulate(Arc::new(store), seed, plan.steps).await {
            panic!("PostgreSQL: {failure}");
        }
    }
}
