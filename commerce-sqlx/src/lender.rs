//! PostgreSQL connections for single statements, kept warm between uses.
//!
//! sqlx's pool tests every connection given back to it with a round trip
//! (`Sync`, then `ReadyForQuery`), whatever the connection just did. A
//! statement outside a transaction (a read, a claim, a batch of orders)
//! borrows a connection for one round trip, so the pool doubled the round
//! trips of the hot path: each cost a wake-up of the server process, a
//! task and two context switches here. Measured on the load harness's
//! PostgreSQL checkout: about a fifth of the throughput
//! (docs/PERFORMANCE.md).
//!
//! The lender keeps its own connections, opened with the pool's options,
//! and gives one back to its idle list only when the statement finished:
//! with rows, or with an error the server answered (the connection is
//! then ready for the next statement; sqlx waits for `ReadyForQuery`
//! before it sends one). A connection whose statement was cut off (a
//! dropped future) or whose link failed is closed instead, never reused.
//! Transactions stay on the sqlx pool: its `Transaction` rolls back a
//! dropped transaction, which a bare connection would not.
//!
//! At most as many connections as the pool may hold are open at once, and
//! idle ones stay open: a `PgStore` of `n` connections holds up to `n` for
//! transactions and up to `n` for single statements.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tokio::sync::{Semaphore, SemaphorePermit};

/// The connections for single statements.
#[derive(Debug)]
pub(crate) struct Lender {
    options: PgConnectOptions,
    /// Idle connections; the last given back is lent first, so the
    /// connections in use stay few and warm.
    idle: Mutex<Vec<PgConnection>>,
    /// One permit per connection that may be lent at once.
    slots: Semaphore,
    /// Connections open now (idle or lent).
    open: AtomicU32,
    capacity: u32,
}

impl Lender {
    /// A lender of up to `capacity` connections opened with `options`.
    pub(crate) fn new(options: PgConnectOptions, capacity: u32) -> Self {
        let capacity = capacity.max(1);
        Lender {
            options,
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(usize::try_from(capacity).unwrap_or(usize::MAX)),
            open: AtomicU32::new(0),
            capacity,
        }
    }

    /// The most connections open at once.
    pub(crate) fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> u32 {
        self.open.load(Ordering::Relaxed)
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<PgConnection>> {
        // Pushes and pops only: a panic elsewhere leaves the list consistent.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A connection: an idle one, or a new one when none is idle; waits
    /// while `capacity` are lent.
    pub(crate) async fn lend(&self) -> Result<Lent<'_>, sqlx::Error> {
        let permit = self
            .slots
            .acquire()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self.idle().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = PgConnection::connect_with(&self.options).await?;
                self.open.fetch_add(1, Ordering::Relaxed);
                conn
            }
        };
        Ok(Lent {
            conn: Some(conn),
            lender: self,
            _permit: permit,
        })
    }
}

/// A lent connection. Dropped without [`Lent::settle`], it is closed.
pub(crate) struct Lent<'a> {
    conn: Option<PgConnection>,
    lender: &'a Lender,
    _permit: SemaphorePermit<'a>,
}

