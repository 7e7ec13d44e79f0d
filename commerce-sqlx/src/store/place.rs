//! Placing orders: one transaction for a batch of `place_order` calls (see
//! `batch.rs` for how calls are gathered).
//!
//! A batch runs in three steps, in one transaction:
//!
//! 1. **Lock and read** every row its orders may change, in the global lock
//!    order and by id: the carts, the variants, the promotions and the
//!    per-customer counters (`FOR NO KEY UPDATE` on PostgreSQL; SQLite's
//!    `BEGIN IMMEDIATE` already holds the whole file).
//! 2. **Decide** each order in turn, in the order the calls arrived, against
//!    what the orders before it in the batch took — exactly as if they had
//!    run one after the other: a changed cart, a gone variant, every short
//!    line, a used-up promotion each refuse that order alone, which then
//!    writes nothing.
//! 3. **Write** the accepted orders (cart emptied, order, lines,
//!    reservations, idempotency key, usage, events), then the stock and
//!    promotion counters, summed per row. The stock update keeps its
//!    condition (`on_hand - reserved >= n`) and must change every row it
//!    names; the CHECK constraints back it (I1, I3).
//!
//! The rows read in step 1 stay locked until the commit, so the decisions
//! of step 2 still hold when step 3 writes them.

use std::collections::HashMap;

use commerce_core::ids::{PromotionId, VariantId};
use commerce_core::inventory::{Shortage, crossed_low_threshold};
use commerce_core::order::{Order, OrderStatus};
use commerce_core::outbox::EventKind;
use commerce_core::storage::{PlaceOrder, PlaceRejection, UsageState};
use uuid::Uuid;

use super::{Done, Fail, TxResult, emit, low_stock, placeholders};
use crate::backend::{Arg, Backend, Dialect, Q, q};
use crate::error::corrupt;
use crate::rows::{OrderSnapshotRef, count, event_type, usage_state_str};

/// What one `place_order` call gets back.
pub(crate) type Placed = Result<Order, PlaceRejection>;

/// The row lock an `UPDATE` takes, on PostgreSQL (`FOR NO KEY UPDATE`: it
/// does not block the key-share locks of foreign-key checks); nothing on
/// SQLite, whose writers hold the whole file.
fn for_update<B: Backend>() -> &'static str {
    match B::DIALECT {
        Dialect::Postgres => " FOR NO KEY UPDATE",
        Dialect::Sqlite => "",
    }
}

/// `column = ANY($first)` with one array argument on PostgreSQL (one
/// prepared statement for any number of ids); `column IN ($first, ...)` on
/// SQLite.
fn any_of<B: Backend>(column: &str, first: usize, ids: &[Uuid]) -> (String, Vec<Arg>) {
    match B::DIALECT {
        Dialect::Postgres => (
            format!("{column} = ANY(${first})"),
            vec![Arg::Uuids(ids.to_vec())],
        ),
        Dialect::Sqlite => (
            format!("{column} IN ({})", placeholders(first, ids.len())),
            ids.iter().map(|id| (*id).into()).collect(),
        ),
    }
}

fn sorted_unique(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids.dedup();
    ids
}

fn to_i64(n: u64, what: &str) -> Result<i64, Fail> {
    Ok(i64::try_from(n).map_err(|_| corrupt(what, n))?)
}

/// A promotion as locked for the batch.
struct PromotionState {
    used: i64,
    limit: Option<i64>,
    per_customer: Option<i64>,
}

/// Everything the batch locked, as the orders decided so far left it.
#[derive(Default)]
struct Locked {
    carts: HashMap<Uuid, i64>,
    /// `(on_hand, reserved)`.
    stock: HashMap<Uuid, (i64, i64)>,
    promotions: HashMap<Uuid, PromotionState>,
    /// Per `(promotion, customer)`.
    counters: HashMap<(Uuid, Uuid), i64>,
}

/// Step 1: locks and reads the rows the batch may change, in the global
/// lock order.
async fn lock<B: Backend>(tx: &mut B::Tx, batch: &[PlaceOrder]) -> Result<Locked, Fail> {
    let mut locked = Locked::default();
    let carts: Vec<Uuid> = sorted_unique(
        batch
            .iter()
            .filter_map(|p| p.cart.map(|(c, _)| c.as_uuid()))
            .collect(),
    );
    let variants: Vec<Uuid> = sorted_unique(
        batch
            .iter()
            .flat_map(|p| p.order.lines.iter().map(|l| l.variant_id.as_uuid()))
            .collect(),
    );
    if B::DIALECT == Dialect::Postgres && !carts.is_empty() && !variants.is_empty() {
        // Both in one round trip: the first branch of the `UNION ALL` runs
        // to its end before the second begins, so carts are locked first.
        let rows: Vec<(bool, Uuid, i64, i64)> = B::fetch_all(
            tx,
            q!(
                "WITH c AS (SELECT id, version FROM carts WHERE id = ANY($1) \
                     ORDER BY id FOR NO KEY UPDATE), \
                 v AS (SELECT id, on_hand, reserved FROM variants WHERE id = ANY($2) \
                     ORDER BY id FOR NO KEY UPDATE) \
                 SELECT FALSE, id, version, CAST(0 AS BIGINT) FROM c \
                 UNION ALL SELECT TRUE, id, on_hand, reserved FROM v",
                carts,
                variants
            ),
        )
        .await?;
        for (is_variant, id, a, b) in rows {
            if is_variant {
                locked.stock.insert(id, (a, b));
            } else {
                locked.carts.insert(id, a);
            }
        }
    } else {
        lock_carts_and_variants::<B>(tx, &carts, &variants, &mut locked).await?;
    }
    lock_promotions::<B>(tx, batch, &mut locked).await?;
    Ok(locked)
}

