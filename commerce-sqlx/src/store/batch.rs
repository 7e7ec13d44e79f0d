//! Group commit for `place_order`: the calls that arrive while a batch is
//! being written wait in a queue, and the next batch takes them all (up to
//! [`MAX_BATCH`]) into one transaction — one commit, so one WAL flush on
//! PostgreSQL, for many orders.
//!
//! One leader per store (per pool) runs the batches, in a task of its own,
//! so a caller that stops waiting (a dropped request) never cuts a batch
//! short. A call alone is a batch of one: no waiting is
//! added to gather more.
//!
//! Each order is decided on its own inside the batch (see `place.rs`): a
//! refused order writes nothing and the others still commit. Each caller
//! gets its own result, after the commit. When a batch fails before its
//! commit (a lost connection, a constraint no decision foresaw), each of
//! its orders runs again alone, so one bad order cannot fail the others.
//! When the commit itself fails, nothing of the batch was written, and
//! every order of it gets a retryable error. A deadlock or serialization
//! failure runs the whole batch again, as any transaction here.

use std::collections::VecDeque;
use std::sync::Mutex;

use commerce_core::storage::{PlaceOrder, StoreError};
use tokio::sync::oneshot;

use super::place::{AtOnce, Placed, place_at_once_pg, place_batch};
use super::{Done, Fail, MAX_ATTEMPTS, SqlStore, backoff};
use crate::backend::{Backend, TxMode};
use crate::error::{backend, is_conflict};

/// The most orders one transaction takes. PostgreSQL keeps the row locks
/// of all of them until the commit; a bound keeps that, and the statement
/// sizes, small.
pub(crate) const MAX_BATCH: usize = 64;

/// Batches in flight at once per store: one. On PostgreSQL a batch that
/// fits is one statement and one round trip (`place_at_once_pg`), so a
/// second batch in flight would gain little, and on a hot row it costs
/// much: it waits for the first one's row lock and then re-checks its whole
/// plan against the new row (`EvalPlanQual`), which measured slower than
/// one leader (8 tasks on one SKU: 2,900 against 4,560 reservations per
/// second; docs/PERFORMANCE.md). SQLite has one writer at a time anyway.
const MAX_LEADERS: usize = 1;

type Reply = oneshot::Sender<Result<Placed, StoreError>>;

/// Calls waiting for a batch, and whether a leader is running.
#[derive(Debug, Default)]
pub(crate) struct Batcher {
    state: Mutex<State>,
    /// Held by a test to keep the leader from taking the next batch until
    /// the calls it wants in one batch are queued.
    #[cfg(test)]
    pub(crate) gate: tokio::sync::Mutex<()>,
    /// Batches placed by one statement (`place_at_once_pg`), for tests.
    #[cfg(test)]
    pub(crate) at_once: std::sync::atomic::AtomicUsize,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<(PlaceOrder, Reply)>,
    /// Leaders running.
    leaders: usize,
    /// Sizes of the batches run so far (tests only).
    #[cfg(test)]
    sizes: Vec<usize>,
}

impl Batcher {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves a queue that is
        // still consistent (pushes and drains only).
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a call; `true` when the caller must start a leader (fewer
    /// than `max_leaders` run).
    fn push(&self, place: PlaceOrder, reply: Reply, max_leaders: usize) -> bool {
        let mut state = self.state();
        state.queue.push_back((place, reply));
        if state.leaders < max_leaders {
            state.leaders += 1;
            true
        } else {
            false
        }
    }

    /// The next batch; empty (and one leader fewer) when none is waiting.
    fn next(&self) -> Vec<(PlaceOrder, Reply)> {
        let mut state = self.state();
        let n = state.queue.len().min(MAX_BATCH);
        if n == 0 {
            state.leaders -= 1;
        }
        #[cfg(test)]
        if n > 0 {
            state.sizes.push(n);
        }
        state.queue.drain(..n).collect()
    }

    /// Calls waiting now.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.state().queue.len()
    }

    /// Sizes of the batches run so far.
    #[cfg(test)]
    pub(crate) fn sizes(&self) -> Vec<usize> {
        self.state().sizes.clone()
    }
}

/// Ends the leader's turn if its task ends other than by finding the queue
/// empty (a panic, the runtime shutting down): the store must not count a
/// leader that no longer runs. When it was the last, the calls still
/// queued get an error (their reply is dropped).
struct Leading<'a> {
    batcher: &'a Batcher,
    done: bool,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut state = self.batcher.state();
            state.leaders = state.leaders.saturating_sub(1);
            if state.leaders == 0 {
                state.queue.clear();
            }
        }
    }
}

