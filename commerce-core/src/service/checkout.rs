//! Checkout: idempotent by key and request fingerprint (Stripe's contract);
//! prices the cart and hands everything to one atomic `place_order`.

use super::cart::code_verdict;
use super::{CartIssue, CartRead, Commerce, CommerceError};
use crate::address::Address;
use crate::cart::CartOwner;
use crate::idempotency::{Begin, Fingerprint, IdempotencyKey};
use crate::ids::{CustomerId, OrderId};
use crate::inventory::Shortage;
use crate::order::{
    AppliedPromotion, Order, OrderDiscount, OrderLine, OrderStatus, ShippingSnapshot,
};
use crate::pricing::Outcome;
use crate::storage::{PlaceOrder, PlaceRejection, Store};

/// What a buyer asks checkout for.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    /// Whose cart.
    pub owner: CartOwner,
    /// The signed-in account, if any.
    pub customer: Option<CustomerId>,
    /// Where mails go (the account's email for signed-in buyers).
    pub email: String,
    /// Where to ship.
    pub shipping_address: Option<Address>,
    /// The client's idempotency key.
    pub idempotency_key: IdempotencyKey,
}

impl CheckoutRequest {
    fn scope(&self) -> String {
        match &self.owner {
            CartOwner::Account(id) => format!("checkout:account:{id}"),
            CartOwner::Guest(token) => format!("checkout:guest:{}", token.as_str()),
        }
    }

    fn fingerprint(&self, shipping_method: Option<&str>) -> Fingerprint {
        let address = self
            .shipping_address
            .as_ref()
            .map(|a| format!("{:?}", a.to_input()))
            .unwrap_or_default();
        match shipping_method {
            None => Fingerprint::of(&[self.email.as_bytes(), address.as_bytes()]),
            Some(m) => Fingerprint::of(&[self.email.as_bytes(), address.as_bytes(), m.as_bytes()]),
        }
    }
}

/// What [`Commerce::checkout_placed`] answers.
#[derive(Debug, Clone)]
pub struct Placed {
    /// The order.
    pub order: Order,
    /// Whether an earlier call with the same key placed it (and this one
    /// only answered it again).
    pub replayed: bool,
}

impl<S: Store> Commerce<S> {
    /// Places an order from the buyer's cart: reserves every line until
    /// `now + reservation_ttl` (all or nothing), reserves promotion usage,
    /// snapshots lines and address, empties the cart, and writes the
    /// `OrderPlaced` event — in one atomic store operation.
    ///
    /// The same key with the same request returns the first order, or the
    /// first refusal when it was final (see the `replay` module: a shortage, an
    /// empty cart, a code refused); with another request it is
    /// [`CommerceError::IdempotencyKeyReused`]; while the first still runs,
    /// [`CommerceError::IdempotencyInProgress`]. Retryable failures and
    /// [`CommerceError::PriceChanged`] free the key for a retry.
    ///
    /// # Errors
    /// [`CommerceError::CartEmpty`], [`CommerceError::InsufficientStock`] (every
    /// short line), [`CommerceError::ProductUnavailable`], [`CommerceError::PriceChanged`],
    /// the discount-code errors, and the idempotency errors above. A refused
    /// checkout reserves nothing and leaves the cart as it was (except that a
    /// price change is acknowledged).
    pub async fn checkout(&self, request: CheckoutRequest) -> Result<Order, CommerceError> {
        self.checkout_with(request, None).await
    }

    /// [`Self::checkout`], shipping by `shipping_method` (the code of an
    /// offered method) instead of the cart's choice. The method is part of
    /// what the idempotency key guards.
    ///
    /// # Errors
    /// As [`Self::checkout`], and [`CommerceError::Validation`] for a method
    /// that is not offered.
    pub async fn checkout_with(
        &self,
        request: CheckoutRequest,
        shipping_method: Option<&str>,
    ) -> Result<Order, CommerceError> {
        Ok(self.checkout_placed(request, shipping_method).await?.order)
    }

