//! Promotions: conditions, one action, priority, combinability, an optional
//! code, a window and usage limits — checked when built, so a [`Promotion`]
//! is always valid.
//!
//! The serde shape is the one of the HTTP API (`POST /admin/promotions`):
//!
//! ```
//! use commerce_core::ids::PromotionId;
//! use commerce_core::promotion::{Promotion, PromotionSpec};
//!
//! let spec: PromotionSpec = serde_json::from_str(r#"{
//!     "name": "10% off everything",
//!     "code": "save10",
//!     "priority": 10,
//!     "combinable": true,
//!     "usage_limit": 100, "per_customer_limit": 1,
//!     "conditions": [
//!         {"type": "min_subtotal", "amount": {"amount": "50.00", "currency": "USD"}}
//!     ],
//!     "action": {"type": "percentage", "percent": "10"}
//! }"#)?;
//! let promo = Promotion::new(PromotionId::new(), spec)?;
//! assert_eq!(promo.code().map(|c| c.as_str()), Some("SAVE10"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod code;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use code::{DiscountCode, DiscountCodeError};

use crate::ids::{CategoryId, ProductId, PromotionId};
use crate::money::{Currency, Money};

/// Which lines an action (or a condition) looks at: lines whose product is
/// listed, or whose category is listed or lies below a listed one. Both lists
/// empty means every line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliesTo {
    /// Products.
    #[serde(default)]
    pub products: Vec<ProductId>,
    /// Categories, with everything below them.
    #[serde(default)]
    pub categories: Vec<CategoryId>,
}

impl AppliesTo {
    /// Every line.
    pub fn everything() -> Self {
        Self::default()
    }

    /// `true` when no product or category is listed (every line qualifies).
    pub fn is_everything(&self) -> bool {
        self.products.is_empty() && self.categories.is_empty()
    }
}

/// A condition; all of a promotion's conditions must hold.
///
/// Amounts and quantities are measured on the lines the action applies to
/// (every line when it applies to everything), before any discount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Condition {
    /// The subtotal reaches `amount`.
    MinSubtotal {
        /// The threshold (positive).
        amount: Money,
    },
    /// At least `quantity` units.
    MinQuantity {
        /// The threshold (1 or more).
        quantity: u32,
    },
    /// The buyer is signed in and has no earlier order.
    FirstOrder,
    /// The cart holds at least one of these products or categories.
    Contains {
        /// Products.
        #[serde(default)]
        products: Vec<ProductId>,
        /// Categories, with everything below them.
        #[serde(default)]
        categories: Vec<CategoryId>,
    },
}

/// One tier of a [`Action::Tiered`] promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// The subtotal from which this tier applies.
    pub min_subtotal: Money,
    /// Percent off, in `(0, 100]`, as a decimal string.
    #[serde(with = "rust_decimal::serde::str")]
    pub percent: Decimal,
}

/// What a promotion gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Action {
    /// Percent off the lines it applies to, optionally capped.
    Percentage {
        /// In `(0, 100]`, as a decimal string (`"10"`, `"12.5"`).
        #[serde(with = "rust_decimal::serde::str")]
        percent: Decimal,
        /// The lines.
        #[serde(default)]
        applies_to: AppliesTo,
        /// The most this promotion takes off a cart.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_discount: Option<Money>,
    },
    /// An amount off the lines it applies to, once per cart, never more than they cost.
    FixedAmount {
        /// The amount (positive).
        amount: Money,
        /// The lines.
        #[serde(default)]
        applies_to: AppliesTo,
    },
    /// For every `buy + get` qualifying units, `get` units — the cheapest —
    /// are `percent` off (100 for free).
    BuyXGetY {
        /// Units to buy (1 or more).
        buy: u32,
        /// Units discounted per group (1 or more).
        get: u32,
        /// In `(0, 100]`.
        #[serde(with = "rust_decimal::serde::str")]
        percent: Decimal,
        /// The qualifying lines.
        #[serde(default)]
        applies_to: AppliesTo,
    },
    /// Shipping is free.
    FreeShipping,
    /// Percent off by subtotal: the highest tier reached applies.
    Tiered {
        /// Strictly increasing `min_subtotal`s.
        tiers: Vec<Tier>,
        /// The lines.
        #[serde(default)]
        applies_to: AppliesTo,
    },
}

impl Action {
    /// The lines this action applies to ([`Action::FreeShipping`]: every line).
    pub fn applies_to(&self) -> &AppliesTo {
        static EVERYTHING: AppliesTo = AppliesTo {
            products: Vec::new(),
            categories: Vec::new(),
        };
        match self {
            Action::Percentage { applies_to, .. }
            | Action::FixedAmount { applies_to, .. }
            | Action::BuyXGetY { applies_to, .. }
            | Action::Tiered { applies_to, .. } => applies_to,
            Action::FreeShipping => &EVERYTHING,
        }
    }
}