/// Why a batch did not commit.
enum Failed {
    /// Before the commit: nothing was written.
    Before(StoreError),
    /// The commit failed, or its outcome is unknown: the batch as a whole
    /// failed.
    Commit(String),
}

fn abandoned() -> StoreError {
    StoreError::Backend {
        message: "the order's batch ended without an outcome".into(),
        retryable: true,
    }
}

impl<B: Backend> SqlStore<B> {
    /// Places an order through the batch queue.
    pub(crate) async fn place(&self, place: PlaceOrder) -> Result<Placed, StoreError> {
        let (reply, outcome) = oneshot::channel();
        if self.batcher.push(place, reply, MAX_LEADERS) {
            let store = self.clone();
            tokio::spawn(async move { store.lead().await });
        }
        outcome.await.unwrap_or_else(|_| Err(abandoned()))
    }

    /// Runs batches until no call waits.
    async fn lead(self) {
        let mut leading = Leading {
            batcher: &self.batcher,
            done: false,
        };
        loop {
            #[cfg(test)]
            let gate = self.batcher.gate.lock().await;
            let batch = self.batcher.next();
            #[cfg(test)]
            drop(gate);
            if batch.is_empty() {
                // `next` handed the lead back under the queue's lock.
                leading.done = true;
                return;
            }
            self.run(batch).await;
        }
    }

    /// Runs one batch and answers each of its callers.
    async fn run(&self, batch: Vec<(PlaceOrder, Reply)>) {
        let (places, replies): (Vec<PlaceOrder>, Vec<Reply>) = batch.into_iter().unzip();
        match self.place_all(&places).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    // A caller that stopped waiting needs no answer.
                    let _ = reply.send(Ok(result));
                }
            }
            Err(Failed::Before(_)) if places.len() > 1 => {
                // Nothing was written: each order alone, so that only the
                // one at fault (if any) fails.
                for (place, reply) in places.into_iter().zip(replies) {
                    let result = match self.place_all(std::slice::from_ref(&place)).await {
                        Ok(mut one) => one.pop().ok_or_else(abandoned),
                        Err(Failed::Before(e)) => Err(e),
                        Err(Failed::Commit(e)) => Err(commit_failed(&e)),
                    };
                    let _ = reply.send(result);
                }
            }
            Err(Failed::Before(e)) => {
                // A batch of one: its own error.
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
            Err(Failed::Commit(e)) => {
                for reply in replies {
                    let _ = reply.send(Err(commit_failed(&e)));
                }
            }
        }
    }

    /// The batch in one transaction, run again after a deadlock or
    /// serialization failure.
    async fn place_all(&self, batch: &[PlaceOrder]) -> Result<Vec<Placed>, Failed> {
        // A batch that fits, on PostgreSQL: one statement.
        match place_at_once_pg::<B>(&self.db, batch).await {
            AtOnce::Placed(results) => {
                #[cfg(test)]
                self.batcher
                    .at_once
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                return Ok(results);
            }
            AtOnce::Unknown(e) => return Err(Failed::Commit(e)),
            AtOnce::Decide => {}
        }
        let mut attempt: u32 = 0;
        loop {
            let mut tx = B::begin(&self.db, TxMode::Write)
                .await
                .map_err(|e| Failed::Before(backend(e)))?;
            let conflict = match place_batch::<B>(&mut tx, batch).await {
                Ok(Done::Commit(results)) => match B::commit(tx).await {
                    Ok(()) => return Ok(results),
                    Err(e) if is_conflict(&e) => e,
                    Err(e) => return Err(Failed::Commit(e.to_string())),
                },
                Ok(Done::Rollback(results)) => {
                    drop(tx);
                    return Ok(results);
                }
                Err(Fail::Db(e)) if is_conflict(&e) => {
                    drop(tx);
                    e
                }
                Err(e) => return Err(Failed::Before(e.into_store())),
            };
            attempt += 1;
            if attempt >= MAX_ATTEMPTS {
                return Err(Failed::Before(backend(conflict)));
            }
            backoff(attempt).await;
        }
    }
}

/// A failed commit: nothing of the batch was written — or, when the
/// connection was lost during the commit, perhaps all of it; either way
/// trying again with the same idempotency key is safe.
fn commit_failed(e: &str) -> StoreError {
    StoreError::Backend {
        message: format!("the commit of the order's batch failed: {e}"),
        retryable: true,
    }
}

#[cfg(test)]
mod tests;
