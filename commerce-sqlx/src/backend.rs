//! The seam between the store's operations, written once, and the two
//! databases: how each binds arguments, decodes rows, begins transactions and
//! spells the few statements that differ.
//!
//! Every operation in this crate is a sequence of [`Q`]s — a `'static` SQL
//! text with `$1`-style parameters (both SQLite and PostgreSQL accept them)
//! and typed [`Arg`]s — run on a transaction through [`Driver`]. Values never
//! become SQL text; the only SQL built at run time (the catalog browse) is
//! assembled from fixed fragments and placeholders.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

/// Which SQL dialect a backend speaks, for the statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3 (bundled).
    Sqlite,
    /// PostgreSQL 13 or newer.
    Postgres,
}

/// `q!("SELECT ... WHERE id = $1", id)`: a statement with its arguments.
macro_rules! q {
    ($sql:expr $(, $arg:expr)* $(,)?) => {
        $crate::backend::Q::new($sql)$(.arg($arg))*
    };
}
pub(crate) use q;

/// The same statement for both dialects, with ` FOR UPDATE` on PostgreSQL:
/// SQLite needs no row lock inside its `BEGIN IMMEDIATE` writers.
macro_rules! locking {
    ($dialect:expr, $sql:expr) => {
        match $dialect {
            $crate::backend::Dialect::Sqlite => $sql,
            $crate::backend::Dialect::Postgres => concat!($sql, " FOR UPDATE"),
        }
    };
}
pub(crate) use locking;

/// A timestamp column: microseconds since the epoch (INTEGER) on SQLite,
/// `timestamptz` on PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ts(pub(crate) DateTime<Utc>);

pub(crate) mod sealed {
    //! The driver methods stay out of the public API: `Backend` is sealed.
    #![allow(unreachable_pub)]

    use std::borrow::Cow;
    use std::future::Future;

    use chrono::{DateTime, Utc};
    use serde_json::value::RawValue;
    use uuid::Uuid;

    use super::Dialect;