    /// [`Self::checkout_with`], telling an order placed by this call from
    /// one a replayed key answers (as it is now). A fresh order has no
    /// payments yet, so a caller showing them need not read them.
    ///
    /// # Errors
    /// As [`Self::checkout_with`].
    pub async fn checkout_placed(
        &self,
        request: CheckoutRequest,
        shipping_method: Option<&str>,
    ) -> Result<Placed, CommerceError> {
        if !request.email.contains('@') || request.email.len() > 254 {
            return Err(CommerceError::Validation {
                field: "email",
                message: "a valid email address is required".into(),
            });
        }
        if let Some(code) = shipping_method
            && !self
                .rules_shipping()
                .await?
                .iter()
                .any(|m| m.code() == code && m.price().currency() == self.config.currency)
        {
            return Err(CommerceError::Validation {
                field: "shipping_method",
                message: format!("no shipping method {code:?} is offered"),
            });
        }
        let scope = request.scope();
        let key = &request.idempotency_key;
        let now = self.clock.now();
        // The claim and, when it is ours, the cart: one round trip where
        // the store can.
        let read = match self
            .store
            .begin_with_cart(
                &scope,
                key,
                request.fingerprint(shipping_method),
                now,
                now + self.config.idempotency_lock,
                &request.owner,
            )
            .await?
        {
            Ok(read) => CartRead::new(&request.owner, read, None),
            // Not an answer a store gives with `Err`; read the cart then.
            Err(Begin::Started) => self.read_cart(&request.owner, None).await?,
            Err(Begin::Replay(stored)) => {
                if let Some(refusal) = super::replay::decode(&stored) {
                    return Err(refusal);
                }
                let id: OrderId = stored
                    .parse()
                    .map_err(|_| CommerceError::NotFound("order"))?;
                let order = self
                    .store
                    .order(id)
                    .await?
                    .ok_or(CommerceError::NotFound("order"))?;
                return Ok(Placed {
                    order,
                    replayed: true,
                });
            }
            Err(Begin::InProgress) => return Err(CommerceError::IdempotencyInProgress),
            Err(Begin::Mismatch) => return Err(CommerceError::IdempotencyKeyReused),
        };
        let result = self.place(&request, &scope, shipping_method, read).await;
        if let Err(e) = &result {
            super::replay::settle_refused(self.store.as_ref(), &scope, key, e).await;
        }
        result.map(|order| Placed {
            order,
            replayed: false,
        })
    }