/// The carts, then the variants, one statement each.
async fn lock_carts_and_variants<B: Backend>(
    tx: &mut B::Tx,
    carts: &[Uuid],
    variants: &[Uuid],
    locked: &mut Locked,
) -> Result<(), Fail> {
    if !carts.is_empty() {
        let (cond, args) = any_of::<B>("id", 1, carts);
        let sql = format!(
            "SELECT id, version FROM carts WHERE {cond} ORDER BY id{}",
            for_update::<B>()
        );
        let rows: Vec<(Uuid, i64)> = B::fetch_all(tx, Q::assembled(sql, args)).await?;
        locked.carts = rows.into_iter().collect();
    }
    if !variants.is_empty() {
        let (cond, args) = any_of::<B>("id", 1, variants);
        let sql = format!(
            "SELECT id, on_hand, reserved FROM variants WHERE {cond} ORDER BY id{}",
            for_update::<B>()
        );
        let rows: Vec<(Uuid, i64, i64)> = B::fetch_all(tx, Q::assembled(sql, args)).await?;
        locked.stock = rows
            .into_iter()
            .map(|(id, on_hand, reserved)| (id, (on_hand, reserved)))
            .collect();
    }
    Ok(())
}

/// The promotions, then the per-customer counters.
async fn lock_promotions<B: Backend>(
    tx: &mut B::Tx,
    batch: &[PlaceOrder],
    locked: &mut Locked,
) -> Result<(), Fail> {
    let promotions = sorted_unique(
        batch
            .iter()
            .flat_map(|p| p.order.promotions.iter().map(|a| a.promotion_id.as_uuid()))
            .collect(),
    );
    if !promotions.is_empty() {
        let (cond, args) = any_of::<B>("id", 1, &promotions);
        let sql = format!(
            "SELECT id, used, usage_limit, per_customer_limit FROM promotions WHERE {cond} \
             ORDER BY id{}",
            for_update::<B>()
        );
        let rows: Vec<(Uuid, i64, Option<i64>, Option<i64>)> =
            B::fetch_all(tx, Q::assembled(sql, args)).await?;
        locked.promotions = rows
            .into_iter()
            .map(|(id, used, limit, per_customer)| {
                (
                    id,
                    PromotionState {
                        used,
                        limit,
                        per_customer,
                    },
                )
            })
            .collect();
        let customers = sorted_unique(
            batch
                .iter()
                .filter(|p| !p.order.promotions.is_empty())
                .filter_map(|p| p.order.customer_id.map(|c| c.as_uuid()))
                .collect(),
        );
        if !customers.is_empty() {
            let (by_promotion, mut args) = any_of::<B>("promotion_id", 1, &promotions);
            let (by_customer, more) = any_of::<B>("customer_id", args.len() + 1, &customers);
            args.extend(more);
            let sql = format!(
                "SELECT promotion_id, customer_id, used FROM promotion_customer_usage \
                 WHERE {by_promotion} AND {by_customer} ORDER BY promotion_id, customer_id{}",
                for_update::<B>()
            );
            let rows: Vec<(Uuid, Uuid, i64)> = B::fetch_all(tx, Q::assembled(sql, args)).await?;
            locked.counters = rows.into_iter().map(|(p, c, n)| ((p, c), n)).collect();
        }
    }
    Ok(())
}

/// An accepted order: where it is in the batch, and the stock it took
/// across the low-stock threshold (`variant, available before, after`).
struct Accepted {
    index: usize,
    crossed: Vec<(VariantId, u32, u32)>,
}

