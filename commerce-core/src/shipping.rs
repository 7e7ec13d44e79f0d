//! Shipping methods.

use serde::{Deserialize, Serialize};

use crate::money::Money;

/// Invalid shipping method.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShippingError {
    /// Codes are 1–32 characters of `a-z 0-9 - _`.
    #[error("invalid shipping method code {0:?}: use 1 to 32 of a-z, 0-9, '-', '_'")]
    InvalidCode(String),
    /// The price is negative, or the free-over threshold is not positive.
    #[error("invalid amount: {0}")]
    InvalidAmount(&'static str),
    /// The price and the threshold are in different currencies.
    #[error("price and free-over threshold are in different currencies")]
    CurrencyMismatch,
    /// The name is blank or longer than 100 characters.
    #[error("name must be 1 to 100 characters")]
    InvalidName,
}

/// A way to ship an order: a price, and an optional threshold of the
/// discounted subtotal at or above which it is free.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ShippingMethodSpec", into = "ShippingMethodSpec")]
pub struct ShippingMethod {
    code: String,
    name: String,
    price: Money,
    free_over: Option<Money>,
}

/// The unchecked form of a [`ShippingMethod`] (its serde shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippingMethodSpec {
    /// A short stable code, such as `standard`.
    pub code: String,
    /// The name shown to buyers.
    pub name: String,
    /// The price.
    pub price: Money,
    /// The discounted subtotal from which shipping is free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_over: Option<Money>,
}

impl TryFrom<ShippingMethodSpec> for ShippingMethod {
    type Error = ShippingError;

    fn try_from(spec: ShippingMethodSpec) -> Result<Self, Self::Error> {
        let code_ok = (1..=32).contains(&spec.code.len())
            && spec
                .code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_".contains(&b));
        if !code_ok {
            return Err(ShippingError::InvalidCode(
                spec.code.chars().take(40).collect(),
            ));
        }
        let name_len = spec.name.trim().chars().count();
        if name_len == 0 || name_len > 100 {
            return Err(ShippingError::InvalidName);
        }
        if spec.price.is_negative() {
            return Err(ShippingError::InvalidAmount("price must not be negative"));
        }
        if let Some(over) = spec.free_over {
            if over.currency() != spec.price.currency() {
                return Err(ShippingError::CurrencyMismatch);
            }
            if !over.is_positive() {
                return Err(ShippingError::InvalidAmount("free_over must be positive"));
            }
        }
        Ok(ShippingMethod {
            code: spec.code,
            name: spec.name,
            price: spec.price,
            free_over: spec.free_over,
        })
    }
}

impl From<ShippingMethod> for ShippingMethodSpec {
    fn from(m: ShippingMethod) -> Self {
        ShippingMethodSpec {
            code: m.code,
            name: m.name,
            price: m.price,
            free_over: m.free_over,
        }
    }
}

impl ShippingMethod {
    /// Checks and builds a method.
    ///
    /// # Errors
    /// [`ShippingError`].
    pub fn new(
        code: impl Into<String>,
        name: impl Into<String>,
        price: Money,
        free_over: Option<Money>,
    ) -> Result<Self, ShippingError> {
        ShippingMethodSpec {
            code: code.into(),
            name: name.into(),
            price,
            free_over,
        }
        .try_into()
    }

    /// The code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The price before any threshold or promotion.
    pub fn price(&self) -> Money {
        self.price
    }

    /// The free-over threshold.
    pub fn free_over(&self) -> Option<Money> {
        self.free_over
    }

    /// The price for a cart whose discounted subtotal is `discounted_subtotal`:
    /// zero when it reaches `free_over` (same currency), else the price.
    pub fn price_for(&self, discounted_subtotal: Money) -> Money {
        match self.free_over {
            Some(over)
                if over.currency() == discounted_subtotal.currency()
                    && discounted_subtotal >= over =>
            {
                Money::zero(self.price.currency())
            }
            _ => self.price,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    fn usd(minor: i64) -> Money {
        Money::from_minor(minor, Currency::USD)
    }

    #[test]
    fn free_over_compares_with_the_discounted_subtotal() {
        let m = ShippingMethod::new("standard", "Standard", usd(500), Some(usd(5000))).unwrap();
        assert_eq!(m.price_for(usd(4999)), usd(500));
        assert_eq!(m.price_for(usd(5000)), usd(0));
    }

    #[test]
    fn bad_methods_are_refused() {
        assert!(matches!(
            ShippingMethod::new("Std X", "x", usd(1), None),
            Err(ShippingError::InvalidCode(_))
        ));
        assert_eq!(
            ShippingMethod::new("std", " ", usd(1), None),
            Err(ShippingError::InvalidName)
        );
        assert_eq!(
            ShippingMethod::new("std", "x".repeat(101), usd(1), None),
            Err(ShippingError::InvalidName)
        );
        assert!(matches!(
            ShippingMethod::new("std", "x", usd(-1), None),
            Err(ShippingError::InvalidAmount(_))
        ));
        assert!(matches!(
            ShippingMethod::new("std", "x", usd(1), Some(usd(0))),
            Err(ShippingError::InvalidAmount(_))
        ));
        assert_eq!(
            ShippingMethod::new(
                "std",
                "x",
                usd(1),
                Some(Money::from_minor(1, Currency::EUR))
            ),
            Err(ShippingError::CurrencyMismatch)
        );
    }
}
