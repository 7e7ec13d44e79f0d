//! Database errors, classified by kind, SQLSTATE / result code and
//! constraint name — never by message text.

use commerce_core::storage::StoreError;
use sqlx::error::ErrorKind;

/// PostgreSQL SQLSTATEs and SQLite result codes after which the whole
/// transaction was rolled back and may simply run again.
const CONFLICT_CODES: &[&str] = &[
    "40001", // serialization_failure
    "40P01", // deadlock_detected
    "55P03", // lock_not_available
    "5",     // SQLITE_BUSY
    "6",     // SQLITE_LOCKED
    "261",   // SQLITE_BUSY_RECOVERY
    "517",   // SQLITE_BUSY_SNAPSHOT
    "262",   // SQLITE_LOCKED_SHAREDCACHE
];

/// `true` when the transaction was rolled back by a conflict with another
/// one (a deadlock, a serialization failure, a busy database): running the
/// whole operation again is safe and likely to succeed.
pub(crate) fn is_conflict(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| CONFLICT_CODES.contains(&code.as_ref())),
        _ => false,
    }
}

/// `true` for a unique violation, optionally of the named constraint or
/// index. SQLite does not report constraint names: there, callers pass
/// `None` where only one uniqueness rule can be hit by the statement.
pub(crate) fn is_unique(e: &sqlx::Error, constraint: Option<&str>) -> bool {
    match e {
        sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
            match (constraint, db.constraint()) {
                (Some(want), Some(got)) => want == got,
                _ => true,
            }
        }
        _ => false,
    }
}

/// `true` when the connection is gone (the server ended the session, or
/// the link broke): whatever the statement was, its transaction did not
/// commit through it.
pub(crate) fn is_lost(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_)
    ) || matches!(e, sqlx::Error::Database(db)
        // admin_shutdown, crash_shutdown, cannot_connect_now: the server
        // ended the session; the transaction was rolled back.
        if db.code().is_some_and(|c| matches!(c.as_ref(), "57P01" | "57P02" | "57P03")))
}

/// Any other database error as a [`StoreError`]; the message is for logs.
pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    let retryable = is_conflict(&e)
        || is_lost(&e)
        || matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed);
    StoreError::Backend {
        message: e.to_string(),
        retryable,
    }
}

/// A value read back that no longer fits the domain (a corrupt or
/// hand-edited row).
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        message: format!("stored {what} is invalid: {detail}"),
        retryable: false,
    }
}
