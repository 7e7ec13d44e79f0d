//! [`InProcessQueue`]: the queue in memory, for one process.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use commerce_core::clock::{Clock, SystemClock};
use rustc_hash::FxHashMap;
use tokio::sync::Notify;

use super::{DeadJob, Handover, JobQueue, JobState, QueueError, QueueStats};
use crate::job::{Job, JobId, Lease, NewJob, after, until};

/// The longest a waiting `reserve` sleeps before it looks again, so that a
/// clock that jumps (or a test clock that is moved) is noticed.
const MAX_NAP: Duration = Duration::from_millis(250);

/// A job queue in this process's memory: the embedded default.
///
/// Fast and dependency-free, but it dies with the process. That is why the
/// outbox relay treats it as [`Handover::OnAck`]: an outbox event is marked
/// relayed only once its job was acknowledged, so after a crash the relay
/// enqueues again whatever was not finished, and nothing announced is lost.
/// Jobs enqueued directly (account mails) are lost with the process, like an
/// unsent request; their callers can ask again. Dead-lettered jobs are kept
/// (and listed by `dead_jobs`) until the process ends: they are rare, and
/// forgetting one that came from the outbox would count as handing it over.
///
/// Cloning gives another handle on the same queue.
#[derive(Clone)]
pub struct InProcessQueue {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    notify: Notify,
    clock: Arc<dyn Clock>,
}

#[derive(Default)]
struct State {
    /// Ids are ours (UUIDs we or the outbox made), so a fast hash is safe.
    jobs: FxHashMap<JobId, Entry>,
    ready: VecDeque<JobId>,
    scheduled: BTreeSet<(DateTime<Utc>, JobId)>,
    in_flight: BTreeSet<(DateTime<Utc>, JobId)>,
    dead: BTreeSet<(DateTime<Utc>, JobId)>,
    acked: u64,
    retried: u64,
    dead_lettered: u64,
}

struct Entry {
    job: Job,
    at: Where,
    error: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Where {
    Ready,
    Scheduled(DateTime<Utc>),
    InFlight(DateTime<Utc>),
    Dead(DateTime<Utc>),
}

impl std::fmt::Debug for InProcessQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.inner.lock();
        f.debug_struct("InProcessQueue")
            .field("ready", &s.ready.len())
            .field("scheduled", &s.scheduled.len())
            .field("in_flight", &s.in_flight.len())
            .field("dead", &s.dead.len())
            .finish()
    }
}

impl Default for InProcessQueue {
    fn default() -> Self {
        InProcessQueue::new(Arc::new(SystemClock))
    }
}

impl InProcessQueue {
    /// An empty queue telling time by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        InProcessQueue {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                notify: Notify::new(),
                clock,
            }),
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent before anything
        // that could panic, so a poisoned lock is still a usable one.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Scheduled jobs whose time came become ready (at the back); jobs whose
    /// visibility ran out become ready again (at the front: they waited).
    fn promote(&mut self, now: DateTime<Utc>) {
        while let Some(&(at, id)) = self.scheduled.first() {
            if at > now {
                break;
            }
            self.scheduled.pop_first();
            if let Some(e) = self.jobs.get_mut(&id) {
                e.at = Where::Ready;
                self.ready.push_back(id);
            }
        }
        while let Some(&(deadline, id)) = self.in_flight.first() {
            if deadline > now {
                break;
            }
            self.in_flight.pop_first();
            if let Some(e) = self.jobs.get_mut(&id) {
                e.at = Where::Ready;
                self.ready.push_front(id);
            }
        }
    }

    fn next_due(&self) -> Option<DateTime<Utc>> {
        let s = self.scheduled.first().map(|(t, _)| *t);
        let f = self.in_flight.first().map(|(t, _)| *t);
        match (s, f) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The entry if `lease` still holds it (in flight, same delivery);
    /// takes it out of the in-flight set.
    fn take_lease(&mut self, lease: Lease) -> Option<&mut Entry> {
        let e = self.jobs.get(&lease.job_id)?;
        let Where::InFlight(deadline) = e.at else {
            return None;
        };
        if e.job.attempt != lease.attempt {
            return None;
        }
        self.in_flight.remove(&(deadline, lease.job_id));
        self.jobs.get_mut(&lease.job_id)
    }

    fn reserve(&mut self, max: usize, now: DateTime<Utc>, deadline: DateTime<Utc>) -> Vec<Job> {
        self.promote(now);
        let mut out = Vec::with_capacity(max.min(self.ready.len()));
        while out.len() < max {
            let Some(id) = self.ready.pop_front() else {
                break;
            };
            let Some(e) = self.jobs.get_mut(&id) else {
                continue;
            };
            e.job.attempt = e.job.attempt.saturating_add(1);
            e.at = Where::InFlight(deadline);
            self.in_flight.insert((deadline, id));
            out.push(e.job.clone());
        }
        out
    }
}

