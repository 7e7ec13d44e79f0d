//! The outbox and the audit read.

use chrono::{DateTime, Utc};
use commerce_core::ids::{EventId, VariantId};
use commerce_core::inventory::Stock;
use commerce_core::outbox::OutboxEvent;
use commerce_core::storage::{AuditSnapshot, AuditStore, OutboxStore, StoreError};
use uuid::Uuid;

use super::{Fail, SqlStore, assemble_orders, placeholders};
use crate::backend::{Backend, Q, TxMode, q};
use crate::error::backend;
use crate::rows::{
    AttemptRow, EventRow, OrderRow, PaymentRow, PromotionRow, ReservationRow, UsageRow, count,
    order_columns, payment_columns,
};

impl<B: Backend> OutboxStore for SqlStore<B> {
    async fn pending_events(&self, limit: u32) -> Result<Vec<OutboxEvent>, StoreError> {
        let rows: Vec<EventRow> = B::read_all(
            &self.db,
            q!(
                "SELECT id, payload, created_at, relayed_at FROM outbox \
                 WHERE relayed_at IS NULL ORDER BY seq LIMIT $1",
                limit
            ),
        )
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(EventRow::into_domain).collect())
    }

    /// Newer by `seq`. An event `after` no longer stored reads from the
    /// start.
    async fn pending_events_after(
        &self,
        after: EventId,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let rows: Vec<EventRow> = B::read_all(
            &self.db,
            q!(
                "SELECT id, payload, created_at, relayed_at FROM outbox \
                 WHERE relayed_at IS NULL AND seq > COALESCE((SELECT seq FROM outbox \
                 WHERE id = $1), 0) ORDER BY seq LIMIT $2",
                after.as_uuid(),
                limit
            ),
        )
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(EventRow::into_domain).collect())
    }

    async fn mark_relayed(&self, ids: &[EventId], now: DateTime<Utc>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE outbox SET relayed_at = $1 WHERE relayed_at IS NULL AND id IN ({})",
            placeholders(2, ids.len())
        );
        let mut args = vec![now.into()];
        args.extend(ids.iter().map(|id| id.as_uuid().into()));
        B::run(&self.db, Q::assembled(sql, args))
            .await
            .map_err(backend)?;
        Ok(())
    }
}

async fn audit_tx<B: Backend>(tx: &mut B::Tx) -> Result<AuditSnapshot, Fail> {
    let stock: Vec<(Uuid, i64, i64)> = B::fetch_all(
        tx,
        q!("SELECT id, on_hand, reserved FROM variants ORDER BY id"),
    )
    .await?;
    let stock = stock
        .into_iter()
        .map(|(id, on_hand, reserved)| {
            Ok((
                VariantId::from_uuid(id),
                Stock {
                    on_hand: count("on_hand", on_hand)?,
                    reserved: count("reserved", reserved)?,
                },
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let reservations: Vec<ReservationRow> = B::fetch_all(
        tx,
        q!("SELECT order_id, variant_id, quantity, expires_at FROM reservations ORDER BY order_id, variant_id"),
    )
    .await?;
    let orders: Vec<OrderRow> = B::fetch_all(
        tx,
        q!(concat!(
            "SELECT ",
            order_columns!(),
            " FROM orders o ORDER BY o.number"
        )),
    )
    .await?;
    let orders = assemble_orders::<B>(tx, orders).await?;
    let payments: Vec<PaymentRow> = B::fetch_all(
        tx,
        q!(concat!(
            "SELECT ",
            payment_columns!(),
            " FROM payments p ORDER BY p.created_at, p.id"
        )),
    )
    .await?;
    let mut attempts: Vec<AttemptRow> = B::fetch_all(
        tx,
        q!("SELECT payment_id, at, kind, detail FROM payment_attempts ORDER BY seq"),
    )
    .await?;
    let payments = payments
        .into_iter()
        .map(|p| {
            let mine = attempts
                .extract_if(.., |a| a.payment_id == p.id)
                .map(AttemptRow::into_domain)
                .collect();
            p.into_domain(mine)
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let usage: Vec<UsageRow> = B::fetch_all(
        tx,
        q!("SELECT promotion_id, order_id, customer_id, state FROM promotion_usage ORDER BY promotion_id, order_id"),
    )
    .await?;
    let promotions: Vec<PromotionRow> =
        B::fetch_all(tx, q!("SELECT id, spec FROM promotions ORDER BY id")).await?;
    let events: Vec<EventRow> = B::fetch_all(
        tx,
        q!("SELECT id, payload, created_at, relayed_at FROM outbox ORDER BY seq"),
    )
    .await?;
    Ok(AuditSnapshot {
        stock,
        reservations: reservations
            .into_iter()
            .map(ReservationRow::into_domain)
            .collect::<Result<_, _>>()?,
        orders,
        payments,
        usage: usage
            .into_iter()
            .map(UsageRow::into_domain)
            .collect::<Result<_, _>>()?,
        promotions: promotions
            .into_iter()
            .map(PromotionRow::into_domain)
            .collect::<Result<_, _>>()?,
        events: events.into_iter().map(EventRow::into_domain).collect(),
    })
}

impl<B: Backend> AuditStore for SqlStore<B> {
    async fn audit(&self) -> Result<AuditSnapshot, StoreError> {
        let mut tx = B::begin(&self.db, TxMode::Snapshot)
            .await
            .map_err(backend)?;
        let snapshot = audit_tx::<B>(&mut tx).await.map_err(Fail::into_store)?;
        drop(tx);
        Ok(snapshot)
    }
}
