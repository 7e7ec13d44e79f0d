//! [`SqlStore`]: every core storage trait, written once over [`Backend`].
//!
//! Each operation that changes more than one row runs in one transaction
//! that takes its locks in one global order — cart, orders, variants (by
//! id), promotions (by id), per-customer counters — so that concurrent
//! operations cannot deadlock one another; a transaction the database
//! rolls back anyway (deadlock, serialization failure, busy file) runs again,
//! a few times, before its error is returned.

mod accounts;
mod batch;
mod carts;
mod catalog;
mod credentials;
mod idempotency;
mod orders;
mod outbox;
mod payments;
mod place;
mod promotions;
mod shipping;

use std::fmt;

use chrono::{DateTime, Utc};
use commerce_core::ids::{CustomerId, OrderId, StoreId, VariantId};
use commerce_core::inventory::crossed_low_threshold;
use commerce_core::order::{Order, RefundRecord};
use commerce_core::outbox::EventKind;
use commerce_core::storage::{StoreError, UsageState};
use uuid::Uuid;

use crate::backend::{Backend, Q, locking, q};
use crate::error::{backend, corrupt};
use crate::rows::{OrderRow, RefundRow, event_type, json, order_by_id, usage_state_str};

/// A store over a SQL database: [`crate::SqliteStore`] or [`crate::PgStore`].
///
/// Clones share the connections and the queue of orders waiting to be
/// placed: concurrent `place_order` calls on one store are written in one
/// transaction (group commit).
///
/// On PostgreSQL, statements outside a transaction run on connections the
/// store keeps warm beside the pool (the pool tests every connection given
/// back to it with a round trip): a store over a pool of `n` connections
/// opens up to `n` more for them.
pub struct SqlStore<B: Backend> {
    pub(crate) db: B::Db,
    pub(crate) batcher: std::sync::Arc<batch::Batcher>,
}

impl<B: Backend> Clone for SqlStore<B> {
    fn clone(&self) -> Self {
        SqlStore {
            db: self.db.clone(),
            batcher: std::sync::Arc::clone(&self.batcher),
        }
    }
}

impl<B: Backend> fmt::Debug for SqlStore<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("dialect", &B::DIALECT)
            .field("db", &self.db)
            .finish()
    }
}

impl<B: Backend> SqlStore<B> {
    /// A store over an existing pool whose database is migrated.
    pub fn from_pool(pool: B::Pool) -> Self {
        SqlStore {
            db: B::db(pool),
            batcher: std::sync::Arc::default(),
        }
    }

    /// The connection pool (transactions run on it).
    pub fn pool(&self) -> &B::Pool {
        B::pool(&self.db)
    }

    /// Database connections open now: the pool's, and on PostgreSQL those
    /// kept for single statements.
    pub fn connections(&self) -> u32 {
        B::connections(&self.db)
    }
}

/// How often a transaction the database rolled back by conflict runs again.
const MAX_ATTEMPTS: u32 = 8;

/// What a transaction body decided.
pub(crate) enum Done<T> {
    /// Keep its changes.
    Commit(T),
    /// Undo them (a refusal: nothing changed).
    Rollback(T),
}

/// Why a transaction body failed.
#[derive(Debug)]
pub(crate) enum Fail {
    Db(sqlx::Error),
    Store(StoreError),
}

