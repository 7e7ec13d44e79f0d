//! The seeded simulation: random sequences of shop operations, through the
//! public [`Commerce`](crate::service::Commerce) API, over any backend, with
//! a manual clock — checked after every step.
//!
//! A run sets up a small shop in an empty store (one seller, five variants
//! with random prices and stock, five promotions of which four have codes
//! and limits, three guests and three accounts), then repeats: advance the
//! clock by one second, pick an operation by weight — add to cart, change a
//! quantity, enter or remove a code, check out (new key, the same key and
//! body again, the same key with another body), start a payment, pay or
//! decline on the sandbox page, deliver a signed webhook now, later, again,
//! or with a stale signature, report a wrong amount, come back from the
//! gateway, cancel, let time pass, sweep expiries, restock (sometimes below
//! what is reserved), ship, deliver, refund (partial, in full, above what is
//! left, invalid), reprice, withdraw — and:
//!
//! 1. predicts from a model what the contract allows, and checks that the
//!    answer is exactly that: the same refusal with the same details, or
//!    the same change (a new order with the cart's lines at today's prices,
//!    a payment outcome, the orders an expiry sweep takes, ...);
//! 2. reads the whole store ([`AuditStore`](crate::storage::AuditStore)) and
//!    runs the invariant checker (I1–I7);
//! 3. compares the store with the model: stock and reservations per
//!    variant, each order's status, capture, refunds, payer and unchanged
//!    snapshot (I6), each payment's status, each promotion hold's state
//!    (I3), and how many outbox events of each kind were written (I5);
//! 4. for a refusal or a replay, checks that the store did not change at all.
//!
//! The first difference stops the run with a [`SimulationFailure`] naming the
//! seed, the step, the operation and the steps before it.
//!
//! # Replaying
//!
//! Everything the simulation decides comes from its seed, and nothing it
//! decides depends on ids the engine makes at random: the ids that break
//! ties (promotions, by id) are fixed numbers, every order gets its own
//! expiry instant (the clock moves at every step), and the model keeps its
//! records in vectors, looking engine ids up but never ordering by them. So
//! a seed replays the same run on the same code and the same `Cargo.lock`,
//! as long as the backend answers deterministically (the contract lets a
//! sweep limited to fewer orders than are due take any of them; the model
//! follows whichever it takes).
//! [`SimulationPlan::from_env`] reads `COMMERCE_SIM_SEED` (and
//! `COMMERCE_SIM_STEPS`) so that a failure's seed can be run alone.
//!
//! # Running it on a backend
//!
//! Each run needs a fresh, empty store (it refuses one that holds orders,
//! promotions or stock). Many short runs keep the store small, so that the
//! checks after every step stay cheap:
//!
//! ```ignore
//! #[tokio::test]
//! async fn simulation() {
//!     let plan = SimulationPlan::from_env(0..20, 300);
//!     for &seed in &plan.seeds {
//!         let store = Arc::new(fresh_store().await);
//!         if let Err(failure) = simulate(store, seed, plan.steps).await {
//!             panic!("{failure}");
//!         }
//!     }
//! }
//! ```
//!
//! The dice are [`fastrand`]'s generator (wyrand) seeded with the seed: a
//! small, dependency-free crate already in the workspace's tree, whose
//! seeded sequence is fixed for a given version.

mod model;
mod ops;

use std::collections::BTreeMap;
use std::fmt;
use std::hash::Hasher;
use std::ops::{Range, RangeInclusive};
use std::sync::Arc;

use chrono::Duration;

use self::ops::{Digest, Effect, Sim};
use super::invariants;
use crate::storage::Store;

/// How many of the last steps a failure shows.
const HISTORY: usize = 40;

/// The seeded dice.
#[derive(Debug)]
struct Dice(fastrand::Rng);

impl Dice {
    fn new(seed: u64) -> Self {
        Dice(fastrand::Rng::with_seed(seed))
    }

    fn range(&mut self, range: RangeInclusive<u32>) -> u32 {
        self.0.u32(range)
    }

    fn minor(&mut self, range: RangeInclusive<i64>) -> i64 {
        self.0.i64(range)
    }