/// Step 2 for one order: refused (and `locked` unchanged), or accepted and
/// its effects applied to `locked`.
fn decide(
    locked: &mut Locked,
    place: &PlaceOrder,
    index: usize,
) -> Result<Result<Accepted, PlaceRejection>, Fail> {
    let order = &place.order;
    if let Some((cart, version)) = place.cart {
        let version = to_i64(version, "cart version")?;
        if locked.carts.get(&cart.as_uuid()) != Some(&version) {
            return Ok(Err(PlaceRejection::CartChanged));
        }
    }
    let units = order.units();
    let mut available = Vec::with_capacity(units.len());
    for &(variant, _) in &units {
        let Some(&(on_hand, reserved)) = locked.stock.get(&variant.as_uuid()) else {
            return Ok(Err(PlaceRejection::Gone("variant")));
        };
        available.push(count("available", on_hand - reserved)?);
    }
    // Every short line, in the order's line order.
    let short: Vec<Shortage> = units
        .iter()
        .zip(&available)
        .filter(|&(&(_, n), &a)| n > a)
        .map(|(&(variant_id, requested), &available)| Shortage {
            variant_id,
            requested,
            available,
        })
        .collect();
    if !short.is_empty() {
        return Ok(Err(PlaceRejection::InsufficientStock(short)));
    }
    let mut promotions: Vec<PromotionId> =
        order.promotions.iter().map(|p| p.promotion_id).collect();
    promotions.sort();
    promotions.dedup();
    let customer = order.customer_id.map(|c| c.as_uuid());
    for &promotion in &promotions {
        let Some(state) = locked.promotions.get(&promotion.as_uuid()) else {
            return Ok(Err(PlaceRejection::Gone("promotion")));
        };
        if state.limit.is_some_and(|limit| state.used >= limit) {
            return Ok(Err(PlaceRejection::UsageExhausted(promotion)));
        }
        if let (Some(customer), Some(limit)) = (customer, state.per_customer) {
            let used = locked
                .counters
                .get(&(promotion.as_uuid(), customer))
                .copied()
                .unwrap_or(0);
            if used >= limit {
                return Ok(Err(PlaceRejection::CustomerLimitReached(promotion)));
            }
        }
    }

    // Accepted: what it takes, for the orders after it.
    if let Some((cart, _)) = place.cart
        && let Some(version) = locked.carts.get_mut(&cart.as_uuid())
    {
        *version += 1;
    }
    let mut crossed = Vec::new();
    for (&(variant, n), &before) in units.iter().zip(&available) {
        if let Some((_, reserved)) = locked.stock.get_mut(&variant.as_uuid()) {
            *reserved += i64::from(n);
        }
        let after = before - n;
        if crossed_low_threshold(before, after, place.low_stock_threshold) {
            crossed.push((variant, before, after));
        }
    }
    for &promotion in &promotions {
        if let Some(state) = locked.promotions.get_mut(&promotion.as_uuid()) {
            state.used += 1;
        }
        if let Some(customer) = customer {
            *locked
                .counters
                .entry((promotion.as_uuid(), customer))
                .or_insert(0) += 1;
        }
    }
    Ok(Ok(Accepted { index, crossed }))
}

