//! The outbox relay: moves committed outbox events into the job queue.
//!
//! Each event becomes one [`OUTBOX_EVENT`] job whose id is the event's id,
//! so enqueueing it again while the queue still holds it adds nothing. The
//! event is marked relayed only once it is safely handed over
//! ([`JobQueue::handover`]):
//!
//! - **Redis** ([`Handover::OnEnqueue`]): after Redis acknowledged the
//!   enqueue. A crash between the enqueue and the mark leaves the event
//!   unrelayed; the next relay run enqueues it again, which at worst
//!   delivers it twice, and the handlers absorb duplicates (idempotent by
//!   event id).
//! - **In-process** ([`Handover::OnAck`]): only after its job was
//!   acknowledged, because the queue dies with the process. Until then the
//!   outbox is the durable copy: after a crash the relay enqueues every
//!   unfinished event again. A dead-lettered event stays unrelayed (and is
//!   retried after the next restart); the relay keeps at most
//!   `max_in_flight` events outstanding.
//!
//! Any number of relays may run at once (one per node): they may enqueue
//! an event twice, never lose one.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use commerce_core::clock::{Clock, SystemClock};
use commerce_core::ids::EventId;
use commerce_core::outbox::OutboxEvent;
use commerce_core::storage::{OutboxStore, StoreError};
use tokio::sync::{Notify, watch};

use crate::handlers::OUTBOX_EVENT;
use crate::job::{JobId, NewJob};
use crate::queue::{Handover, JobQueue, JobState, QueueError};

/// A relay run failed; the next run starts over from the outbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// An event could not be encoded.
    #[error("event could not be encoded: {0}")]
    Encode(String),
}

/// How the relay runs.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Events read and enqueued per step.
    pub batch: u32,
    /// The pause when the outbox is empty (a nudge ends it early).
    pub idle: Duration,
    /// In-process mode: events enqueued and not yet acknowledged, at most.
    pub max_in_flight: usize,
    /// In-process mode: how often the relay reads the outbox from its
    /// oldest pending event. In between it reads only events written after
    /// the last one it enqueued, instead of reading again every event still
    /// in flight; the read from the start finds events whose transactions
    /// committed after newer ones were read.
    pub rescan: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            batch: 256,
            idle: Duration::from_millis(250),
            max_in_flight: 2_000,
            rescan: Duration::from_secs(1),
        }
    }
}

/// What one relay step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStep {
    /// Events enqueued.
    pub enqueued: usize,
    /// Events marked relayed.
    pub marked: usize,
    /// In-process mode: events enqueued and not yet acknowledged.
    pub outstanding: usize,
}

/// The job id of an event's job.
pub fn job_id_of(event: EventId) -> JobId {
    JobId::from_uuid(event.as_uuid())
}

/// The relay over an outbox and a queue.
#[derive(Debug)]
pub struct OutboxRelay<S, Q> {
    store: Arc<S>,
    queue: Arc<Q>,
    clock: Arc<dyn Clock>,
    config: RelayConfig,
    /// In-process mode: events enqueued, not yet marked relayed.
    outstanding: HashSet<EventId>,
    /// In-process mode: the last event enqueued, and when the outbox is
    /// next read from its start.
    cursor: Option<EventId>,
    rescan_at: Option<std::time::Instant>,
    nudge: Arc<Notify>,
}

