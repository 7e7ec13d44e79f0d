//! The conformance suite: one set of tests, run by every storage backend.
//!
//! Each test is a plain async function over a [`Harness`] (a [`Commerce`]
//! over the backend, a [`FixedClock`] and the sandbox gateway). The race tests
//! also take a [`Spawn`] so that they run on many threads (and, on SQL
//! backends, many connections) without this crate depending on a runtime.
//! After every test the invariant checker reads the whole store.
//!
//! A backend runs the whole suite with one macro line in its tests:
//!
//! ```ignore
//! commerce_core::conformance_suite!(async { Some(Arc::new(InMemoryStore::new())) });
//! ```
//!
//! The expansion uses `tokio` (a dev-dependency of the calling crate).

mod contract;
pub mod invariants;
mod races;
mod simulation;
mod storefront;

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

pub use contract::*;
pub use races::*;
pub use simulation::{SimulationFailure, SimulationPlan, SimulationReport, simulate};
pub use storefront::*;

use crate::cart::{CartOwner, CartToken};
use crate::catalog::{Sku, VariantPrice};
use crate::clock::FixedClock;
use crate::idempotency::IdempotencyKey;
use crate::ids::{CategoryId, CustomerId, OrderId, ProductId, PromotionId, StoreId, VariantId};
use crate::inventory::Stock;
use crate::money::{Currency, Money};
use crate::order::Order;
use crate::payment::{BoxFuture, PaymentGateway, SandboxGateway};
use crate::promotion::{Promotion, PromotionSpec};
use crate::seller::{Category, Product, SellerStore, Variant};
use crate::service::{CheckoutRequest, Commerce, Config};
use crate::storage::{PaymentOutcome, Store};

/// Runs futures on the caller's runtime (tokio's `spawn` in the macro).
pub trait Spawn: Send + Sync {
    /// Starts `fut` on another task; the returned future yields its output.
    fn spawn<F>(&self, fut: F) -> BoxFuture<'static, F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
}

/// The secret the harness's sandbox signs with.
pub const SANDBOX_SECRET: &str = "whsec_conformance";

/// The instant every test starts at.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A [`Commerce`] over a backend, with a clock to move and the sandbox; and
/// optionally more servers over the same database (see [`Harness::with_server`]).
#[derive(Debug)]
pub struct Harness<S> {
    /// The engine.
    pub commerce: Commerce<S>,
    /// Its clock.
    pub clock: FixedClock,
    /// Its sandbox gateway.
    pub sandbox: Arc<SandboxGateway>,
    others: Vec<Commerce<S>>,
}

impl<S: Store> Harness<S> {
    /// A harness over `store` at [`start_time`], USD, 15-minute reservations,
    /// low-stock threshold 3, no tax, no shipping.
    pub fn new(store: Arc<S>) -> Self {
        Self::with_config(store, Config::default())
    }

    /// A harness over `store` at [`start_time`] with the given settings.
    pub fn with_config(store: Arc<S>, config: Config) -> Self {
        let clock = FixedClock::new(start_time());
        let sandbox = Arc::new(SandboxGateway::new(SANDBOX_SECRET, "http://shop.test"));
        let commerce = Self::engine(store, &clock, &sandbox, config);
        Harness {
            commerce,
            clock,
            sandbox,
            others: Vec::new(),
        }
    }

    fn engine(
        store: Arc<S>,
        clock: &FixedClock,
        sandbox: &Arc<SandboxGateway>,
        config: Config,
    ) -> Commerce<S> {
        let gateway: Arc<dyn PaymentGateway> = sandbox.clone();
        Commerce::new(store, Arc::new(clock.clone()), config).with_gateway(gateway)
    }

    /// Adds a server: another engine over `store`, a second handle (its own
    /// connection pool) on the same database, sharing this clock and the
    /// payment gateway, as two servers behind a load balancer would. The
    /// race tests spread their tasks over every server.
    #[must_use]
    pub fn with_server(mut self, store: Arc<S>) -> Self {
        let config = self.commerce.config().clone();
        let other = Self::engine(store, &self.clock, &self.sandbox, config);
        self.others.push(other);
        self
    }

