//! Orders: placement (reserve everything or nothing), the lifecycle moves,
//! expiry and refunds — each one transaction.
//!
//! Stock is reserved with one conditional `UPDATE ... WHERE on_hand -
//! reserved >= n` per variant, so two checkouts can never both take the last
//! unit, whatever the isolation level; the CHECK constraints on `variants`
//! back it (I1). Lifecycle moves lock the order row, so two racing moves
//! cannot both apply.

use chrono::{DateTime, Utc};
use commerce_core::ids::{OrderId, PromotionId, VariantId};
use commerce_core::inventory::Shortage;
use commerce_core::money::Money;
use commerce_core::order::{InvalidTransition, Order, OrderEvent, OrderStatus};
use commerce_core::outbox::EventKind;
use commerce_core::storage::{
    OrderFilter, Page, PlaceOrder, PlaceRejection, RefundRejection, StoreError, UsageState,
};
use uuid::Uuid;

use super::{
    Done, Fail, SqlStore, TxResult, assemble_orders, emit, load_order, low_stock, placeholders,
    set_usage, settle_reservations, write_tx,
};
use crate::backend::{Arg, Backend, Dialect, Q, q};
use crate::error::{corrupt, is_foreign_key};
use crate::rows::{OrderRow, OrderSnapshotRef, count, json, order_columns, usage_state_str};

fn minor(m: Money) -> i64 {
    m.minor()
}

/// Counts one use of a promotion for `order` against its limits; the
/// refusal if they say no. The usage record is written with the order.
async fn hold_promotion<B: Backend>(
    tx: &mut B::Tx,
    order: &Order,
    promotion: PromotionId,
) -> Result<Option<PlaceRejection>, Fail> {
    let row: Option<(Option<i64>,)> = B::fetch_optional(
        tx,
        q!(
            "UPDATE promotions SET used = used + 1 \
             WHERE id = $1 AND (usage_limit IS NULL OR used < usage_limit) \
             RETURNING per_customer_limit",
            promotion.as_uuid()
        ),
    )
    .await?;
    let Some((per_customer,)) = row else {
        let exists: Option<(i64,)> = B::fetch_optional(
            tx,
            q!(
                "SELECT CAST(1 AS BIGINT) FROM promotions WHERE id = $1",
                promotion.as_uuid()
            ),
        )
        .await?;
        return Ok(Some(match exists {
            Some(_) => PlaceRejection::UsageExhausted(promotion),
            None => PlaceRejection::Gone("promotion"),
        }));
    };
    if let Some(customer) = order.customer_id {
        let counted: Option<(i64,)> = B::fetch_optional(
            tx,
            q!(
                "INSERT INTO promotion_customer_usage (promotion_id, customer_id, used) \
                 VALUES ($1, $2, 1) ON CONFLICT (promotion_id, customer_id) DO UPDATE \
                 SET used = promotion_customer_usage.used + 1 \
                 WHERE $3 IS NULL OR promotion_customer_usage.used < $3 RETURNING used",
                promotion.as_uuid(),
                customer.as_uuid(),
                per_customer
            ),
        )
        .await?;
        if counted.is_none() {
            return Ok(Some(PlaceRejection::CustomerLimitReached(promotion)));
        }
    }
    Ok(None)
}

/// The `INSERT` of an order, numbering it with `$number`.
macro_rules! insert_order_sql {
    ($number:literal) => {
        concat!(
            "INSERT INTO orders (id, number, customer_id, email, status, currency, \
             subtotal_minor, discount_total_minor, shipping_total_minor, tax_total_minor, \
             total_minor, prices_include_tax, captured_minor, refunded_minor, paid_by, \
             tracking, reservation_expires_at, snapshot, created_at, updated_at) \
             VALUES ($1, ",
            $number,
            ", $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, 0, NULL, NULL, $12, $13, $14, \
             $15) RETURNING number"
        )
    };
}

