//! Idempotency keys: the primary key `(scope, key)` makes one of several
//! concurrent first requests the one that runs.

use chrono::{DateTime, Utc};
use commerce_core::idempotency::{Begin, Fingerprint, IdempotencyKey, IdempotencyRecord};
use commerce_core::storage::{IdempotencyStore, StoreError};

use super::{Done, SqlStore, TxResult, write_tx};
use crate::backend::{Backend, Dialect, TxMode, locking, q};
use crate::error::{backend, corrupt};
use crate::rows::IdempotencyRow;

/// A new key's claim on PostgreSQL, given the placeholders of the scope,
/// the key, the fingerprint, `locked_until` and `now`: the insert, with
/// `synchronous_commit` off for its transaction only
/// (`set_config(..., true)`, as `TxMode::Ephemeral` does), since a claim is
/// concurrency control, not data. It inserts nothing when the key exists.
macro_rules! pg_claim {
    ($scope:literal, $key:literal, $fingerprint:literal, $until:literal, $now:literal) => {
        concat!(
            "INSERT INTO idempotency_keys (scope, idem_key, fingerprint, response, \
             locked_until, created_at) SELECT ",
            $scope,
            ", ",
            $key,
            ", ",
            $fingerprint,
            ", NULL, ",
            $until,
            ", ",
            $now,
            " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS ephemeral \
             ON CONFLICT DO NOTHING"
        )
    };
}
pub(crate) use pg_claim;

/// The head of a statement that claims a key ([`pg_claim!`], same
/// placeholders) and reads beside it: `SELECT (1 when the claim was taken,
/// else 0) AS claimed, `, to be followed by the read's select list.
macro_rules! pg_claim_and_select {
    ($scope:literal, $key:literal, $fingerprint:literal, $until:literal, $now:literal) => {
        concat!(
            "WITH k AS (",
            $crate::store::idempotency::pg_claim!($scope, $key, $fingerprint, $until, $now),
            " RETURNING 1) SELECT (SELECT COUNT(*) FROM k) AS claimed, "
        )
    };
}
pub(crate) use pg_claim_and_select;

async fn begin_tx<B: Backend>(
    tx: &mut B::Tx,
    scope: &str,
    key: &IdempotencyKey,
    fingerprint: Fingerprint,
    now: DateTime<Utc>,
    lock_until: DateTime<Utc>,
) -> TxResult<Begin> {
    let inserted = B::execute(
        tx,
        q!(
            "INSERT INTO idempotency_keys (scope, idem_key, fingerprint, response, locked_until, \
             created_at) VALUES ($1, $2, $3, NULL, $4, $5) ON CONFLICT DO NOTHING",
            scope,
            key.as_str(),
            fingerprint.as_bytes().to_vec(),
            lock_until,
            now
        ),
    )
    .await?;
    if inserted == 1 {
        return Ok(Done::Commit(Begin::Started));
    }
    let row: Option<IdempotencyRow> = B::fetch_optional(
        tx,
        q!(
            locking!(
                B::DIALECT,
                "SELECT fingerprint, response, locked_until, created_at FROM idempotency_keys \
                 WHERE scope = $1 AND idem_key = $2"
            ),
            scope,
            key.as_str()
        ),
    )
    .await?;
    let Some(row) = row else {
        // Pruned between the two statements: a retry starts afresh.
        return Ok(Done::Rollback(Begin::InProgress));
    };
    let bytes: [u8; 32] = row
        .fingerprint
        .as_slice()
        .try_into()
        .map_err(|_| corrupt("fingerprint", "not 32 bytes"))?;
    let record = IdempotencyRecord {
        scope: scope.to_owned(),
        key: key.clone(),
        fingerprint: Fingerprint::from_bytes(bytes),
        response: row.response,
        locked_until: row.locked_until.0,
        created_at: row.created_at.0,
    };
    let begin = record.begin(fingerprint, now);
    if begin == Begin::Started {
        B::execute(
            tx,
            q!(
                "UPDATE idempotency_keys SET locked_until = $3 WHERE scope = $1 AND idem_key = $2",
                scope,
                key.as_str(),
                lock_until
            ),
        )
        .await?;
    }
    Ok(Done::Commit(begin))
}

impl<B: Backend> IdempotencyStore for SqlStore<B> {
    async fn begin(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        now: DateTime<Utc>,
        lock_until: DateTime<Utc>,
    ) -> Result<Begin, StoreError> {
        // The claim is concurrency control, not data: it may be committed
        // without waiting for the disk (see `TxMode::Ephemeral`).
        //
        // A new key — nearly always — is one statement on its own (its own
        // transaction): the insert (`pg_claim!` on PostgreSQL).
        let sql = match B::DIALECT {
            Dialect::Postgres => pg_claim!("$1", "$2", "$3", "$4", "$5"),
            Dialect::Sqlite => {
                "INSERT INTO idempotency_keys (scope, idem_key, fingerprint, response, \
                 locked_until, created_at) VALUES ($1, $2, $3, NULL, $4, $5) \
                 ON CONFLICT DO NOTHING"
            }
        };
        let inserted = B::run(
            &self.db,
            q!(
                sql,
                scope,
                key.as_str(),
                fingerprint.as_bytes().to_vec(),
                lock_until,
                now
            ),
        )
        .await
        .map_err(backend)?;
        if inserted == 1 {
            return Ok(Begin::Started);
        }
        // The key exists: read it, and take it over if it was abandoned.
        write_tx!(self, TxMode::Ephemeral, |tx| begin_tx::<B>(
            tx,
            scope,
            key,
            fingerprint,
            now,
            lock_until
        ))
    }

    async fn complete(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        response: String,
    ) -> Result<(), StoreError> {
        B::run(
            &self.db,
            q!(
                "UPDATE idempotency_keys SET response = $3 WHERE scope = $1 AND idem_key = $2",
                scope,
                key.as_str(),
                response
            ),
        )
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn release(&self, scope: &str, key: &IdempotencyKey) -> Result<(), StoreError> {
        B::run(
            &self.db,
            q!(
                "DELETE FROM idempotency_keys WHERE scope = $1 AND idem_key = $2 AND response IS NULL",
                scope,
                key.as_str()
            ),
        )
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        B::run(
            &self.db,
            q!("DELETE FROM idempotency_keys WHERE created_at < $1", before),
        )
        .await
        .map_err(backend)
    }
}
