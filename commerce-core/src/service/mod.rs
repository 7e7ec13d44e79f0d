//! Services: the API library users call. A [`Commerce`] holds a store, a
//! clock, payment gateways and the shop's settings; its methods check input,
//! price, and hand each state change to one atomic store operation.

mod accounts;
mod cart;
mod catalog;
mod checkout;
mod error;
mod orders;
mod payments;
mod promotions;
mod replay;
mod rules;
mod shipping;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Duration;

pub use cart::{CartIssue, CartRead, CartView, LineLabel};
pub use catalog::{Actor, NewProduct, NewVariant, ProductDetail, ProductPatch, slugify};
pub use checkout::{CheckoutRequest, Placed};
pub use error::CommerceError;
pub use promotions::ManagedPromotion;
pub use shipping::ShippingMethodPatch;

use crate::clock::Clock;
use crate::money::{Currency, RoundingPolicy};
use crate::payment::PaymentGateway;
use crate::storage::Store;
use crate::tax::{SingleRateTax, TaxPolicy};

/// The shop's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The currency of carts and orders.
    pub currency: Currency,
    /// How long checkout holds stock for payment.
    pub reservation_ttl: Duration,
    /// Available stock at or below which the store owner is told.
    pub low_stock_threshold: u32,
    /// Tax.
    pub tax: Arc<dyn TaxPolicy>,
    /// Rounding of discounts and tax.
    pub rounding: RoundingPolicy,
    /// How long an idempotency key is held by a request still running.
    pub idempotency_lock: Duration,
    /// Where gateways send buyers back (`{return_base}/payments/{gateway}/return`).
    pub return_base: String,
    /// How long the category tree, the promotions and the shipping methods
    /// are kept in memory between store reads. A change made through this
    /// engine is seen at once; one made elsewhere (another server on the
    /// same database) within this time. Zero (the default) reads them for
    /// every cart.
    pub rules_cache_ttl: std::time::Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            currency: Currency::USD,
            reservation_ttl: Duration::minutes(15),
            low_stock_threshold: 3,
            tax: Arc::new(SingleRateTax::none()),
            rounding: RoundingPolicy::HalfUp,
            idempotency_lock: Duration::seconds(30),
            return_base: "http://127.0.0.1:8080/api/v1".to_owned(),
            rules_cache_ttl: std::time::Duration::ZERO,
        }
    }
}

/// The engine over a store.
#[derive(Debug)]
pub struct Commerce<S> {
    store: Arc<S>,
    clock: Arc<dyn Clock>,
    // Shared, not copied: an engine is cloned for every request a server
    // routes, and copying the settings and the gateways' map allocated.
    config: Arc<Config>,
    gateways: Arc<BTreeMap<String, Arc<dyn PaymentGateway>>>,
    rules: Arc<rules::Rules>,
}

impl<S> Clone for Commerce<S> {
    fn clone(&self) -> Self {
        Commerce {
            store: Arc::clone(&self.store),
            clock: Arc::clone(&self.clock),
            config: Arc::clone(&self.config),
            gateways: Arc::clone(&self.gateways),
            rules: Arc::clone(&self.rules),
        }
    }
}

impl<S: Store> Commerce<S> {
    /// An engine over `store`, telling time by `clock`.
    pub fn new(store: Arc<S>, clock: Arc<dyn Clock>, config: Config) -> Self {
        Commerce {
            store,
            clock,
            config: Arc::new(config),
            gateways: Arc::default(),
            rules: Arc::default(),
        }
    }

    /// Adds a payment gateway, reachable by its name.
    #[must_use]
    pub fn with_gateway(mut self, gateway: Arc<dyn PaymentGateway>) -> Self {
        Arc::make_mut(&mut self.gateways).insert(gateway.name().to_owned(), gateway);
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    fn gateway(&self, name: &str) -> Result<&Arc<dyn PaymentGateway>, CommerceError> {
        self.gateways
            .get(name)
            .ok_or(CommerceError::NotFound("gateway"))
    }
}