    /// An index below `n` (which is at least 1).
    fn below(&mut self, n: usize) -> usize {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        usize::try_from(self.0.u32(0..n)).unwrap_or(0)
    }

    fn chance(&mut self, percent: u32) -> bool {
        self.0.u32(0..100) < percent
    }

    /// The index of one of `items`.
    fn pick<T>(&mut self, items: &[T]) -> Option<usize> {
        (!items.is_empty()).then(|| self.below(items.len()))
    }
}

/// What simulations did: runs, steps, and how often each operation ended
/// each way (`"checkout: placed"`, `"payment: paid late, sold again"`, ...),
/// so that a test can check the runs reached the cases that matter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimulationReport {
    /// Runs (seeds).
    pub runs: u32,
    /// Steps, over all runs.
    pub steps: u64,
    /// Orders placed, over all runs.
    pub orders: u64,
    /// Payments started, over all runs.
    pub payments: u64,
    /// Outcome name → how many steps ended so.
    pub outcomes: BTreeMap<&'static str, u64>,
    /// A hash of every step's outcome, in order (summed over runs): two runs
    /// of one seed on the same code have the same.
    pub fingerprint: u64,
}

impl SimulationReport {
    /// Adds another report's counts to this one.
    pub fn absorb(&mut self, other: SimulationReport) {
        self.runs += other.runs;
        self.steps += other.steps;
        self.orders += other.orders;
        self.payments += other.payments;
        for (outcome, n) in other.outcomes {
            *self.outcomes.entry(outcome).or_default() += n;
        }
        self.fingerprint = self.fingerprint.wrapping_add(other.fingerprint);
    }

    /// How many steps ended with `outcome`.
    pub fn count(&self, outcome: &str) -> u64 {
        self.outcomes.get(outcome).copied().unwrap_or(0)
    }
}

impl fmt::Display for SimulationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} runs, {} steps, {} orders, {} payments",
            self.runs, self.steps, self.orders, self.payments
        )?;
        for (outcome, n) in &self.outcomes {
            writeln!(f, "  {n:>7}  {outcome}")?;
        }
        Ok(())
    }
}

/// A run that found the store (or the engine) breaking its contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulationFailure {
    /// The run's seed.
    pub seed: u64,
    /// The failing step (from 0).
    pub step: u32,
    /// What that step did.
    pub operation: String,
    /// Everything found wrong after it.
    pub problems: Vec<String>,
    /// The steps before it, oldest first.
    pub recent: Vec<String>,
}

impl fmt::Display for SimulationFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "simulation failed at step {} of seed {}: {}",
            self.step, self.seed, self.operation
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        if !self.recent.is_empty() {
            writeln!(f, "the steps before it:")?;
            for r in &self.recent {
                writeln!(f, "  {r}")?;
            }
        }
        write!(
            f,
            "replay with {}={} {}={}",
            SimulationPlan::SEED_VAR,
            self.seed,
            SimulationPlan::STEPS_VAR,
            self.step + 1
        )
    }
}

impl std::error::Error for SimulationFailure {}

/// Which seeds to run, and how many steps each: fixed defaults, or one seed
/// from the environment to replay a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulationPlan {
    /// The seeds.
    pub seeds: Vec<u64>,
    /// Steps per seed.
    pub steps: u32,
    /// `true` when the seed came from the environment.
    pub replaying: bool,
}

impl SimulationPlan {
    /// Runs only this seed (decimal, or hexadecimal with `0x`).
    pub const SEED_VAR: &'static str = "COMMERCE_SIM_SEED";
    /// Steps per seed.
    pub const STEPS_VAR: &'static str = "COMMERCE_SIM_STEPS";

    /// `seeds` × `steps`, unless `COMMERCE_SIM_SEED` names one seed to run
    /// (and `COMMERCE_SIM_STEPS` how many steps).
    ///
    /// # Panics
    /// When a variable is set to something that is not a number.
    pub fn from_env(seeds: Range<u64>, steps: u32) -> Self {
        fn number(var: &str) -> Option<u64> {
            let raw = std::env::var(var).ok()?;
            let raw = raw.trim();
            let parsed = match raw.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => raw.parse(),
            };
            match parsed {
                Ok(n) => Some(n),
                Err(e) => panic!("{var}={raw:?} is not a number: {e}"),
            }
        }
        let steps = number(Self::STEPS_VAR).map_or(steps, |n| u32::try_from(n).unwrap_or(u32::MAX));
        match number(Self::SEED_VAR) {
            Some(seed) => SimulationPlan {
                seeds: vec![seed],
                steps,
                replaying: true,
            },
            None => SimulationPlan {
                seeds: seeds.collect(),
                steps,
                replaying: false,
            },
        }
    }
}