/// The unchecked form of a promotion, as an API receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotionSpec {
    /// The label shown to buyers next to the discount.
    pub name: String,
    /// A code the buyer must enter; none means automatic.
    #[serde(default)]
    pub code: Option<String>,
    /// Higher applies first in a stack and wins ties; default 0.
    #[serde(default)]
    pub priority: i32,
    /// Whether it stacks with other combinable promotions; default `false`
    /// (exclusive: it applies alone, when it gives the most).
    #[serde(default)]
    pub combinable: bool,
    /// Not before this instant.
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// Not at or after this instant.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// At most this many orders hold it.
    #[serde(default)]
    pub usage_limit: Option<u32>,
    /// At most this many orders of one customer hold it.
    #[serde(default)]
    pub per_customer_limit: Option<u32>,
    /// All must hold.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// What it gives.
    pub action: Action,
}

/// Why a promotion was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PromotionError {
    /// The name is empty or longer than 200 characters.
    #[error("name must be 1 to 200 characters")]
    InvalidName,
    /// The code is malformed.
    #[error(transparent)]
    InvalidCode(#[from] DiscountCodeError),
    /// A percent outside `(0, 100]`.
    #[error("{field}: percent must be above 0 and at most 100, got {value}")]
    PercentOutOfRange {
        /// Where.
        field: &'static str,
        /// The refused value.
        value: Decimal,
    },
    /// An amount that must be positive is zero or negative.
    #[error("{field}: amount must be positive, got {value}")]
    NonPositiveAmount {
        /// Where.
        field: &'static str,
        /// The refused value.
        value: Money,
    },
    /// Amounts in more than one currency.
    #[error("all amounts of a promotion share one currency ({expected}), found {found}")]
    CurrencyMismatch {
        /// The first currency seen.
        expected: Currency,
        /// Another one.
        found: Currency,
    },
    /// A count that must be at least 1 is 0.
    #[error("{0} must be at least 1")]
    ZeroCount(&'static str),
    /// The window ends before (or when) it starts.
    #[error("the window ends ({ends_at}) before it starts ({starts_at})")]
    WindowEndsBeforeStart {
        /// Start.
        starts_at: DateTime<Utc>,
        /// End.
        ends_at: DateTime<Utc>,
    },
    /// A tiered action without tiers.
    #[error("a tiered promotion needs at least one tier")]
    NoTiers,
    /// Tiers must be listed by increasing `min_subtotal`.
    #[error("tiers must be sorted by min_subtotal: tier {index} is below the one before it")]
    TiersUnsorted {
        /// The tier out of order.
        index: usize,
    },
    /// Two tiers with the same `min_subtotal`.
    #[error("tiers overlap: tier {index} has the same min_subtotal as the one before it")]
    TiersOverlap {
        /// The second of the two.
        index: usize,
    },
    /// A `contains` condition that names nothing.
    #[error("a contains condition must name at least one product or category")]
    EmptyContains,
}

/// A valid promotion. Build it with [`Promotion::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Promotion {
    id: PromotionId,
    #[serde(flatten)]
    spec: PromotionSpec,
    #[serde(skip)]
    code: Option<DiscountCode>,
    #[serde(skip)]
    currency: Option<Currency>,
    /// The name, shared with every discount and trace entry that shows it.
    #[serde(skip)]
    label: std::sync::Arc<str>,
}

