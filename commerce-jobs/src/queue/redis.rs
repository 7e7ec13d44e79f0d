//! [`RedisQueue`]: the queue in Redis, shared by any number of workers in
//! any number of processes (feature `redis`).
//!
//! Layout, under a configurable prefix `P` (so that tests, or several shops
//! on one Redis, keep apart):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P:jobs` | hash | job id → the job (JSON: kind, payload, attempts allowed, enqueue time) |
//! | `P:ready` | list | ids ready to run, oldest first |
//! | `P:scheduled` | sorted set | ids waiting for their time (score: run at, ms) |
//! | `P:inflight` | sorted set | ids reserved (score: visibility deadline, ms) |
//! | `P:dead` | sorted set | dead-lettered ids (score: when, ms) |
//! | `P:attempts` | hash | id → deliveries so far (the lease token) |
//! | `P:errors` | hash | id → last error |
//! | `P:totals` | hash | `acked`, `retried`, `dead_lettered` counters |
//! | `P:signal` | list | wake-up tokens for idle workers (at most 16) |
//!
//! Every state change is one Lua script, so it is atomic and a worker that
//! dies between two steps leaves nothing half-done: `reserve` moves due
//! scheduled jobs to `ready`, returns expired in-flight jobs to `ready`
//! (the reaper), pops jobs, counts the delivery and sets the deadline in one
//! step. Times come from the caller's clock, passed to the scripts.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use commerce_core::clock::{Clock, SystemClock};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, RedisError, Script, Value};
use serde::{Deserialize, Serialize};

use super::{DeadJob, Handover, JobQueue, JobState, QueueError, QueueStats};
use crate::job::{Job, JobId, Lease, NewJob, after, until};

/// The longest an idle `reserve` blocks before it looks again.
const MAX_NAP: Duration = Duration::from_secs(1);
/// Jobs per enqueue script call.
const ENQUEUE_CHUNK: usize = 500;

/// Where and how to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS, if
    /// the `redis` crate is built with a TLS feature).
    pub url: String,
    /// Every key starts with this and a colon.
    pub prefix: String,
    /// How long a command may take before it counts as failed (blocking
    /// waits use their own connections, without this limit).
    pub response_timeout: Duration,
}

impl RedisConfig {
    /// `url` with the default prefix `commerce:jobs` and a 5 s response time-out.
    pub fn new(url: &str) -> Self {
        RedisConfig {
            url: url.to_owned(),
            prefix: "commerce:jobs".to_owned(),
            response_timeout: Duration::from_secs(5),
        }
    }

    /// With another key prefix.
    #[must_use]
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.prefix);
        self
    }
}

/// A job queue in Redis (6.2 or later; a single primary, not Cluster).
///
/// Cloning gives another handle sharing the same connections.
#[derive(Clone)]
pub struct RedisQueue {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    con: ConnectionManager,
    /// Connections for blocking waits, one per waiting call, reused.
    idle: Mutex<Vec<MultiplexedConnection>>,
    keys: Keys,
    scripts: Scripts,
    clock: Arc<dyn Clock>,
}

struct Keys {
    prefix: String,
    jobs: String,
    ready: String,
    scheduled: String,
    inflight: String,
    dead: String,
    attempts: String,
    errors: String,
    totals: String,
    signal: String,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        let k = |s: &str| format!("{prefix}:{s}");
        Keys {
            prefix: prefix.to_owned(),
            jobs: k("jobs"),
            ready: k("ready"),
            scheduled: k("scheduled"),
            inflight: k("inflight"),
            dead: k("dead"),
            attempts: k("attempts"),
            errors: k("errors"),
            totals: k("totals"),
            signal: k("signal"),
        }
    }
}

struct Scripts {
    enqueue: Script,
    reserve: Script,
    ack: Script,
    retry: Script,
    dead: Script,
    state: Script,
    dead_jobs: Script,
}

