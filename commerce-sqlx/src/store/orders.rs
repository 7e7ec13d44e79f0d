//! Orders: the lifecycle moves, expiry and refunds — each one transaction —
//! and the order rows placement writes (placement itself: `place.rs`).
//!
//! Lifecycle moves lock the order row, so two racing moves cannot both
//! apply.

use chrono::{DateTime, Utc};
use commerce_core::idempotency::{Begin, Fingerprint, IdempotencyKey};
use commerce_core::ids::OrderId;
use commerce_core::money::Money;
use commerce_core::order::{InvalidTransition, Order, OrderEvent, OrderStatus};
use commerce_core::outbox::EventKind;
use commerce_core::storage::{
    OrderFilter, Page, RefundRejection, StoreError, UsageState, begin_then,
};
use uuid::Uuid;

use super::idempotency::pg_claim_and_select;
use super::{
    Done, Fail, SqlStore, TxResult, assemble_orders, emit, load_order, placeholders, set_usage,
    settle_reservations, write_tx,
};
use crate::backend::{Arg, Backend, Dialect, Q, q};
use crate::error::corrupt;
use crate::rows::{ClaimedOrderRow, OrderRow, OrderSnapshotRef, json, order_by_id, order_columns};

fn minor(m: Money) -> i64 {
    m.minor()
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
pub(crate) async fn insert_order<B: Backend>(
    tx: &mut B::Tx,
    order: &mut Order,
) -> Result<(), Fail> {
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
pub(crate) fn rows(n: usize, width: usize) -> String {
    (0..n)
        .map(|r| format!("({})", placeholders(r * width + 1, width)))
        .collect::<Vec<_>>()
        .join(", ")
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
            &self.db,
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
        let mut tx = B::begin(&self.db, crate::backend::TxMode::Snapshot)
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
    pub(crate) async fn read_order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        // Most orders have no refunds: then the order's row is the whole
        // order, and one statement reads it consistently.
        let row: Option<OrderRow> = B::read_optional(&self.db, q!(order_by_id!(), id.as_uuid()))
            .await
            .map_err(crate::error::backend)?;
        match row {
            None => return Ok(None),
            Some(row) if !row.has_refunds() => return row.into_domain(Vec::new()).map(Some),
            Some(_) => {}
        }
        // With refunds, the row and its refunds in one snapshot.
        let mut tx = B::begin(&self.db, crate::backend::TxMode::Snapshot)
            .await
            .map_err(crate::error::backend)?;
        let order = load_order::<B>(&mut tx, id, false)
            .await
            .map_err(Fail::into_store)?;
        drop(tx);
        Ok(order)
    }

    /// [`OrderStore::begin_with_order`]: on PostgreSQL the claim's insert
    /// (as `IdempotencyStore::begin` makes it: its own transaction,
    /// committed without waiting for the disk) and the order's row in one
    /// statement; an order with refunds reads them in a second.
    ///
    /// [`OrderStore::begin_with_order`]: commerce_core::storage::OrderStore::begin_with_order
    pub(crate) async fn claim_and_read_order(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        now: DateTime<Utc>,
        lock_until: DateTime<Utc>,
        id: OrderId,
    ) -> Result<Result<Option<Order>, Begin>, StoreError> {
        if B::DIALECT != Dialect::Postgres {
            return begin_then(
                self,
                scope,
                key,
                fingerprint,
                now,
                lock_until,
                self.read_order(id),
            )
            .await;
        }
        let rows: Vec<ClaimedOrderRow> = B::write_all(
            &self.db,
            q!(
                concat!(
                    pg_claim_and_select!("$2", "$3", "$4", "$5", "$6"),
                    order_columns!(),
                    " FROM (SELECT 1) AS one LEFT JOIN orders o ON o.id = $1"
                ),
                id.as_uuid(),
                scope,
                key.as_str(),
                fingerprint.as_bytes().to_vec(),
                lock_until,
                now
            ),
        )
        .await
        .map_err(crate::error::backend)?;
        match rows.into_iter().next() {
            Some(ClaimedOrderRow {
                claimed: true,
                order,
            }) => match order {
                None => Ok(Ok(None)),
                Some(row) if !row.has_refunds() => Ok(Ok(Some(row.into_domain(Vec::new())?))),
                // Its refunds with it, in one snapshot.
                Some(_) => Ok(Ok(self.read_order(id).await?)),
            },
            // The key exists (a repeated delivery): `begin` reads it, as
            // without the order.
            _ => {
                begin_then(
                    self,
                    scope,
                    key,
                    fingerprint,
                    now,
                    lock_until,
                    self.read_order(id),
                )
                .await
            }
        }
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