    /// The `i`-th server, round robin; server 0 is [`Harness::commerce`].
    pub fn server(&self, i: usize) -> &Commerce<S> {
        match i % (self.others.len() + 1) {
            0 => &self.commerce,
            n => &self.others[n - 1],
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        self.commerce.store()
    }

    /// A seller with a store; returns (owner, store).
    pub async fn seller(&self, slug: &str) -> (CustomerId, StoreId) {
        let owner = CustomerId::new();
        let store = SellerStore {
            id: StoreId::new(),
            owner_id: owner,
            name: slug.to_owned(),
            slug: slug.to_owned(),
            created_at: self.clock_now(),
        };
        let id = store.id;
        expect(
            self.store().put_seller_store(store).await,
            "put_seller_store",
        );
        (owner, id)
    }

    /// A category under `parent`.
    pub async fn category(&self, slug: &str, parent: Option<CategoryId>) -> CategoryId {
        let c = Category {
            id: CategoryId::new(),
            parent_id: parent,
            name: slug.to_owned(),
            slug: slug.to_owned(),
        };
        let id = c.id;
        expect(self.store().put_category(c).await, "put_category");
        id
    }

    /// A product with one variant priced `price` (USD) with `stock` on hand.
    pub async fn product(
        &self,
        store: StoreId,
        category: Option<CategoryId>,
        name: &str,
        price: &str,
        stock: u32,
    ) -> VariantId {
        let product = Product {
            id: ProductId::new(),
            store_id: store,
            category_id: category,
            name: name.to_owned(),
            description: String::new(),
            images: Vec::new(),
            created_at: self.clock_now(),
            deleted_at: None,
        };
        let sku = format!("SKU-{}", uuid::Uuid::new_v4().simple());
        let variant = Variant {
            id: VariantId::new(),
            product_id: product.id,
            sku: expect(Sku::parse(&sku), "sku"),
            attributes: Default::default(),
            price: expect(VariantPrice::fixed(usd(price)), "price"),
            stock: Stock {
                on_hand: stock,
                reserved: 0,
            },
        };
        let id = variant.id;
        expect(
            self.store().put_product(product, vec![variant]).await,
            "put_product",
        );
        id
    }

    /// Withdraws (soft-deletes) the product of `variant`, one made by
    /// [`Self::product`], with its only variant as it is stored now.
    pub async fn withdraw(&self, variant: VariantId) {
        let mut record = expect(self.store().variants(&[variant]).await, "variants")
            .pop()
            .unwrap_or_else(|| panic!("no variant {variant:?} to withdraw"));
        record.product.deleted_at = Some(self.clock_now());
        expect(
            self.store()
                .put_product(record.product, vec![record.variant])
                .await,
            "withdraw",
        );
    }

    /// A promotion from the API's JSON shape.
    pub async fn promotion(&self, json: &str) -> PromotionId {
        let spec: PromotionSpec = expect(serde_json::from_str(json), "promotion JSON");
        let promo = expect(Promotion::new(PromotionId::new(), spec), "promotion");
        let id = promo.id();
        expect(
            expect(self.store().put_promotion(promo).await, "put_promotion"),
            "usage limit",
        );
        id
    }

    /// The current time on the harness clock.
    pub fn clock_now(&self) -> DateTime<Utc> {
        crate::clock::Clock::now(&self.clock)
    }

    /// A variant's stock.
    pub async fn stock(&self, variant: VariantId) -> Stock {
        expect(self.store().stock(variant).await, "stock").unwrap_or_default()
    }

    /// A checkout request for an owner with a fresh key.
    pub fn checkout_request(owner: &CartOwner, customer: Option<CustomerId>) -> CheckoutRequest {
        CheckoutRequest {
            owner: owner.clone(),
            customer,
            email: "buyer@example.com".to_owned(),
            shipping_address: None,
            idempotency_key: new_key(),
        }
    }

    /// Adds `qty` of `variant` to a new guest's cart and checks out.
    pub async fn guest_buys(
        &self,
        variant: VariantId,
        qty: i64,
    ) -> Result<Order, crate::service::CommerceError> {
        let owner = guest();
        self.commerce
            .add_to_cart(&owner, variant, expect(crate::Quantity::new(qty), "qty"))
            .await?;
        self.commerce
            .checkout(Self::checkout_request(&owner, None))
            .await
    }

    /// Starts a sandbox payment, pays it on the sandbox page and delivers the
    /// signed webhook; returns what the webhook did.
    pub async fn pay(&self, order: OrderId) -> PaymentOutcome {
        let payment = expect(
            self.commerce
                .start_payment(order, "sandbox", &new_key())
                .await,
            "start_payment",
        );
        let hook = expect(
            self.sandbox
                .complete(&payment.reference, true, self.clock_now()),
            "sandbox complete",
        );
        expect(
            self.commerce
                .handle_webhook("sandbox", &hook.headers, &hook.body)
                .await,
            "webhook",
        )
    }

    /// Panics with a report unless I1–I7 hold.
    pub async fn assert_invariants(&self) {
        invariants::assert_invariants(self.store()).await;
    }
}

/// A new guest cart owner.
pub fn guest() -> CartOwner {
    CartOwner::Guest(CartToken::generate())
}

/// A fresh idempotency key.
pub fn new_key() -> IdempotencyKey {
    expect(
        IdempotencyKey::parse(&uuid::Uuid::new_v4().to_string()),
        "key",
    )
}

/// USD from a decimal string.
pub fn usd(amount: &str) -> Money {
    expect(Money::parse(amount, Currency::USD), "amount")
}

/// Unwraps in test code, naming what failed.
#[track_caller]
pub fn expect<T, E: std::fmt::Debug>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e:?}"),
    }
}