impl JobQueue for InProcessQueue {
    async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<usize, QueueError> {
        let now = self.inner.clock.now();
        let mut added = 0;
        {
            let mut s = self.inner.lock();
            for new in jobs {
                if s.jobs.contains_key(&new.id) {
                    continue;
                }
                let at = match new.run_at {
                    Some(t) if t > now => Where::Scheduled(t),
                    _ => Where::Ready,
                };
                let id = new.id;
                let job = Job {
                    id,
                    kind: new.kind,
                    payload: new.payload,
                    attempt: 0,
                    max_attempts: new.max_attempts.max(1),
                    enqueued_at: now,
                };
                match at {
                    Where::Scheduled(t) => {
                        s.scheduled.insert((t, id));
                    }
                    _ => s.ready.push_back(id),
                }
                s.jobs.insert(
                    id,
                    Entry {
                        job,
                        at,
                        error: None,
                    },
                );
                added += 1;
            }
        }
        if added > 0 {
            self.inner.notify.notify_waiters();
        }
        Ok(added)
    }

    async fn reserve(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Job>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let give_up = tokio::time::Instant::now() + wait;
        loop {
            // Register for a wake-up before looking, so that an enqueue
            // between the look and the wait is not missed.
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = self.inner.clock.now();
            let (jobs, next_due) = {
                let mut s = self.inner.lock();
                let jobs = s.reserve(max, now, after(now, visibility));
                (jobs, s.next_due())
            };
            let left = give_up.saturating_duration_since(tokio::time::Instant::now());
            if !jobs.is_empty() || left.is_zero() {
                return Ok(jobs);
            }
            let mut nap = left.min(MAX_NAP);
            if let Some(due) = next_due {
                nap = nap.min(until(now, due).max(Duration::from_millis(1)));
            }
            let _ = tokio::time::timeout(nap, notified).await;
        }
    }

    async fn ack(&self, leases: &[Lease]) -> Result<usize, QueueError> {
        let mut s = self.inner.lock();
        let mut n = 0;
        for lease in leases {
            if s.take_lease(*lease).is_some() {
                s.jobs.remove(&lease.job_id);
                n += 1;
            }
        }
        s.acked += n as u64;
        Ok(n)
    }

    async fn retry_after(
        &self,
        lease: Lease,
        delay: Duration,
        error: &str,
    ) -> Result<bool, QueueError> {
        let now = self.inner.clock.now();
        let ready = {
            let mut s = self.inner.lock();
            let Some(e) = s.take_lease(lease) else {
                return Ok(false);
            };
            e.error = Some(error.to_owned());
            let at = after(now, delay);
            let ready = at <= now;
            e.at = if ready {
                Where::Ready
            } else {
                Where::Scheduled(at)
            };
            if ready {
                s.ready.push_back(lease.job_id);
            } else {
                s.scheduled.insert((at, lease.job_id));
            }
            s.retried += 1;
            ready
        };
        if ready {
            self.inner.notify.notify_waiters();
        }
        Ok(true)
    }

    async fn dead_letter(&self, lease: Lease, error: &str) -> Result<bool, QueueError> {
        let now = self.inner.clock.now();
        let mut s = self.inner.lock();
        let Some(e) = s.take_lease(lease) else {
            return Ok(false);
        };
        e.error = Some(error.to_owned());
        e.at = Where::Dead(now);
        s.dead.insert((now, lease.job_id));
        s.dead_lettered += 1;
        Ok(true)
    }

    async fn state(&self, id: JobId) -> Result<Option<JobState>, QueueError> {
        let s = self.inner.lock();
        Ok(s.jobs.get(&id).map(|e| match e.at {
            Where::Ready => JobState::Ready,
            Where::Scheduled(_) => JobState::Scheduled,
            Where::InFlight(_) => JobState::InFlight,
            Where::Dead(_) => JobState::Dead,
        }))
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let s = self.inner.lock();
        Ok(QueueStats {
            ready: s.ready.len() as u64,
            scheduled: s.scheduled.len() as u64,
            in_flight: s.in_flight.len() as u64,
            dead: s.dead.len() as u64,
            acked: s.acked,
            retried: s.retried,
            dead_lettered: s.dead_lettered,
        })
    }

    async fn dead_jobs(&self, limit: usize) -> Result<Vec<DeadJob>, QueueError> {
        let s = self.inner.lock();
        Ok(s.dead
            .iter()
            .take(limit)
            .filter_map(|(at, id)| {
                let e = s.jobs.get(id)?;
                Some(DeadJob {
                    job: e.job.clone(),
                    error: e.error.clone().unwrap_or_default(),
                    died_at: *at,
                })
            })
            .collect())
    }

    fn handover(&self) -> Handover {
        Handover::OnAck
    }
}