impl Lent<'_> {
    /// The connection.
    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        // Present until `settle` or drop, which both consume the lent value.
        self.conn
            .as_mut()
            .unwrap_or_else(|| unreachable!("a lent connection is held until it is settled"))
    }

    /// Gives the connection back after its statement ended with `outcome`:
    /// to the idle list when it finished (rows, or an error the server
    /// answered on a live session); otherwise it is closed.
    pub(crate) fn settle<T>(mut self, outcome: &Result<T, sqlx::Error>) {
        let reusable = match outcome {
            Ok(_) => true,
            Err(e @ sqlx::Error::Database(_)) => !crate::error::is_lost(e),
            Err(_) => false,
        };
        if reusable && let Some(conn) = self.conn.take() {
            self.lender.idle().push(conn);
        }
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if self.conn.take().is_some() {
            // Closed with the socket: cut off mid-statement, or broken.
            self.lender.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl std::fmt::Debug for Lent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lent").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;
    use std::time::Duration;

    use commerce_core::testkit::expect;
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

    use crate::Postgres;
    use crate::backend::{Driver, q};

    /// A handle of `capacity` connections on `TEST_DATABASE_URL`, named
    /// `app`; `None` (after saying so) when PostgreSQL is unreachable,
    /// unless `CI=true`.
    async fn db(app: &str, capacity: u32) -> Option<<Postgres as Driver>::Db> {
        let url = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let options = expect(PgConnectOptions::from_str(&url), "TEST_DATABASE_URL");
        match PgPoolOptions::new()
            .max_connections(capacity)
            .connect_with(options.application_name(app))
            .await
        {
            Ok(pool) => Some(Postgres::db(pool)),
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
                panic!("CI=true and PostgreSQL at {url} is unreachable: {e}")
            }
            Err(e) => {
                eprintln!("SKIPPED: PostgreSQL at {url} is unreachable ({e})");
                None
            }
        }
    }

    fn app(name: &str) -> String {
        format!("{name}-{}", uuid::Uuid::new_v4().simple())
    }

    async fn backend_pid(db: &<Postgres as Driver>::Db) -> i32 {
        let rows: Vec<(i32,)> = expect(
            Postgres::read_all(db, q!("SELECT pg_backend_pid()")).await,
            "pid",
        );
        rows.first().map_or(0, |r| r.0)
    }

    #[tokio::test]
    async fn a_finished_statement_gives_its_connection_back_warm() {
        let Some(db) = db(&app("warm"), 1).await else {
            return;
        };
        let first = backend_pid(&db).await;
        let wrote = expect(Postgres::run(&db, q!("SELECT 1")).await, "run");
        assert_eq!(wrote, 1);
        assert_eq!(backend_pid(&db).await, first, "the same connection, kept");
        assert_eq!(db.lender.open(), 1);
    }

    #[tokio::test]
    async fn an_error_the_server_answered_keeps_the_connection() {
        let Some(db) = db(&app("error"), 1).await else {
            return;
        };
        let first = backend_pid(&db).await;
        let failed = Postgres::read_all::<(i32,)>(&db, q!("SELECT 1 / 0")).await;
        assert!(
            matches!(failed, Err(sqlx::Error::Database(_))),
            "division by zero: {failed:?}"
        );
        assert_eq!(backend_pid(&db).await, first, "kept after the error");
        let rows: Vec<(i32,)> = expect(
            Postgres::read_all(&db, q!("SELECT 42")).await,
            "a read after the error",
        );
        assert_eq!(rows, vec![(42,)]);
    }

    #[tokio::test]
    async fn a_statement_cut_off_closes_its_connection() {
        let Some(db) = db(&app("cut"), 1).await else {
            return;
        };
        let first = backend_pid(&db).await;
        let cut = tokio::time::timeout(
            Duration::from_millis(200),
            Postgres::read_all::<(String,)>(&db, q!("SELECT CAST(pg_sleep(30) AS TEXT)")),
        )
        .await;
        assert!(cut.is_err(), "the sleep was cut off");
        assert_eq!(db.lender.open(), 0, "the cut-off connection is closed");
        // Its slot is free again (the lender holds one), and the next
        // statement runs on a new session with its own answer.
        let rows: Vec<(i32, i32)> = expect(
            expect(
                tokio::time::timeout(
                    Duration::from_secs(10),
                    Postgres::read_all(&db, q!("SELECT 7, pg_backend_pid()")),
                )
                .await,
                "a free slot",
            ),
            "a read after the cut",
        );
        assert_eq!(rows.first().map(|r| r.0), Some(7));
        assert_ne!(rows.first().map(|r| r.1), Some(first), "a new session");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lent_connections_stay_within_capacity() {
        let name = app("cap");
        let Some(db) = db(&name, 2).await else {
            return;
        };
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    Postgres::read_all::<(String,)>(&db, q!("SELECT CAST(pg_sleep(0.05) AS TEXT)"))
                        .await
                })
            })
            .collect();
        let mut peak = 0;
        for t in tasks {
            expect(expect(t.await, "join"), "sleep");
            peak = peak.max(db.lender.open());
        }
        let (sessions,): (i64,) = expect(
            sqlx::query_as("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1")
                .bind(&name)
                .fetch_one(&db.pool)
                .await,
            "sessions",
        );
        assert!(peak <= 2, "{peak} lent connections open, capacity 2");
        // The lender's two and the pool's one (which ran this count).
        assert!(sessions <= 3, "{sessions} sessions for a capacity of 2 + 1");
    }
}