/// Writes the order row (giving it its number) and its line index.
async fn insert_order<B: Backend>(tx: &mut B::Tx, order: &mut Order) -> Result<(), Fail> {
    let sql = match B::DIALECT {
        Dialect::Postgres => insert_order_sql!("nextval('order_number_seq')"),
        // Writers are serialised by BEGIN IMMEDIATE: the maximum is stable.
        Dialect::Sqlite => {
            insert_order_sql!("(SELECT COALESCE(MAX(number), 1000) + 1 FROM orders)")
        }
    };
    let number: Option<(i64,)> = B::fetch_optional(
        tx,
        q!(
            sql,
            order.id.as_uuid(),
            order.customer_id.map(|c| c.as_uuid()),
            order.email.as_str(),
            order.status.as_str(),
            order.currency.code(),
            minor(order.subtotal),
            minor(order.discount_total),
            minor(order.shipping_total),
            minor(order.tax_total),
            minor(order.total),
            order.prices_include_tax,
            order.reservation_expires_at,
            json(&OrderSnapshotRef::of(order))?,
            order.created_at,
            order.updated_at
        ),
    )
    .await?;
    let (number,) = number.ok_or_else(|| corrupt("order number", "none"))?;
    order.number = u64::try_from(number).map_err(|_| corrupt("order number", number))?;
    let mut args: Vec<Arg> = Vec::with_capacity(order.lines.len() * 6);
    for (position, line) in order.lines.iter().enumerate() {
        args.push(order.id.as_uuid().into());
        args.push(
            i64::try_from(position)
                .map_err(|_| corrupt("line", position))?
                .into(),
        );
        args.push(line.variant_id.as_uuid().into());
        args.push(line.product_id.as_uuid().into());
        args.push(line.store_id.as_uuid().into());
        args.push(line.quantity.get().into());
    }
    if !args.is_empty() {
        let sql = format!(
            "INSERT INTO order_lines (order_id, line_no, variant_id, product_id, store_id, \
             quantity) VALUES {}",
            rows(args.len() / 6, 6)
        );
        B::execute(tx, Q::assembled(sql, args)).await?;
    }
    Ok(())
}