impl<S: OutboxStore + 'static, Q: JobQueue> OutboxRelay<S, Q> {
    /// A relay from `store`'s outbox into `queue`.
    pub fn new(store: Arc<S>, queue: Arc<Q>, config: RelayConfig) -> Self {
        OutboxRelay {
            store,
            queue,
            clock: Arc::new(SystemClock),
            config,
            outstanding: HashSet::new(),
            cursor: None,
            rescan_at: None,
            nudge: Arc::new(Notify::new()),
        }
    }

    /// Tells time by `clock` (the `relayed_at` it writes).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A handle that wakes the relay early (call it after a change that
    /// wrote an event, so its mail goes out without waiting for the poll).
    pub fn nudger(&self) -> Arc<Notify> {
        Arc::clone(&self.nudge)
    }

    /// One step: marks what was handed over, then enqueues the next batch.
    ///
    /// # Errors
    /// [`RelayError`]; nothing is lost, the next step tries again.
    pub async fn step(&mut self) -> Result<RelayStep, RelayError> {
        match self.queue.handover() {
            Handover::OnAck => self.step_on_ack().await,
            _ => self.step_on_enqueue().await,
        }
    }

    fn jobs(events: &[OutboxEvent]) -> Result<Vec<NewJob>, RelayError> {
        events
            .iter()
            .map(|e| {
                NewJob::new(OUTBOX_EVENT, e)
                    .map(|j| j.with_id(job_id_of(e.id)))
                    .map_err(|err| RelayError::Encode(err.to_string()))
            })
            .collect()
    }

    async fn step_on_enqueue(&mut self) -> Result<RelayStep, RelayError> {
        let events = self.store.pending_events(self.config.batch).await?;
        if events.is_empty() {
            return Ok(RelayStep::default());
        }
        let ids: Vec<EventId> = events.iter().map(|e| e.id).collect();
        self.queue.enqueue(Self::jobs(&events)?).await?;
        // A crash here only means these events are enqueued again later.
        self.store.mark_relayed(&ids, self.clock.now()).await?;
        Ok(RelayStep {
            enqueued: ids.len(),
            marked: ids.len(),
            outstanding: 0,
        })
    }

    async fn step_on_ack(&mut self) -> Result<RelayStep, RelayError> {
        // 1. Events whose jobs were acknowledged are handed over: mark them.
        let mut done = Vec::new();
        for id in &self.outstanding {
            if self.queue.state(job_id_of(*id)).await?.is_none() {
                done.push(*id);
            }
        }
        if !done.is_empty() {
            self.store.mark_relayed(&done, self.clock.now()).await?;
            for id in &done {
                self.outstanding.remove(id);
            }
        }
        // 2. Enqueue what is not outstanding yet, within the limit.
        let room = self
            .config
            .max_in_flight
            .saturating_sub(self.outstanding.len());
        let mut step = RelayStep {
            marked: done.len(),
            ..RelayStep::default()
        };
        if room > 0 {
            let want = u32::try_from(room)
                .unwrap_or(u32::MAX)
                .min(self.config.batch);
            let pending = match self.cursor {
                // Only what was written since the last event enqueued:
                // events in flight are not read again at every step.
                Some(after)
                    if !self.outstanding.is_empty()
                        && self
                            .rescan_at
                            .is_some_and(|at| std::time::Instant::now() < at) =>
                {
                    self.store.pending_events_after(after, want).await?
                }
                _ => {
                    self.rescan_at = Some(std::time::Instant::now() + self.config.rescan);
                    let limit = u32::try_from(self.outstanding.len())
                        .unwrap_or(u32::MAX)
                        .saturating_add(want);
                    self.store.pending_events(limit).await?
                }
            };
            let fresh: Vec<OutboxEvent> = pending
                .into_iter()
                .filter(|e| !self.outstanding.contains(&e.id))
                .take(room)
                .collect();
            if let Some(last) = fresh.last().map(|e| e.id) {
                self.queue.enqueue(Self::jobs(&fresh)?).await?;
                self.cursor = Some(last);
                self.outstanding.extend(fresh.iter().map(|e| e.id));
                step.enqueued = fresh.len();
            }
        }
        step.outstanding = self.outstanding.len();
        if step.outstanding >= self.config.max_in_flight {
            let mut dead = 0_usize;
            for id in &self.outstanding {
                if self.queue.state(job_id_of(*id)).await? == Some(JobState::Dead) {
                    dead += 1;
                }
            }
            tracing::warn!(
                outstanding = step.outstanding,
                dead,
                "relay at its in-flight limit; dead-lettered events stay unrelayed until a restart"
            );
        }
        Ok(step)
    }

    /// Runs until `stop` turns true: steps back to back while there is work,
    /// otherwise waits `idle` (or a nudge).
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut failures = 0_u32;
        loop {
            if *stop.borrow() {
                return;
            }
            let pause = match self.step().await {
                Ok(s) if s.enqueued > 0 || s.marked > 0 => {
                    failures = 0;
                    continue;
                }
                Ok(_) => {
                    failures = 0;
                    self.config.idle
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, "outbox relay step failed; retrying");
                    self.config.idle.saturating_mul(failures.min(20))
                }
            };
            let nudge = Arc::clone(&self.nudge);
            tokio::select! {
                _ = stop.changed() => return,
                () = nudge.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Starts [`OutboxRelay::run`] on the current runtime; send `true` on
    /// the returned sender to stop it.
    pub fn spawn(self) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        let (tx, rx) = watch::channel(false);
        (tx, tokio::spawn(self.run(rx)))
    }
}