/// Places a batch of orders in the caller's transaction: one result per
/// order, in the batch's order. Commits when any order was accepted.
pub(crate) async fn place_batch<B: Backend>(
    tx: &mut B::Tx,
    batch: &[PlaceOrder],
) -> TxResult<Vec<Placed>> {
    let mut locked = lock::<B>(tx, batch).await?;
    let mut results: Vec<Option<Placed>> = Vec::with_capacity(batch.len());
    let mut accepted = Vec::new();
    for (index, place) in batch.iter().enumerate() {
        match decide(&mut locked, place, index)? {
            Ok(a) => {
                accepted.push(a);
                results.push(None);
            }
            Err(rejection) => results.push(Some(Err(rejection))),
        }
    }
    if accepted.is_empty() {
        let refused = results.into_iter().flatten().collect();
        return Ok(Done::Rollback(refused));
    }

    // Step 3: the orders, then the counters summed per row. On PostgreSQL,
    // unless an order must announce low stock before its `OrderPlaced`,
    // the orders, the stock and the promotion counters are one statement.
    if B::DIALECT == Dialect::Postgres && accepted.iter().all(|a| a.crossed.is_empty()) {
        let orders = write_batch_pg::<B>(tx, batch, &accepted).await?;
        for (a, order) in accepted.iter().zip(orders) {
            results[a.index] = Some(Ok(order));
        }
    } else {
        for a in &accepted {
            let place = &batch[a.index];
            let mut order = place.order.clone();
            order.status = OrderStatus::PendingPayment;
            write_order::<B>(tx, place, &mut order, a).await?;
            results[a.index] = Some(Ok(order));
        }
        write_stock::<B>(tx, batch, &accepted).await?;
        write_promotions::<B>(tx, batch, &accepted).await?;
    }
    let placed = results
        .into_iter()
        .map(|r| r.ok_or_else(|| Fail::Store(corrupt("batch", "an order without an outcome"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Done::Commit(placed))
}

/// The events of an accepted order, when it crossed a low-stock threshold:
/// `LowStock` for each such variant, then `OrderPlaced` (as the reference
/// backend writes them).
async fn events_after_crossing<B: Backend>(
    tx: &mut B::Tx,
    place: &PlaceOrder,
    order: &Order,
    a: &Accepted,
) -> Result<(), Fail> {
    let now = order.created_at;
    for &(variant, before, after) in &a.crossed {
        low_stock::<B>(tx, variant, before, after, place.low_stock_threshold, now).await?;
    }
    emit::<B>(tx, EventKind::OrderPlaced { order_id: order.id }, now).await
}

/// One accepted order, one statement at a time (SQLite, where every
/// statement is a call into the same process; and PostgreSQL when an order
/// of the batch announces low stock).
async fn write_order<B: Backend>(
    tx: &mut B::Tx,
    place: &PlaceOrder,
    order: &mut Order,
    a: &Accepted,
) -> Result<(), Fail> {
    let now = order.created_at;
    if let Some((cart, version)) = place.cart {
        let emptied = B::execute(
            tx,
            q!(
                "UPDATE carts SET lines = '[]', codes = '[]', version = version + 1, \
                 updated_at = $3 WHERE id = $1 AND version = $2",
                cart.as_uuid(),
                to_i64(version, "cart version")?,
                now
            ),
        )
        .await?;
        if emptied != 1 {
            return Err(corrupt("cart", "changed while locked").into());
        }
    }
    super::orders::insert_order::<B>(tx, order).await?;
    let mut units = order.units();
    units.sort_by_key(|(v, _)| *v);
    let mut args: Vec<Arg> = Vec::with_capacity(units.len() * 4);
    for &(variant, n) in &units {
        args.push(order.id.as_uuid().into());
        args.push(variant.as_uuid().into());
        args.push(n.into());
        args.push(order.reservation_expires_at.into());
    }
    if !units.is_empty() {
        let sql = format!(
            "INSERT INTO reservations (order_id, variant_id, quantity, expires_at) VALUES {}",
            super::orders::rows(units.len(), 4)
        );
        B::execute(tx, Q::assembled(sql, args)).await?;
    }
    if let Some((scope, key)) = &place.idempotency {
        B::execute(
            tx,
            q!(
                "UPDATE idempotency_keys SET response = $3 WHERE scope = $1 AND idem_key = $2",
                scope.as_str(),
                key.as_str(),
                order.id.to_string()
            ),
        )
        .await?;
    }
    let promotions = sorted_unique(
        order
            .promotions
            .iter()
            .map(|p| p.promotion_id.as_uuid())
            .collect(),
    );
    if !promotions.is_empty() {
        let mut args: Vec<Arg> = Vec::with_capacity(promotions.len() * 4);
        for promotion in &promotions {
            args.push((*promotion).into());
            args.push(order.id.as_uuid().into());
            args.push(order.customer_id.map(|c| c.as_uuid()).into());
            args.push(usage_state_str(UsageState::Reserved).into());
        }
        let sql = format!(
            "INSERT INTO promotion_usage (promotion_id, order_id, customer_id, state) VALUES {}",
            super::orders::rows(promotions.len(), 4)
        );
        B::execute(tx, Q::assembled(sql, args)).await?;
    }
    events_after_crossing::<B>(tx, place, order, a).await
}

/// The statement writing a batch's accepted orders on PostgreSQL:
/// data-modifying CTEs over arrays, one element per row, answering each
/// order's id and number with the carts and stock rows it changed.
///
/// `$prefix` comes first in the `WITH`; `$where` and `$and` end each
/// write's condition (empty for the batch written inside its transaction;
/// a guard for [`place_at_once_pg`]).
///
/// A prepared statement keeps its generic plan until the next `ANALYZE`
/// of its tables, so a join planned while a table was small stays a scan
/// of the whole table as it grows. The idempotency keys (`k`) are the
/// table that grows with every checkout: an `UPDATE … FROM unnest(…)`
/// joined to it was planned as
/// a hash join over a sequential scan while the table was small, then kept
/// scanning thousands of keys per batch. `k` is therefore an upsert, whose
/// conflict check always goes through the primary key: it completes the
/// claimed key. Should the claim be gone (it cannot be pruned while its
/// checkout runs, but a key can be deleted by hand), it writes the key
/// completed with an all-zero fingerprint, so that a retry with this key
/// is refused as a different request instead of placing a second order.
macro_rules! batch_sql {
    ($prefix:expr, $where:expr, $and:expr) => {
        concat!(
            "WITH ", $prefix, "o AS (\
            INSERT INTO orders (id, number, customer_id, email, status, currency, \
            subtotal_minor, discount_total_minor, shipping_total_minor, tax_total_minor, \
            total_minor, prices_include_tax, captured_minor, refunded_minor, paid_by, tracking, \
            reservation_expires_at, snapshot, created_at, updated_at) \
            SELECT t.id, nextval('order_number_seq'), t.customer_id, t.email, t.status, \
            t.currency, t.subtotal, t.discount, t.shipping, t.tax, t.total, t.incl, 0, 0, \
            NULL, NULL, t.expires, CAST(t.snapshot AS jsonb), t.created, t.updated \
            FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], \
            $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], \
            $11::boolean[], $12::timestamptz[], $13::text[], $14::timestamptz[], \
            $15::timestamptz[]) WITH ORDINALITY AS t(id, customer_id, email, status, \
            currency, subtotal, discount, shipping, tax, total, incl, expires, snapshot, \
            created, updated, ord)", $where, " \
            ORDER BY t.ord RETURNING id, number), \
        c AS (\
            UPDATE carts SET lines = '[]', codes = '[]', version = carts.version + 1, \
            updated_at = t.at FROM unnest($16::uuid[], $17::bigint[], $18::timestamptz[]) \
            AS t(id, version, at) WHERE carts.id = t.id AND carts.version = t.version", $and, " \
            RETURNING 1), \
        l AS (\
            INSERT INTO order_lines (order_id, line_no, variant_id, product_id, store_id, \
            quantity) SELECT * FROM unnest($19::uuid[], $20::bigint[], $21::uuid[], \
            $22::uuid[], $23::uuid[], $24::bigint[])", $where, "), \
        r AS (\
            INSERT INTO reservations (order_id, variant_id, quantity, expires_at) \
            SELECT * FROM unnest($25::uuid[], $26::uuid[], $27::bigint[], \
            $28::timestamptz[])", $where, "), \
        k AS (\
            INSERT INTO idempotency_keys (scope, idem_key, fingerprint, response, \
            locked_until, created_at) \
            SELECT t.scope, t.idem_key, decode(repeat('00', 32), 'hex'), t.response, now(), now() \
            FROM unnest($29::text[], $30::text[], $31::text[]) AS t(scope, idem_key, response)", $where, " \
            ON CONFLICT (scope, idem_key) DO UPDATE SET response = EXCLUDED.response), \
        u AS (\
            INSERT INTO promotion_usage (promotion_id, order_id, customer_id, state) \
            SELECT t.p, t.o, t.c, $32 FROM unnest($33::uuid[], $34::uuid[], $35::uuid[]) \
            AS t(p, o, c)", $where, "), \
        e AS (\
            INSERT INTO outbox (id, kind, payload, created_at) \
            SELECT t.id, t.kind, CAST(t.payload AS jsonb), t.at \
            FROM unnest($36::uuid[], $37::text[], $38::text[], $39::timestamptz[]) \
            WITH ORDINALITY AS t(id, kind, payload, at, ord)", $where, " ORDER BY t.ord), \
        s AS (\
            UPDATE variants v SET reserved = v.reserved + t.n \
            FROM unnest($40::uuid[], $41::bigint[]) AS t(id, n) \
            WHERE v.id = t.id AND v.on_hand - v.reserved >= t.n", $and, " RETURNING 1), \
        pu AS (\
            UPDATE promotions p SET used = p.used + t.n \
            FROM unnest($42::uuid[], $43::bigint[]) AS t(id, n) \
            WHERE p.id = t.id AND (p.usage_limit IS NULL OR p.used + t.n <= p.usage_limit)", $and, " \
            RETURNING 1), \
        pc AS (\
            INSERT INTO promotion_customer_usage (promotion_id, customer_id, used) \
            SELECT * FROM unnest($44::uuid[], $45::uuid[], $46::bigint[])", $where, " \
            ON CONFLICT (promotion_id, customer_id) \
            DO UPDATE SET used = promotion_customer_usage.used + EXCLUDED.used) \
        SELECT id, number, (SELECT COUNT(*) FROM c), (SELECT COUNT(*) FROM s), \
            (SELECT COUNT(*) FROM pu) FROM o"
        )
    };
}

/// The batch statement inside the batch's transaction, after step 1 locked
/// and step 2 decided.
const WRITE_BATCH: &str = batch_sql!("", "", "");

/// The batch statement on its own, as its own transaction: it locks the
/// carts, then the variants, then the promotions (by id, as step 1 does),
/// and writes only when every order would be accepted as it comes — each
/// cart found at its version, each variant found with stock for the
/// batch's whole demand, each promotion found with room under its usage
/// limit for all the batch's uses — no variant's available stock crosses
/// the low-stock threshold (`$47`), and no promotion a signed-in buyer uses
/// has a per-customer limit (a first use has no counter row to lock yet);
/// otherwise it writes nothing and answers no rows. `lk` is counted whole,
/// so every row is locked before any is written.
const WRITE_BATCH_AT_ONCE: &str = batch_sql!(
    "lc AS MATERIALIZED (SELECT id, version FROM carts WHERE id = ANY($16) \
         ORDER BY id FOR NO KEY UPDATE), \
     lv AS MATERIALIZED (SELECT id, on_hand, reserved FROM variants WHERE id = ANY($40) \
         ORDER BY id FOR NO KEY UPDATE), \
     lp AS MATERIALIZED (SELECT id, used, usage_limit, per_customer_limit FROM promotions \
         WHERE id = ANY($42) ORDER BY id FOR NO KEY UPDATE), \
     lk AS MATERIALIZED (SELECT 0 AS kind, id, version AS a, CAST(0 AS BIGINT) AS b, \
         CAST(NULL AS BIGINT) AS c FROM lc \
         UNION ALL SELECT 1, id, on_hand, reserved, NULL FROM lv \
         UNION ALL SELECT 2, id, used, usage_limit, per_customer_limit FROM lp), \
     chk AS (SELECT (SELECT COUNT(*) FROM lk) \
             = cardinality($16) + cardinality($40) + cardinality($42) \
         AND NOT EXISTS (SELECT 1 FROM unnest($16::uuid[], $17::bigint[]) AS t(id, version) \
             WHERE NOT EXISTS (SELECT 1 FROM lk WHERE lk.kind = 0 AND lk.id = t.id \
                 AND lk.a = t.version)) \
         AND NOT EXISTS (SELECT 1 FROM unnest($40::uuid[], $41::bigint[]) AS t(id, n) \
             JOIN lk ON lk.kind = 1 AND lk.id = t.id \
             WHERE lk.a - lk.b < t.n OR (lk.a - lk.b > $47 AND lk.a - lk.b - t.n <= $47)) \
         AND NOT EXISTS (SELECT 1 FROM unnest($42::uuid[], $43::bigint[]) AS t(id, n) \
             JOIN lk ON lk.kind = 2 AND lk.id = t.id WHERE lk.a + t.n > lk.b) \
         AND NOT EXISTS (SELECT 1 FROM lk WHERE lk.kind = 2 AND lk.c IS NOT NULL \
             AND lk.id = ANY($44)) \
         AS ok), ",
    " WHERE (SELECT ok FROM chk)",
    " AND (SELECT ok FROM chk)"
);

/// What a batch statement's answer is checked against.
struct Expected {
    /// The accepted orders, numbered once written.
    orders: Vec<Order>,
    /// Carts, variant and promotion rows the statement must change.
    carts: usize,
    stock: usize,
    promotions: usize,
}

/// Every accepted order of the batch in one statement (PostgreSQL), when
/// none of them crossed a low-stock threshold: the carts emptied, the
/// orders (numbered in batch order), their lines, reservations and usage
/// records, the idempotency keys, the `OrderPlaced` events (in batch order),
/// and the stock and promotion counters, summed per row. The orders,
/// numbered, in `accepted`'s order.
async fn write_batch_pg<B: Backend>(
    tx: &mut B::Tx,
    batch: &[PlaceOrder],
    accepted: &[Accepted],
) -> Result<Vec<Order>, Fail> {
    let (q, expected) = batch_write(WRITE_BATCH, batch, accepted)?;
    let rows = B::fetch_all(tx, q).await?;
    expected.numbered(rows)
}

/// How [`place_at_once_pg`] ended.
pub(crate) enum AtOnce {
    /// Every order placed and committed, in the batch's order.
    Placed(Vec<Placed>),
    /// Nothing was written: an order would be refused, or cross a low-stock
    /// threshold, or a signed-in buyer uses a promotion with a per-customer
    /// limit, or the statement failed. The batch must be decided order by
    /// order.
    Decide,
    /// The connection was lost with the statement sent: it may or may not
    /// have committed.
    Unknown(String),
}

/// The whole batch as one statement and its own transaction (PostgreSQL):
/// one round trip instead of four (`BEGIN`, lock, write, `COMMIT`), when
/// every order of it would be accepted as it comes, none crosses a
/// low-stock threshold and no signed-in buyer's promotion has a
/// per-customer limit. Otherwise nothing is written, and the caller decides
/// the batch order by order as before.
pub(crate) async fn place_at_once_pg<B: Backend>(db: &B::Db, batch: &[PlaceOrder]) -> AtOnce {
    let Some(threshold) = batch.first().map(|p| p.low_stock_threshold) else {
        return AtOnce::Decide;
    };
    let mut carts: Vec<Uuid> = batch
        .iter()
        .filter_map(|p| p.cart.map(|(c, _)| c.as_uuid()))
        .collect();
    let cart_count = carts.len();
    carts.sort();
    carts.dedup();
    if B::DIALECT != Dialect::Postgres
        || carts.len() != cart_count
        || batch.iter().any(|p| p.low_stock_threshold != threshold)
    {
        return AtOnce::Decide;
    }
    let accepted: Vec<Accepted> = (0..batch.len())
        .map(|index| Accepted {
            index,
            crossed: Vec::new(),
        })
        .collect();
    let Ok((q, expected)) = batch_write(WRITE_BATCH_AT_ONCE, batch, &accepted) else {
        return AtOnce::Decide;
    };
    match B::write_all(db, q.arg(i64::from(threshold))).await {
        Ok(rows) if rows.is_empty() => AtOnce::Decide,
        Ok(rows) => match expected.numbered(rows) {
            Ok(orders) => AtOnce::Placed(orders.into_iter().map(Ok).collect()),
            // Committed, yet not as the guard promised: say so; a retry
            // with the same idempotency key answers what was written.
            Err(e) => AtOnce::Unknown(format!(
                "the batch was written, but not as asked: {}",
                e.into_store()
            )),
        },
        Err(e) if crate::error::is_lost(&e) => AtOnce::Unknown(e.to_string()),
        Err(_) => AtOnce::Decide,
    }
}

/// The statement of `sql` for the accepted orders of `batch`, and what
/// its answer must be.
fn batch_write(
    sql: &'static str,
    batch: &[PlaceOrder],
    accepted: &[Accepted],
) -> Result<(Q, Expected), Fail> {
    let n = accepted.len();
    let mut orders: Vec<Order> = Vec::with_capacity(n);
    let (mut ids, mut customers, mut emails, mut statuses, mut currencies) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut subtotals, mut discounts, mut shippings, mut taxes, mut totals, mut incl) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut expires, mut snapshots, mut created, mut updated) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut cart_ids, mut cart_versions, mut cart_times) = (Vec::new(), Vec::new(), Vec::new());
    let (mut l_orders, mut l_nos, mut l_variants, mut l_products, mut l_stores, mut l_qty) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let (mut r_orders, mut r_variants, mut r_qty, mut r_expires) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut k_scopes, mut k_keys, mut k_responses) = (Vec::new(), Vec::new(), Vec::new());
    let (mut u_promotions, mut u_orders, mut u_customers) = (Vec::new(), Vec::new(), Vec::new());
    let (mut e_ids, mut e_kinds, mut e_payloads, mut e_times) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());

    for a in accepted {
        let place = &batch[a.index];
        let mut order = place.order.clone();
        order.status = OrderStatus::PendingPayment;
        let id = order.id.as_uuid();
        let customer = order.customer_id.map(|c| c.as_uuid());
        ids.push(id);
        customers.push(customer);
        emails.push(order.email.clone());
        statuses.push(order.status.as_str().to_owned());
        currencies.push(order.currency.code().to_owned());
        subtotals.push(order.subtotal.minor());
        discounts.push(order.discount_total.minor());
        shippings.push(order.shipping_total.minor());
        taxes.push(order.tax_total.minor());
        totals.push(order.total.minor());
        incl.push(order.prices_include_tax);
        expires.push(order.reservation_expires_at);
        snapshots.push(
            serde_json::to_string(&OrderSnapshotRef::of(&order))
                .map_err(|e| Fail::Store(corrupt("order snapshot", e)))?,
        );
        created.push(order.created_at);
        updated.push(order.updated_at);
        if let Some((cart, version)) = place.cart {
            cart_ids.push(cart.as_uuid());
            cart_versions.push(to_i64(version, "cart version")?);
            cart_times.push(order.created_at);
        }
        for (position, line) in order.lines.iter().enumerate() {
            l_orders.push(id);
            l_nos.push(i64::try_from(position).map_err(|_| corrupt("line", position))?);
            l_variants.push(line.variant_id.as_uuid());
            l_products.push(line.product_id.as_uuid());
            l_stores.push(line.store_id.as_uuid());
            l_qty.push(i64::from(line.quantity.get()));
        }
        let mut units = order.units();
        units.sort_by_key(|(v, _)| *v);
        for (variant, count) in units {
            r_orders.push(id);
            r_variants.push(variant.as_uuid());
            r_qty.push(i64::from(count));
            r_expires.push(order.reservation_expires_at);
        }
        if let Some((scope, key)) = &place.idempotency {
            k_scopes.push(scope.clone());
            k_keys.push(key.as_str().to_owned());
            k_responses.push(order.id.to_string());
        }
        let promotions = sorted_unique(
            order
                .promotions
                .iter()
                .map(|p| p.promotion_id.as_uuid())
                .collect(),
        );
        for promotion in promotions {
            u_promotions.push(promotion);
            u_orders.push(id);
            u_customers.push(customer);
        }
        let placed = EventKind::OrderPlaced { order_id: order.id };
        e_ids.push(commerce_core::ids::EventId::new().as_uuid());
        e_kinds.push(event_type(&placed).to_owned());
        e_payloads
            .push(serde_json::to_string(&placed).map_err(|e| Fail::Store(corrupt("event", e)))?);
        e_times.push(order.created_at);
        orders.push(order);
    }
    let (s_ids, s_counts): (Vec<Uuid>, Vec<i64>) = stock_taken(batch, accepted).into_iter().unzip();
    let (per_promotion, per_customer) = promotion_holds(batch, accepted);
    let (p_ids, p_counts): (Vec<Uuid>, Vec<i64>) = per_promotion.into_iter().unzip();
    let (mut pc_promotions, mut pc_customers, mut pc_counts) = (
        Vec::with_capacity(per_customer.len()),
        Vec::with_capacity(per_customer.len()),
        Vec::with_capacity(per_customer.len()),
    );
    for ((promotion, customer), n) in per_customer {
        pc_promotions.push(promotion);
        pc_customers.push(customer);
        pc_counts.push(n);
    }
    let (carts_named, stock_named, promotions_named) = (cart_ids.len(), s_ids.len(), p_ids.len());

    let q = q!(
        sql,
        ids,
        customers,
        emails,
        statuses,
        currencies,
        subtotals,
        discounts,
        shippings,
        taxes,
        totals,
        incl,
        expires,
        snapshots,
        created,
        updated,
        cart_ids,
        cart_versions,
        cart_times,
        l_orders,
        l_nos,
        l_variants,
        l_products,
        l_stores,
        l_qty,
        r_orders,
        r_variants,
        r_qty,
        r_expires,
        k_scopes,
        k_keys,
        k_responses,
        usage_state_str(UsageState::Reserved),
        u_promotions,
        u_orders,
        u_customers,
        e_ids,
        e_kinds,
        e_payloads,
        e_times,
        s_ids,
        s_counts,
        p_ids,
        p_counts,
        pc_promotions,
        pc_customers,
        pc_counts,
    );
    Ok((
        q,
        Expected {
            orders,
            carts: carts_named,
            stock: stock_named,
            promotions: promotions_named,
        },
    ))
}

