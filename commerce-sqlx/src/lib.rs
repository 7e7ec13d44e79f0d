//! # commerce-sqlx
//!
//! SQL storage for [`commerce_core`]: [`SqliteStore`] (feature `sqlite`, the
//! embedded default: one file, no service) and [`PgStore`] (feature
//! `postgres`: production, any number of servers). Both implement every core
//! storage trait and pass its whole conformance suite, races included.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use commerce_core::clock::SystemClock;
//! use commerce_core::service::{Commerce, Config};
//! use commerce_sqlx::SqliteStore;
//!
//! let store = SqliteStore::open("shop.db").await?; // created and migrated
//! let shop = Commerce::new(Arc::new(store), Arc::new(SystemClock), Config::default());
//! # let _ = shop;
//! # Ok(()) }
//! ```
//!
//! ## How the guarantees are kept
//!
//! The operations are written once ([`SqlStore`]) over a small seam that
//! binds, decodes and begins transactions for each database. Every
//! operation that changes several rows is one transaction:
//!
//! - **Stock** is reserved under row locks taken in a global order and by a
//!   conditional update, `UPDATE variants SET reserved = reserved + n WHERE
//!   id = $1 AND on_hand - reserved >= n`, so no interleaving can oversell;
//!   CHECK constraints (`on_hand >= 0`, `0 <= reserved <= on_hand`) back it
//!   (I1).
//! - **Group commit**: concurrent `place_order` calls on one store are
//!   decided one after the other and written in one transaction, one commit
//!   for many orders; a refused order writes nothing and the others commit.
//! - **Promotion usage** is counted in `promotions.used` with a CHECK
//!   `used <= usage_limit`, reserved by a conditional update, and per
//!   customer by a conditional upsert (I3).
//! - **Lifecycle moves** lock the order row, so two moves never both apply;
//!   expiry sweeps on PostgreSQL take `FOR UPDATE SKIP LOCKED`, so several
//!   sweeps at once take different orders (I2, I4).
//! - **Refunds** are counted in `orders.refunded_minor` with a CHECK
//!   `refunded_minor <= captured_minor` (I7).
//! - **Events** are written in the transaction of the change (I5).
//! - **SQLite** runs in WAL mode with a busy timeout, and every writer
//!   begins with `BEGIN IMMEDIATE`, so writers queue instead of failing.
//!
//! Database errors are classified by kind, SQLSTATE and constraint name,
//! never by message text; a transaction the database rolled back by
//! conflict (deadlock, serialization failure, busy file) runs again.
//!
//! Times are kept to the microsecond (PostgreSQL `timestamptz`; SQLite
//! integer microseconds since the epoch), money as `BIGINT` minor units
//! beside a currency code, and an order's snapshot (lines, shipping,
//! address, promotions) as one JSON document written once.

mod backend;
mod error;
#[cfg(feature = "postgres")]
mod lender;
mod rows;
mod store;

#[cfg(feature = "postgres")]
pub use backend::Postgres;
#[cfg(feature = "sqlite")]
pub use backend::Sqlite;
pub use backend::{Backend, Dialect};
pub use store::SqlStore;

/// The SQLite store: the embedded default.
#[cfg(feature = "sqlite")]
pub type SqliteStore = SqlStore<Sqlite>;

/// The PostgreSQL store: production.
#[cfg(feature = "postgres")]
pub type PgStore = SqlStore<Postgres>;

#[cfg(feature = "sqlite")]
pub mod sqlite {
    //! Opening a SQLite database.

    use std::path::Path;
    use std::str::FromStr;
    use std::time::Duration;

    use sqlx::migrate::Migrator;
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };

    use crate::SqliteStore;

    /// The SQLite schema's migrations (`migrations/sqlite`).
    pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

    /// How long a writer waits for the write lock before giving up.
    pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

    /// The connection options this store needs on top of a file name: WAL
    /// journal, `synchronous = NORMAL` (durable at every checkpoint, and
    /// never corrupt), foreign keys on, a busy timeout.
    pub fn options(options: SqliteConnectOptions) -> SqliteConnectOptions {
        options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
    }

    impl SqliteStore {
        /// Opens the database file at `path`, creating it if missing, and
        /// brings its schema up to date.
        ///
        /// # Errors
        /// The file cannot be opened or migrated.
        pub async fn open(path: impl AsRef<Path>) -> Result<Self, sqlx::Error> {
            let opts = options(
                SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true),
            );
            Self::connect_with(opts, 8).await
        }

        /// Opens a database from a URL (`sqlite://shop.db?mode=rwc`).
        ///
        /// # Errors
        /// A malformed URL, or the database cannot be opened or migrated.
        pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
            Self::connect_with(options(SqliteConnectOptions::from_str(url)?), 8).await
        }

        /// Opens a database with these options and up to `connections`
        /// pooled connections, and migrates it.
        ///
        /// # Errors
        /// The database cannot be opened or migrated.
        pub async fn connect_with(
            options: SqliteConnectOptions,
            connections: u32,
        ) -> Result<Self, sqlx::Error> {
            // No ping before lending a connection: a file does not hang up.
            let pool = SqlitePoolOptions::new()
                .max_connections(connections.max(1))
                .test_before_acquire(false)
                .connect_with(options)
                .await?;
            MIGRATOR.run(&pool).await?;
            Ok(SqliteStore::from_pool(pool))
        }
    }
}

#[cfg(feature = "postgres")]
pub mod postgres {
    //! Connecting to PostgreSQL.

    use std::str::FromStr;

    use sqlx::migrate::Migrator;
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

    use crate::PgStore;

    /// The PostgreSQL schema's migrations (`migrations/postgres`).
    pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

    impl PgStore {
        /// Connects to `url` with up to `connections` pooled connections and
        /// brings the schema up to date.
        ///
        /// # Errors
        /// A malformed URL, or the database cannot be reached or migrated.
        pub async fn connect(url: &str, connections: u32) -> Result<Self, sqlx::Error> {
            Self::connect_with(PgConnectOptions::from_str(url)?, connections).await
        }

        /// Connects with these options and migrates.
        ///
        /// `connections` bounds the pool, which serves transactions, and
        /// separately the connections the store keeps warm for statements
        /// outside a transaction (sqlx's pool tests every connection given
        /// back to it with a round trip; see `SqlStore`): up to twice
        /// `connections` in all. Neither pings a connection before lending
        /// it. A connection that dies while idle (a server restart) is
        /// found by the next operation: a read or a transaction's `BEGIN`
        /// then runs again on another connection; anything else fails with
        /// a retryable error.
        ///
        /// # Errors
        /// The database cannot be reached or migrated.
        pub async fn connect_with(
            options: PgConnectOptions,
            connections: u32,
        ) -> Result<Self, sqlx::Error> {
            let pool = PgPoolOptions::new()
                .max_connections(connections.max(1))
                .test_before_acquire(false)
                .connect_with(options)
                .await?;
            MIGRATOR.run(&pool).await?;
            Ok(PgStore::from_pool(pool))
        }
    }
}