    /// How a transaction begins.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum TxMode {
        /// Will write: SQLite takes the write lock up front (`BEGIN IMMEDIATE`),
        /// so a read-then-write transaction can never fail to upgrade;
        /// PostgreSQL runs at READ COMMITTED and locks rows it means to change.
        Write,
        /// A consistent read of many tables (the audit).
        Snapshot,
        /// Will write state that is only concurrency control and may be lost
        /// in a database crash without harm (an idempotency key's claim):
        /// PostgreSQL commits it without waiting for the WAL flush. A later
        /// durable commit flushes it anyway.
        Ephemeral,
    }

    /// One argument of a statement.
    #[derive(Debug, Clone)]
    pub enum Arg {
        I64(i64),
        OptI64(Option<i64>),
        Text(String),
        OptText(Option<String>),
        Uuid(Uuid),
        OptUuid(Option<Uuid>),
        Bool(bool),
        Bytes(Vec<u8>),
        /// Microseconds since the epoch on SQLite, `timestamptz` on PostgreSQL.
        Ts(DateTime<Utc>),
        OptTs(Option<DateTime<Utc>>),
        /// A JSON document: TEXT on SQLite, `jsonb` on PostgreSQL.
        Json(Box<RawValue>),
        /// An array of ids (`uuid[]`): PostgreSQL only, for `unnest` and `ANY`.
        Uuids(Vec<Uuid>),
        /// An array of integers (`bigint[]`): PostgreSQL only.
        I64s(Vec<i64>),
        /// An array of ids, some missing (`uuid[]`): PostgreSQL only.
        OptUuids(Vec<Option<Uuid>>),
        /// An array of texts (`text[]`): PostgreSQL only.
        Texts(Vec<String>),
        /// An array of booleans (`boolean[]`): PostgreSQL only.
        Bools(Vec<bool>),
        /// An array of times (`timestamptz[]`): PostgreSQL only.
        Tss(Vec<DateTime<Utc>>),
    }

    macro_rules! arg_from {
        ($($t:ty => $v:ident),* $(,)?) => {
            $(impl From<$t> for Arg {
                fn from(v: $t) -> Self {
                    Arg::$v(v)
                }
            })*
        };
    }

    arg_from! {
        i64 => I64,
        Option<i64> => OptI64,
        String => Text,
        Option<String> => OptText,
        Uuid => Uuid,
        Option<Uuid> => OptUuid,
        bool => Bool,
        Vec<u8> => Bytes,
        DateTime<Utc> => Ts,
        Option<DateTime<Utc>> => OptTs,
        Box<RawValue> => Json,
        Vec<Uuid> => Uuids,
        Vec<i64> => I64s,
        Vec<Option<Uuid>> => OptUuids,
        Vec<String> => Texts,
        Vec<bool> => Bools,
        Vec<DateTime<Utc>> => Tss,
    }

    impl From<&str> for Arg {
        fn from(v: &str) -> Self {
            Arg::Text(v.to_owned())
        }
    }

    impl From<u32> for Arg {
        fn from(v: u32) -> Self {
            Arg::I64(i64::from(v))
        }
    }

    impl From<Option<u32>> for Arg {
        fn from(v: Option<u32>) -> Self {
            Arg::OptI64(v.map(i64::from))
        }
    }

    /// A statement and its arguments.
    #[derive(Debug)]
    pub struct Q {
        pub(crate) sql: Cow<'static, str>,
        pub(crate) args: Vec<Arg>,
    }

    impl Q {
        /// A statement written in the source.
        pub fn new(sql: &'static str) -> Self {
            Q {
                sql: Cow::Borrowed(sql),
                args: Vec::new(),
            }
        }

        /// A statement assembled at run time from fixed fragments and
        /// placeholders only (never from input text).
        pub fn assembled(sql: String, args: Vec<Arg>) -> Self {
            Q {
                sql: Cow::Owned(sql),
                args,
            }
        }

        /// Adds the next argument.
        pub fn arg(mut self, a: impl Into<Arg>) -> Self {
            self.args.push(a.into());
            self
        }
    }

    /// Rows that decode on every enabled backend.
    pub trait Rowed: super::FromSqliteRow + super::FromPgRow + Send + Unpin {}
    impl<T: super::FromSqliteRow + super::FromPgRow + Send + Unpin> Rowed for T {}

    /// What the store's operations need from a database.
    pub trait Driver: Send + Sync + Sized + 'static {
        /// The connection pool (sqlx's).
        type Pool: Clone + Send + Sync + std::fmt::Debug + 'static;
        /// What the operations run on: the pool, and on PostgreSQL the
        /// connections kept warm for single statements.
        type Db: Clone + Send + Sync + std::fmt::Debug + 'static;
        /// An open transaction; dropping it rolls back.
        type Tx: Send;
        /// The dialect.
        const DIALECT: Dialect;
        /// The handle over a pool.
        fn db(pool: Self::Pool) -> Self::Db;
        /// Its pool.
        fn pool(db: &Self::Db) -> &Self::Pool;
        /// Connections open now.
        fn connections(db: &Self::Db) -> u32;
        /// Begins a transaction.
        fn begin(
            db: &Self::Db,
            mode: TxMode,
        ) -> impl Future<Output = Result<Self::Tx, sqlx::Error>> + Send;
        /// Commits.
        fn commit(tx: Self::Tx) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
        /// Runs a statement; the number of rows it changed.
        fn execute(
            tx: &mut Self::Tx,
            q: Q,
        ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;
        /// Every row.
        fn fetch_all<T: Rowed>(
            tx: &mut Self::Tx,
            q: Q,
        ) -> impl Future<Output = Result<Vec<T>, sqlx::Error>> + Send;
        /// The first row, if any.
        fn fetch_optional<T: Rowed>(
            tx: &mut Self::Tx,
            q: Q,
        ) -> impl Future<Output = Result<Option<T>, sqlx::Error>> + Send;
        /// Every row, outside a transaction.
        fn read_all<T: Rowed>(
            db: &Self::Db,
            q: Q,
        ) -> impl Future<Output = Result<Vec<T>, sqlx::Error>> + Send;
        /// The first row, outside a transaction.
        fn read_optional<T: Rowed>(
            db: &Self::Db,
            q: Q,
        ) -> impl Future<Output = Result<Option<T>, sqlx::Error>> + Send;
        /// Runs one statement outside a transaction.
        fn run(db: &Self::Db, q: Q) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;
        /// Every row of one statement that writes, run as its own
        /// transaction; never sent twice (its outcome may be unknown when
        /// the connection is lost).
        fn write_all<T: Rowed>(
            db: &Self::Db,
            q: Q,
        ) -> impl Future<Output = Result<Vec<T>, sqlx::Error>> + Send;
    }
}

