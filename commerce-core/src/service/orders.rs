//! Order operations after checkout: cancel, ship, deliver, refund, expire.

use super::{Actor, Commerce, CommerceError};
use crate::ids::{OrderId, StoreId};
use crate::money::Money;
use crate::order::{InvalidTransition, Order, OrderEvent, OrderStatus};
use crate::storage::{OrderFilter, Page, RefundRejection, Store};

impl<S: Store> Commerce<S> {
    /// An order.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`].
    pub async fn order(&self, id: OrderId) -> Result<Order, CommerceError> {
        self.store
            .order(id)
            .await?
            .ok_or(CommerceError::NotFound("order"))
    }

    /// Orders matching `filter`, newest first: a 1-based page of at most
    /// `per_page` (clamped to 1..=100), with the total.
    ///
    /// # Errors
    /// [`CommerceError::Store`].
    pub async fn orders(
        &self,
        filter: OrderFilter,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Order>, CommerceError> {
        Ok(self
            .store
            .orders(filter, page.max(1), per_page.clamp(1, 100))
            .await?)
    }

    /// The orders holding lines of `store`, newest first, as its owner (or
    /// an admin) sees them: every other store's lines are taken out.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`] (no such store), [`CommerceError::Forbidden`]
    /// (not the store's owner), [`CommerceError::Store`].
    pub async fn store_orders(
        &self,
        actor: Actor,
        store: StoreId,
        status: Option<OrderStatus>,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Order>, CommerceError> {
        self.store_owned_by(actor, store).await?;
        let filter = OrderFilter {
            store_id: Some(store),
            status,
            customer_id: None,
        };
        let mut found = self.orders(filter, page, per_page).await?;
        for order in &mut found.items {
            order.lines.retain(|l| l.store_id == store);
        }
        Ok(found)
    }

    /// Cancels a pending order (stock and usage released, pending payments
    /// voided) or a paid, unshipped one (restocked, refunded in full through
    /// the `OrderCancelled` event).
    ///
    /// # Errors
    /// [`CommerceError::InvalidTransition`] for a shipped, delivered,
    /// cancelled or expired order.
    pub async fn cancel_order(&self, id: OrderId, reason: &str) -> Result<Order, CommerceError> {
        Ok(self
            .store
            .cancel_order(id, reason, self.clock.now())
            .await??)
    }

    /// Marks a paid order shipped.
    ///
    /// # Errors
    /// [`CommerceError::InvalidTransition`].
    pub async fn ship_order(
        &self,
        id: OrderId,
        tracking: Option<String>,
    ) -> Result<Order, CommerceError> {
        let tracking = tracking
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        if tracking.as_ref().is_some_and(|t| t.chars().count() > 100) {
            return Err(CommerceError::Validation {
                field: "tracking",
                message: "at most 100 characters".into(),
            });
        }
        Ok(self.store.ship(id, tracking, self.clock.now()).await??)
    }

    /// Marks a shipped order delivered.
    ///
    /// # Errors
    /// [`CommerceError::InvalidTransition`].
    pub async fn deliver_order(&self, id: OrderId) -> Result<Order, CommerceError> {
        Ok(self.store.deliver(id, self.clock.now()).await??)
    }

    /// Refunds `amount` (everything left when `None`); refunds never add up
    /// to more than was captured.
    ///
    /// # Errors
    /// [`CommerceError::RefundExceedsCaptured`], [`CommerceError::InvalidTransition`]
    /// (also for `None` when nothing is left to refund: nothing captured, or
    /// all of it refunded), [`CommerceError::Validation`] for a non-positive
    /// amount or another currency.
    pub async fn refund_order(
        &self,
        id: OrderId,
        amount: Option<Money>,
        reason: &str,
    ) -> Result<Order, CommerceError> {
        let amount = match amount {
            Some(a) => a,
            None => {
                let order = self.order(id).await?;
                let left = order.refundable().map_err(|e| CommerceError::Validation {
                    field: "amount",
                    message: e.to_string(),
                })?;
                if !left.is_positive() {
                    // The caller sent no amount to blame: the lifecycle refuses.
                    return Err(CommerceError::InvalidTransition(InvalidTransition {
                        from: order.status,
                        event: OrderEvent::RefundFull,
                    }));
                }
                left
            }
        };
        match self
            .store
            .refund(id, amount, reason, self.clock.now())
            .await?
        {
            Ok(order) => Ok(order),
            Err(RefundRejection::ExceedsCaptured {
                requested,
                refundable,
            }) => Err(CommerceError::RefundExceedsCaptured {
                requested,
                refundable,
            }),
            Err(RefundRejection::InvalidTransition(e)) => Err(CommerceError::InvalidTransition(e)),
            Err(_) => Err(CommerceError::Validation {
                field: "amount",
                message: "a positive amount in the order's currency".into(),
            }),
        }
    }

    /// Expires up to `limit` orders whose reservation has run out; returns them.
    ///
    /// # Errors
    /// [`CommerceError::Store`].
    pub async fn expire_due(&self, limit: u32) -> Result<Vec<OrderId>, CommerceError> {
        Ok(self.store.expire_due(self.clock.now(), limit).await?)
    }

    /// Sets a variant's stock on hand (never below what is reserved); tells
    /// the store owner, through the outbox, when available stock falls to the
    /// low-stock threshold.
    ///
    /// # Errors
    /// [`CommerceError::Validation`] below the reserved units, [`CommerceError::Store`].
    pub async fn set_stock(
        &self,
        variant: crate::ids::VariantId,
        on_hand: u32,
    ) -> Result<crate::inventory::Stock, CommerceError> {
        match self
            .store
            .set_on_hand(
                variant,
                on_hand,
                self.config.low_stock_threshold,
                self.clock.now(),
            )
            .await?
        {
            Ok((_, after)) => Ok(after),
            Err(e) => Err(CommerceError::Validation {
                field: "on_hand",
                message: e.to_string(),
            }),
        }
    }
}