impl Expected {
    /// The written orders with the numbers the statement gave them, after
    /// checking that it changed every cart, variant and promotion row it
    /// named.
    fn numbered(self, rows: Vec<(Uuid, i64, i64, i64, i64)>) -> Result<Vec<Order>, Fail> {
        let Expected {
            mut orders,
            carts: carts_named,
            stock: stock_named,
            promotions: promotions_named,
        } = self;
        if rows.len() != orders.len() {
            return Err(corrupt("orders written", rows.len()).into());
        }
        for (id, number, carts, stock, promotions) in rows {
            if u64::try_from(carts).ok() != Some(carts_named as u64) {
                return Err(corrupt("cart", "changed while locked").into());
            }
            if u64::try_from(stock).ok() != Some(stock_named as u64) {
                return Err(corrupt("stock", "changed while locked").into());
            }
            if u64::try_from(promotions).ok() != Some(promotions_named as u64) {
                return Err(corrupt("promotion usage", "changed while locked").into());
            }
            let order = orders
                .iter_mut()
                .find(|o| o.id.as_uuid() == id)
                .ok_or_else(|| corrupt("order written", id))?;
            order.number = u64::try_from(number).map_err(|_| corrupt("order number", number))?;
        }
        Ok(orders)
    }
}

/// The stock the accepted orders reserved, summed per variant, in variant
/// order. Each row was locked and checked in step 1; the condition stays as
/// a second guard, and a row it refuses fails the batch.
async fn write_stock<B: Backend>(
    tx: &mut B::Tx,
    batch: &[PlaceOrder],
    accepted: &[Accepted],
) -> Result<(), Fail> {
    let taken = stock_taken(batch, accepted);
    let changed = match B::DIALECT {
        Dialect::Postgres => {
            let (ids, counts): (Vec<Uuid>, Vec<i64>) = taken.iter().copied().unzip();
            B::execute(
                tx,
                q!(
                    "UPDATE variants v SET reserved = v.reserved + t.n \
                     FROM unnest($1::uuid[], $2::bigint[]) AS t(id, n) \
                     WHERE v.id = t.id AND v.on_hand - v.reserved >= t.n",
                    ids,
                    counts
                ),
            )
            .await?
        }
        Dialect::Sqlite => {
            let mut changed = 0;
            for &(variant, n) in &taken {
                changed += B::execute(
                    tx,
                    q!(
                        "UPDATE variants SET reserved = reserved + $2 \
                         WHERE id = $1 AND on_hand - reserved >= $2",
                        variant,
                        n
                    ),
                )
                .await?;
            }
            changed
        }
    };
    if changed != taken.len() as u64 {
        return Err(corrupt("stock", "changed while locked").into());
    }
    Ok(())
}