/// Runs `steps` random operations from `seed` over `store`, which must be
/// empty, checking everything after each (see the module docs).
///
/// # Errors
/// The first [`SimulationFailure`]. A panic inside the engine or the store
/// is reported on stderr with the seed and step before it unwinds.
pub async fn simulate<S: Store>(
    store: Arc<S>,
    seed: u64,
    steps: u32,
) -> Result<SimulationReport, SimulationFailure> {
    let mut sim = Sim::start(store, seed)
        .await
        .map_err(|problem| SimulationFailure {
            seed,
            step: 0,
            operation: "setup".into(),
            problems: vec![problem],
            recent: Vec::new(),
        })?;
    let mut last = match sim.h.store().audit().await {
        Ok(a) => Digest::of(&a),
        Err(e) => {
            return Err(SimulationFailure {
                seed,
                step: 0,
                operation: "setup".into(),
                problems: vec![format!("audit failed: {e}")],
                recent: Vec::new(),
            });
        }
    };
    let mut outcomes = BTreeMap::new();
    let mut fingerprint = rustc_hash::FxHasher::default();
    for step in 0..steps {
        sim.step = step;
        let (outcome, problems) = one_step(&mut sim, &mut last).await;
        if let Some(outcome) = outcome {
            *outcomes.entry(outcome).or_default() += 1;
            fingerprint.write(outcome.as_bytes());
        }
        let line = format!("#{step} {} -> {}", sim.what, outcome.unwrap_or("(failed)"));
        if !problems.is_empty() {
            return Err(SimulationFailure {
                seed,
                step,
                operation: format!("{} -> {}", sim.what, outcome.unwrap_or("(failed)")),
                problems,
                recent: sim.recent.drain(..).collect(),
            });
        }
        if sim.recent.len() == HISTORY {
            sim.recent.pop_front();
        }
        sim.recent.push_back(line);
    }
    sim.finished = true;
    Ok(SimulationReport {
        runs: 1,
        steps: u64::from(steps),
        orders: sim.m.orders.len() as u64,
        payments: sim.m.payments.len() as u64,
        outcomes,
        fingerprint: fingerprint.finish(),
    })
}

/// One step: the operation, then every check. Returns the outcome (when the
/// operation answered as allowed) and the problems found.
async fn one_step<S: Store>(
    sim: &mut Sim<S>,
    last: &mut Digest,
) -> (Option<&'static str>, Vec<String>) {
    sim.h.clock.advance(Duration::seconds(1));
    sim.what.clear();
    let mut problems = Vec::new();
    let done = match sim.run_one().await {
        Ok(done) => Some(done),
        Err(problem) => {
            problems.push(problem);
            None
        }
    };
    let audit = match sim.h.store().audit().await {
        Ok(a) => a,
        Err(e) => {
            problems.push(format!("audit failed: {e}"));
            return (done.map(|d| d.outcome), problems);
        }
    };
    problems.extend(invariants::check(&audit));
    problems.extend(sim.m.compare(&audit));
    let digest = Digest::of(&audit);
    if let Some(d) = done
        && d.effect == Effect::Unchanged
    {
        let changed = last.differences(&digest);
        if !changed.is_empty() {
            problems.push(format!(
                "`{}` must change nothing, but the store's {} changed",
                d.outcome,
                changed.join(", ")
            ));
        }
    }
    *last = digest;
    (done.map(|d| d.outcome), problems)
}

impl<S> Drop for Sim<S> {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.finished {
            eprintln!(
                "the simulation panicked at step {} of seed {} during: {}\n\
                 replay with {}={} {}={}",
                self.step,
                self.seed,
                self.what,
                SimulationPlan::SEED_VAR,
                self.seed,
                SimulationPlan::STEPS_VAR,
                self.step + 1
            );
        }
    }
}