/// Generates one `#[tokio::test]` per conformance test for a backend.
/// `$make` is an expression (evaluated once per test) that yields a future of
/// `Option<Arc<Store>>`: each test gets a fresh store, or is skipped when
/// the backend is not available here (the factory says why; with `CI=true`
/// it should panic instead).
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@contract $make;
            stock_changes_respect_reservations_and_alert_once,
            skus_are_unique,
            cart_merges_lines_and_caps_quantities,
            cart_quantity_zero_removes_the_line,
            guest_cart_merges_into_account_on_login,
            guest_carts_are_isolated,
            cart_with_variants_is_the_cart_and_its_lines_records,
            begin_with_cart_claims_then_reads,
            begin_with_order_claims_then_reads,
            a_deleted_promotion_stays_deleted,
            price_change_is_reported_then_accepted,
            withdrawn_product_blocks_checkout,
            codes_are_refused_with_the_reason,
            checkout_reserves_snapshots_and_empties_the_cart,
            empty_cart_cannot_check_out,
            shortage_names_every_short_line,
            checkout_is_idempotent,
            payment_sells_reserved_stock_once,
            webhook_replay_changes_nothing,
            bad_webhooks_change_nothing,
            amount_mismatch_leaves_the_order_unpaid,
            browser_return_is_verified_with_the_gateway,
            declined_payment_leaves_the_order_payable,
            late_payment_is_sold_again_or_refunded,
            cancel_pending_releases_once_and_voids_payments,
            cancel_paid_restocks_and_refunds,
            refunds_never_exceed_the_capture,
            forbidden_transitions_are_refused,
            expiry_releases_stock_and_usage_once,
            outbox_relay_contract,
            idempotency_store_contract,
            emails_are_unique_case_insensitively,
            one_default_address_and_orders_keep_theirs,
            wishlist_is_idempotent,
            reviews_are_one_per_person_and_verified_by_paid_orders,
            seller_stores_need_a_verified_owner,
            seller_stores_are_listed_in_pages,
            categories_never_form_cycles,
            sellers_edit_only_their_own_catalog,
            catalog_browse_filters_sorts_and_pages,
            search_text_is_literal,
            promotion_limits_never_drop_below_live_holds,
            limits_and_first_orders_are_priced_for_the_buyer,
            a_stale_cart_read_costs_a_retry_not_a_change,
            guest_tokens_are_made_by_the_shop,
            shipping_methods_store_contract,
            carts_ship_with_the_chosen_or_the_cheapest_method,
            reconciliation_settles_payments_whose_webhook_never_came,
            refresh_tokens_rotate_once_and_reuse_revokes_the_family,
            one_time_codes_die_after_wrong_tries_and_are_replaced,
            single_use_tokens_work_once,
            payment_start_survives_a_lost_key,
            payments_of_orders_matches_payments_of,
        );
        $crate::conformance_suite!(@race $make;
            race_32_buyers_for_5_units,
            race_8_adds_to_one_cart,
            race_16_buyers_for_a_single_use_code,
            race_one_customer_8_tasks_per_customer_limit,
            race_webhook_delivered_10_times,
            race_cancel_against_payment,
            race_expiry_sweeps_against_payments,
            race_same_checkout_key_on_8_tasks,
            race_credentials_used_8_times_at_once,
            race_update_against_delete_of_a_promotion,
        );
    };
    (@contract $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(store) = $make.await else { return };
                let harness = $crate::testkit::Harness::new(store);
                $crate::testkit::$name(&harness).await;
                harness.assert_invariants().await;
            }
        )*
    };
    (@race $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                struct TokioSpawn;
                impl $crate::testkit::Spawn for TokioSpawn {
                    fn spawn<F>(&self, fut: F) -> $crate::payment::BoxFuture<'static, F::Output>
                    where
                        F: ::std::future::Future + Send + 'static,
                        F::Output: Send + 'static,
                    {
                        let handle = ::tokio::spawn(fut);
                        Box::pin(async move {
                            match handle.await {
                                Ok(v) => v,
                                Err(e) => ::std::panic::resume_unwind(e.into_panic()),
                            }
                        })
                    }
                }
                let Some(store) = $make.await else { return };
                let harness = ::std::sync::Arc::new($crate::testkit::Harness::new(store));
                $crate::testkit::$name(::std::sync::Arc::clone(&harness), &TokioSpawn).await;
                harness.assert_invariants().await;
            }
        )*
    };
}