/// The promotion holds of the accepted orders: `used` per promotion and per
/// customer, summed, in promotion order.
async fn write_promotions<B: Backend>(
    tx: &mut B::Tx,
    batch: &[PlaceOrder],
    accepted: &[Accepted],
) -> Result<(), Fail> {
    let (per_promotion, per_customer) = promotion_holds(batch, accepted);
    for (promotion, n) in per_promotion {
        B::execute(
            tx,
            q!(
                "UPDATE promotions SET used = used + $2 WHERE id = $1",
                promotion,
                n
            ),
        )
        .await?;
    }
    for ((promotion, customer), n) in per_customer {
        B::execute(
            tx,
            q!(
                "INSERT INTO promotion_customer_usage (promotion_id, customer_id, used) \
                 VALUES ($1, $2, $3) ON CONFLICT (promotion_id, customer_id) DO UPDATE \
                 SET used = promotion_customer_usage.used + $3",
                promotion,
                customer,
                n
            ),
        )
        .await?;
    }
    Ok(())
}

/// Uses to add, per promotion (`id, n`) and per `(promotion, customer)`.
type Holds = (Vec<(Uuid, i64)>, Vec<((Uuid, Uuid), i64)>);

/// The promotion holds of the accepted orders, summed: per promotion, and
/// per `(promotion, customer)` for signed-in buyers; each sorted.
fn promotion_holds(batch: &[PlaceOrder], accepted: &[Accepted]) -> Holds {
    let mut per_promotion: Vec<(Uuid, i64)> = Vec::new();
    let mut per_customer: Vec<((Uuid, Uuid), i64)> = Vec::new();
    for a in accepted {
        let order = &batch[a.index].order;
        let promotions = sorted_unique(
            order
                .promotions
                .iter()
                .map(|p| p.promotion_id.as_uuid())
                .collect(),
        );
        for promotion in promotions {
            match per_promotion.iter_mut().find(|(p, _)| *p == promotion) {
                Some((_, n)) => *n += 1,
                None => per_promotion.push((promotion, 1)),
            }
            if let Some(customer) = order.customer_id.map(|c| c.as_uuid()) {
                match per_customer
                    .iter_mut()
                    .find(|(k, _)| *k == (promotion, customer))
                {
                    Some((_, n)) => *n += 1,
                    None => per_customer.push(((promotion, customer), 1)),
                }
            }
        }
    }
    per_promotion.sort();
    per_customer.sort();
    (per_promotion, per_customer)
}

/// The units the accepted orders reserve, summed per variant, in variant
/// order.
fn stock_taken(batch: &[PlaceOrder], accepted: &[Accepted]) -> Vec<(Uuid, i64)> {
    let mut taken: Vec<(Uuid, i64)> = Vec::new();
    for a in accepted {
        for (variant, n) in batch[a.index].order.units() {
            match taken.iter_mut().find(|(v, _)| *v == variant.as_uuid()) {
                Some((_, total)) => *total += i64::from(n),
                None => taken.push((variant.as_uuid(), i64::from(n))),
            }
        }
    }
    taken.sort();
    taken
}
