//! Refresh-token sessions and one-time secrets: digests only, each use one
//! atomic step (the token's row is locked while it is checked).

use chrono::{DateTime, Utc};
use commerce_core::credentials::{
    CodeCheck, OneTimeSecret, RefreshSession, Rotation, SecretDigest, SecretPurpose, SessionRenewal,
};
use commerce_core::ids::{CustomerId, SessionFamilyId};
use commerce_core::storage::{CredentialStore, StoreError};
use uuid::Uuid;

use super::{Done, SqlStore, TxResult, write_tx};
use crate::backend::{Backend, Ts, locking, q};
use crate::error::{backend, corrupt};
use crate::rows::count;

fn bytes(d: &SecretDigest) -> Vec<u8> {
    d.as_bytes().to_vec()
}

fn digest(b: &[u8]) -> Result<SecretDigest, StoreError> {
    let arr: [u8; 32] = b
        .try_into()
        .map_err(|_| corrupt("digest", "not 32 bytes"))?;
    Ok(SecretDigest::from_bytes(arr))
}

async fn rotate_tx<B: Backend>(
    tx: &mut B::Tx,
    presented: &SecretDigest,
    renewal: &SessionRenewal,
    now: DateTime<Utc>,
) -> TxResult<Rotation> {
    let row: Option<(Uuid, Uuid, Ts, bool, bool)> = B::fetch_optional(
        tx,
        q!(
            locking!(
                B::DIALECT,
                "SELECT family, account_id, expires_at, spent, revoked FROM refresh_sessions \
                 WHERE digest = $1"
            ),
            bytes(presented)
        ),
    )
    .await?;
    let Some((family, account, expires_at, spent, revoked)) = row else {
        return Ok(Done::Rollback(Rotation::Invalid));
    };
    if revoked || expires_at.0 <= now {
        return Ok(Done::Rollback(Rotation::Invalid));
    }
    let (account_id, family_id) = (
        CustomerId::from_uuid(account),
        SessionFamilyId::from_uuid(family),
    );
    if spent {
        B::execute(
            tx,
            q!(
                "UPDATE refresh_sessions SET revoked = TRUE WHERE family = $1",
                family
            ),
        )
        .await?;
        return Ok(Done::Commit(Rotation::Reused {
            account_id,
            family: family_id,
        }));
    }
    B::execute(
        tx,
        q!(
            "UPDATE refresh_sessions SET spent = TRUE WHERE digest = $1",
            bytes(presented)
        ),
    )
    .await?;
    B::execute(
        tx,
        q!(
            "INSERT INTO refresh_sessions (id, family, account_id, digest, expires_at, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            renewal.id.as_uuid(),
            family,
            account,
            bytes(&renewal.digest),
            renewal.expires_at,
            now
        ),
    )
    .await?;
    Ok(Done::Commit(Rotation::Rotated {
        account_id,
        family: family_id,
    }))
}

async fn check_tx<B: Backend>(
    tx: &mut B::Tx,
    account: CustomerId,
    purpose: SecretPurpose,
    presented: &SecretDigest,
    now: DateTime<Utc>,
) -> TxResult<CodeCheck> {
    let row: Option<(Vec<u8>, Ts, i64)> = B::fetch_optional(
        tx,
        q!(
            locking!(
                B::DIALECT,
                "SELECT digest, expires_at, attempts_left FROM one_time_secrets \
                 WHERE account_id = $1 AND purpose = $2"
            ),
            account.as_uuid(),
            purpose.as_str()
        ),
    )
    .await?;
    let Some((stored, expires_at, attempts_left)) = row else {
        return Ok(Done::Rollback(CodeCheck::Missing));
    };
    if expires_at.0 <= now || attempts_left <= 0 {
        return Ok(Done::Rollback(CodeCheck::Expired));
    }
    // Compared in constant time (`SecretDigest`'s equality).
    if digest(&stored)? == *presented {
        B::execute(
            tx,
            q!(
                "DELETE FROM one_time_secrets WHERE account_id = $1 AND purpose = $2",
                account.as_uuid(),
                purpose.as_str()
            ),
        )
        .await?;
        return Ok(Done::Commit(CodeCheck::Accepted));
    }
    B::execute(
        tx,
        q!(
            "UPDATE one_time_secrets SET attempts_left = attempts_left - 1 \
             WHERE account_id = $1 AND purpose = $2",
            account.as_uuid(),
            purpose.as_str()
        ),
    )
    .await?;
    Ok(Done::Commit(CodeCheck::Wrong {
        attempts_left: count("attempts", attempts_left - 1)?,
    }))
}