pub(crate) use sealed::{Arg, Driver, Q, Rowed, TxMode};

/// A database this crate can store in: [`Sqlite`] or [`Postgres`].
pub trait Backend: sealed::Driver {}

#[cfg(feature = "sqlite")]
pub(crate) use sqlite_impl::FromSqliteRow;
#[cfg(not(feature = "sqlite"))]
#[allow(unreachable_pub)]
pub trait FromSqliteRow {}
#[cfg(not(feature = "sqlite"))]
impl<T> FromSqliteRow for T {}

#[cfg(feature = "postgres")]
pub(crate) use pg_impl::FromPgRow;
#[cfg(not(feature = "postgres"))]
#[allow(unreachable_pub)]
pub trait FromPgRow {}
#[cfg(not(feature = "postgres"))]
impl<T> FromPgRow for T {}

#[cfg(feature = "postgres")]
pub use pg_impl::Postgres;
#[cfg(feature = "sqlite")]
pub use sqlite_impl::Sqlite;

fn sql_text(sql: Cow<'static, str>) -> sqlx::SqlStr {
    use sqlx::SqlSafeStr;
    match sql {
        Cow::Borrowed(s) => s.into_sql_str(),
        // Assembled by `Q::assembled` from fixed fragments and placeholders.
        Cow::Owned(s) => sqlx::AssertSqlSafe(s).into_sql_str(),
    }
}

#[cfg(feature = "sqlite")]
mod sqlite_impl {
    #![allow(unreachable_pub)]

    use sqlx::sqlite::{SqliteArguments, SqlitePool, SqliteRow, SqliteTypeInfo, SqliteValueRef};
    use sqlx::{Arguments, Decode, FromRow, Transaction, Type};

    use super::{Arg, Dialect, Q, Rowed, Ts, TxMode, sql_text};

    /// SQLite: one file, no service. See [`crate::SqliteStore`].
    #[derive(Debug, Clone, Copy)]
    pub struct Sqlite;

    impl super::Backend for Sqlite {}

    /// Rows that decode from SQLite.
    pub trait FromSqliteRow: for<'r> FromRow<'r, SqliteRow> {}
    impl<T: for<'r> FromRow<'r, SqliteRow>> FromSqliteRow for T {}

    impl Type<sqlx::Sqlite> for Ts {
        fn type_info() -> SqliteTypeInfo {
            <i64 as Type<sqlx::Sqlite>>::type_info()
        }
        fn compatible(ty: &SqliteTypeInfo) -> bool {
            <i64 as Type<sqlx::Sqlite>>::compatible(ty)
        }
    }

    impl<'r> Decode<'r, sqlx::Sqlite> for Ts {
        fn decode(value: SqliteValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
            let micros = <i64 as Decode<sqlx::Sqlite>>::decode(value)?;
            chrono::DateTime::from_timestamp_micros(micros)
                .map(Ts)
                .ok_or_else(|| "timestamp out of range".into())
        }
    }

