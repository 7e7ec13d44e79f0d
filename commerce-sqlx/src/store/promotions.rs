//! Promotions and their usage. The live holds of a promotion are counted in
//! `promotions.used` (and per customer in `promotion_customer_usage`), kept
//! equal to the live `promotion_usage` records and bounded by a CHECK
//! against `usage_limit` (I3).

use commerce_core::ids::{CustomerId, PromotionId};
use commerce_core::pricing::{Usage, UsageCounts};
use commerce_core::promotion::Promotion;
use commerce_core::storage::{LimitBelowUsage, PromotionStore, StoreError};
use uuid::Uuid;

use super::{Done, SqlStore, TxResult, placeholders, write_tx};
use crate::backend::{Backend, Q, locking, q};
use crate::error::{backend, is_unique};
use crate::rows::{PromotionRow, count, json};

/// Inserts or replaces `promotion`; with `must_exist`, only replaces one
/// that exists (`None`, nothing written, when there is none). The row is
/// locked first, so a concurrent delete waits for this write or wins
/// before it.
async fn put_tx<B: Backend>(
    tx: &mut B::Tx,
    promotion: &Promotion,
    must_exist: bool,
) -> TxResult<Option<Result<(), LimitBelowUsage>>> {
    let held: Option<(i64,)> = B::fetch_optional(
        tx,
        q!(
            locking!(B::DIALECT, "SELECT used FROM promotions WHERE id = $1"),
            promotion.id().as_uuid()
        ),
    )
    .await?;
    if must_exist && held.is_none() {
        return Ok(Done::Rollback(None));
    }
    if let (Some((held,)), Some(limit)) = (held, promotion.usage_limit()) {
        let held = count("promotion usage", held)?;
        if limit < held {
            return Ok(Done::Rollback(Some(Err(LimitBelowUsage { limit, held }))));
        }
    }
    B::execute(
        tx,
        q!(
            "INSERT INTO promotions (id, code, spec, usage_limit, per_customer_limit, used) \
             VALUES ($1, $2, $3, $4, $5, 0) ON CONFLICT (id) DO UPDATE SET \
             code = excluded.code, spec = excluded.spec, usage_limit = excluded.usage_limit, \
             per_customer_limit = excluded.per_customer_limit",
            promotion.id().as_uuid(),
            promotion.code().map(|c| c.as_str().to_owned()),
            json(promotion.spec())?,
            promotion.usage_limit(),
            promotion.per_customer_limit()
        ),
    )
    .await
    .map_err(|e| {
        if is_unique(&e, Some("promotions_code_key")) {
            super::Fail::Store(StoreError::Duplicate {
                what: "promotion code",
            })
        } else {
            super::Fail::Db(e)
        }
    })?;
    Ok(Done::Commit(Some(Ok(()))))
}

impl<B: Backend> PromotionStore for SqlStore<B> {
    async fn put_promotion(
        &self,
        promotion: Promotion,
    ) -> Result<Result<(), LimitBelowUsage>, StoreError> {
        // Without `must_exist` the answer is always `Some`.
        let put = write_tx!(self, |tx| put_tx::<B>(tx, &promotion, false))?;
        Ok(put.unwrap_or(Ok(())))
    }

    async fn replace_promotion(
        &self,
        promotion: Promotion,
    ) -> Result<Option<Result<(), LimitBelowUsage>>, StoreError> {
        write_tx!(self, |tx| put_tx::<B>(tx, &promotion, true))
    }

    async fn delete_promotion(&self, id: PromotionId) -> Result<bool, StoreError> {
        let n = B::run(
            &self.db,
            q!("DELETE FROM promotions WHERE id = $1", id.as_uuid()),
        )
        .await
        .map_err(backend)?;
        Ok(n == 1)
    }

    async fn promotions(&self) -> Result<Vec<Promotion>, StoreError> {
        let rows: Vec<PromotionRow> =
            B::read_all(&self.db, q!("SELECT id, spec FROM promotions ORDER BY id"))
                .await
                .map_err(backend)?;
        rows.into_iter().map(PromotionRow::into_domain).collect()
    }

    async fn usage(
        &self,
        promotions: &[PromotionId],
        customer: Option<CustomerId>,
    ) -> Result<UsageCounts, StoreError> {
        let mut counts = UsageCounts::new();
        if promotions.is_empty() {
            return Ok(counts);
        }
        for id in promotions {
            counts.insert(*id, Usage::default());
        }
        // The counters, not the records: one row per promotion, however
        // many orders have used it (they are kept equal, I3).
        let sql = format!(
            "SELECT p.id, p.used, COALESCE(c.used, 0) FROM promotions p \
             LEFT JOIN promotion_customer_usage c ON c.promotion_id = p.id AND c.customer_id = $1 \
             WHERE p.id IN ({})",
            placeholders(2, promotions.len())
        );
        let mut args = vec![customer.map(|c| c.as_uuid()).into()];
        args.extend(promotions.iter().map(|p| p.as_uuid().into()));
        let rows: Vec<(Uuid, i64, i64)> = B::read_all(&self.db, Q::assembled(sql, args))
            .await
            .map_err(backend)?;
        for (id, total, mine) in rows {
            counts.insert(
                PromotionId::from_uuid(id),
                Usage {
                    total: count("usage", total)?,
                    by_customer: count("usage", mine)?,
                },
            );
        }
        Ok(counts)
    }
}