impl<B: Backend> CredentialStore for SqlStore<B> {
    async fn create_session(&self, session: RefreshSession) -> Result<(), StoreError> {
        B::run(
            &self.db,
            q!(
                "INSERT INTO refresh_sessions (id, family, account_id, digest, expires_at, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                session.id.as_uuid(),
                session.family.as_uuid(),
                session.account_id.as_uuid(),
                bytes(&session.digest),
                session.expires_at,
                session.created_at
            ),
        )
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn rotate_session(
        &self,
        presented: SecretDigest,
        renewal: SessionRenewal,
        now: DateTime<Utc>,
    ) -> Result<Rotation, StoreError> {
        write_tx!(self, |tx| rotate_tx::<B>(tx, &presented, &renewal, now))
    }

    async fn revoke_family(
        &self,
        presented: SecretDigest,
        account: CustomerId,
    ) -> Result<Option<SessionFamilyId>, StoreError> {
        let families: Vec<(Uuid,)> = B::read_all(
            &self.db,
            q!(
                "UPDATE refresh_sessions SET revoked = TRUE WHERE family = \
                 (SELECT family FROM refresh_sessions WHERE digest = $1 AND account_id = $2) \
                 RETURNING family",
                bytes(&presented),
                account.as_uuid()
            ),
        )
        .await
        .map_err(backend)?;
        Ok(families.first().map(|(f,)| SessionFamilyId::from_uuid(*f)))
    }

    async fn revoke_sessions(
        &self,
        account: CustomerId,
        keep: Option<SessionFamilyId>,
    ) -> Result<u64, StoreError> {
        let mut families: Vec<(Uuid,)> = B::read_all(
            &self.db,
            q!(
                "UPDATE refresh_sessions SET revoked = TRUE WHERE account_id = $1 \
                 AND NOT revoked AND ($2 IS NULL OR family <> $2) RETURNING family",
                account.as_uuid(),
                keep.map(|f| f.as_uuid())
            ),
        )
        .await
        .map_err(backend)?;
        families.sort();
        families.dedup();
        Ok(families.len() as u64)
    }

    async fn put_secret(&self, secret: OneTimeSecret) -> Result<(), StoreError> {
        B::run(
            &self.db,
            q!(
                "INSERT INTO one_time_secrets (account_id, purpose, digest, expires_at, \
                 attempts_left, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (account_id, purpose) DO UPDATE SET digest = excluded.digest, \
                 expires_at = excluded.expires_at, attempts_left = excluded.attempts_left, \
                 created_at = excluded.created_at",
                secret.account_id.as_uuid(),
                secret.purpose.as_str(),
                bytes(&secret.digest),
                secret.expires_at,
                secret.attempts_left,
                secret.created_at
            ),
        )
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn check_code(
        &self,
        account: CustomerId,
        purpose: SecretPurpose,
        digest: SecretDigest,
        now: DateTime<Utc>,
    ) -> Result<CodeCheck, StoreError> {
        write_tx!(self, |tx| check_tx::<B>(tx, account, purpose, &digest, now))
    }

    async fn take_token(
        &self,
        purpose: SecretPurpose,
        digest: SecretDigest,
        now: DateTime<Utc>,
    ) -> Result<Option<CustomerId>, StoreError> {
        // One statement: of two takes at once, one deletes the row.
        let taken: Vec<(Uuid, Ts)> = B::read_all(
            &self.db,
            q!(
                "DELETE FROM one_time_secrets WHERE purpose = $1 AND digest = $2 \
                 RETURNING account_id, expires_at",
                purpose.as_str(),
                bytes(&digest)
            ),
        )
        .await
        .map_err(backend)?;
        Ok(taken
            .into_iter()
            .find(|(_, expires_at)| expires_at.0 > now)
            .map(|(account, _)| CustomerId::from_uuid(account)))
    }

    async fn prune_credentials(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let secrets = B::run(
            &self.db,
            q!("DELETE FROM one_time_secrets WHERE expires_at <= $1", now),
        )
        .await
        .map_err(backend)?;
        let sessions = B::run(
            &self.db,
            q!("DELETE FROM refresh_sessions WHERE expires_at <= $1", now),
        )
        .await
        .map_err(backend)?;
        Ok(secrets + sessions)
    }
}
