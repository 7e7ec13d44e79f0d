//! Tax policies.
//!
//! Pricing asks a [`TaxPolicy`] for the rate of each line and of shipping,
//! groups the discounted amounts by rate, computes each group's tax once,
//! rounds it once, and splits it across the group's lines by largest
//! remainder. With net prices the tax is added to the total; with gross
//! (tax-inclusive) prices it is the part of the price that is tax, and is not
//! added again.

use std::fmt;

use rust_decimal::Decimal;

use crate::ids::{CategoryId, ProductId};

/// What a tax policy may look at to choose a line's rate.
#[derive(Debug, Clone, Copy)]
pub struct TaxableLine {
    /// The product.
    pub product_id: ProductId,
    /// Its category.
    pub category_id: Option<CategoryId>,
}

/// Chooses tax rates. Implement it for per-category or per-region rates; the
/// engine does the arithmetic and the rounding.
pub trait TaxPolicy: fmt::Debug + Send + Sync {
    /// `true` when catalog and shipping prices already include tax (gross).
    fn prices_include_tax(&self) -> bool;

    /// The rate of a line, as a fraction (`0.2` is 20 %), in `0..=1`.
    fn line_rate(&self, line: &TaxableLine) -> Decimal;

    /// The rate of shipping, as a fraction.
    fn shipping_rate(&self) -> Decimal;
}

/// A refused tax rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("tax rate must be between 0 and 1 (0 % to 100 %), got {0}")]
pub struct TaxRateError(pub Decimal);

/// One rate for everything (shipping included), net or gross. The default
/// policy of the engine (`COMMERCE_TAX_RATE`, `COMMERCE_PRICES_INCLUDE_TAX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SingleRateTax {
    rate: Decimal,
    prices_include_tax: bool,
}

impl SingleRateTax {
    /// A rate such as `0.2` for 20 %.
    ///
    /// # Errors
    /// [`TaxRateError`] outside `0..=1`.
    pub fn new(rate: Decimal, prices_include_tax: bool) -> Result<Self, TaxRateError> {
        if rate < Decimal::ZERO || rate > Decimal::ONE {
            return Err(TaxRateError(rate));
        }
        Ok(SingleRateTax {
            rate,
            prices_include_tax,
        })
    }

    /// No tax at all.
    pub const fn none() -> Self {
        SingleRateTax {
            rate: Decimal::ZERO,
            prices_include_tax: false,
        }
    }

    /// The rate.
    pub fn rate(&self) -> Decimal {
        self.rate
    }
}

impl Default for SingleRateTax {
    fn default() -> Self {
        Self::none()
    }
}

impl TaxPolicy for SingleRateTax {
    fn prices_include_tax(&self) -> bool {
        self.prices_include_tax
    }

    fn line_rate(&self, _line: &TaxableLine) -> Decimal {
        self.rate
    }

    fn shipping_rate(&self) -> Decimal {
        self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn rate_bounds() {
        assert!(SingleRateTax::new(dec!(0.2), false).is_ok());
        assert!(SingleRateTax::new(dec!(0), true).is_ok());
        assert!(SingleRateTax::new(dec!(1), true).is_ok());
        assert_eq!(
            SingleRateTax::new(dec!(-0.01), false),
            Err(TaxRateError(dec!(-0.01)))
        );
        assert_eq!(
            SingleRateTax::new(dec!(20), false),
            Err(TaxRateError(dec!(20)))
        );
    }
}
