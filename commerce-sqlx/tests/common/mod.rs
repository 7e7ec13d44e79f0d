//! Fresh databases for tests: a new SQLite file, or a new PostgreSQL schema
//! in `TEST_DATABASE_URL`, per test, so tests run in parallel.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use commerce_sqlx::{PgStore, SqliteStore};
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

/// Connections per pool: the race tests need at least 16 at once.
pub(crate) const CONNECTIONS: u32 = 20;

/// A new database file under cargo's scratch folder for tests.
pub(crate) fn sqlite_path() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("commerce-sqlx");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    dir.join(format!("{}.db", uuid::Uuid::new_v4().simple()))
}

/// A store on a new SQLite file.
pub(crate) async fn sqlite() -> SqliteStore {
    sqlite_at(&sqlite_path()).await
}

/// A store on the SQLite file at `path` (created if missing).
pub(crate) async fn sqlite_at(path: &std::path::Path) -> SqliteStore {
    let options = commerce_sqlx::sqlite::options(
        SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true),
    );
    match SqliteStore::connect_with(options, CONNECTIONS).await {
        Ok(store) => store,
        Err(e) => panic!("cannot open {}: {e}", path.display()),
    }
}

/// `TEST_DATABASE_URL`, or the local default.
pub(crate) fn pg_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Options for a new, empty schema in the test database; `None` (after
/// saying so) when PostgreSQL is not reachable here. With `CI=true` a
/// missing PostgreSQL is a failure.
pub(crate) async fn pg_schema() -> Option<PgConnectOptions> {
    use std::str::FromStr;
    let url = pg_url();
    let base = match PgConnectOptions::from_str(&url) {
        Ok(o) => o,
        Err(e) => panic!("TEST_DATABASE_URL {url:?} is malformed: {e}"),
    };
    let admin = match sqlx::PgPool::connect_with(base.clone()).await {
        Ok(pool) => pool,
        Err(e) if ci() => panic!("CI=true and PostgreSQL at {url} is unreachable: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: PostgreSQL at {url} is unreachable ({e}); set TEST_DATABASE_URL");
            return None;
        }
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let create = format!("CREATE SCHEMA {schema}");
    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(create))
        .execute(&admin)
        .await
    {
        panic!("cannot create schema {schema}: {e}");
    }
    admin.close().await;
    Some(base.options([("search_path", schema.as_str())]))
}

/// A store on a new schema (see [`pg_schema`]).
pub(crate) async fn pg() -> Option<PgStore> {
    let options = pg_schema().await?;
    match PgStore::connect_with(options, CONNECTIONS).await {
        Ok(store) => Some(store),
        Err(e) => panic!("cannot connect or migrate: {e}"),
    }
}

/// Wraps a store for the conformance macro.
pub(crate) fn shared<S>(store: S) -> Option<Arc<S>> {
    Some(Arc::new(store))
}