/// `($1, $2), ($3, $4)` for `n` rows of `width` placeholders.
fn rows(n: usize, width: usize) -> String {
    (0..n)
        .map(|r| format!("({})", placeholders(r * width + 1, width)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Places an order. The contended rows — stock and promotion counters — are
/// changed last, so their locks are held only from their conditional
/// update to the commit; a refusal rolls everything back.
async fn place_tx<B: Backend>(
    tx: &mut B::Tx,
    place: &PlaceOrder,
) -> TxResult<Result<Order, PlaceRejection>> {
    let mut order = place.order.clone();
    let now = order.created_at;
    let refuse = |r: PlaceRejection| Ok(Done::Rollback(Err(r)));

    // The cart first: emptying it at the priced version locks it, so the
    // same cart cannot be checked out twice at once.
    if let Some((cart, version)) = place.cart {
        let version = i64::try_from(version).map_err(|_| corrupt("cart version", version))?;
        let emptied = B::execute(
            tx,
            q!(
                "UPDATE carts SET lines = '[]', codes = '[]', version = version + 1, \
                 updated_at = $3 WHERE id = $1 AND version = $2",
                cart.as_uuid(),
                version,
                now
            ),
        )
        .await?;
        if emptied == 0 {
            return refuse(PlaceRejection::CartChanged);
        }
    }

    order.status = OrderStatus::PendingPayment;
    insert_order::<B>(tx, &mut order).await?;
    let units = order.units();
    let mut sorted = units.clone();
    sorted.sort_by_key(|(v, _)| *v);
    let mut args: Vec<Arg> = Vec::with_capacity(sorted.len() * 4);
    for &(variant, n) in &sorted {
        args.push(order.id.as_uuid().into());
        args.push(variant.as_uuid().into());
        args.push(n.into());
        args.push(order.reservation_expires_at.into());
    }
    let sql = format!(
        "INSERT INTO reservations (order_id, variant_id, quantity, expires_at) VALUES {}",
        rows(sorted.len(), 4)
    );
    if let Err(e) = B::execute(tx, Q::assembled(sql, args)).await {
        // Its reservation names a variant that does not exist.
        return if is_foreign_key(&e) {
            refuse(PlaceRejection::Gone("variant"))
        } else {
            Err(e.into())
        };
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

    // Stock, all or nothing, in variant order (the global lock order).
    let mut short: Vec<Shortage> = Vec::new();
    let mut crossed: Vec<(VariantId, u32, u32)> = Vec::new();
    for &(variant, n) in &sorted {
        let after: Option<(i64, i64)> = B::fetch_optional(
            tx,
            q!(
                "UPDATE variants SET reserved = reserved + $2 \
                 WHERE id = $1 AND on_hand - reserved >= $2 RETURNING on_hand, reserved",
                variant.as_uuid(),
                n
            ),
        )
        .await?;
        match after {
            Some((on_hand, reserved)) => {
                let available = count("available", on_hand - reserved)?;
                crossed.push((variant, available + n, available));
            }
            None => {
                let row: Option<(i64,)> = B::fetch_optional(
                    tx,
                    q!(
                        "SELECT on_hand - reserved FROM variants WHERE id = $1",
                        variant.as_uuid()
                    ),
                )
                .await?;
                let Some((available,)) = row else {
                    return refuse(PlaceRejection::Gone("variant"));
                };
                short.push(Shortage {
                    variant_id: variant,
                    requested: n,
                    available: count("available", available)?,
                });
            }
        }
    }
    if !short.is_empty() {
        // Named in the order's line order, as the shopper sees them.
        short.sort_by_key(|s| units.iter().position(|(v, _)| *v == s.variant_id));
        return refuse(PlaceRejection::InsufficientStock(short));
    }

    let mut promotions: Vec<PromotionId> =
        order.promotions.iter().map(|p| p.promotion_id).collect();
    promotions.sort();
    promotions.dedup();
    for &promotion in &promotions {
        if let Some(rejection) = hold_promotion::<B>(tx, &order, promotion).await? {
            return refuse(rejection);
        }
    }
    if !promotions.is_empty() {
        let mut args: Vec<Arg> = Vec::with_capacity(promotions.len() * 4);
        for promotion in &promotions {
            args.push(promotion.as_uuid().into());
            args.push(order.id.as_uuid().into());
            args.push(order.customer_id.map(|c| c.as_uuid()).into());
            args.push(usage_state_str(UsageState::Reserved).into());
        }
        let sql = format!(
            "INSERT INTO promotion_usage (promotion_id, order_id, customer_id, state) VALUES {}",
            rows(promotions.len(), 4)
        );
        B::execute(tx, Q::assembled(sql, args)).await?;
    }

    // Events in the order the reference backend writes them.
    for (variant, _) in &units {
        if let Some(&(_, before, after)) = crossed.iter().find(|(v, _, _)| v == variant) {
            low_stock::<B>(tx, *variant, before, after, place.low_stock_threshold, now).await?;
        }
    }
    emit::<B>(tx, EventKind::OrderPlaced { order_id: order.id }, now).await?;
    Ok(Done::Commit(Ok(order)))
}

/// The order after a move, read back in the same transaction.
async fn reload<B: Backend>(tx: &mut B::Tx, id: OrderId) -> Result<Order, Fail> {
    load_order::<B>(tx, id, false)
        .await?
        .ok_or(Fail::Store(StoreError::NotFound("order")))
}

async fn set_status<B: Backend>(
    tx: &mut B::Tx,
    id: OrderId,
    status: OrderStatus,
    now: DateTime<Utc>,
) -> Result<(), Fail> {
    B::execute(
        tx,
        q!(
            "UPDATE orders SET status = $2, updated_at = $3 WHERE id = $1",
            id.as_uuid(),
            status.as_str(),
            now
        ),
    )
    .await?;
    Ok(())
}

/// Adds a refund record and counts it against the capture (a CHECK keeps
/// refunds within it: I7).
pub(crate) async fn record_refund<B: Backend>(
    tx: &mut B::Tx,
    order: &Order,
    amount: Money,
    payment: commerce_core::ids::PaymentId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), Fail> {
    B::execute(
        tx,
        q!(
            "INSERT INTO order_refunds (order_id, amount_minor, currency, payment_id, reason, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            order.id.as_uuid(),
            amount.minor(),
            amount.currency().code(),
            payment.as_uuid(),
            reason,
            now
        ),
    )
    .await?;
    B::execute(
        tx,
        q!(
            "UPDATE orders SET refunded_minor = refunded_minor + $2 WHERE id = $1",
            order.id.as_uuid(),
            amount.minor()
        ),
    )
    .await?;
    Ok(())
}

/// Logs an entry in a payment's history.
pub(crate) async fn log_attempt<B: Backend>(
    tx: &mut B::Tx,
    payment: Uuid,
    at: DateTime<Utc>,
    kind: &str,
    detail: &str,
) -> Result<(), Fail> {
    B::execute(
        tx,
        q!(
            "INSERT INTO payment_attempts (payment_id, at, kind, detail) VALUES ($1, $2, $3, $4)",
            payment,
            at,
            kind,
            detail
        ),
    )
    .await?;
    B::execute(
        tx,
        q!(
            "UPDATE payments SET updated_at = $2 WHERE id = $1",
            payment,
            at
        ),
    )
    .await?;
    Ok(())
}

/// Voids an order's pending payments, logging why.
pub(crate) async fn void_pending<B: Backend>(
    tx: &mut B::Tx,
    order: OrderId,
    except: Option<Uuid>,
    now: DateTime<Utc>,
    source: &str,
    detail: &str,
) -> Result<(), Fail> {
    let voided: Vec<(Uuid,)> = B::fetch_all(
        tx,
        q!(
            "UPDATE payments SET status = 'voided' WHERE order_id = $1 AND status = 'pending' \
             AND ($2 IS NULL OR id <> $2) RETURNING id",
            order.as_uuid(),
            except
        ),
    )
    .await?;
    let mut voided = voided;
    voided.sort();
    for (id,) in voided {
        log_attempt::<B>(tx, id, now, source, detail).await?;
    }
    Ok(())
}

async fn cancel_tx<B: Backend>(
    tx: &mut B::Tx,
    id: OrderId,
    reason: &str,
    now: DateTime<Utc>,
) -> TxResult<Result<Order, InvalidTransition>> {
    let order = load_order::<B>(tx, id, true)
        .await?
        .ok_or(StoreError::NotFound("order"))?;
    let next = match order.status.transition(OrderEvent::Cancel) {
        Ok(next) => next,
        Err(e) => return Ok(Done::Rollback(Err(e))),
    };
    let mut refund = None;
    if order.status == OrderStatus::PendingPayment {
        settle_reservations::<B>(tx, &[id], false).await?;
        set_usage::<B>(tx, id, UsageState::Reserved, UsageState::Released).await?;
        void_pending::<B>(
            tx,
            id,
            None,
            now,
            "cancel",
            "voided: the order was cancelled",
        )
        .await?;
    } else {
        let mut units = order.units();
        units.sort_by_key(|(v, _)| *v);
        for (variant, n) in units {
            B::execute(
                tx,
                q!(
                    "UPDATE variants SET on_hand = on_hand + $2 WHERE id = $1",
                    variant.as_uuid(),
                    n
                ),
            )
            .await?;
        }
        set_usage::<B>(tx, id, UsageState::Committed, UsageState::Released).await?;
        let left = order
            .refundable()
            .map_err(|e| corrupt("order refunds", e))?;
        if left.is_positive()
            && let Some(payment) = order.paid_by
        {
            refund = Some(left);
            record_refund::<B>(tx, &order, left, payment, reason, now).await?;
        }
    }
    set_status::<B>(tx, id, next, now).await?;
    emit::<B>(
        tx,
        EventKind::OrderCancelled {
            order_id: id,
            refund,
        },
        now,
    )
    .await?;
    Ok(Done::Commit(Ok(reload::<B>(tx, id).await?)))
}

async fn expire_tx<B: Backend>(
    tx: &mut B::Tx,
    now: DateTime<Utc>,
    limit: u32,
) -> TxResult<Vec<OrderId>> {
    // Several sweeps at once each take different orders (SKIP LOCKED); a
    // payment holding an order's lock keeps it from this sweep.
    let sql = match B::DIALECT {
        Dialect::Sqlite => {
            "SELECT id FROM orders WHERE status = 'pending_payment' \
             AND reservation_expires_at <= $1 ORDER BY reservation_expires_at, id LIMIT $2"
        }
        Dialect::Postgres => {
            "SELECT id FROM orders WHERE status = 'pending_payment' \
             AND reservation_expires_at <= $1 ORDER BY reservation_expires_at, id LIMIT $2 \
             FOR UPDATE SKIP LOCKED"
        }
    };
    let due: Vec<(Uuid,)> = B::fetch_all(tx, q!(sql, now, limit)).await?;
    let ids: Vec<OrderId> = due
        .into_iter()
        .map(|(id,)| OrderId::from_uuid(id))
        .collect();
    settle_reservations::<B>(tx, &ids, false).await?;
    for &id in &ids {
        set_usage::<B>(tx, id, UsageState::Reserved, UsageState::Released).await?;
        set_status::<B>(tx, id, OrderStatus::Expired, now).await?;
        emit::<B>(tx, EventKind::OrderExpired { order_id: id }, now).await?;
    }
    Ok(Done::Commit(ids))
}

async fn step_tx<B: Backend>(
    tx: &mut B::Tx,
    id: OrderId,
    event: OrderEvent,
    tracking: Option<&str>,
    now: DateTime<Utc>,
) -> TxResult<Result<Order, InvalidTransition>> {
    let order = load_order::<B>(tx, id, true)
        .await?
        .ok_or(StoreError::NotFound("order"))?;
    let next = match order.status.transition(event) {
        Ok(next) => next,
        Err(e) => return Ok(Done::Rollback(Err(e))),
    };
    set_status::<B>(tx, id, next, now).await?;
    if let Some(tracking) = tracking {
        B::execute(
            tx,
            q!(
                "UPDATE orders SET tracking = $2 WHERE id = $1",
                id.as_uuid(),
                tracking
            ),
        )
        .await?;
    }
    let kind = match event {
        OrderEvent::Ship => EventKind::OrderShipped { order_id: id },
        _ => EventKind::OrderDelivered { order_id: id },
    };
    emit::<B>(tx, kind, now).await?;
    Ok(Done::Commit(Ok(reload::<B>(tx, id).await?)))
}

async fn refund_tx<B: Backend>(
    tx: &mut B::Tx,
    id: OrderId,
    amount: Money,
    reason: &str,
    now: DateTime<Utc>,
) -> TxResult<Result<Order, RefundRejection>> {
    let order = load_order::<B>(tx, id, true)
        .await?
        .ok_or(StoreError::NotFound("order"))?;
    let refuse = |r: RefundRejection| Ok(Done::Rollback(Err(r)));
    if !amount.is_positive() || amount.currency() != order.currency {
        return refuse(RefundRejection::InvalidAmount);
    }
    let refundable = order
        .refundable()
        .map_err(|e| corrupt("order refunds", e))?;
    let event = if amount == refundable {
        OrderEvent::RefundFull
    } else {
        OrderEvent::RefundPartial
    };
    let next = match order.status.transition(event) {
        Ok(next) => next,
        Err(e) => return refuse(e.into()),
    };
    if amount > refundable {
        return refuse(RefundRejection::ExceedsCaptured {
            requested: amount,
            refundable,
        });
    }
    let Some(payment) = order.paid_by else {
        return refuse(RefundRejection::InvalidTransition(InvalidTransition {
            from: order.status,
            event,
        }));
    };
    record_refund::<B>(tx, &order, amount, payment, reason, now).await?;
    set_status::<B>(tx, id, next, now).await?;
    emit::<B>(
        tx,
        EventKind::OrderRefunded {
            order_id: id,
            amount,
        },
        now,
    )
    .await?;
    Ok(Done::Commit(Ok(reload::<B>(tx, id).await?)))
}

impl<B: Backend> SqlStore<B> {
    async fn list_orders(
        &self,
        filter: &OrderFilter,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Order>, StoreError> {
        let per_page = per_page.clamp(1, 100);
        let page = page.max(1);
        let mut args: Vec<Arg> = Vec::new();
        let mut wheres: Vec<String> = Vec::new();
        if let Some(c) = filter.customer_id {
            args.push(c.as_uuid().into());
            wheres.push(format!("o.customer_id = ${}", args.len()));
        }
        if let Some(s) = filter.status {
            args.push(s.as_str().into());
            wheres.push(format!("o.status = ${}", args.len()));
        }
        if let Some(s) = filter.store_id {
            args.push(s.as_uuid().into());
            wheres.push(format!(
                // `IN`, not `EXISTS`, for the SQLite bug noted in the catalog browse.
                "o.id IN (SELECT l.order_id FROM order_lines l WHERE l.store_id = ${})",
                args.len()
            ));
        }
        let clause = if wheres.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", wheres.join(" AND "))
        };
        let total: Option<(i64,)> = B::read_optional(
            &self.pool,
            Q::assembled(
                format!("SELECT COUNT(*) FROM orders o{clause}"),
                args.clone(),
            ),
        )
        .await
        .map_err(crate::error::backend)?;
        let offset = u64::from(page - 1) * u64::from(per_page);
        args.push(i64::from(per_page).into());
        args.push(super::to_i64(offset)?.into());
        let n = args.len();
        let sql = format!(
            concat!(
                "SELECT ",
                order_columns!(),
                " FROM orders o{} ORDER BY o.created_at DESC, o.number DESC LIMIT ${} OFFSET ${}"
            ),
            clause,
            n - 1,
            n
        );
        let mut tx = B::begin(&self.pool, crate::backend::TxMode::Snapshot)
            .await
            .map_err(crate::error::backend)?;
        let rows: Vec<OrderRow> = B::fetch_all(&mut tx, Q::assembled(sql, args))
            .await
            .map_err(crate::error::backend)?;
        let items = assemble_orders::<B>(&mut tx, rows)
            .await
            .map_err(Fail::into_store)?;
        drop(tx);
        Ok(Page {
            items,
            page,
            per_page,
            total: total.map_or(0, |(n,)| u64::try_from(n).unwrap_or(0)),
        })
    }
}

impl<B: Backend> SqlStore<B> {
    pub(crate) async fn place(
        &self,
        place: PlaceOrder,
    ) -> Result<Result<Order, PlaceRejection>, StoreError> {
        write_tx!(self, |tx| place_tx::<B>(tx, &place))
    }

    pub(crate) async fn read_order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let mut tx = B::begin(&self.pool, crate::backend::TxMode::Snapshot)
            .await
            .map_err(crate::error::backend)?;
        let order = load_order::<B>(&mut tx, id, false)
            .await
            .map_err(Fail::into_store)?;
        drop(tx);
        Ok(order)
    }

    pub(crate) async fn orders_page(
        &self,
        filter: OrderFilter,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Order>, StoreError> {
        self.list_orders(&filter, page, per_page).await
    }

    pub(crate) async fn cancel(
        &self,
        id: OrderId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Order, InvalidTransition>, StoreError> {
        write_tx!(self, |tx| cancel_tx::<B>(tx, id, reason, now))
    }

    pub(crate) async fn expire(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OrderId>, StoreError> {
        write_tx!(self, |tx| expire_tx::<B>(tx, now, limit))
    }

    pub(crate) async fn step(
        &self,
        id: OrderId,
        event: OrderEvent,
        tracking: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Result<Order, InvalidTransition>, StoreError> {
        write_tx!(self, |tx| step_tx::<B>(
            tx,
            id,
            event,
            tracking.as_deref(),
            now
        ))
    }

    pub(crate) async fn refund_order(
        &self,
        id: OrderId,
        amount: Money,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Order, RefundRejection>, StoreError> {
        write_tx!(self, |tx| refund_tx::<B>(tx, id, amount, reason, now))
    }
}