    fn arguments(args: Vec<Arg>) -> Result<SqliteArguments, sqlx::Error> {
        let mut out = SqliteArguments::default();
        for a in args {
            let added = match a {
                Arg::I64(v) => out.add(v),
                Arg::OptI64(v) => out.add(v),
                Arg::Text(v) => out.add(v),
                Arg::OptText(v) => out.add(v),
                Arg::Uuid(v) => out.add(v),
                Arg::OptUuid(v) => out.add(v),
                Arg::Bool(v) => out.add(v),
                Arg::Bytes(v) => out.add(v),
                Arg::Ts(v) => out.add(v.timestamp_micros()),
                Arg::OptTs(v) => out.add(v.map(|t| t.timestamp_micros())),
                Arg::Json(v) => out.add(String::from(Box::<str>::from(v))),
                Arg::Uuids(_)
                | Arg::I64s(_)
                | Arg::OptUuids(_)
                | Arg::Texts(_)
                | Arg::Bools(_)
                | Arg::Tss(_) => {
                    return Err(sqlx::Error::Encode(
                        "SQLite has no array parameters; this statement is PostgreSQL's".into(),
                    ));
                }
            };
            added.map_err(sqlx::Error::Encode)?;
        }
        Ok(out)
    }

    impl super::sealed::Driver for Sqlite {
        type Pool = SqlitePool;
        // A pooled SQLite connection lives on a thread of its own: the
        // pool's test on release is a message to it, not a round trip over
        // a network, so the pool serves every statement.
        type Db = SqlitePool;
        type Tx = Transaction<'static, sqlx::Sqlite>;
        const DIALECT: Dialect = Dialect::Sqlite;

        fn db(pool: SqlitePool) -> SqlitePool {
            pool
        }

        fn pool(db: &SqlitePool) -> &SqlitePool {
            db
        }

        fn connections(db: &SqlitePool) -> u32 {
            db.size()
        }

        async fn begin(pool: &SqlitePool, mode: TxMode) -> Result<Self::Tx, sqlx::Error> {
            match mode {
                TxMode::Write | TxMode::Ephemeral => pool.begin_with("BEGIN IMMEDIATE").await,
                TxMode::Snapshot => pool.begin().await,
            }
        }

        async fn commit(tx: Self::Tx) -> Result<(), sqlx::Error> {
            tx.commit().await
        }

        async fn execute(tx: &mut Self::Tx, q: Q) -> Result<u64, sqlx::Error> {
            let done = sqlx::query_with(sql_text(q.sql), arguments(q.args)?)
                .execute(&mut **tx)
                .await?;
            Ok(done.rows_affected())
        }

        async fn fetch_all<T: Rowed>(tx: &mut Self::Tx, q: Q) -> Result<Vec<T>, sqlx::Error> {
            sqlx::query_as_with(sql_text(q.sql), arguments(q.args)?)
                .fetch_all(&mut **tx)
                .await
        }

        // Every statement is read to its end: a result stream dropped early
        // leaves the statement un-reset, and with it a read snapshot that
        // makes the pooled connection see old data later (sqlx#2543).
        async fn fetch_optional<T: Rowed>(
            tx: &mut Self::Tx,
            q: Q,
        ) -> Result<Option<T>, sqlx::Error> {
            let rows: Vec<T> = sqlx::query_as_with(sql_text(q.sql), arguments(q.args)?)
                .fetch_all(&mut **tx)
                .await?;
            Ok(rows.into_iter().next())
        }

        async fn read_all<T: Rowed>(pool: &SqlitePool, q: Q) -> Result<Vec<T>, sqlx::Error> {
            sqlx::query_as_with(sql_text(q.sql), arguments(q.args)?)
                .fetch_all(pool)
                .await
        }

        async fn read_optional<T: Rowed>(
            pool: &SqlitePool,
            q: Q,
        ) -> Result<Option<T>, sqlx::Error> {
            let rows: Vec<T> = sqlx::query_as_with(sql_text(q.sql), arguments(q.args)?)
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().next())
        }

        async fn run(pool: &SqlitePool, q: Q) -> Result<u64, sqlx::Error> {
            let done = sqlx::query_with(sql_text(q.sql), arguments(q.args)?)
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        }

        async fn write_all<T: Rowed>(pool: &SqlitePool, q: Q) -> Result<Vec<T>, sqlx::Error> {
            sqlx::query_as_with(sql_text(q.sql), arguments(q.args)?)
                .fetch_all(pool)
                .await
        }
    }
}

