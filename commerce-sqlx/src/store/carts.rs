//! Carts: compare-and-set on `version`; a guest cart merged into an
//! account's in one step.

use chrono::{DateTime, Utc};
use commerce_core::cart::{Cart, CartOwner};
use commerce_core::idempotency::{Begin, Fingerprint, IdempotencyKey};
use commerce_core::ids::{CartId, VariantId};
use commerce_core::storage::{
    CartChanged, CartStore, CartWithVariants, StoreError, VariantRecord, begin_then,
    cart_and_variants,
};

use super::idempotency::pg_claim_and_select;
use super::{Done, SqlStore, TxResult, write_tx};
use crate::backend::{Backend, Dialect, q};
use crate::error::backend;
use crate::rows::{
    CartRow, CartVariantRow, ClaimedCartVariantRow, json, owner_key, variant_columns,
};

/// The select list and joins of a cart with its variants and their
/// products (`$1`: the owner's key; `$2`: a variant to read besides the
/// lines', or NULL): one row per variant (the lines' and `$2`'s, each
/// once), with the cart's columns on every row; one row of NULLs when
/// there is neither cart nor variant. The ids go to the primary key as one
/// array (`= ANY`), so the plan is index probes whatever the size of the
/// catalog (a join on the unnested lines was planned as a hash join over
/// every variant of a small catalog, at twice the cost). PostgreSQL only.
macro_rules! cart_with_variants {
    () => {
        concat!(
            "c.id AS c_id, c.currency AS c_currency, c.lines AS c_lines, \
             c.codes AS c_codes, c.shipping_method AS c_shipping_method, \
             c.version AS c_version, c.created_at AS c_created_at, \
             c.updated_at AS c_updated_at, ",
            variant_columns!(),
            ", p.store_id AS p_store_id, p.category_id AS p_category_id, \
             p.name AS p_name, p.description AS p_description, p.images AS p_images, \
             p.created_at AS p_created_at, p.deleted_at AS p_deleted_at \
             FROM (SELECT CAST($1 AS text) AS owner_key) AS o \
             LEFT JOIN carts c ON c.owner_key = o.owner_key \
             LEFT JOIN variants v ON v.id = ANY (ARRAY( \
                 SELECT CAST(e ->> 'variant_id' AS uuid) \
                 FROM jsonb_array_elements(c.lines) AS e \
             ) || CAST($2 AS uuid)) \
             LEFT JOIN products p ON p.id = v.product_id"
        )
    };
}

/// The cart and the variants' records of [`cart_with_variants!`]'s rows.
fn cart_and_records(
    owner: &CartOwner,
    rows: Vec<CartVariantRow>,
) -> Result<CartWithVariants, StoreError> {
    let mut cart = None;
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        if cart.is_none()
            && let Some(c) = row.cart
        {
            cart = Some(CartRow::from(c).into_domain(owner.clone())?);
        }
        if let Some(v) = row.variant {
            let (variant, product) = v.into_domain()?;
            records.push(VariantRecord { variant, product });
        }
    }
    Ok((cart, records))
}

/// The version `cart` was read at, as stored.
fn stored_version(cart: &Cart) -> Result<i64, StoreError> {
    i64::try_from(cart.version).map_err(|_| StoreError::Backend {
        message: "cart version out of range".into(),
        retryable: false,
    })
}

/// Saves `cart` if the stored one is at its version (or there is none for
/// its owner); the stored cart is at `version + 1`.
async fn save<B: Backend>(
    tx: &mut B::Tx,
    cart: &Cart,
) -> Result<Result<Cart, CartChanged>, super::Fail> {
    let version = stored_version(cart)?;
    let key = owner_key(&cart.owner);
    let updated = B::execute(
        tx,
        q!(
            "UPDATE carts SET currency = $4, lines = $5, codes = $6, shipping_method = $7, \
             version = version + 1, updated_at = $8 \
             WHERE id = $1 AND version = $2 AND owner_key = $3",
            cart.id.as_uuid(),
            version,
            key.as_str(),
            cart.currency.code(),
            json(&cart.lines)?,
            json(&cart.codes)?,
            cart.shipping_method.clone(),
            cart.updated_at
        ),
    )
    .await?;
    if updated == 0 {
        let inserted = B::execute(
            tx,
            q!(
                "INSERT INTO carts (id, owner_key, currency, lines, codes, shipping_method, \
                 version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT DO NOTHING",
                cart.id.as_uuid(),
                key,
                cart.currency.code(),
                json(&cart.lines)?,
                json(&cart.codes)?,
                cart.shipping_method.clone(),
                version + 1,
                cart.created_at,
                cart.updated_at
            ),
        )
        .await?;
        if inserted == 0 {
            return Ok(Err(CartChanged));
        }
    }
    let mut saved = cart.clone();
    saved.version += 1;
    Ok(Ok(saved))
}