/// KEYS: jobs, ready, scheduled, signal. ARGV: now, then (id, run_at, body) per job.
const ENQUEUE: &str = r"
local now = tonumber(ARGV[1])
local added = 0
for i = 2, #ARGV, 3 do
  local id = ARGV[i]
  if redis.call('HSETNX', KEYS[1], id, ARGV[i + 2]) == 1 then
    added = added + 1
    local at = tonumber(ARGV[i + 1])
    if at > now then
      redis.call('ZADD', KEYS[3], at, id)
    else
      redis.call('RPUSH', KEYS[2], id)
    end
  end
end
if added > 0 then
  local tokens = {}
  for i = 1, math.min(added, 16) do tokens[i] = '1' end
  redis.call('RPUSH', KEYS[4], unpack(tokens))
  redis.call('LTRIM', KEYS[4], -16, -1)
end
return added
";

/// KEYS: jobs, ready, scheduled, inflight, attempts. ARGV: now, deadline, max.
/// Returns {next due or -1, {id, attempt, body, ...}}.
const RESERVE: &str = r"
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
if #due > 0 then
  redis.call('ZREM', KEYS[3], unpack(due))
  redis.call('RPUSH', KEYS[2], unpack(due))
end
local lost = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 1000)
if #lost > 0 then
  redis.call('ZREM', KEYS[4], unpack(lost))
  redis.call('LPUSH', KEYS[2], unpack(lost))