#[cfg(feature = "postgres")]
mod pg_impl {
    #![allow(unreachable_pub)]

    use std::sync::Arc;

    use sqlx::postgres::{PgArguments, PgPool, PgRow, PgTypeInfo, PgValueRef};
    use sqlx::types::Json;
    use sqlx::{Arguments, Decode, FromRow, Transaction, Type};

    use super::{Arg, Dialect, Q, Rowed, Ts, TxMode, sql_text};
    use crate::lender::Lender;

    /// PostgreSQL: production, several servers. See [`crate::PgStore`].
    #[derive(Debug, Clone, Copy)]
    pub struct Postgres;

    impl super::Backend for Postgres {}

    /// Rows that decode from PostgreSQL.
    pub trait FromPgRow: for<'r> FromRow<'r, PgRow> {}
    impl<T: for<'r> FromRow<'r, PgRow>> FromPgRow for T {}

    type Utc = chrono::DateTime<chrono::Utc>;

    impl Type<sqlx::Postgres> for Ts {
        fn type_info() -> PgTypeInfo {
            <Utc as Type<sqlx::Postgres>>::type_info()
        }
        fn compatible(ty: &PgTypeInfo) -> bool {
            <Utc as Type<sqlx::Postgres>>::compatible(ty)
        }
    }

