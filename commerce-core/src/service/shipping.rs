//! Shipping methods: stored, offered to carts, chosen by buyers.
//!
//! The methods live in the store ([`ShippingStore`]), so every server over
//! the same database offers the same ones and a change is seen at once by
//! all of them; they are read again for every priced cart (a handful of rows).

use super::rules::Rule;
use super::{Commerce, CommerceError};
use crate::cart::{Cart, CartOwner};
use crate::money::{Currency, Money};
use crate::shipping::{ShippingError, ShippingMethod, ShippingMethodSpec};
use crate::storage::{Store, StoreError};

/// A change to a shipping method: absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShippingMethodPatch {
    /// New name.
    pub name: Option<String>,
    /// New price.
    pub price: Option<Money>,
    /// New free-over threshold; `Some(None)` removes it.
    pub free_over: Option<Option<Money>>,
}

fn invalid(e: ShippingError) -> CommerceError {
    let field = match &e {
        ShippingError::InvalidCode(_) => "code",
        ShippingError::InvalidName => "name",
        ShippingError::InvalidAmount(what) if what.starts_with("free_over") => "free_over",
        ShippingError::InvalidAmount(_) => "price",
        ShippingError::CurrencyMismatch => "free_over",
    };
    CommerceError::Validation {
        field,
        message: e.to_string(),
    }
}

fn in_currency(spec: &ShippingMethodSpec, currency: Currency) -> Result<(), CommerceError> {
    let check = |field: &'static str, m: Money| {
        if m.currency() == currency {
            Ok(())
        } else {
            Err(CommerceError::Validation {
                field,
                message: format!("must be in {currency}, the shop's currency"),
            })
        }
    };
    check("price", spec.price)?;
    spec.free_over.map_or(Ok(()), |m| check("free_over", m))
}

/// The cheapest method in `currency` (ties: the lower code).
pub(super) fn cheapest(methods: &[ShippingMethod], currency: Currency) -> Option<&ShippingMethod> {
    methods
        .iter()
        .filter(|m| m.price().currency() == currency)
        .min_by(|a, b| {
            a.price()
                .minor()
                .cmp(&b.price().minor())
                .then_with(|| a.code().cmp(b.code()))
        })
}

impl<S: Store> Commerce<S> {
    /// Every method offered, cheapest first (ties by code).
    ///
    /// # Errors
    /// [`CommerceError::Store`].
    pub async fn shipping_methods(&self) -> Result<Vec<ShippingMethod>, CommerceError> {
        let mut methods = self.store.shipping_methods().await?;
        methods.sort_by(|a, b| {
            a.price()
                .minor()
                .cmp(&b.price().minor())
                .then_with(|| a.code().cmp(b.code()))
        });
        Ok(methods)
    }

    /// Adds a method, in the shop's currency, under a code not in use.
    ///
    /// # Errors
    /// [`CommerceError::Validation`] naming the field (`code`, `name`,
    /// `price`, `free_over`), [`CommerceError::Duplicate`] for a code in use.
    pub async fn add_shipping_method(
        &self,
        spec: ShippingMethodSpec,
    ) -> Result<ShippingMethod, CommerceError> {
        in_currency(&spec, self.config.currency)?;
        let method = ShippingMethod::try_from(spec).map_err(invalid)?;
        let inserted = self.store.insert_shipping_method(method.clone()).await;
        self.rules_changed(Rule::Shipping);
        match inserted {
            Ok(()) => Ok(method),
            Err(StoreError::Duplicate { .. }) => Err(CommerceError::Duplicate("code")),
            Err(e) => Err(e.into()),
        }
    }

    /// Changes a method's name, price or threshold (its code never changes).
    ///
    /// # Errors
    /// [`CommerceError::NotFound`], [`CommerceError::Validation`].
    pub async fn update_shipping_method(
        &self,
        code: &str,
        patch: ShippingMethodPatch,
    ) -> Result<ShippingMethod, CommerceError> {
        let current = self
            .store
            .shipping_methods()
            .await?
            .into_iter()
            .find(|m| m.code() == code)
            .ok_or(CommerceError::NotFound("shipping method"))?;
        let mut spec = ShippingMethodSpec::from(current);
        if let Some(name) = patch.name {
            spec.name = name;
        }
        if let Some(price) = patch.price {
            spec.price = price;
        }
        if let Some(free_over) = patch.free_over {
            spec.free_over = free_over;
        }
        in_currency(&spec, self.config.currency)?;
        let method = ShippingMethod::try_from(spec).map_err(invalid)?;
        let replaced = self.store.replace_shipping_method(method.clone()).await;
        self.rules_changed(Rule::Shipping);
        if replaced? {
            Ok(method)
        } else {
            Err(CommerceError::NotFound("shipping method"))
        }
    }

    /// Deletes a method. Orders keep their own copy; carts that chose it use
    /// the cheapest method left.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`].
    pub async fn delete_shipping_method(&self, code: &str) -> Result<(), CommerceError> {
        let deleted = self.store.delete_shipping_method(code).await;
        self.rules_changed(Rule::Shipping);
        if deleted? {
            Ok(())
        } else {
            Err(CommerceError::NotFound("shipping method"))
        }
    }

    /// Chooses the cart's shipping method by code; `None` goes back to the
    /// default (the cheapest offered).
    ///
    /// # Errors
    /// [`CommerceError::Validation`] (`code`) for a method not offered in the
    /// cart's currency.
    pub async fn choose_shipping_method(
        &self,
        owner: &CartOwner,
        code: Option<&str>,
    ) -> Result<Cart, CommerceError> {
        let chosen = match code {
            None => None,
            Some(code) => {
                let methods = self.rules_shipping().await?;
                let currency = self.config.currency;
                let method = methods
                    .iter()
                    .find(|m| m.code() == code && m.price().currency() == currency)
                    .ok_or_else(|| CommerceError::Validation {
                        field: "code",
                        message: format!("no shipping method {:?} is offered", code),
                    })?;
                Some(method.code().to_owned())
            }
        };
        self.update_cart(owner, |cart, _| {
            cart.shipping_method.clone_from(&chosen);
            Ok(())
        })
        .await
    }

    /// The method a cart ships with: the one it chose while it is offered,
    /// otherwise the cheapest offered in its currency.
    pub(super) async fn shipping_for(
        &self,
        cart: &Cart,
    ) -> Result<Option<ShippingMethod>, CommerceError> {
        let methods = self.rules_shipping().await?;
        let chosen = cart.shipping_method.as_deref().and_then(|code| {
            methods
                .iter()
                .find(|m| m.code() == code && m.price().currency() == cart.currency)
        });
        Ok(chosen
            .or_else(|| cheapest(&methods, cart.currency))
            .cloned())
    }
}
