//! The simulation's operations. Each picks its inputs with the dice,
//! predicts from the model what the contract says must happen, calls the
//! public API, checks the answer against the prediction and moves the model
//! on. A mismatch is returned as a problem; the driver then stops.

use std::collections::BTreeMap;

use chrono::Duration;

use super::Dice;
use super::model::{
    CheckoutKey, Delivery, FREE_SHIPPING_OVER, Gateway, LOW_STOCK, Line, Model, Order, Owner,
    Payment, PaymentKey, Plan, Product, Promo, SHIPPING, USD, Variant, normalise, usd,
};
use crate::cart::{Cart, CartOwner, CartToken};
use crate::catalog::{Sku, VariantPrice};
use crate::idempotency::IdempotencyKey;
use crate::ids::{CustomerId, LineId, ProductId, PromotionId, StoreId, VariantId};
use crate::inventory::Stock;
use crate::money::{Currency, Money};
use crate::order::{InvalidTransition, OrderEvent, OrderStatus};
use crate::payment::{PaymentStatus, SandboxGateway};
use crate::promotion::{Promotion, PromotionSpec};
use crate::quantity::Quantity;
use crate::seller::{Product as CatalogProduct, SellerStore, Variant as CatalogVariant};
use crate::service::{Actor, CheckoutRequest, CommerceError, Config};
use crate::shipping::ShippingMethod;
use crate::storage::{AuditSnapshot, PaymentOutcome, Store, UsageState};
use crate::tax::SingleRateTax;
use crate::testkit::Harness;

/// Whether an operation may change what the audit shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    /// A refusal or a replay: the store must be exactly as before. (Carts,
    /// codes and the catalog are not in the audit: cart operations are
    /// `Unchanged` there, and checked against the model's cart instead.)
    Unchanged,
    /// A change; the model says which.
    Changed,
}

/// How an operation ended, for the report and the history.
#[derive(Debug, Clone, Copy)]
pub(super) struct Done {
    pub(super) outcome: &'static str,
    pub(super) effect: Effect,
}

fn done(outcome: &'static str, effect: Effect) -> Result<Done, String> {
    Ok(Done { outcome, effect })
}

/// The operations, and how often each is picked (out of their sum).
#[derive(Debug, Clone, Copy)]
enum Op {
    Add,
    SetQuantity,
    ApplyCode,
    RemoveCode,
    ClearCart,
    Checkout,
    StartPayment,
    PayOnSandbox,
    DeliverWebhook,
    WrongAmount,
    BrowserReturn,
    BadWebhook,
    Cancel,
    Advance,
    Expire,
    Restock,
    Ship,
    Deliver,
    Refund,
    Reprice,
    Withdraw,
}

const OPS: [(Op, u32); 21] = [
    (Op::Add, 20),
    (Op::SetQuantity, 4),
    (Op::ApplyCode, 6),
    (Op::RemoveCode, 2),
    (Op::ClearCart, 1),
    (Op::Checkout, 12),
    (Op::StartPayment, 9),
    (Op::PayOnSandbox, 9),
    (Op::DeliverWebhook, 6),
    (Op::WrongAmount, 2),
    (Op::BrowserReturn, 3),
    (Op::BadWebhook, 1),
    (Op::Cancel, 3),
    (Op::Advance, 4),
    (Op::Expire, 4),
    (Op::Restock, 4),
    (Op::Ship, 3),
    (Op::Deliver, 2),
    (Op::Refund, 4),
    (Op::Reprice, 2),
    (Op::Withdraw, 2),
];

/// Whether a refusal is the one expected: same kind, same details where
/// the details are part of the contract.
/// A copy of a refusal the idempotency key keeps and replays (the request
/// can never succeed as sent); `None` for a price change or a retryable
/// failure, which free the key.
fn final_copy(e: &CommerceError) -> Option<CommerceError> {
    use CommerceError as E;
    Some(match e {
        E::CartEmpty => E::CartEmpty,
        E::InsufficientStock(lines) => E::InsufficientStock(lines.clone()),
        E::ProductUnavailable(v) => E::ProductUnavailable(*v),
        E::DiscountCodeInvalid => E::DiscountCodeInvalid,
        E::DiscountNotApplicable(reason) => E::DiscountNotApplicable(reason.clone()),
        E::DiscountUsageExceeded => E::DiscountUsageExceeded,
        E::OrderExpired => E::OrderExpired,
        E::InvalidTransition(t) => E::InvalidTransition(*t),
        _ => return None,
    })
}

fn same_refusal(actual: &CommerceError, expected: &CommerceError) -> bool {
    use CommerceError as E;
    match (actual, expected) {
        (E::Validation { field: a, .. }, E::Validation { field: b, .. }) => a == b,
        (E::NotFound(a), E::NotFound(b)) => a == b,
        (E::ProductUnavailable(a), E::ProductUnavailable(b)) => a == b,
        (E::InsufficientStock(a), E::InsufficientStock(b)) => a == b,
        (E::DiscountNotApplicable(a), E::DiscountNotApplicable(b)) => a == b,
        (E::InvalidTransition(a), E::InvalidTransition(b)) => a == b,
        (
            E::RefundExceedsCaptured {
                requested: a,
                refundable: b,
            },
            E::RefundExceedsCaptured {
                requested: c,
                refundable: d,
            },
        ) => a == c && b == d,
        (E::Webhook(a), E::Webhook(b)) => a == b,
        (E::CartEmpty, E::CartEmpty)
        | (E::PriceChanged, E::PriceChanged)
        | (E::DiscountCodeInvalid, E::DiscountCodeInvalid)
        | (E::DiscountUsageExceeded, E::DiscountUsageExceeded)
        | (E::OrderExpired, E::OrderExpired)
        | (E::IdempotencyKeyReused, E::IdempotencyKeyReused)
        | (E::UnknownPaymentReference, E::UnknownPaymentReference) => true,
        _ => false,
    }
}