    impl<'r> Decode<'r, sqlx::Postgres> for Ts {
        fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
            <Utc as Decode<sqlx::Postgres>>::decode(value).map(Ts)
        }
    }

    fn arguments(args: Vec<Arg>) -> Result<PgArguments, sqlx::Error> {
        let mut out = PgArguments::default();
        for a in args {
            let added = match a {
                Arg::I64(v) => out.add(v),
                Arg::OptI64(v) => out.add(v),
                Arg::Text(v) => out.add(v),
                Arg::OptText(v) => out.add(v),
                Arg::Uuid(v) => out.add(v),
                Arg::OptUuid(v) => out.add(v),
                Arg::Bool(v) => out.add(v),
                Arg::Bytes(v) => out.add(v),
                Arg::Ts(v) => out.add(v),
                Arg::OptTs(v) => out.add(v),
                Arg::Json(v) => out.add(Json(v)),
                Arg::Uuids(v) => out.add(v),
                Arg::I64s(v) => out.add(v),
                Arg::OptUuids(v) => out.add(v),
                Arg::Texts(v) => out.add(v),
                Arg::Bools(v) => out.add(v),
                Arg::Tss(v) => out.add(v),
            };
            added.map_err(sqlx::Error::Encode)?;
        }
        Ok(out)
    }

    /// What a `PgStore` runs on: sqlx's pool for transactions, and the
    /// [`Lender`]'s connections, kept warm, for single statements.
    #[derive(Clone)]
    pub struct PgDb {
        pub(crate) pool: PgPool,
        pub(crate) lender: Arc<Lender>,
    }

    impl std::fmt::Debug for PgDb {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("PgDb")
                .field("pool", &self.pool)
                .field("lent_open", &self.lender.open())
                .finish()
        }
    }

    /// How many connections a transaction's `BEGIN` or a read tries when
    /// they turn out to be dead: one more than the pool (or the lender)
    /// holds, since each that fails is dropped from it.
    fn lost_attempts(max: u32) -> u32 {
        max.saturating_add(1)
    }

    /// A read on a lent connection, run again on another connection when
    /// the one it had turns out to be dead (see `begin`): reading twice is
    /// harmless.
    macro_rules! read_lent {
        ($db:expr, |$conn:ident| $statement:expr) => {{
            let lender = &$db.lender;
            let mut attempt = 1;
            loop {
                let mut lent = lender.lend().await?;
                let outcome = {
                    let $conn = lent.conn();
                    $statement.await
                };
                match outcome {
                    Err(e)
                        if crate::error::is_lost(&e)
                            && attempt < lost_attempts(lender.capacity()) =>
                    {
                        // Dropped: the dead connection is closed.
                        drop(lent);
                        attempt += 1;
                    }
                    other => {
                        lent.settle(&other);
                        break other;
                    }
                }
            }
        }};
    }

    impl super::sealed::Driver for Postgres {
        type Pool = PgPool;
        type Db = PgDb;
        type Tx = Transaction<'static, sqlx::Postgres>;
        const DIALECT: Dialect = Dialect::Postgres;

        fn db(pool: PgPool) -> PgDb {
            let options = (*pool.connect_options()).clone();
            let capacity = pool.options().get_max_connections();
            PgDb {
                pool,
                lender: Arc::new(Lender::new(options, capacity)),
            }
        }

        fn pool(db: &PgDb) -> &PgPool {
            &db.pool
        }

        fn connections(db: &PgDb) -> u32 {
            db.pool.size().saturating_add(db.lender.open())
        }

        async fn begin(db: &PgDb, mode: TxMode) -> Result<Self::Tx, sqlx::Error> {
            let pool = &db.pool;
            let mut attempt = 1;
            loop {
                let begun = match mode {
                    TxMode::Write => pool.begin().await,
                    TxMode::Ephemeral => {
                        pool.begin_with("BEGIN; SET LOCAL synchronous_commit TO OFF")
                            .await
                    }
                    TxMode::Snapshot => {
                        pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                            .await
                    }
                };
                match begun {
                    // A pooled connection that died while idle: nothing
                    // began, so another connection may simply try.
                    Err(e)
                        if crate::error::is_lost(&e)
                            && attempt < lost_attempts(pool.options().get_max_connections()) =>
                    {
                        attempt += 1;
                    }
                    other => return other,
                }
            }
        }

        async fn commit(tx: Self::Tx) -> Result<(), sqlx::Error> {
            tx.commit().await
        }

        async fn execute(tx: &mut Self::Tx, q: Q) -> Result<u64, sqlx::Error> {
            let done = sqlx::query_with(sql_text(q.sql), arguments(q.args)?)
                .execute(&mut **tx)
                .await?;
            Ok(done.rows_affected())
        }

        async fn fetch_all<T: Rowed>(tx: &mut Self::Tx, q: Q) -> Result<Vec<T>, sqlx::Error> {
            sqlx::query_as_with(sql_text(q.sql), arguments(q.args)?)
                .fetch_all(&mut **tx)
                .await
        }

        async fn fetch_optional<T: Rowed>(
            tx: &mut Self::Tx,
            q: Q,
        ) -> Result<Option<T>, sqlx::Error> {
            sqlx::query_as_with(sql_text(q.sql), arguments(q.args)?)
                .fetch_optional(&mut **tx)
                .await
        }

        async fn read_all<T: Rowed>(db: &PgDb, q: Q) -> Result<Vec<T>, sqlx::Error> {
            read_lent!(db, |conn| {
                sqlx::query_as_with(sql_text(q.sql.clone()), arguments(q.args.clone())?)
                    .fetch_all(conn)
            })
        }

        async fn read_optional<T: Rowed>(db: &PgDb, q: Q) -> Result<Option<T>, sqlx::Error> {
            read_lent!(db, |conn| {
                sqlx::query_as_with(sql_text(q.sql.clone()), arguments(q.args.clone())?)
                    .fetch_optional(conn)
            })
        }

        // Writes are sent once: when the link fails, their outcome is
        // unknown, and the caller decides.
        async fn run(db: &PgDb, q: Q) -> Result<u64, sqlx::Error> {
            let args = arguments(q.args)?;
            let mut lent = db.lender.lend().await?;
            let done = sqlx::query_with(sql_text(q.sql), args)
                .execute(lent.conn())
                .await;
            lent.settle(&done);
            Ok(done?.rows_affected())
        }

        async fn write_all<T: Rowed>(db: &PgDb, q: Q) -> Result<Vec<T>, sqlx::Error> {
            let args = arguments(q.args)?;
            let mut lent = db.lender.lend().await?;
            let rows = sqlx::query_as_with(sql_text(q.sql), args)
                .fetch_all(lent.conn())
                .await;
            lent.settle(&rows);
            rows
        }
    }
}