end
local out = {}
local ids = redis.call('LPOP', KEYS[2], tonumber(ARGV[3]))
if ids then
  for _, id in ipairs(ids) do
    local body = redis.call('HGET', KEYS[1], id)
    if body then
      local n = redis.call('HINCRBY', KEYS[5], id, 1)
      redis.call('ZADD', KEYS[4], ARGV[2], id)
      out[#out + 1] = id
      out[#out + 1] = tostring(n)
      out[#out + 1] = body
    end
  end
end
local next = -1
local s = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if #s > 0 then next = tonumber(s[2]) end
local f = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
if #f > 0 and (next < 0 or tonumber(f[2]) < next) then next = tonumber(f[2]) end
return {next, out}
";

/// KEYS: jobs, inflight, attempts, errors, totals. ARGV: (id, attempt) per lease.
const ACK: &str = r"
local n = 0
for i = 1, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[3], id) == ARGV[i + 1] and redis.call('ZREM', KEYS[2], id) == 1 then
    redis.call('HDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    n = n + 1
  end
end
if n > 0 then redis.call('HINCRBY', KEYS[5], 'acked', n) end
return n
";

/// KEYS: inflight, scheduled, ready, attempts, errors, totals, signal.
/// ARGV: id, attempt, run_at, now, error.
const RETRY: &str = r"
local id = ARGV[1]
if redis.call('HGET', KEYS[4], id) ~= ARGV[2] or redis.call('ZREM', KEYS[1], id) == 0 then
  return 0
end
redis.call('HSET', KEYS[5], id, ARGV[5])
if tonumber(ARGV[3]) > tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[2], ARGV[3], id)
else
  redis.call('RPUSH', KEYS[3], id)
  redis.call('RPUSH', KEYS[7], '1')
  redis.call('LTRIM', KEYS[7], -16, -1)
end
redis.call('HINCRBY', KEYS[6], 'retried', 1)
return 1
";

/// KEYS: inflight, dead, attempts, errors, totals. ARGV: id, attempt, now, error.
const DEAD: &str = r"
local id = ARGV[1]
if redis.call('HGET', KEYS[3], id) ~= ARGV[2] or redis.call('ZREM', KEYS[1], id) == 0 then
  return 0
end
redis.call('HSET', KEYS[4], id, ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], id)
redis.call('HINCRBY', KEYS[5], 'dead_lettered', 1)
return 1
";

/// KEYS: jobs, scheduled, inflight, dead. ARGV: id.
const STATE: &str = r"
local id = ARGV[1]
if redis.call('HEXISTS', KEYS[1], id) == 0 then return 0 end
if redis.call('ZSCORE', KEYS[2], id) then return 2 end
if redis.call('ZSCORE', KEYS[3], id) then return 3 end
if redis.call('ZSCORE', KEYS[4], id) then return 4 end
return 1
";

/// KEYS: dead, jobs, attempts, errors. ARGV: limit. Returns {id, died_at, body, attempt, error, ...}.
const DEAD_JOBS: &str = r"
local out = {}
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
for i = 1, #ids, 2 do
  local id = ids[i]
  local body = redis.call('HGET', KEYS[2], id)
  if body then
    out[#out + 1] = id
    out[#out + 1] = ids[i + 1]
    out[#out + 1] = body
    out[#out + 1] = redis.call('HGET', KEYS[3], id) or '0'
    out[#out + 1] = redis.call('HGET', KEYS[4], id) or ''
  end
end
return out
";

/// A job as stored in `P:jobs`.
#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(rename = "k")]
    kind: String,
    #[serde(rename = "p")]
    payload: String,
    #[serde(rename = "m")]
    max_attempts: u32,
    #[serde(rename = "e")]
    enqueued_ms: i64,
}

fn backend(e: RedisError) -> QueueError {
    let retryable =
        e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal();
    QueueError::Backend {
        message: e.to_string(),
        retryable,
    }
}

fn malformed(what: &str) -> QueueError {
    QueueError::Malformed(what.to_owned())
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn text(v: &Value) -> Result<String, QueueError> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).map_err(|_| malformed("not UTF-8")),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Int(n) => Ok(n.to_string()),
        _ => Err(malformed("expected a string")),
    }
}

fn decode(id: &str, attempt: &str, body: &str) -> Result<Job, QueueError> {
    let id: JobId = id.parse().map_err(|_| malformed("job id"))?;
    let attempt: u32 = attempt.parse().map_err(|_| malformed("attempt"))?;
    let s: Stored = serde_json::from_str(body).map_err(|e| QueueError::Malformed(e.to_string()))?;
    Ok(Job {
        id,
        kind: s.kind,
        payload: s.payload,
        attempt,
        max_attempts: s.max_attempts,
        enqueued_at: from_ms(s.enqueued_ms),
    })
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("prefix", &self.inner.keys.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisQueue {
    /// Connects (with the system clock).
    ///
    /// # Errors
    /// A malformed URL, or Redis cannot be reached.
    pub async fn connect(config: &RedisConfig) -> Result<Self, QueueError> {
        RedisQueue::connect_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Connects, telling time by `clock` (tests move a fixed clock instead of
    /// sleeping). Every process sharing the queue should use the same time
    /// source; the system clocks of NTP-synchronised machines are close
    /// enough for visibility timeouts of seconds.
    ///
    /// # Errors
    /// A malformed URL, or Redis cannot be reached.
    pub async fn connect_with_clock(
        config: &RedisConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, QueueError> {
        let client = Client::open(config.url.as_str()).map_err(backend)?;
        let con = client
            .get_connection_manager_with_config(
                ConnectionManagerConfig::new()
                    .set_response_timeout(Some(config.response_timeout))
                    .set_connection_timeout(Some(config.response_timeout)),
            )
            .await
            .map_err(backend)?;
        Ok(RedisQueue {
            inner: Arc::new(Inner {
                client,
                con,
                idle: Mutex::new(Vec::new()),
                keys: Keys::new(&config.prefix),
                scripts: Scripts {
                    enqueue: Script::new(ENQUEUE),
                    reserve: Script::new(RESERVE),
                    ack: Script::new(ACK),
                    retry: Script::new(RETRY),
                    dead: Script::new(DEAD),
                    state: Script::new(STATE),
                    dead_jobs: Script::new(DEAD_JOBS),
                },
                clock,
            }),
        })
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.keys.prefix
    }

    /// A connection for commands (shared, multiplexed, reconnecting).
    pub(crate) fn connection(&self) -> ConnectionManager {
        self.inner.con.clone()
    }

    /// Deletes every key of this queue (tests and tear-down).
    ///
    /// # Errors
    /// Redis failed.
    pub async fn purge(&self) -> Result<(), QueueError> {
        let k = &self.inner.keys;
        let mut con = self.connection();
        redis::cmd("DEL")
            .arg(&k.jobs)
            .arg(&k.ready)
            .arg(&k.scheduled)
            .arg(&k.inflight)
            .arg(&k.dead)
            .arg(&k.attempts)
            .arg(&k.errors)
            .arg(&k.totals)
            .arg(&k.signal)
            .query_async::<()>(&mut con)
            .await
            .map_err(backend)
    }

    async fn try_reserve(
        &self,
        max: usize,
        now: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Result<(Vec<Job>, Option<DateTime<Utc>>), QueueError> {
        let k = &self.inner.keys;
        let mut con = self.connection();
        let (next, flat): (i64, Vec<Value>) = self
            .inner
            .scripts
            .reserve
            .key(&k.jobs)
            .key(&k.ready)
            .key(&k.scheduled)
            .key(&k.inflight)
            .key(&k.attempts)
            .arg(ms(now))
            .arg(ms(deadline))
            .arg(max)
            .invoke_async(&mut con)
            .await
            .map_err(backend)?;
        let mut jobs = Vec::with_capacity(flat.len() / 3);
        for chunk in flat.chunks_exact(3) {
            jobs.push(decode(
                &text(&chunk[0])?,
                &text(&chunk[1])?,
                &text(&chunk[2])?,
            )?);
        }
        Ok((jobs, (next >= 0).then(|| from_ms(next))))
    }

    /// Blocks up to `d` for a wake-up token, on a connection of its own
    /// (blocking commands would stall the shared one, and must not time out).
    async fn nap(&self, d: Duration) -> Result<(), QueueError> {
        let pooled = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut con = match pooled {
            Some(c) => c,
            None => self
                .inner
                .client
                .get_multiplexed_async_connection_with_config(
                    &AsyncConnectionConfig::new().set_response_timeout(None),
                )
                .await
                .map_err(backend)?,
        };
        let secs = d.as_secs_f64().max(0.01);
        let _: Option<(String, String)> = redis::cmd("BLPOP")
            .arg(&self.inner.keys.signal)
            .arg(secs)
            .query_async(&mut con)
            .await
            .map_err(backend)?;
        self.inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(con);
        Ok(())
    }
}

impl JobQueue for RedisQueue {
    async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<usize, QueueError> {
        let k = &self.inner.keys;
        let now = self.inner.clock.now();
        let mut added = 0;
        let mut con = self.connection();
        for chunk in jobs.chunks(ENQUEUE_CHUNK) {
            let mut call = self.inner.scripts.enqueue.prepare_invoke();
            call.key(&k.jobs)
                .key(&k.ready)
                .key(&k.scheduled)
                .key(&k.signal)
                .arg(ms(now));
            for job in chunk {
                let body = serde_json::to_string(&Stored {
                    kind: job.kind.clone(),
                    payload: job.payload.clone(),
                    max_attempts: job.max_attempts.max(1),
                    enqueued_ms: ms(now),
                })
                .map_err(|e| QueueError::Malformed(e.to_string()))?;
                call.arg(job.id.to_string())
                    .arg(ms(job.run_at.unwrap_or(now)))
                    .arg(body);
            }
            let n: usize = call.invoke_async(&mut con).await.map_err(backend)?;
            added += n;
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
            let now = self.inner.clock.now();
            let (jobs, next_due) = self.try_reserve(max, now, after(now, visibility)).await?;
            let left = give_up.saturating_duration_since(tokio::time::Instant::now());
            if !jobs.is_empty() || left.is_zero() {
                return Ok(jobs);
            }
            let mut nap = left.min(MAX_NAP);
            if let Some(due) = next_due {
                nap = nap.min(until(now, due).max(Duration::from_millis(10)));
            }
            self.nap(nap).await?;
        }
    }

    async fn ack(&self, leases: &[Lease]) -> Result<usize, QueueError> {
        if leases.is_empty() {
            return Ok(0);
        }
        let k = &self.inner.keys;
        let mut call = self.inner.scripts.ack.prepare_invoke();
        call.key(&k.jobs)
            .key(&k.inflight)
            .key(&k.attempts)
            .key(&k.errors)
            .key(&k.totals);
        for l in leases {
            call.arg(l.job_id.to_string()).arg(l.attempt);
        }
        call.invoke_async(&mut self.connection())
            .await
            .map_err(backend)
    }

    async fn retry_after(
        &self,
        lease: Lease,
        delay: Duration,
        error: &str,
    ) -> Result<bool, QueueError> {
        let k = &self.inner.keys;
        let now = self.inner.clock.now();
        let n: i64 = self
            .inner
            .scripts
            .retry
            .key(&k.inflight)
            .key(&k.scheduled)
            .key(&k.ready)
            .key(&k.attempts)
            .key(&k.errors)
            .key(&k.totals)
            .key(&k.signal)
            .arg(lease.job_id.to_string())
            .arg(lease.attempt)
            .arg(ms(after(now, delay)))
            .arg(ms(now))
            .arg(error)
            .invoke_async(&mut self.connection())
            .await
            .map_err(backend)?;
        Ok(n == 1)
    }

    async fn dead_letter(&self, lease: Lease, error: &str) -> Result<bool, QueueError> {
        let k = &self.inner.keys;
        let now = self.inner.clock.now();
        let n: i64 = self
            .inner
            .scripts
            .dead
            .key(&k.inflight)
            .key(&k.dead)
            .key(&k.attempts)
            .key(&k.errors)
            .key(&k.totals)
            .arg(lease.job_id.to_string())
            .arg(lease.attempt)
            .arg(ms(now))
            .arg(error)
            .invoke_async(&mut self.connection())
            .await
            .map_err(backend)?;
        Ok(n == 1)
    }

    async fn state(&self, id: JobId) -> Result<Option<JobState>, QueueError> {
        let k = &self.inner.keys;
        let n: i64 = self
            .inner
            .scripts
            .state
            .key(&k.jobs)
            .key(&k.scheduled)
            .key(&k.inflight)
            .key(&k.dead)
            .arg(id.to_string())
            .invoke_async(&mut self.connection())
            .await
            .map_err(backend)?;
        Ok(match n {
            1 => Some(JobState::Ready),
            2 => Some(JobState::Scheduled),
            3 => Some(JobState::InFlight),
            4 => Some(JobState::Dead),
            _ => None,
        })
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let k = &self.inner.keys;
        let (ready, scheduled, in_flight, dead, totals): (u64, u64, u64, u64, Vec<Option<u64>>) =
            redis::pipe()
                .atomic()
                .cmd("LLEN")
                .arg(&k.ready)
                .cmd("ZCARD")
                .arg(&k.scheduled)
                .cmd("ZCARD")
                .arg(&k.inflight)
                .cmd("ZCARD")
                .arg(&k.dead)
                .cmd("HMGET")
                .arg(&k.totals)
                .arg("acked")
                .arg("retried")
                .arg("dead_lettered")
                .query_async(&mut self.connection())
                .await
                .map_err(backend)?;
        let total = |i: usize| totals.get(i).copied().flatten().unwrap_or(0);
        Ok(QueueStats {
            ready,
            scheduled,
            in_flight,
            dead,
            acked: total(0),
            retried: total(1),
            dead_lettered: total(2),
        })
    }

    async fn dead_jobs(&self, limit: usize) -> Result<Vec<DeadJob>, QueueError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let k = &self.inner.keys;
        let flat: Vec<Value> = self
            .inner
            .scripts
            .dead_jobs
            .key(&k.dead)
            .key(&k.jobs)
            .key(&k.attempts)
            .key(&k.errors)
            .arg(limit)
            .invoke_async(&mut self.connection())
            .await
            .map_err(backend)?;
        let mut out = Vec::with_capacity(flat.len() / 5);
        for c in flat.chunks_exact(5) {
            let died: f64 = text(&c[1])?.parse().map_err(|_| malformed("score"))?;
            #[allow(clippy::cast_possible_truncation)]
            let died_at = from_ms(died as i64);
            out.push(DeadJob {
                job: decode(&text(&c[0])?, &text(&c[3])?, &text(&c[2])?)?,
                error: text(&c[4])?,
                died_at,
            });
        }
        Ok(out)
    }

    fn handover(&self) -> Handover {
        Handover::OnEnqueue
    }
}