/// A short name for a refusal, for the report.
fn refusal_label(op: &'static str, e: &CommerceError) -> &'static str {
    use CommerceError as E;
    match (op, e) {
        ("checkout", E::Validation { .. }) => "checkout: bad email",
        ("checkout", E::CartEmpty) => "checkout: cart empty",
        ("checkout", E::ProductUnavailable(_)) => "checkout: product unavailable",
        ("checkout", E::InsufficientStock(_)) => "checkout: insufficient stock",
        ("checkout", E::PriceChanged) => "checkout: price changed",
        ("checkout", E::DiscountUsageExceeded) => "checkout: code used up",
        ("checkout", E::DiscountNotApplicable(_)) => "checkout: code not applicable",
        ("checkout", E::IdempotencyKeyReused) => "checkout: key reused, other body",
        ("add", E::Validation { .. }) => "add: above 999",
        ("add", E::InsufficientStock(_)) => "add: insufficient stock",
        ("add", E::ProductUnavailable(_)) => "add: product unavailable",
        ("set quantity", E::NotFound(_)) => "set quantity: no such line",
        ("set quantity", E::InsufficientStock(_)) => "set quantity: insufficient stock",
        ("set quantity", E::ProductUnavailable(_)) => "set quantity: product unavailable",
        ("code", E::DiscountCodeInvalid) => "code: invalid",
        ("code", E::DiscountUsageExceeded) => "code: used up",
        ("code", E::DiscountNotApplicable(_)) => "code: not applicable",
        ("start payment", E::OrderExpired) => "start payment: order expired",
        ("start payment", E::InvalidTransition(_)) => "start payment: not payable",
        ("cancel", _) => "cancel: refused",
        ("ship", _) => "ship: refused",
        ("deliver", _) => "deliver: refused",
        ("refund", E::Validation { .. }) => "refund: invalid amount",
        ("refund", E::RefundExceedsCaptured { .. }) => "refund: above what is left",
        ("refund", E::InvalidTransition(_)) => "refund: nothing captured",
        ("restock", _) => "restock: below reserved",
        _ => "other refusal",
    }
}

/// A cart as (variant, units) pairs, for messages.
fn lines_of(cart: &Cart) -> Vec<(VariantId, u32)> {
    cart.lines
        .iter()
        .map(|l| (l.variant_id, l.quantity.get()))
        .collect()
}

/// A payment outcome without the whole order, for messages.
fn brief(outcome: &Result<PaymentOutcome, CommerceError>) -> String {
    match outcome {
        Ok(PaymentOutcome::Paid(o)) => format!("Ok(Paid(order {} {}))", o.number, o.status),
        other => format!("{other:?}"),
    }
}

/// The simulation's state: the engine over the store, the model, the dice.
pub(super) struct Sim<S> {
    pub(super) h: Harness<S>,
    pub(super) dice: Dice,
    pub(super) m: Model,
    /// What the current step is doing, for the history and failures.
    pub(super) what: String,
    /// The run's seed and current step, for the note left by a panic.
    pub(super) seed: u64,
    pub(super) step: u32,
    /// The last steps, for failures.
    pub(super) recent: std::collections::VecDeque<String>,
    /// Set when the run ended normally.
    pub(super) finished: bool,
    seller: CustomerId,
    counter: u64,
}

/// Ids the simulation chooses are derived from this, so that ties the engine
/// breaks by id (promotions) fall the same way in every run.
const ID_BASE: u128 = 0x5151_0000_0000_0000_0000_0000_0000_0000;

fn id(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(ID_BASE + n)
}

impl<S: Store> Sim<S> {
    /// Sets up the shop: one seller, three products with five variants,
    /// five promotions, three guests and three accounts.
    pub(super) async fn start(store: std::sync::Arc<S>, seed: u64) -> Result<Self, String> {
        let config = Config {
            tax: std::sync::Arc::new(
                SingleRateTax::new(rust_decimal::Decimal::new(8, 2), false)
                    .map_err(|e| e.to_string())?,
            ),
            low_stock_threshold: LOW_STOCK,
            ..Config::default()
        };
        let h = Harness::with_config(store, config);
        let before = h.store().audit().await.map_err(|e| e.to_string())?;
        if !before.orders.is_empty() || !before.promotions.is_empty() || !before.stock.is_empty() {
            return Err("the simulation needs an empty store".into());
        }
        let standard = ShippingMethod::new(
            "standard",
            "Standard",
            usd(SHIPPING),
            Some(usd(FREE_SHIPPING_OVER)),
        )
        .map_err(|e| e.to_string())?;
        h.store()
            .insert_shipping_method(standard)
            .await
            .map_err(|e| e.to_string())?;
        let mut sim = Sim {
            h,
            dice: Dice::new(seed),
            m: Model::default(),
            what: "setup".into(),
            seed,
            step: 0,
            recent: std::collections::VecDeque::new(),
            finished: false,
            seller: CustomerId::from_uuid(id(1)),
            counter: 0,
        };
        sim.setup_catalog().await?;
        sim.setup_promotions().await?;
        for i in 0..6_u128 {
            let (owner, customer) = if i < 3 {
                (CartOwner::Guest(CartToken::generate()), None)
            } else {
                let c = CustomerId::from_uuid(id(100 + i));
                (CartOwner::Account(c), Some(c))
            };
            sim.m.owners.push(Owner {
                owner,
                customer,
                lines: Vec::new(),
                codes: Vec::new(),
            });
        }
        Ok(sim)
    }

    async fn setup_catalog(&mut self) -> Result<(), String> {
        let now = self.h.clock_now();
        let store_id = StoreId::from_uuid(id(2));
        let seller = SellerStore {
            id: store_id,
            owner_id: self.seller,
            name: "Simulated".into(),
            slug: "simulated".into(),
            created_at: now,
        };
        self.h
            .store()
            .put_seller_store(seller)
            .await
            .map_err(|e| e.to_string())?;
        let mut n = 0_u128;
        for (p, variants) in [2_u32, 2, 1].into_iter().enumerate() {
            let product_id = ProductId::from_uuid(id(10 + n));
            let product = CatalogProduct {
                id: product_id,
                store_id,
                category_id: None,
                name: format!("Product {p}"),
                description: String::new(),
                images: Vec::new(),
                created_at: now,
                deleted_at: None,
            };
            let mut records = Vec::new();
            for _ in 0..variants {
                n += 1;
                let price = i64::from(self.dice.range(600..=4500));
                let on_hand = self.dice.range(0..=12);
                let variant_id = VariantId::from_uuid(id(20 + n));
                records.push(CatalogVariant {
                    id: variant_id,
                    product_id,
                    sku: Sku::parse(&format!("SIM-{n}")).map_err(|e| e.to_string())?,
                    attributes: BTreeMap::new(),
                    price: VariantPrice::fixed(usd(price)).map_err(|e| e.to_string())?,
                    stock: Stock {
                        on_hand,
                        reserved: 0,
                    },
                });
                self.m.variants.push(Variant {
                    id: variant_id,
                    product: p,
                    price,
                    on_hand,
                    reserved: 0,
                });
            }
            self.h
                .store()
                .put_product(product, records)
                .await
                .map_err(|e| e.to_string())?;
            self.m.products.push(Product {
                id: product_id,
                withdrawn: false,
            });
        }
        Ok(())
    }

    async fn setup_promotions(&mut self) -> Result<(), String> {
        // (code, usage limit, per-customer limit, min subtotal, free shipping, JSON)
        type Spec = (
            Option<&'static str>,
            Option<u32>,
            Option<u32>,
            Option<i64>,
            bool,
            &'static str,
        );
        let specs: [Spec; 5] = [
            (
                Some("ONCE"),
                Some(1),
                None,
                None,
                false,
                r#"{"name":"Once","code":"ONCE","usage_limit":1,"action":{"type":"percentage","percent":"15"}}"#,
            ),
            (
                Some("TWICE"),
                Some(3),
                Some(1),
                None,
                false,
                r#"{"name":"Five off","code":"TWICE","priority":5,"combinable":true,"usage_limit":3,"per_customer_limit":1,"action":{"type":"fixed_amount","amount":{"amount":"5.00","currency":"USD"}}}"#,
            ),
            (
                Some("BIG"),
                None,
                Some(2),
                Some(4000),
                false,
                r#"{"name":"Big basket","code":"BIG","priority":1,"combinable":true,"per_customer_limit":2,"conditions":[{"type":"min_subtotal","amount":{"amount":"40.00","currency":"USD"}}],"action":{"type":"percentage","percent":"10"}}"#,
            ),
            (
                Some("SHIPFREE"),
                Some(2),
                None,
                None,
                true,
                r#"{"name":"Free shipping","code":"SHIPFREE","usage_limit":2,"action":{"type":"free_shipping"}}"#,
            ),
            (
                None,
                Some(5),
                None,
                None,
                false,
                r#"{"name":"Tiers","priority":10,"combinable":true,"usage_limit":5,"action":{"type":"tiered","tiers":[{"min_subtotal":{"amount":"20.00","currency":"USD"},"percent":"5"},{"min_subtotal":{"amount":"60.00","currency":"USD"},"percent":"10"}]}}"#,
            ),
        ];
        for (i, (code, limit, per_customer, min_subtotal, free_shipping, json)) in
            specs.into_iter().enumerate()
        {
            let spec: PromotionSpec = serde_json::from_str(json).map_err(|e| e.to_string())?;
            let promo_id = PromotionId::from_uuid(id(50 + i as u128));
            let promo = Promotion::new(promo_id, spec).map_err(|e| e.to_string())?;
            self.h
                .store()
                .put_promotion(promo)
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            self.m.promos.push(Promo {
                id: promo_id,
                code,
                limit,
                per_customer,
                min_subtotal,
                free_shipping,
            });
        }
        Ok(())
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// Runs one operation, picked by weight.
    pub(super) async fn run_one(&mut self) -> Result<Done, String> {
        let total: u32 = OPS.iter().map(|(_, w)| w).sum();
        let mut roll = self.dice.range(0..=total - 1);
        let mut op = Op::Add;
        for (candidate, weight) in OPS {
            if roll < weight {
                op = candidate;
                break;
            }
            roll -= weight;
        }
        match op {
            Op::Add => self.add().await,
            Op::SetQuantity => self.set_quantity().await,
            Op::ApplyCode => self.apply_code().await,
            Op::RemoveCode => self.remove_code().await,
            Op::ClearCart => self.clear_cart().await,
            Op::Checkout => self.checkout().await,
            Op::StartPayment => self.start_payment().await,
            Op::PayOnSandbox => self.pay_on_sandbox().await,
            Op::DeliverWebhook => self.deliver_webhook().await,
            Op::WrongAmount => self.wrong_amount().await,
            Op::BrowserReturn => self.browser_return().await,
            Op::BadWebhook => self.bad_webhook().await,
            Op::Cancel => self.cancel().await,
            Op::Advance => self.advance(),
            Op::Expire => self.expire().await,
            Op::Restock => self.restock().await,
            Op::Ship => self.ship().await,
            Op::Deliver => self.deliver().await,
            Op::Refund => self.refund().await,
            Op::Reprice => self.reprice().await,
            Op::Withdraw => self.withdraw().await,
        }
    }

    // ---- picking ---------------------------------------------------------

    fn pick_owner(&mut self, prefer_lines: u32) -> usize {
        if self.dice.chance(prefer_lines) {
            let with: Vec<usize> = (0..self.m.owners.len())
                .filter(|&i| !self.m.owners[i].lines.is_empty())
                .collect();
            if let Some(i) = self.dice.pick(&with) {
                return with[i];
            }
        }
        self.dice.below(self.m.owners.len())
    }

    /// An order, in one of `prefer` with `percent` chance when there is one.
    fn pick_order(&mut self, prefer: &[OrderStatus], percent: u32) -> Option<usize> {
        if self.m.orders.is_empty() {
            return None;
        }
        if self.dice.chance(percent) {
            let matching: Vec<usize> = (0..self.m.orders.len())
                .filter(|&i| prefer.contains(&self.m.orders[i].status))
                .collect();
            if let Some(i) = self.dice.pick(&matching) {
                return Some(matching[i]);
            }
        }
        Some(self.dice.below(self.m.orders.len()))
    }

    fn pick_payment(&mut self, prefer: impl Fn(&Payment) -> bool, percent: u32) -> Option<usize> {
        if self.m.payments.is_empty() {
            return None;
        }
        if self.dice.chance(percent) {
            let matching: Vec<usize> = (0..self.m.payments.len())
                .filter(|&i| prefer(&self.m.payments[i]))
                .collect();
            if let Some(i) = self.dice.pick(&matching) {
                return Some(matching[i]);
            }
        }
        Some(self.dice.below(self.m.payments.len()))
    }

    fn key(&mut self, prefix: &str) -> Result<IdempotencyKey, String> {
        let n = self.next();
        IdempotencyKey::parse(&format!("{prefix}-{n}")).map_err(|e| e.to_string())
    }

    // ---- carts -----------------------------------------------------------

    /// The stored cart must be the model's cart; takes the new lines' ids.
    fn sync_cart(&mut self, owner: usize, cart: &Cart) -> Result<(), String> {
        let o = &mut self.m.owners[owner];
        let same = cart.lines.len() == o.lines.len()
            && cart.lines.iter().zip(&o.lines).all(|(c, m)| {
                c.variant_id == self.m.variants[m.variant].id
                    && c.quantity.get() == m.qty
                    && c.price_when_added == usd(m.price_when_added)
            })
            && cart
                .codes
                .iter()
                .map(|c| c.as_str())
                .eq(o.codes.iter().map(String::as_str));
        if !same {
            return Err(format!(
                "cart of owner #{owner} is {:?} with codes {:?}, expected {:?} with codes {:?}",
                cart.lines
                    .iter()
                    .map(|l| (l.variant_id, l.quantity.get(), l.price_when_added))
                    .collect::<Vec<_>>(),
                cart.codes,
                o.lines
                    .iter()
                    .map(|l| (l.variant, l.qty, l.price_when_added))
                    .collect::<Vec<_>>(),
                o.codes
            ));
        }
        for (c, m) in cart.lines.iter().zip(o.lines.iter_mut()) {
            m.id = c.id;
        }
        Ok(())
    }

    async fn add(&mut self) -> Result<Done, String> {
        let o = self.pick_owner(30);
        let v = self.dice.below(self.m.variants.len());
        let qty = if self.dice.chance(2) {
            998
        } else {
            self.dice.range(1..=3)
        };
        self.what = format!("add {qty} of variant #{v} to the cart of owner #{o}");
        let variant = &self.m.variants[v];
        let existing = self.m.owners[o]
            .lines
            .iter()
            .find(|l| l.variant == v)
            .map_or(0, |l| l.qty);
        let wanted = existing + qty;
        let expected = if self.m.withdrawn(v) {
            Err(CommerceError::ProductUnavailable(variant.id))
        } else if wanted > Quantity::MAX {
            Err(CommerceError::Validation {
                field: "quantity",
                message: String::new(),
            })
        } else if wanted > variant.available() {
            Err(CommerceError::InsufficientStock(vec![
                crate::inventory::Shortage {
                    variant_id: variant.id,
                    requested: wanted,
                    available: variant.available(),
                },
            ]))
        } else {
            Ok(())
        };
        let quantity = Quantity::new(i64::from(qty)).map_err(|e| e.to_string())?;
        let owner = self.m.owners[o].owner.clone();
        let actual = self
            .h
            .commerce
            .add_to_cart(&owner, variant.id, quantity)
            .await;
        match (expected, actual) {
            (Ok(()), Ok(cart)) => {
                let price = self.m.variants[v].price;
                let lines = &mut self.m.owners[o].lines;
                match lines.iter_mut().find(|l| l.variant == v) {
                    Some(l) => {
                        l.qty = wanted;
                        l.price_when_added = price;
                    }
                    None => lines.push(Line {
                        id: LineId::from_u128(0),
                        variant: v,
                        qty,
                        price_when_added: price,
                    }),
                }
                self.sync_cart(o, &cart)?;
                done("add: added", Effect::Unchanged)
            }
            (Err(want), Err(got)) if same_refusal(&got, &want) => {
                done(refusal_label("add", &got), Effect::Unchanged)
            }
            (want, got) => Err(format!(
                "expected {want:?}, got {:?}",
                got.as_ref().map(lines_of)
            )),
        }
    }

    async fn set_quantity(&mut self) -> Result<Done, String> {
        let o = self.pick_owner(95);
        let lines = self.m.owners[o].lines.len();
        if lines == 0 && self.dice.chance(80) {
            return self.add().await;
        }
        let unknown = lines == 0 || self.dice.chance(5);
        let line = if unknown {
            None
        } else {
            Some(self.dice.below(lines))
        };
        let qty = if self.dice.chance(25) {
            0
        } else {
            self.dice.range(1..=4)
        };
        let via_remove = qty == 0 && self.dice.chance(50);
        self.what = format!(
            "set line {line:?} of owner #{o} to {qty}{}",
            if via_remove { " (remove_line)" } else { "" }
        );
        let expected = match line {
            None => Err(CommerceError::NotFound("cart line")),
            Some(_) if qty == 0 => Ok(()),
            Some(i) => {
                let v = self.m.owners[o].lines[i].variant;
                let variant = &self.m.variants[v];
                if self.m.withdrawn(v) {
                    Err(CommerceError::ProductUnavailable(variant.id))
                } else if qty > variant.available() {
                    Err(CommerceError::InsufficientStock(vec![
                        crate::inventory::Shortage {
                            variant_id: variant.id,
                            requested: qty,
                            available: variant.available(),
                        },
                    ]))
                } else {
                    Ok(())
                }
            }
        };
        let line_id = match line {
            Some(i) => self.m.owners[o].lines[i].id,
            None => LineId::from_uuid(id(u128::from(self.next()) << 32)),
        };
        let owner = self.m.owners[o].owner.clone();
        let actual = if via_remove {
            self.h.commerce.remove_line(&owner, line_id).await
        } else {
            self.h.commerce.set_quantity(&owner, line_id, qty).await
        };
        match (expected, actual, line) {
            (Ok(()), Ok(cart), Some(i)) => {
                if qty == 0 {
                    self.m.owners[o].lines.remove(i);
                } else {
                    let price = self.m.variants[self.m.owners[o].lines[i].variant].price;
                    let l = &mut self.m.owners[o].lines[i];
                    l.qty = qty;
                    l.price_when_added = price;
                }
                self.sync_cart(o, &cart)?;
                done(
                    if qty == 0 {
                        "set quantity: removed"
                    } else {
                        "set quantity: changed"
                    },
                    Effect::Unchanged,
                )
            }
            (Err(want), Err(got), _) if same_refusal(&got, &want) => {
                done(refusal_label("set quantity", &got), Effect::Unchanged)
            }
            (want, got, _) => Err(format!(
                "expected {want:?}, got {:?}",
                got.as_ref().map(lines_of)
            )),
        }
    }

    async fn apply_code(&mut self) -> Result<Done, String> {
        let o = self.pick_owner(80);
        let roll = self.dice.below(100);
        let input = if roll < 85 {
            let coded: Vec<&'static str> = self.m.promos.iter().filter_map(|p| p.code).collect();
            let code = self.dice.pick(&coded).map_or("ONCE", |i| coded[i]);
            if self.dice.chance(20) {
                code.to_ascii_lowercase()
            } else {
                code.to_owned()
            }
        } else if roll < 95 {
            "NOPE".to_owned()
        } else {
            "bad code!".to_owned()
        };
        self.what = format!("apply code {input:?} to the cart of owner #{o}");
        let code = normalise(&input);
        let expected = match &code {
            None => Err(CommerceError::DiscountCodeInvalid),
            Some(c) => self.m.code_verdict(o, c),
        };
        let owner = self.m.owners[o].owner.clone();
        let customer = self.m.owners[o].customer;
        let actual = self.h.commerce.apply_code(&owner, customer, &input).await;
        match (expected, actual) {
            (Ok(()), Ok(view)) => {
                let c = code.unwrap_or_default();
                if !self.m.owners[o].codes.contains(&c) {
                    self.m.owners[o].codes.push(c);
                }
                self.sync_cart(o, &view.cart)?;
                done("code: applied", Effect::Unchanged)
            }
            (Err(want), Err(got)) if same_refusal(&got, &want) => {
                done(refusal_label("code", &got), Effect::Unchanged)
            }
            (want, got) => Err(format!(
                "expected {want:?}, got {:?}",
                got.map(|v| lines_of(&v.cart))
            )),
        }
    }

    async fn remove_code(&mut self) -> Result<Done, String> {
        let o = self.pick_owner(0);
        let codes = self.m.owners[o].codes.clone();
        let code = match self.dice.pick(&codes) {
            Some(i) => codes[i].clone(),
            None => "ONCE".to_owned(),
        };
        self.what = format!("remove code {code} from the cart of owner #{o}");
        let owner = self.m.owners[o].owner.clone();
        let cart = self
            .h
            .commerce
            .remove_code(&owner, &code)
            .await
            .map_err(|e| format!("expected the code removed, got {e:?}"))?;
        self.m.owners[o].codes.retain(|c| *c != code);
        self.sync_cart(o, &cart)?;
        done("code: removed", Effect::Unchanged)
    }

    async fn clear_cart(&mut self) -> Result<Done, String> {
        let o = self.pick_owner(90);
        self.what = format!("clear the cart of owner #{o}");
        let owner = self.m.owners[o].owner.clone();
        let cart = self
            .h
            .commerce
            .clear_cart(&owner)
            .await
            .map_err(|e| format!("expected an empty cart, got {e:?}"))?;
        self.m.owners[o].lines.clear();
        self.m.owners[o].codes.clear();
        self.sync_cart(o, &cart)?;
        done("cart: cleared", Effect::Unchanged)
    }

    // ---- checkout --------------------------------------------------------

    async fn checkout(&mut self) -> Result<Done, String> {
        let o = self.pick_owner(90);
        if self.m.owners[o].lines.is_empty() && self.dice.chance(70) {
            return self.add().await;
        }
        let used: Vec<usize> = (0..self.m.checkout_keys.len())
            .filter(|&k| self.m.checkout_keys[k].owner == o)
            .collect();
        let roll = self.dice.below(100);
        let mine = format!("buyer{o}@example.com");
        let (k, email, mode) = match self.dice.pick(&used) {
            Some(i) if (65..85).contains(&roll) => {
                let k = used[i];
                (
                    k,
                    self.m.checkout_keys[k].email.clone(),
                    "same key, same body",
                )
            }
            Some(i) if (85..95).contains(&roll) => {
                let k = used[i];
                let other = if self.m.checkout_keys[k].email == mine {
                    "someone.else@example.com".to_owned()
                } else {
                    mine
                };
                (k, other, "same key, another body")
            }
            _ => {
                let key = self.key("checkout")?;
                let email = if roll >= 95 {
                    "no-at-sign".to_owned()
                } else {
                    mine
                };
                self.m.checkout_keys.push(CheckoutKey {
                    owner: o,
                    key,
                    email: email.clone(),
                    order: None,
                    refused: None,
                });
                (self.m.checkout_keys.len() - 1, email, "new key")
            }
        };
        self.what = format!(
            "checkout of owner #{o} ({} lines, codes {:?}), key {:?} ({mode}), email {email}",
            self.m.owners[o].lines.len(),
            self.m.owners[o].codes,
            self.m.checkout_keys[k].key
        );

        // What the contract says.
        enum Want {
            Replay(usize),
            Place,
            Refuse(CommerceError),
        }
        let record = &self.m.checkout_keys[k];
        let want = if !email.contains('@') {
            Want::Refuse(CommerceError::Validation {
                field: "email",
                message: String::new(),
            })
        } else {
            match (record.order, &record.refused) {
                (Some(order), _) if record.email == email => Want::Replay(order),
                (Some(_), _) => Want::Refuse(CommerceError::IdempotencyKeyReused),
                (None, Some(first)) if record.email == email => match final_copy(first) {
                    Some(first) => Want::Refuse(first),
                    None => Want::Refuse(CommerceError::IdempotencyKeyReused),
                },
                (None, Some(_)) => Want::Refuse(CommerceError::IdempotencyKeyReused),
                (None, None) => match self.m.place_verdict(o) {
                    Ok(()) => Want::Place,
                    Err(e) => Want::Refuse(e),
                },
            }
        };

        let request = CheckoutRequest {
            owner: self.m.owners[o].owner.clone(),
            customer: self.m.owners[o].customer,
            email: email.clone(),
            shipping_address: None,
            idempotency_key: record.key.clone(),
        };
        let actual = self.h.commerce.checkout(request).await;
        match (want, actual) {
            (Want::Replay(i), Ok(order)) if order.id == self.m.orders[i].id() => {
                done("checkout: replayed", Effect::Unchanged)
            }
            (Want::Place, Ok(order)) => {
                self.placed(o, k, email, order)?;
                done("checkout: placed", Effect::Changed)
            }
            (Want::Refuse(want), Err(got)) if same_refusal(&got, &want) => {
                if matches!(got, CommerceError::PriceChanged) {
                    // The buyer has now seen the prices; the next checkout takes them.
                    for l in &mut self.m.owners[o].lines {
                        l.price_when_added = self.m.variants[l.variant].price;
                    }
                }
                let record = &mut self.m.checkout_keys[k];
                if record.order.is_none() && record.refused.is_none() {
                    if let Some(kept) = final_copy(&got) {
                        // A final refusal stays with its key: the same request replays it.
                        record.refused = Some(kept);
                        record.email = email;
                    } else if !matches!(got, CommerceError::IdempotencyKeyReused) {
                        // Anything else frees the key for a corrected retry.
                        record.email = email;
                    }
                }
                done(refusal_label("checkout", &got), Effect::Unchanged)
            }
            (Want::Replay(i), got) => Err(format!(
                "expected a replay of order #{i}, got {:?}",
                got.map(|o| o.number)
            )),
            (Want::Place, got) => Err(format!(
                "expected an order, got {:?}",
                got.map(|o| o.number)
            )),
            (Want::Refuse(want), got) => Err(format!(
                "expected {want:?}, got {:?}",
                got.map(|o| o.number)
            )),
        }
    }

    /// Checks a new order against the cart it came from and records it.
    fn placed(
        &mut self,
        o: usize,
        k: usize,
        email: String,
        order: crate::order::Order,
    ) -> Result<(), String> {
        let now = self.h.clock_now();
        let owner = &self.m.owners[o];
        let lines_ok = order.lines.len() == owner.lines.len()
            && order.lines.iter().zip(&owner.lines).all(|(ol, cl)| {
                let v = &self.m.variants[cl.variant];
                ol.variant_id == v.id
                    && ol.quantity.get() == cl.qty
                    && ol.unit_price == usd(v.price)
            });
        let subtotal: i64 = owner
            .lines
            .iter()
            .map(|l| i64::from(l.qty) * self.m.variants[l.variant].price)
            .sum();
        let mut problems = Vec::new();
        if !lines_ok {
            problems.push("its lines are not the cart's lines at today's prices".to_owned());
        }
        if order.status != OrderStatus::PendingPayment
            || order.customer_id != owner.customer
            || order.email != email
            || order.subtotal != usd(subtotal)
            || order.created_at != now
            || order.reservation_expires_at != now + Duration::minutes(15)
            || !order.captured.is_zero()
            || !order.refunds.is_empty()
            || order.paid_by.is_some()
        {
            problems.push(format!(
                "status {} customer {:?} email {} subtotal {} (expected {}) created {} expires {}",
                order.status,
                order.customer_id,
                order.email,
                order.subtotal,
                usd(subtotal),
                order.created_at,
                order.reservation_expires_at
            ));
        }
        if !self.m.numbers.insert(order.number) {
            problems.push(format!("number {} given twice", order.number));
        }
        let mut promos = Vec::new();
        for held in &order.promotions {
            match self.m.promos.iter().position(|p| p.id == held.promotion_id) {
                Some(p) => {
                    if let Some(code) = self.m.promos[p].code
                        && !owner.codes.iter().any(|c| c == code)
                    {
                        problems.push(format!("holds {code} without the code in the cart"));
                    }
                    if !self.m.has_room(p, owner.customer) {
                        problems.push(format!("holds promotion #{p} beyond its limits (I3)"));
                    }
                    promos.push(p);
                }
                None => problems.push(format!("holds unknown promotion {}", held.promotion_id)),
            }
        }
        let mut units = Vec::new();
        for (variant, n) in order.units() {
            match self.m.variants.iter().position(|v| v.id == variant) {
                Some(v) => units.push((v, n)),
                None => problems.push(format!("sells unknown variant {variant}")),
            }
        }
        if !problems.is_empty() {
            return Err(format!(
                "order {} is wrong: {}",
                order.number,
                problems.join("; ")
            ));
        }
        for &(v, n) in &units {
            let before = self.m.variants[v].available();
            self.m.variants[v].reserved += n;
            let after = self.m.variants[v].available();
            self.m.low_stock(before, after);
        }
        self.m.announced.placed += 1;
        let i = self.m.orders.len();
        self.m.order_index.insert(order.id, i);
        self.m.orders.push(Order {
            placed: order,
            status: OrderStatus::PendingPayment,
            captured: 0,
            refunds: Vec::new(),
            paid_by: None,
            units,
            promos,
            tracking: None,
        });
        self.m.checkout_keys[k].order = Some(i);
        self.m.checkout_keys[k].email = email;
        let owner = &mut self.m.owners[o];
        owner.lines.clear();
        owner.codes.clear();
        Ok(())
    }

    // ---- payments --------------------------------------------------------

    async fn start_payment(&mut self) -> Result<Done, String> {
        let pending = self
            .m
            .orders
            .iter()
            .any(|o| o.status == OrderStatus::PendingPayment);
        if !pending && self.dice.chance(70) {
            return self.checkout().await;
        }
        let Some(i) = self.pick_order(&[OrderStatus::PendingPayment], 85) else {
            return self.checkout().await;
        };
        let keys: Vec<usize> = (0..self.m.payment_keys.len())
            .filter(|&k| self.m.payment_keys[k].order == i)
            .collect();
        let replay = match self.dice.pick(&keys) {
            Some(j) if self.dice.chance(25) => Some(keys[j]),
            _ => None,
        };
        let key = match replay {
            Some(k) => self.m.payment_keys[k].key.clone(),
            None => self.key("pay")?,
        };
        let order = &self.m.orders[i];
        self.what = format!(
            "start a payment of order #{i} ({}), key {key:?}{}",
            order.status,
            if replay.is_some() { " (replay)" } else { "" }
        );
        // A replay answers with the payment the key started, whatever the
        // order became since (the first response, replayed).
        let expected = match (replay, order.status) {
            (Some(k), _) => Ok(Some(self.m.payment_keys[k].payment)),
            (None, OrderStatus::PendingPayment) => Ok(None),
            (None, OrderStatus::Expired) => Err(CommerceError::OrderExpired),
            (None, from) => Err(CommerceError::InvalidTransition(InvalidTransition {
                from,
                event: OrderEvent::Pay,
            })),
        };
        let actual = self
            .h
            .commerce
            .start_payment(order.id(), "sandbox", &key)
            .await;
        match (expected, actual) {
            (Ok(Some(p)), Ok(payment)) if payment.id == self.m.payments[p].id => {
                done("start payment: replayed", Effect::Unchanged)
            }
            (Ok(None), Ok(payment)) => {
                let total = self.m.orders[i].total();
                if payment.amount != usd(total)
                    || payment.order_id != self.m.orders[i].id()
                    || payment.status != PaymentStatus::Pending
                    || payment.gateway != "sandbox"
                {
                    return Err(format!("unexpected new payment {payment:?}"));
                }
                let p = self.m.payments.len();
                self.m.payment_index.insert(payment.id, p);
                self.m.payments.push(Payment {
                    id: payment.id,
                    order: i,
                    reference: payment.reference,
                    amount: total,
                    status: PaymentStatus::Pending,
                    gateway: Gateway::Pending,
                });
                self.m.payment_keys.push(PaymentKey {
                    order: i,
                    key,
                    payment: p,
                });
                done("start payment: started", Effect::Changed)
            }
            (Err(want), Err(got)) if same_refusal(&got, &want) => {
                done(refusal_label("start payment", &got), Effect::Unchanged)
            }
            (want, got) => Err(format!("expected {want:?}, got {:?}", got.map(|p| p.id))),
        }
    }

    /// The buyer pays (or declines) on the sandbox page; the gateway's
    /// webhook is delivered now or later.
    async fn pay_on_sandbox(&mut self) -> Result<Done, String> {
        let open = self
            .m
            .payments
            .iter()
            .any(|p| p.gateway == Gateway::Pending);
        if !open && self.dice.chance(85) {
            return self.start_payment().await;
        }
        let Some(p) = self.pick_payment(|p| p.gateway == Gateway::Pending, 95) else {
            return self.start_payment().await;
        };
        let paid = self.dice.chance(85);
        let now_or_later = self.dice.chance(65);
        let payment = &self.m.payments[p];
        self.what = format!(
            "{} payment #{p} ({:?}, order #{} {}) on the sandbox page{}",
            if paid { "pay" } else { "decline" },
            payment.status,
            payment.order,
            self.m.orders[payment.order].status,
            if now_or_later {
                ", webhook delivered now"
            } else {
                ", webhook delayed"
            }
        );
        let now = self.h.clock_now();
        let settled = self.h.sandbox.complete(&payment.reference, paid, now);
        let hook = match (payment.gateway, settled) {
            (Gateway::Pending, Ok(hook)) => hook,
            (Gateway::Paid | Gateway::Declined, Err(_)) => {
                return done("sandbox: already settled", Effect::Unchanged);
            }
            (state, got) => {
                return Err(format!(
                    "sandbox in state {state:?} answered {:?}",
                    got.map(|_| "a webhook")
                ));
            }
        };
        let event_id = serde_json::from_slice::<serde_json::Value>(&hook.body)
            .ok()
            .and_then(|v| v.get("id").and_then(|id| id.as_str().map(str::to_owned)))
            .ok_or("the sandbox webhook has no event id")?;
        let amount = usd(payment.amount);
        self.m.payments[p].gateway = if paid {
            Gateway::Paid
        } else {
            Gateway::Declined
        };
        self.m.deliveries.push(Delivery {
            event_id,
            payment: p,
            amount,
            paid,
            hook,
            signed_at: now,
        });
        if now_or_later {
            let d = self.m.deliveries.len() - 1;
            let keep = self.dice.chance(30);
            self.deliver_at(d, false, keep).await
        } else {
            done("sandbox: settled, webhook delayed", Effect::Unchanged)
        }
    }

    /// The gateway delivers (or redelivers) a webhook it has sent before.
    async fn deliver_webhook(&mut self) -> Result<Done, String> {
        let Some(d) = self.dice.pick(&self.m.deliveries) else {
            return self.pay_on_sandbox().await;
        };
        let resign = self.dice.chance(75);
        let keep = self.dice.chance(40);
        self.deliver_at(d, resign, keep).await
    }

    /// Delivers webhook `d`, signed now (a gateway retry) or as first signed.
    async fn deliver_at(&mut self, d: usize, resign: bool, keep: bool) -> Result<Done, String> {
        let now = self.h.clock_now();
        let delivery = &self.m.deliveries[d];
        let p = delivery.payment;
        let reference = self.m.payments[p].reference.clone();
        let hook = if resign {
            self.h.sandbox.webhook(
                &delivery.event_id,
                &reference,
                delivery.amount,
                delivery.paid,
                now,
            )
        } else {
            delivery.hook.clone()
        };
        let signed_at = if resign { now } else { delivery.signed_at };
        let age = (now - signed_at).num_seconds();
        let what = format!(
            "deliver {} {} webhook {} of {} for payment #{p} ({:?}, order #{} {}), signed {age}s ago",
            if delivery.paid { "success" } else { "decline" },
            if resign { "re-signed" } else { "original" },
            delivery.event_id,
            delivery.amount,
            self.m.payments[p].status,
            self.m.payments[p].order,
            self.m.orders[self.m.payments[p].order].status,
        );
        // After the buyer paid in this same step, say both.
        self.what = if self.what.is_empty() {
            what
        } else {
            format!("{}; {what}", self.what)
        };
        let event_id = delivery.event_id.clone();
        let (amount, paid) = (delivery.amount, delivery.paid);
        let actual = self
            .h
            .commerce
            .handle_webhook("sandbox", &hook.headers, &hook.body)
            .await;
        if age.abs() > crate::payment::sandbox::TOLERANCE_SECS {
            let want = CommerceError::Webhook(crate::payment::WebhookError::SignatureInvalid(
                "timestamp outside the tolerance",
            ));
            return match actual {
                Err(got) if same_refusal(&got, &want) => {
                    done("webhook: stale signature", Effect::Unchanged)
                }
                got => Err(format!("expected {want:?}, got {}", brief(&got))),
            };
        }
        let plan = self.m.plan(Some(&event_id), Some(p), amount, paid);
        let result = self.settle(Some(event_id), Some(p), plan, actual);
        if !keep {
            self.m.deliveries.swap_remove(d);
        }
        result
    }

    /// The gateway reports a capture of another amount (or currency) than the order's.
    async fn wrong_amount(&mut self) -> Result<Done, String> {
        let Some(p) = self.pick_payment(
            |p| matches!(p.status, PaymentStatus::Pending | PaymentStatus::Failed),
            70,
        ) else {
            return self.advance();
        };
        let total = self.m.payments[p].amount;
        let amount = match self.dice.below(3) {
            0 => usd(total + i64::from(self.dice.range(1..=500))),
            1 if total > 1 => usd(total - 1),
            _ => Money::from_minor(total, Currency::EUR),
        };
        let event_id = format!("evt_sim_{}", self.next());
        let now = self.h.clock_now();
        let reference = self.m.payments[p].reference.clone();
        let hook = self
            .h
            .sandbox
            .webhook(&event_id, &reference, amount, true, now);
        self.what = format!(
            "webhook {event_id}: payment #{p} ({:?}, order #{} {}) captured {amount} instead of {}",
            self.m.payments[p].status,
            self.m.payments[p].order,
            self.m.orders[self.m.payments[p].order].status,
            usd(total)
        );
        let plan = self.m.plan(Some(&event_id), Some(p), amount, true);
        let actual = self
            .h
            .commerce
            .handle_webhook("sandbox", &hook.headers, &hook.body)
            .await;
        if self.dice.chance(30) {
            self.m.deliveries.push(Delivery {
                event_id: event_id.clone(),
                payment: p,
                amount,
                paid: true,
                hook,
                signed_at: now,
            });
        }
        self.settle(Some(event_id), Some(p), plan, actual)
    }

    /// The buyer comes back from the sandbox page; the gateway is asked.
    async fn browser_return(&mut self) -> Result<Done, String> {
        let Some(p) = self.pick_payment(|p| p.gateway != Gateway::Pending, 70) else {
            return self.advance();
        };
        let payment = &self.m.payments[p];
        self.what = format!(
            "browser return for payment #{p} ({:?}, sandbox {:?}, order #{} {})",
            payment.status, payment.gateway, payment.order, self.m.orders[payment.order].status
        );
        let mut params = BTreeMap::new();
        params.insert("reference".to_owned(), payment.reference.clone());
        let amount = usd(payment.amount);
        let gateway = payment.gateway;
        let actual = self.h.commerce.handle_return("sandbox", &params).await;
        match (gateway, actual) {
            (Gateway::Pending, Ok(None)) => done("return: not paid yet", Effect::Unchanged),
            (Gateway::Paid | Gateway::Declined, Ok(Some(outcome))) => {
                let plan = self.m.plan(None, Some(p), amount, gateway == Gateway::Paid);
                self.settle(None, Some(p), plan, Ok(outcome))
            }
            (state, got) => Err(format!(
                "sandbox {state:?}, return answered {:?}",
                got.map(|o| o.map(|o| brief(&Ok(o))))
            )),
        }
    }

    /// Forged and unknown webhooks change nothing.
    async fn bad_webhook(&mut self) -> Result<Done, String> {
        let now = self.h.clock_now();
        let event_id = format!("evt_sim_{}", self.next());
        if self.dice.chance(50) {
            let reference = match self.dice.pick(&self.m.payments) {
                Some(p) => self.m.payments[p].reference.clone(),
                None => "sbx_none".to_owned(),
            };
            self.what = format!("forged webhook {event_id} for {reference}");
            let forger = SandboxGateway::new("whsec_not_the_secret", "http://forger.test");
            let hook = forger.webhook(&event_id, &reference, usd(100), true, now);
            let want = CommerceError::Webhook(crate::payment::WebhookError::SignatureInvalid(
                "no matching v1 signature",
            ));
            match self
                .h
                .commerce
                .handle_webhook("sandbox", &hook.headers, &hook.body)
                .await
            {
                Err(got) if same_refusal(&got, &want) => {
                    done("webhook: forged signature", Effect::Unchanged)
                }
                got => Err(format!("expected {want:?}, got {}", brief(&got))),
            }
        } else {
            let reference = format!("sbx_unknown_{}", self.next());
            self.what = format!("signed webhook {event_id} for unknown {reference}");
            let hook = self
                .h
                .sandbox
                .webhook(&event_id, &reference, usd(100), true, now);
            let plan = self.m.plan(Some(&event_id), None, usd(100), true);
            let actual = self
                .h
                .commerce
                .handle_webhook("sandbox", &hook.headers, &hook.body)
                .await;
            self.settle(Some(event_id), None, plan, actual)
        }
    }

    /// Checks what applying a payment did against the plan and moves the model.
    fn settle(
        &mut self,
        event_id: Option<String>,
        payment: Option<usize>,
        plan: Plan,
        actual: Result<PaymentOutcome, CommerceError>,
    ) -> Result<Done, String> {
        let outcome = match (&plan, actual, payment) {
            (Plan::Unknown, Err(CommerceError::UnknownPaymentReference), _) => {
                return done("webhook: unknown reference", Effect::Unchanged);
            }
            (Plan::AlreadyApplied, Ok(PaymentOutcome::AlreadyApplied), _) => {
                ("payment: already applied", Effect::Unchanged)
            }
            (Plan::Declined, Ok(PaymentOutcome::Declined), Some(p)) => {
                self.m.payments[p].status = PaymentStatus::Failed;
                ("payment: declined", Effect::Changed)
            }
            (
                Plan::Mismatch { expected, received },
                Ok(PaymentOutcome::AmountMismatch {
                    expected: e,
                    received: r,
                }),
                Some(p),
            ) if *expected == e && *received == r => {
                self.m.payments[p].status = PaymentStatus::Mismatch;
                ("payment: amount mismatch", Effect::Changed)
            }
            (Plan::RefundRequired, Ok(PaymentOutcome::RefundRequired), Some(p)) => {
                self.m.payments[p].status = PaymentStatus::RefundRequired;
                self.m.announced.refund_required += 1;
                ("payment: refund required", Effect::Changed)
            }
            (Plan::Pay { late }, Ok(PaymentOutcome::Paid(order)), Some(p)) => {
                let i = self.m.payments[p].order;
                let pay_id = self.m.payments[p].id;
                if order.id != self.m.orders[i].id()
                    || order.status != OrderStatus::Paid
                    || order.paid_by != Some(pay_id)
                    || order.captured != self.m.orders[i].placed.total
                {
                    return Err(format!(
                        "paid order {} is {} paid by {:?} captured {}",
                        order.number, order.status, order.paid_by, order.captured
                    ));
                }
                let late = *late;
                self.pay(p, late);
                (
                    if late {
                        "payment: paid late, sold again"
                    } else {
                        "payment: paid"
                    },
                    Effect::Changed,
                )
            }
            (plan, got, _) => return Err(format!("expected {plan:?}, got {}", brief(&got))),
        };
        if let Some(id) = event_id {
            self.m.inbox.insert(id);
        }
        done(outcome.0, outcome.1)
    }

    /// A payment pays its order: stock sold, usage committed, others voided.
    fn pay(&mut self, p: usize, late: bool) {
        let i = self.m.payments[p].order;
        let units = self.m.orders[i].units.clone();
        for (v, n) in units {
            let variant = &mut self.m.variants[v];
            let before = variant.available();
            variant.on_hand -= n;
            if !late {
                variant.reserved -= n;
            }
            let after = self.m.variants[v].available();
            self.m.low_stock(before, after);
        }
        let order = &mut self.m.orders[i];
        order.status = OrderStatus::Paid;
        order.paid_by = Some(p);
        order.captured = order.total();
        self.m.payments[p].status = PaymentStatus::Succeeded;
        for other in self.m.payments.iter_mut() {
            if other.order == i && other.status == PaymentStatus::Pending {
                other.status = PaymentStatus::Voided;
            }
        }
        self.m.announced.paid += 1;
    }

    // ---- orders ----------------------------------------------------------

    async fn cancel(&mut self) -> Result<Done, String> {
        let Some(i) = self.pick_order(&[OrderStatus::PendingPayment, OrderStatus::Paid], 85) else {
            return self.advance();
        };
        let order = &self.m.orders[i];
        self.what = format!("cancel order #{i} ({})", order.status);
        let from = order.status;
        let actual = self.h.commerce.cancel_order(order.id(), "simulation").await;
        match (from, actual) {
            (OrderStatus::PendingPayment, Ok(o)) if o.status == OrderStatus::Cancelled => {
                let units = self.m.orders[i].units.clone();
                for (v, n) in units {
                    self.m.variants[v].reserved -= n;
                }
                for p in self.m.payments.iter_mut() {
                    if p.order == i && p.status == PaymentStatus::Pending {
                        p.status = PaymentStatus::Voided;
                    }
                }
                self.m.orders[i].status = OrderStatus::Cancelled;
                self.m.announced.cancelled += 1;
                done("cancel: pending released", Effect::Changed)
            }
            (OrderStatus::Paid, Ok(o)) if o.status == OrderStatus::Cancelled => {
                let units = self.m.orders[i].units.clone();
                for (v, n) in units {
                    self.m.variants[v].on_hand += n;
                }
                let left = self.m.orders[i].refundable();
                if left > 0 {
                    self.m.orders[i].refunds.push(left);
                    self.m.announced.cancelled_with_refund += 1;
                }
                self.m.orders[i].status = OrderStatus::Cancelled;
                self.m.announced.cancelled += 1;
                done("cancel: paid restocked and refunded", Effect::Changed)
            }
            (from, Err(got))
                if from != OrderStatus::PendingPayment
                    && from != OrderStatus::Paid
                    && same_refusal(
                        &got,
                        &CommerceError::InvalidTransition(InvalidTransition {
                            from,
                            event: OrderEvent::Cancel,
                        }),
                    ) =>
            {
                done(refusal_label("cancel", &got), Effect::Unchanged)
            }
            (from, got) => Err(format!(
                "cancelling a {from} order answered {:?}",
                got.map(|o| o.status)
            )),
        }
    }

    async fn ship(&mut self) -> Result<Done, String> {
        let Some(i) = self.pick_order(&[OrderStatus::Paid], 90) else {
            return self.advance();
        };
        let tracking = if self.dice.chance(50) {
            Some(format!("TRK-{}", self.next()))
        } else {
            None
        };
        let order = &self.m.orders[i];
        let from = order.status;
        self.what = format!("ship order #{i} ({from}), tracking {tracking:?}");
        let actual = self
            .h
            .commerce
            .ship_order(order.id(), tracking.clone())
            .await;
        match (from, actual) {
            (OrderStatus::Paid, Ok(o)) if o.status == OrderStatus::Shipped => {
                self.m.orders[i].status = OrderStatus::Shipped;
                if tracking.is_some() {
                    self.m.orders[i].tracking = tracking;
                }
                self.m.announced.shipped += 1;
                done("ship: shipped", Effect::Changed)
            }
            (from, Err(got))
                if from != OrderStatus::Paid
                    && same_refusal(
                        &got,
                        &CommerceError::InvalidTransition(InvalidTransition {
                            from,
                            event: OrderEvent::Ship,
                        }),
                    ) =>
            {
                done(refusal_label("ship", &got), Effect::Unchanged)
            }
            (from, got) => Err(format!(
                "shipping a {from} order answered {:?}",
                got.map(|o| o.status)
            )),
        }
    }

    async fn deliver(&mut self) -> Result<Done, String> {
        let Some(i) = self.pick_order(&[OrderStatus::Shipped], 90) else {
            return self.advance();
        };
        let order = &self.m.orders[i];
        let from = order.status;
        self.what = format!("deliver order #{i} ({from})");
        let actual = self.h.commerce.deliver_order(order.id()).await;
        match (from, actual) {
            (OrderStatus::Shipped, Ok(o)) if o.status == OrderStatus::Delivered => {
                self.m.orders[i].status = OrderStatus::Delivered;
                self.m.announced.delivered += 1;
                done("deliver: delivered", Effect::Changed)
            }
            (from, Err(got))
                if from != OrderStatus::Shipped
                    && same_refusal(
                        &got,
                        &CommerceError::InvalidTransition(InvalidTransition {
                            from,
                            event: OrderEvent::Deliver,
                        }),
                    ) =>
            {
                done(refusal_label("deliver", &got), Effect::Unchanged)
            }
            (from, got) => Err(format!(
                "delivering a {from} order answered {:?}",
                got.map(|o| o.status)
            )),
        }
    }

    async fn refund(&mut self) -> Result<Done, String> {
        let Some(i) = self.pick_order(
            &[
                OrderStatus::Paid,
                OrderStatus::Shipped,
                OrderStatus::Delivered,
            ],
            90,
        ) else {
            return self.advance();
        };
        let left = self.m.orders[i].refundable();
        let roll = self.dice.below(100);
        let amount = if roll < 25 {
            None
        } else if roll < 60 {
            Some(usd(if left > 1 {
                self.dice.minor(1..=left - 1)
            } else {
                100
            }))
        } else if roll < 70 {
            Some(usd(left.max(1)))
        } else if roll < 92 {
            Some(usd(left + self.dice.minor(1..=500)))
        } else {
            Some(match self.dice.below(3) {
                0 => usd(0),
                1 => usd(-100),
                _ => Money::from_minor(100, Currency::EUR),
            })
        };
        let order = &self.m.orders[i];
        let from = order.status;
        self.what = format!(
            "refund {} of order #{i} ({from}, {} left of {} captured)",
            amount.map_or("everything left".to_owned(), |a| a.to_string()),
            usd(left),
            usd(order.captured)
        );
        let asked = amount.unwrap_or(usd(left));
        let expected = if amount.is_none() && left <= 0 {
            Err(CommerceError::InvalidTransition(InvalidTransition {
                from,
                event: OrderEvent::RefundFull,
            }))
        } else if !asked.is_positive() || asked.currency() != USD {
            Err(CommerceError::Validation {
                field: "amount",
                message: String::new(),
            })
        } else {
            let event = if asked.minor() == left {
                OrderEvent::RefundFull
            } else {
                OrderEvent::RefundPartial
            };
            match from.transition(event) {
                Err(e) => Err(CommerceError::InvalidTransition(e)),
                Ok(_) if asked.minor() > left => Err(CommerceError::RefundExceedsCaptured {
                    requested: asked,
                    refundable: usd(left),
                }),
                Ok(next) => Ok(next),
            }
        };
        let actual = self
            .h
            .commerce
            .refund_order(order.id(), amount, "simulation")
            .await;
        match (expected, actual) {
            (Ok(next), Ok(o)) if o.status == next => {
                self.m.orders[i].refunds.push(asked.minor());
                self.m.orders[i].status = next;
                self.m.announced.refunded += 1;
                done(
                    if next == OrderStatus::Refunded {
                        "refund: in full"
                    } else {
                        "refund: partial"
                    },
                    Effect::Changed,
                )
            }
            (Err(want), Err(got)) if same_refusal(&got, &want) => {
                done(refusal_label("refund", &got), Effect::Unchanged)
            }
            (want, got) => Err(format!(
                "expected {want:?}, got {:?}",
                got.map(|o| o.status)
            )),
        }
    }

    // ---- time, stock and catalog -------------------------------------------

    /// Time passes: a little, or past the reservation time.
    fn advance(&mut self) -> Result<Done, String> {
        let secs = if self.dice.chance(70) {
            self.dice.range(10..=300)
        } else {
            self.dice.range(600..=1200)
        };
        self.what = format!("advance the clock by {secs}s");
        self.h.clock.advance(Duration::seconds(i64::from(secs)));
        done("clock: advanced", Effect::Unchanged)
    }

    /// Sweeps expiries, sometimes at the very instant the next reservation
    /// ends (due "at or before now"). The contract says which orders are
    /// due, and at most how many go, not which of them a limited sweep
    /// takes; the model follows the store's choice.
    async fn expire(&mut self) -> Result<Done, String> {
        let limit = if self.dice.chance(50) {
            100
        } else {
            self.dice.range(1..=3)
        };
        let mut now = self.h.clock_now();
        let next = self
            .m
            .orders
            .iter()
            .filter(|o| o.status == OrderStatus::PendingPayment)
            .map(|o| o.placed.reservation_expires_at)
            .filter(|&at| at > now)
            .min();
        let on_the_dot = match next {
            Some(at) if self.dice.chance(30) => {
                self.h.clock.set(at);
                now = at;
                true
            }
            _ => false,
        };
        let due: Vec<usize> = (0..self.m.orders.len())
            .filter(|&i| {
                let o = &self.m.orders[i];
                o.status == OrderStatus::PendingPayment && o.placed.reservation_expires_at <= now
            })
            .collect();
        let want = due.len().min(limit as usize);
        self.what = format!(
            "expire due orders{}, at most {limit} ({} due)",
            if on_the_dot {
                " at the instant the next reservation ends"
            } else {
                ""
            },
            due.len()
        );
        let actual = self
            .h
            .commerce
            .expire_due(limit)
            .await
            .map_err(|e| format!("expire_due failed: {e:?}"))?;
        let mut taken: Vec<usize> = Vec::with_capacity(actual.len());
        for id in &actual {
            match self.m.order_index.get(id) {
                Some(&i) if due.contains(&i) && !taken.contains(&i) => taken.push(i),
                _ => return Err(format!("expired {id}, which was not due (or twice)")),
            }
        }
        if taken.len() != want {
            return Err(format!(
                "expired {} orders, expected {want} of the {} due",
                taken.len(),
                due.len()
            ));
        }
        taken.sort_unstable();
        for i in taken {
            let units = self.m.orders[i].units.clone();
            for (v, n) in units {
                self.m.variants[v].reserved -= n;
            }
            self.m.orders[i].status = OrderStatus::Expired;
            self.m.announced.expired += 1;
        }
        if want == 0 {
            done("expire: nothing due", Effect::Unchanged)
        } else {
            done("expire: expired", Effect::Changed)
        }
    }

    async fn restock(&mut self) -> Result<Done, String> {
        let v = self.dice.below(self.m.variants.len());
        let reserved = self.m.variants[v].reserved;
        let on_hand = if reserved > 0 && self.dice.chance(20) {
            reserved - 1
        } else {
            self.dice.range(0..=15)
        };
        self.what = format!(
            "set variant #{v} on hand to {on_hand} (was {}, {reserved} reserved)",
            self.m.variants[v].on_hand
        );
        let actual = self
            .h
            .commerce
            .set_stock(self.m.variants[v].id, on_hand)
            .await;
        match actual {
            Ok(stock) if on_hand >= reserved => {
                if stock != (Stock { on_hand, reserved }) {
                    return Err(format!("set_stock answered {stock:?}"));
                }
                let before = self.m.variants[v].available();
                self.m.variants[v].on_hand = on_hand;
                self.m.low_stock(before, self.m.variants[v].available());
                done("restock: set", Effect::Changed)
            }
            Err(got)
                if on_hand < reserved
                    && same_refusal(
                        &got,
                        &CommerceError::Validation {
                            field: "on_hand",
                            message: String::new(),
                        },
                    ) =>
            {
                done(refusal_label("restock", &got), Effect::Unchanged)
            }
            got => Err(format!("set_stock answered {got:?}")),
        }
    }

    /// A seller changes a price (an admin write: there is no price API yet).
    /// Carts see it at checkout; orders never do (I6).
    async fn reprice(&mut self) -> Result<Done, String> {
        let v = self.dice.below(self.m.variants.len());
        let mut price = i64::from(self.dice.range(600..=4500));
        if price == self.m.variants[v].price {
            price += 1;
        }
        self.what = format!(
            "reprice variant #{v} from {} to {}",
            usd(self.m.variants[v].price),
            usd(price)
        );
        let product_id = self.m.products[self.m.variants[v].product].id;
        let (product, variants) = self
            .h
            .store()
            .product(product_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the product is gone")?;
        let mut variant = variants
            .into_iter()
            .find(|x| x.id == self.m.variants[v].id)
            .ok_or("the variant is gone")?;
        variant.price = VariantPrice::fixed(usd(price)).map_err(|e| e.to_string())?;
        self.h
            .store()
            .put_product(product, vec![variant])
            .await
            .map_err(|e| e.to_string())?;
        self.m.variants[v].price = price;
        done("catalog: repriced", Effect::Unchanged)
    }

    /// The seller withdraws a product, or puts it back (an admin write).
    async fn withdraw(&mut self) -> Result<Done, String> {
        let withdrawn: Vec<usize> = (0..self.m.products.len())
            .filter(|&p| self.m.products[p].withdrawn)
            .collect();
        let p = match self.dice.pick(&withdrawn) {
            Some(i) => withdrawn[i],
            None if self.dice.chance(50) => self.dice.below(self.m.products.len()),
            None => return self.reprice().await,
        };
        let product_id = self.m.products[p].id;
        if !self.m.products[p].withdrawn {
            self.what = format!("withdraw product #{p}");
            let actor = Actor {
                id: self.seller,
                admin: false,
            };
            self.h
                .commerce
                .delete_product(actor, product_id)
                .await
                .map_err(|e| format!("expected the product withdrawn, got {e:?}"))?;
            self.m.products[p].withdrawn = true;
            done("catalog: withdrawn", Effect::Unchanged)
        } else {
            self.what = format!("put product #{p} back on sale");
            let (mut product, _) = self
                .h
                .store()
                .product(product_id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the product is gone")?;
            product.deleted_at = None;
            self.h
                .store()
                .put_product(product, Vec::new())
                .await
                .map_err(|e| e.to_string())?;
            self.m.products[p].withdrawn = false;
            done("catalog: back on sale", Effect::Unchanged)
        }
    }
}

/// What must stay the same when an operation changes nothing.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Digest {
    stock: Vec<(crate::ids::VariantId, u32, u32)>,
    reservations: Vec<(crate::ids::OrderId, crate::ids::VariantId, u32)>,
    orders: Vec<(
        crate::ids::OrderId,
        OrderStatus,
        chrono::DateTime<chrono::Utc>,
    )>,
    payments: Vec<(
        crate::ids::PaymentId,
        PaymentStatus,
        usize,
        chrono::DateTime<chrono::Utc>,
    )>,
    usage: Vec<(PromotionId, crate::ids::OrderId, UsageState)>,
    events: usize,
}

impl Digest {
    pub(super) fn of(a: &AuditSnapshot) -> Self {
        let mut stock: Vec<_> = a
            .stock
            .iter()
            .map(|(v, s)| (*v, s.on_hand, s.reserved))
            .collect();
        stock.sort_unstable();
        let mut reservations: Vec<_> = a
            .reservations
            .iter()
            .map(|r| (r.order_id, r.variant_id, r.quantity))
            .collect();
        reservations.sort_unstable();
        let mut orders: Vec<_> = a
            .orders
            .iter()
            .map(|o| (o.id, o.status, o.updated_at))
            .collect();
        orders.sort_unstable();
        let mut payments: Vec<_> = a
            .payments
            .iter()
            .map(|p| (p.id, p.status, p.attempts.len(), p.updated_at))
            .collect();
        payments.sort_unstable_by_key(|p| p.0);
        let mut usage: Vec<_> = a
            .usage
            .iter()
            .map(|u| (u.promotion_id, u.order_id, u.state))
            .collect();
        usage.sort_unstable_by_key(|u| (u.0, u.1));
        Digest {
            stock,
            reservations,
            orders,
            payments,
            usage,
            events: a.events.len(),
        }
    }

    /// Which parts differ.
    pub(super) fn differences(&self, other: &Digest) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.stock != other.stock {
            out.push("stock");
        }
        if self.reservations != other.reservations {
            out.push("reservations");
        }
        if self.orders != other.orders {
            out.push("orders");
        }
        if self.payments != other.payments {
            out.push("payments");
        }
        if self.usage != other.usage {
            out.push("promotion usage");
        }
        if self.events != other.events {
            out.push("outbox");
        }
        out
    }
}