impl Promotion {
    /// Checks a spec and makes the promotion.
    ///
    /// # Errors
    /// [`PromotionError`] naming the first problem found.
    pub fn new(id: PromotionId, mut spec: PromotionSpec) -> Result<Self, PromotionError> {
        let name_len = spec.name.trim().chars().count();
        if name_len == 0 || name_len > 200 {
            return Err(PromotionError::InvalidName);
        }
        let code = spec.code.as_deref().map(DiscountCode::parse).transpose()?;
        spec.code = code.as_ref().map(|c| c.as_str().to_owned());
        if let (Some(starts_at), Some(ends_at)) = (spec.starts_at, spec.ends_at)
            && ends_at <= starts_at
        {
            return Err(PromotionError::WindowEndsBeforeStart { starts_at, ends_at });
        }
        if spec.usage_limit == Some(0) {
            return Err(PromotionError::ZeroCount("usage_limit"));
        }
        if spec.per_customer_limit == Some(0) {
            return Err(PromotionError::ZeroCount("per_customer_limit"));
        }

        let mut currency = CurrencyCheck::default();
        for condition in &spec.conditions {
            match condition {
                Condition::MinSubtotal { amount } => {
                    currency.positive("conditions.min_subtotal", *amount)?
                }
                Condition::MinQuantity { quantity: 0 } => {
                    return Err(PromotionError::ZeroCount("conditions.min_quantity"));
                }
                Condition::Contains {
                    products,
                    categories,
                } if products.is_empty() && categories.is_empty() => {
                    return Err(PromotionError::EmptyContains);
                }
                _ => {}
            }
        }
        match &spec.action {
            Action::Percentage {
                percent,
                max_discount,
                ..
            } => {
                check_percent("action.percent", *percent)?;
                if let Some(cap) = max_discount {
                    currency.positive("action.max_discount", *cap)?;
                }
            }
            Action::FixedAmount { amount, .. } => currency.positive("action.amount", *amount)?,
            Action::BuyXGetY {
                buy, get, percent, ..
            } => {
                if *buy == 0 {
                    return Err(PromotionError::ZeroCount("action.buy"));
                }
                if *get == 0 {
                    return Err(PromotionError::ZeroCount("action.get"));
                }
                check_percent("action.percent", *percent)?;
            }
            Action::FreeShipping => {}
            Action::Tiered { tiers, .. } => {
                if tiers.is_empty() {
                    return Err(PromotionError::NoTiers);
                }
                for (index, tier) in tiers.iter().enumerate() {
                    check_percent("action.tiers.percent", tier.percent)?;
                    currency.non_negative("action.tiers.min_subtotal", tier.min_subtotal)?;
                    if index > 0 {
                        let before = tiers[index - 1].min_subtotal.minor();
                        let here = tier.min_subtotal.minor();
                        if here < before {
                            return Err(PromotionError::TiersUnsorted { index });
                        }
                        if here == before {
                            return Err(PromotionError::TiersOverlap { index });
                        }
                    }
                }
            }
        }
        Ok(Promotion {
            id,
            label: std::sync::Arc::from(spec.name.as_str()),
            spec,
            code,
            currency: currency.seen,
        })
    }

    /// The id.
    pub fn id(&self) -> PromotionId {
        self.id
    }

    /// The label shown to buyers.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The label, shared (cheap to clone into results).
    pub fn label(&self) -> &std::sync::Arc<str> {
        &self.label
    }

    /// The code, for promotions a buyer must enter.
    pub fn code(&self) -> Option<&DiscountCode> {
        self.code.as_ref()
    }

    /// Higher applies first and wins ties.
    pub fn priority(&self) -> i32 {
        self.spec.priority
    }

    /// Whether it stacks.
    pub fn combinable(&self) -> bool {
        self.spec.combinable
    }

    /// Start of the window.
    pub fn starts_at(&self) -> Option<DateTime<Utc>> {
        self.spec.starts_at
    }

    /// End of the window (exclusive).
    pub fn ends_at(&self) -> Option<DateTime<Utc>> {
        self.spec.ends_at
    }

    /// Total usage limit.
    pub fn usage_limit(&self) -> Option<u32> {
        self.spec.usage_limit
    }

    /// Per-customer usage limit.
    pub fn per_customer_limit(&self) -> Option<u32> {
        self.spec.per_customer_limit
    }

    /// The conditions.
    pub fn conditions(&self) -> &[Condition] {
        &self.spec.conditions
    }

    /// The action.
    pub fn action(&self) -> &Action {
        &self.spec.action
    }

    /// The currency of its amounts, if it has any (a pure percentage has none
    /// and works in every currency).
    pub fn currency(&self) -> Option<Currency> {
        self.currency
    }

    /// The spec it was built from (normalised code).
    pub fn spec(&self) -> &PromotionSpec {
        &self.spec
    }
}

impl TryFrom<(PromotionId, PromotionSpec)> for Promotion {
    type Error = PromotionError;

    fn try_from((id, spec): (PromotionId, PromotionSpec)) -> Result<Self, Self::Error> {
        Promotion::new(id, spec)
    }
}

fn check_percent(field: &'static str, value: Decimal) -> Result<(), PromotionError> {
    if value <= Decimal::ZERO || value > Decimal::ONE_HUNDRED {
        return Err(PromotionError::PercentOutOfRange { field, value });
    }
    Ok(())
}

#[derive(Default)]
struct CurrencyCheck {
    seen: Option<Currency>,
}

impl CurrencyCheck {
    fn same(&mut self, value: Money) -> Result<(), PromotionError> {
        match self.seen {
            None => {
                self.seen = Some(value.currency());
                Ok(())
            }
            Some(expected) if expected == value.currency() => Ok(()),
            Some(expected) => Err(PromotionError::CurrencyMismatch {
                expected,
                found: value.currency(),
            }),
        }
    }

    fn positive(&mut self, field: &'static str, value: Money) -> Result<(), PromotionError> {
        if !value.is_positive() {
            return Err(PromotionError::NonPositiveAmount { field, value });
        }
        self.same(value)
    }

    fn non_negative(&mut self, field: &'static str, value: Money) -> Result<(), PromotionError> {
        if value.is_negative() {
            return Err(PromotionError::NonPositiveAmount { field, value });
        }
        self.same(value)
    }
}

#[cfg(test)]
mod tests;
