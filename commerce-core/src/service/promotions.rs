//! Promotions as a back office manages them: checked specs in the shop's
//! currency, unique codes, and usage limits that never drop below what live
//! orders hold (I3).

use super::rules::Rule;
use super::{Commerce, CommerceError};
use crate::ids::PromotionId;
use crate::money::{Currency, Money};
use crate::promotion::{Action, Condition, Promotion, PromotionError, PromotionSpec};
use crate::storage::{LimitBelowUsage, Store, StoreError};

/// A promotion with the number of live orders (pending or paid) holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPromotion {
    /// The promotion.
    pub promotion: Promotion,
    /// Live holds, counted against `usage_limit`.
    pub used: u32,
}

/// The field a refused promotion names (a path in the API's JSON shape).
fn field_of(e: &PromotionError) -> &'static str {
    match e {
        PromotionError::InvalidName => "name",
        PromotionError::InvalidCode(_) => "code",
        PromotionError::PercentOutOfRange { field, .. }
        | PromotionError::NonPositiveAmount { field, .. } => field,
        PromotionError::ZeroCount(field) => field,
        PromotionError::WindowEndsBeforeStart { .. } => "ends_at",
        PromotionError::NoTiers
        | PromotionError::TiersUnsorted { .. }
        | PromotionError::TiersOverlap { .. } => "action.tiers",
        PromotionError::EmptyContains => "conditions.contains",
        PromotionError::CurrencyMismatch { .. } => "action",
    }
}

/// Every amount must be in the shop's currency (a promotion in another one
/// would never apply).
fn in_currency(spec: &PromotionSpec, currency: Currency) -> Result<(), CommerceError> {
    let check = |field: &'static str, m: &Money| {
        if m.currency() == currency {
            Ok(())
        } else {
            Err(CommerceError::Validation {
                field,
                message: format!("must be in {currency}, the shop's currency"),
            })
        }
    };
    for c in &spec.conditions {
        if let Condition::MinSubtotal { amount } = c {
            check("conditions.min_subtotal", amount)?;
        }
    }
    match &spec.action {
        Action::Percentage {
            max_discount: Some(cap),
            ..
        } => check("action.max_discount", cap),
        Action::FixedAmount { amount, .. } => check("action.amount", amount),
        Action::Tiered { tiers, .. } => tiers
            .iter()
            .try_for_each(|t| check("action.tiers.min_subtotal", &t.min_subtotal)),
        _ => Ok(()),
    }
}

impl<S: Store> Commerce<S> {
    fn checked(&self, id: PromotionId, spec: PromotionSpec) -> Result<Promotion, CommerceError> {
        in_currency(&spec, self.config.currency)?;
        Promotion::new(id, spec).map_err(|e| CommerceError::Validation {
            field: field_of(&e),
            message: e.to_string(),
        })
    }

    async fn put(&self, promotion: Promotion) -> Result<Promotion, CommerceError> {
        let put = self.store.put_promotion(promotion.clone()).await;
        self.rules_changed(Rule::Promotions);
        Self::put_answer(promotion, put)
    }

    /// What a write of `promotion` answers the caller.
    fn put_answer(
        promotion: Promotion,
        put: Result<Result<(), LimitBelowUsage>, StoreError>,
    ) -> Result<Promotion, CommerceError> {
        match put {
            Ok(Ok(())) => Ok(promotion),
            Ok(Err(below)) => Err(CommerceError::LimitBelowUsage(below)),
            Err(StoreError::Duplicate { .. }) => Err(CommerceError::Duplicate("code")),
            Err(e) => Err(e.into()),
        }
    }

    /// Every promotion with its live holds, oldest first.
    ///
    /// # Errors
    /// [`CommerceError::Store`].
    pub async fn managed_promotions(&self) -> Result<Vec<ManagedPromotion>, CommerceError> {
        let mut all = self.store.promotions().await?;
        all.sort_by_key(Promotion::id);
        let ids: Vec<PromotionId> = all.iter().map(Promotion::id).collect();
        let usage = self.store.usage(&ids, None).await?;
        Ok(all
            .into_iter()
            .map(|promotion| ManagedPromotion {
                used: usage.get(promotion.id()).total,
                promotion,
            })
            .collect())
    }

    /// One promotion with its live holds.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`].
    pub async fn managed_promotion(
        &self,
        id: PromotionId,
    ) -> Result<ManagedPromotion, CommerceError> {
        let promotion = self
            .store
            .promotions()
            .await?
            .into_iter()
            .find(|p| p.id() == id)
            .ok_or(CommerceError::NotFound("promotion"))?;
        let used = self.store.usage(&[id], None).await?.get(id).total;
        Ok(ManagedPromotion { promotion, used })
    }

    /// Adds a promotion.
    ///
    /// # Errors
    /// [`CommerceError::Validation`] naming the field (amounts must be in
    /// the shop's currency), [`CommerceError::Duplicate`] (`code`) for a code
    /// another promotion has.
    pub async fn create_promotion(&self, spec: PromotionSpec) -> Result<Promotion, CommerceError> {
        let promotion = self.checked(PromotionId::new(), spec)?;
        self.put(promotion).await
    }

    /// Replaces a promotion's spec; orders placed with it keep their snapshot,
    /// and its live holds stay.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`], [`CommerceError::Validation`],
    /// [`CommerceError::Duplicate`], [`CommerceError::LimitBelowUsage`] for a
    /// `usage_limit` below what live orders hold.
    pub async fn update_promotion(
        &self,
        id: PromotionId,
        spec: PromotionSpec,
    ) -> Result<Promotion, CommerceError> {
        let promotion = self.checked(id, spec)?;
        // Whether it exists is checked with the write: one deleted
        // meanwhile stays deleted.
        let replaced = self.store.replace_promotion(promotion.clone()).await;
        self.rules_changed(Rule::Promotions);
        match replaced.transpose() {
            None => Err(CommerceError::NotFound("promotion")),
            Some(put) => Self::put_answer(promotion, put),
        }
    }

    /// Deletes a promotion; orders placed with it keep their snapshot.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`].
    pub async fn delete_promotion(&self, id: PromotionId) -> Result<(), CommerceError> {
        let deleted = self.store.delete_promotion(id).await;
        self.rules_changed(Rule::Promotions);
        if deleted? {
            Ok(())
        } else {
            Err(CommerceError::NotFound("promotion"))
        }
    }
}