impl From<sqlx::Error> for Fail {
    fn from(e: sqlx::Error) -> Self {
        Fail::Db(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl Fail {
    pub(crate) fn into_store(self) -> StoreError {
        match self {
            Fail::Db(e) => backend(e),
            Fail::Store(e) => e,
        }
    }
}

pub(crate) type TxResult<T> = Result<Done<T>, Fail>;

/// A short, growing, jittered pause before running a conflicted
/// transaction again.
pub(crate) async fn backoff(attempt: u32) {
    let jitter = u64::from(Uuid::new_v4().as_fields().1 % 4);
    let ms = u64::from(attempt.min(6)) * 2 + jitter;
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// Runs `$body` (an expression using `$tx: &mut B::Tx`) in a write
/// transaction; commits or rolls back as it says; runs it again when the
/// database rolled it back by conflict.
macro_rules! write_tx {
    ($store:expr, |$tx:ident| $body:expr) => {
        $crate::store::write_tx!($store, $crate::backend::TxMode::Write, |$tx| $body)
    };
    ($store:expr, $mode:expr, |$tx:ident| $body:expr) => {{
        let mut attempt: u32 = 0;
        loop {
            let mut tx = <B as $crate::backend::Driver>::begin(&$store.db, $mode)
                .await
                .map_err($crate::error::backend)?;
            let $tx = &mut tx;
            let outcome: $crate::store::TxResult<_> = $body.await;
            match outcome {
                Ok($crate::store::Done::Commit(v)) => {
                    match <B as $crate::backend::Driver>::commit(tx).await {
                        Ok(()) => break Ok(v),
                        Err(e)
                            if $crate::error::is_conflict(&e)
                                && attempt + 1 < $crate::store::MAX_ATTEMPTS =>
                        {
                            attempt += 1;
                            $crate::store::backoff(attempt).await;
                        }
                        Err(e) => break Err($crate::error::backend(e)),
                    }
                }
                Ok($crate::store::Done::Rollback(v)) => {
                    drop(tx);
                    break Ok(v);
                }
                Err($crate::store::Fail::Db(e))
                    if $crate::error::is_conflict(&e)
                        && attempt + 1 < $crate::store::MAX_ATTEMPTS =>
                {
                    drop(tx);
                    attempt += 1;
                    $crate::store::backoff(attempt).await;
                }
                Err(e) => break Err(e.into_store()),
            }
        }
    }};
}
pub(crate) use write_tx;

/// `$1, $2, ...` from `first`, for `IN (...)` lists built at run time.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes an outbox event in the caller's transaction (I5).
pub(crate) async fn emit<B: Backend>(
    tx: &mut B::Tx,
    kind: EventKind,
    now: DateTime<Utc>,
) -> Result<(), Fail> {
    let payload = json(&kind)?;
    B::execute(
        tx,
        q!(
            "INSERT INTO outbox (id, kind, payload, created_at) VALUES ($1, $2, $3, $4)",
            commerce_core::ids::EventId::new().as_uuid(),
            event_type(&kind),
            payload,
            now
        ),
    )
    .await?;
    Ok(())
}

/// A `LowStock` event when available stock crossed the threshold downward.
pub(crate) async fn low_stock<B: Backend>(
    tx: &mut B::Tx,
    variant: VariantId,
    before: u32,
    after: u32,
    threshold: u32,
    now: DateTime<Utc>,
) -> Result<(), Fail> {
    if !crossed_low_threshold(before, after, threshold) {
        return Ok(());
    }
    let owner: Option<(Uuid, Uuid)> = B::fetch_optional(
        tx,
        q!(
            "SELECT s.id, s.owner_id FROM variants v \
             JOIN products p ON p.id = v.product_id \
             JOIN seller_stores s ON s.id = p.store_id WHERE v.id = $1",
            variant.as_uuid()
        ),
    )
    .await?;
    if let Some((store, owner)) = owner {
        let kind = EventKind::LowStock {
            variant_id: variant,
            store_id: StoreId::from_uuid(store),
            owner_id: CustomerId::from_uuid(owner),
            on_hand: after,
            threshold,
        };
        emit::<B>(tx, kind, now).await?;
    }
    Ok(())
}

/// Refunds of orders, oldest first, grouped by order.
pub(crate) async fn refunds_of<B: Backend>(
    tx: &mut B::Tx,
    orders: &[Uuid],
) -> Result<Vec<(Uuid, RefundRecord)>, Fail> {
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT order_id, amount_minor, currency, payment_id, reason, created_at \
         FROM order_refunds WHERE order_id IN ({}) ORDER BY seq",
        placeholders(1, orders.len())
    );
    let args = orders.iter().map(|id| (*id).into()).collect();
    let rows: Vec<RefundRow> = B::fetch_all(tx, Q::assembled(sql, args)).await?;
    rows.into_iter()
        .map(|r| Ok((r.order_id, r.into_domain()?)))
        .collect()
}

/// Whole orders from their rows (refunds attached).
pub(crate) async fn assemble_orders<B: Backend>(
    tx: &mut B::Tx,
    rows: Vec<OrderRow>,
) -> Result<Vec<Order>, Fail> {
    // Only orders with refunds have rows to read.
    let ids: Vec<Uuid> = rows
        .iter()
        .filter(|r| r.has_refunds())
        .map(|r| r.id)
        .collect();
    let mut refunds = if ids.is_empty() {
        Vec::new()
    } else {
        refunds_of::<B>(tx, &ids).await?
    };
    rows.into_iter()
        .map(|row| {
            let mine: Vec<RefundRecord> = refunds
                .extract_if(.., |(o, _)| *o == row.id)
                .map(|(_, r)| r)
                .collect();
            Ok(row.into_domain(mine)?)
        })
        .collect()
}

/// An order, locked for the rest of the transaction when `lock`.
pub(crate) async fn load_order<B: Backend>(
    tx: &mut B::Tx,
    id: OrderId,
    lock: bool,
) -> Result<Option<Order>, Fail> {
    let sql = if lock {
        locking!(B::DIALECT, order_by_id!())
    } else {
        order_by_id!()
    };
    let row: Option<OrderRow> = B::fetch_optional(tx, q!(sql, id.as_uuid())).await?;
    match row {
        Some(row) => Ok(assemble_orders::<B>(tx, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// Moves an order's promotion holds from one state to another, keeping the
/// limit counters (live holds per promotion and per customer) equal to the
/// live records (I3).
pub(crate) async fn set_usage<B: Backend>(
    tx: &mut B::Tx,
    order: OrderId,
    from: UsageState,
    to: UsageState,
) -> Result<(), Fail> {
    let moved: Vec<(Uuid, Option<Uuid>)> = B::fetch_all(
        tx,
        q!(
            "UPDATE promotion_usage SET state = $3 WHERE order_id = $1 AND state = $2 \
             RETURNING promotion_id, customer_id",
            order.as_uuid(),
            usage_state_str(from),
            usage_state_str(to)
        ),
    )
    .await?;
    let live = |s: UsageState| s != UsageState::Released;
    let delta: i64 = match (live(from), live(to)) {
        (true, false) => -1,
        (false, true) => 1,
        _ => return Ok(()),
    };
    let mut moved = moved;
    moved.sort();
    for (promotion, customer) in moved {
        B::execute(
            tx,
            q!(
                "UPDATE promotions SET used = used + $2 WHERE id = $1",
                promotion,
                delta
            ),
        )
        .await?;
        if let Some(customer) = customer {
            B::execute(
                tx,
                q!(
                    "UPDATE promotion_customer_usage SET used = used + $3 \
                     WHERE promotion_id = $1 AND customer_id = $2",
                    promotion,
                    customer,
                    delta
                ),
            )
            .await?;
        }
    }
    Ok(())
}

/// Gives an order's reserved units back (`reserved -= n`) or sells them
/// (`on_hand -= n` too), and deletes its reservations.
pub(crate) async fn settle_reservations<B: Backend>(
    tx: &mut B::Tx,
    orders: &[OrderId],
    sell: bool,
) -> Result<(), Fail> {
    if orders.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = orders.iter().map(OrderId::as_uuid).collect();
    let sql = format!(
        "SELECT variant_id, CAST(SUM(quantity) AS BIGINT) FROM reservations \
         WHERE order_id IN ({}) GROUP BY variant_id ORDER BY variant_id",
        placeholders(1, ids.len())
    );
    let args = ids.iter().map(|id| (*id).into()).collect();
    let units: Vec<(Uuid, i64)> = B::fetch_all(tx, Q::assembled(sql, args)).await?;
    for (variant, n) in units {
        let sql = if sell {
            "UPDATE variants SET on_hand = on_hand - $2, reserved = reserved - $2 WHERE id = $1"
        } else {
            "UPDATE variants SET reserved = reserved - $2 WHERE id = $1"
        };
        B::execute(tx, q!(sql, variant, n)).await?;
    }
    let sql = format!(
        "DELETE FROM reservations WHERE order_id IN ({})",
        placeholders(1, ids.len())
    );
    let args = ids.iter().map(|id| (*id).into()).collect();
    B::execute(tx, Q::assembled(sql, args)).await?;
    Ok(())
}

/// A `u64` count as `i64`, for LIMIT and OFFSET.
pub(crate) fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| corrupt("count", n))
}