    async fn place(
        &self,
        request: &CheckoutRequest,
        scope: &str,
        shipping_method: Option<&str>,
        read: CartRead,
    ) -> Result<Order, CommerceError> {
        let (Some(mut cart), records) = (read.cart, read.records) else {
            return Err(CommerceError::CartEmpty);
        };
        if let Some(code) = shipping_method {
            cart.shipping_method = Some(code.to_owned());
        }
        if cart.is_empty() {
            return Err(CommerceError::CartEmpty);
        }
        let (view, records) = self.price_with(cart, records, request.customer).await?;
        let mut shortages = Vec::new();
        let mut price_changed = false;
        for issue in &view.issues {
            match issue {
                CartIssue::ProductUnavailable { line_id } => {
                    let variant = view
                        .cart
                        .lines
                        .iter()
                        .find(|l| l.id == *line_id)
                        .map(|l| l.variant_id);
                    return Err(CommerceError::ProductUnavailable(
                        variant.unwrap_or(crate::ids::VariantId::from_u128(0)),
                    ));
                }
                CartIssue::InsufficientStock { line_id, available } => {
                    if let Some(line) = view.cart.lines.iter().find(|l| l.id == *line_id) {
                        shortages.push(Shortage {
                            variant_id: line.variant_id,
                            requested: line.quantity.get(),
                            available: *available,
                        });
                    }
                }
                CartIssue::PriceChanged { .. } => price_changed = true,
            }
        }
        if !shortages.is_empty() {
            return Err(CommerceError::InsufficientStock(shortages));
        }
        if price_changed {
            self.acknowledge_prices(&request.owner).await?;
            return Err(CommerceError::PriceChanged);
        }
        for code in &view.cart.codes {
            code_verdict(&view.priced, code)?;
        }

        let now = self.clock.now();
        let priced = &view.priced;
        let mut lines = Vec::with_capacity(priced.lines.len());
        for l in &priced.lines {
            let record = records
                .get(&l.variant_id)
                .ok_or(CommerceError::ProductUnavailable(l.variant_id))?;
            let discounts = l
                .discounts
                .iter()
                .map(|d| OrderDiscount {
                    promotion_id: d.promotion_id,
                    label: priced
                        .label_of(d.promotion_id)
                        .unwrap_or_default()
                        .to_owned(),
                    amount: d.amount,
                })
                .collect();
            lines.push(OrderLine {
                id: l.line_id,
                variant_id: l.variant_id,
                product_id: l.product_id,
                store_id: record.product.store_id,
                sku: record.variant.sku.clone(),
                name: record.variant.display_name(&record.product.name),
                quantity: l.quantity,
                unit_price: l.unit_price,
                subtotal: l.subtotal,
                discounts,
                discount_total: l.discount_total,
                tax: l.tax,
                total: l.total,
            });
        }
        let promotions = priced
            .promotions
            .iter()
            .filter_map(|t| match t.outcome {
                Outcome::Applied { amount } => Some(AppliedPromotion {
                    promotion_id: t.promotion_id,
                    label: t.label.to_string(),
                    code: t.code.clone(),
                    amount,
                }),
                Outcome::NotApplied(_) => None,
            })
            .collect();
        let currency = priced.currency;
        let order = Order {
            id: OrderId::new(),
            number: 0,
            customer_id: request.customer,
            email: request.email.trim().to_owned(),
            status: OrderStatus::PendingPayment,
            currency,
            lines,
            subtotal: priced.subtotal,
            discount_total: priced.discount_total,
            shipping_total: priced.shipping_total,
            tax_total: priced.tax_total,
            prices_include_tax: priced.prices_include_tax,
            total: priced.total,
            shipping: priced.shipping.as_ref().map(|s| ShippingSnapshot {
                code: s.code.clone(),
                name: s.name.clone(),
                price: s.price,
                discount: s.discount,
                total: s.total,
            }),
            shipping_address: request.shipping_address.clone(),
            promotions,
            reservation_expires_at: now + self.config.reservation_ttl,
            paid_by: None,
            captured: crate::money::Money::zero(currency),
            refunds: Vec::new(),
            tracking: None,
            created_at: now,
            updated_at: now,
        };
        let place = PlaceOrder {
            order,
            cart: Some((view.cart.id, view.cart.version)),
            idempotency: Some((scope.to_owned(), request.idempotency_key.clone())),
            low_stock_threshold: self.config.low_stock_threshold,
        };
        match self.store.place_order(place).await? {
            Ok(order) => Ok(order),
            Err(PlaceRejection::InsufficientStock(short)) => {
                Err(CommerceError::InsufficientStock(short))
            }
            Err(PlaceRejection::UsageExhausted(_) | PlaceRejection::CustomerLimitReached(_)) => {
                Err(CommerceError::DiscountUsageExceeded)
            }
            Err(PlaceRejection::CartChanged) => Err(CommerceError::Conflict),
            Err(PlaceRejection::Gone(what)) => Err(CommerceError::NotFound(what)),
        }
    }

    /// Records that the buyer has been shown the current prices, so that the
    /// next checkout accepts them. Another writer winning the race is fine:
    /// the buyer sees the cart again either way.
    async fn acknowledge_prices(&self, owner: &CartOwner) -> Result<(), CommerceError> {
        let result = self
            .update_cart(owner, |cart, records| {
                for line in &mut cart.lines {
                    if let Some(r) = records.get(&line.variant_id) {
                        line.price_when_added = r.variant.price.price();
                    }
                }
                Ok(())
            })
            .await;
        match result {
            Ok(_) | Err(CommerceError::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