/// [`save`] as one statement and its own transaction (PostgreSQL): the
/// compare-and-set `UPDATE`, and the `INSERT` of a new cart only when the
/// update changed nothing — one round trip instead of four (`BEGIN`,
/// update, insert, `COMMIT`). Both run on one snapshot: a cart another
/// writer changed fails the update's version check once its lock is
/// released, and a cart another writer created makes the insert conflict;
/// either way nothing is written and the answer is [`CartChanged`].
async fn save_at_once<B: Backend>(
    db: &B::Db,
    cart: &Cart,
) -> Result<Result<Cart, CartChanged>, StoreError> {
    let version = stored_version(cart)?;
    let rows: Vec<(i64,)> = B::write_all(
        db,
        q!(
            "WITH u AS (UPDATE carts SET currency = $4, lines = $5, codes = $6, \
                 shipping_method = $7, version = version + 1, updated_at = $8 \
                 WHERE id = $1 AND version = $2 AND owner_key = $3 RETURNING 1), \
             i AS (INSERT INTO carts (id, owner_key, currency, lines, codes, shipping_method, \
                 version, created_at, updated_at) \
                 SELECT $1, $3, $4, $5, $6, $7, $2 + 1, $9, $8 \
                 WHERE NOT EXISTS (SELECT 1 FROM u) ON CONFLICT DO NOTHING RETURNING 1) \
             SELECT CAST((SELECT COUNT(*) FROM u) + (SELECT COUNT(*) FROM i) AS BIGINT)",
            cart.id.as_uuid(),
            version,
            owner_key(&cart.owner),
            cart.currency.code(),
            json(&cart.lines)?,
            json(&cart.codes)?,
            cart.shipping_method.clone(),
            cart.updated_at,
            cart.created_at
        ),
    )
    .await
    .map_err(backend)?;
    if rows.first().map(|r| r.0) != Some(1) {
        return Ok(Err(CartChanged));
    }
    let mut saved = cart.clone();
    saved.version += 1;
    Ok(Ok(saved))
}

async fn save_tx<B: Backend>(tx: &mut B::Tx, cart: &Cart) -> TxResult<Result<Cart, CartChanged>> {
    Ok(match save::<B>(tx, cart).await? {
        Ok(saved) => Done::Commit(Ok(saved)),
        Err(e) => Done::Rollback(Err(e)),
    })
}

async fn merge_tx<B: Backend>(
    tx: &mut B::Tx,
    into: &Cart,
    guest: CartId,
    guest_version: u64,
) -> TxResult<Result<Cart, CartChanged>> {
    let Ok(version) = i64::try_from(guest_version) else {
        return Ok(Done::Rollback(Err(CartChanged)));
    };
    let deleted = B::execute(
        tx,
        q!(
            "DELETE FROM carts WHERE id = $1 AND version = $2",
            guest.as_uuid(),
            version
        ),
    )
    .await?;
    if deleted == 0 {
        return Ok(Done::Rollback(Err(CartChanged)));
    }
    save_tx::<B>(tx, into).await
}

impl<B: Backend> CartStore for SqlStore<B> {
    async fn cart_of(&self, owner: &CartOwner) -> Result<Option<Cart>, StoreError> {
        let row: Option<CartRow> = B::read_optional(
            &self.db,
            q!(
                "SELECT id, currency, lines, codes, shipping_method, version, created_at, \
                 updated_at FROM carts WHERE owner_key = $1",
                owner_key(owner)
            ),
        )
        .await
        .map_err(backend)?;
        row.map(|r| r.into_domain(owner.clone())).transpose()
    }

    /// On PostgreSQL one statement (below); SQLite reads the two, since a
    /// read there costs no round trip.
    async fn cart_with_variants(
        &self,
        owner: &CartOwner,
        also: Option<VariantId>,
    ) -> Result<(Option<Cart>, Vec<VariantRecord>), StoreError> {
        if B::DIALECT != Dialect::Postgres {
            return cart_and_variants(self, owner, also).await;
        }
        let rows: Vec<CartVariantRow> = B::read_all(
            &self.db,
            q!(
                concat!("SELECT ", cart_with_variants!()),
                owner_key(owner),
                also.map(|v| v.as_uuid())
            ),
        )
        .await
        .map_err(backend)?;
        cart_and_records(owner, rows)
    }

    async fn begin_with_cart(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        now: DateTime<Utc>,
        lock_until: DateTime<Utc>,
        owner: &CartOwner,
    ) -> Result<Result<CartWithVariants, Begin>, StoreError> {
        if B::DIALECT != Dialect::Postgres {
            return begin_then(
                self,
                scope,
                key,
                fingerprint,
                now,
                lock_until,
                self.cart_with_variants(owner, None),
            )
            .await;
        }
        // The claim's insert (as `IdempotencyStore::begin` makes it: its
        // own transaction, committed without waiting for the disk) and the
        // cart's read in one statement. The read sees the statement's
        // snapshot, as a read right after the claim would; the order's
        // statement checks the cart's version anyway.
        let rows: Vec<ClaimedCartVariantRow> = B::write_all(
            &self.db,
            q!(
                concat!(
                    pg_claim_and_select!("$3", "$4", "$5", "$6", "$7"),
                    cart_with_variants!()
                ),
                owner_key(owner),
                None::<uuid::Uuid>,
                scope,
                key.as_str(),
                fingerprint.as_bytes().to_vec(),
                lock_until,
                now
            ),
        )
        .await
        .map_err(backend)?;
        if rows.first().is_some_and(|r| r.claimed) {
            let rows = rows.into_iter().map(|r| r.row).collect();
            return Ok(Ok(cart_and_records(owner, rows)?));
        }
        // The key exists (a replay, a retry, a request still running):
        // `begin` reads it, as without the cart.
        begin_then(
            self,
            scope,
            key,
            fingerprint,
            now,
            lock_until,
            self.cart_with_variants(owner, None),
        )
        .await
    }

    async fn save_cart(&self, cart: Cart) -> Result<Result<Cart, CartChanged>, StoreError> {
        if B::DIALECT == Dialect::Postgres {
            return save_at_once::<B>(&self.db, &cart).await;
        }
        write_tx!(self, |tx| save_tx::<B>(tx, &cart))
    }

    async fn merge_carts(
        &self,
        into: Cart,
        guest: CartId,
        guest_version: u64,
    ) -> Result<Result<Cart, CartChanged>, StoreError> {
        write_tx!(self, |tx| merge_tx::<B>(tx, &into, guest, guest_version))
    }
}
