//! Exact money.
//!
//! [`Money`] is an integer number of minor units (cents, fils, yen) and a
//! [`Currency`]; it can never hold a fraction of a minor unit, and there is no
//! `+` operator: [`Money::checked_add`] and [`Money::checked_sub`] refuse mixed
//! currencies and overflow. Percentages, rates and tax work on
//! [`rust_decimal::Decimal`] and give an [`Unrounded`] amount, which becomes
//! `Money` only through a named [`RoundingPolicy`]. [`Money::allocate`] splits
//! an amount by weights with the largest-remainder method: the parts always add
//! up to the whole.
//!
//! ```
//! use commerce_core::money::{Currency, Money, RoundingPolicy};
//! use rust_decimal::dec;
//!
//! let price = Money::parse("33.33", Currency::USD)?;
//! let subtotal = price.times(3)?;                       // 99.99
//! let discount = subtotal.mul_rate(dec!(0.10))?         // 9.999, unrounded
//!     .round(RoundingPolicy::HalfUp)?;                  // 10.00
//! assert_eq!(discount.to_string(), "10.00 USD");
//!
//! // Split across the three lines: the parts add up exactly.
//! let parts = discount.allocate(&[3333, 3333, 3333])?;
//! let shown: Vec<String> = parts.iter().map(|m| m.amount_string()).collect();
//! assert_eq!(shown, ["3.34", "3.33", "3.33"]);
//! # Ok::<(), commerce_core::money::MoneyError>(())
//! ```

mod currency;
mod iso4217;

use std::cmp::Ordering;
use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use currency::Currency;

/// What can go wrong with money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// Two amounts in different currencies were combined.
    #[error("currency mismatch: expected {expected}, found {found}")]
    CurrencyMismatch {
        /// The currency of the left-hand side (or the one required).
        expected: Currency,
        /// The currency that was offered.
        found: Currency,
    },
    /// The result does not fit in `i64` minor units.
    #[error("amount overflows the representable range")]
    Overflow,
    /// Not an ISO 4217 code this engine knows.
    #[error("unknown currency code {0:?}")]
    UnknownCurrency(String),
    /// The text is not a decimal amount (`"12.50"`, `"-3.00"`, `"1200"`).
    #[error("{input:?} is not a decimal amount")]
    InvalidAmount {
        /// The offending text (truncated).
        input: String,
    },
    /// The amount has a different number of decimals than its currency.
    #[error("{currency} amounts have exactly {expected} decimal digits, got {input:?}")]
    WrongDigits {
        /// The currency.
        currency: Currency,
        /// Its exponent.
        expected: u8,
        /// The offending text (truncated).
        input: String,
    },
    /// [`Money::allocate`] was given no weights, or weights that sum to zero.
    #[error("allocation needs at least one positive weight")]
    InvalidWeights,
}

/// How an unrounded amount becomes whole minor units.
///
/// The engine uses [`RoundingPolicy::HalfUp`] (the default) for every amount a
/// buyer sees: discounts and tax. Each rule is named so that a shop with other
/// legal requirements can pick another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RoundingPolicy {
    /// Halves away from zero (2.345 → 2.35, -2.345 → -2.35). Commercial rounding.
    #[default]
    HalfUp,
    /// Halves to the even neighbour (2.345 → 2.34, 2.355 → 2.36). Banker's rounding.
    HalfEven,
    /// Toward zero: drop the extra digits (2.349 → 2.34).
    TowardZero,
    /// Away from zero (2.341 → 2.35).
    AwayFromZero,
    /// Toward negative infinity.
    Floor,
    /// Toward positive infinity.
    Ceiling,
}

impl RoundingPolicy {
    fn strategy(self) -> RoundingStrategy {
        match self {
            RoundingPolicy::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            RoundingPolicy::HalfEven => RoundingStrategy::MidpointNearestEven,
            RoundingPolicy::TowardZero => RoundingStrategy::ToZero,
            RoundingPolicy::AwayFromZero => RoundingStrategy::AwayFromZero,
            RoundingPolicy::Floor => RoundingStrategy::ToNegativeInfinity,
            RoundingPolicy::Ceiling => RoundingStrategy::ToPositiveInfinity,
        }
    }
}

/// An exact amount of money that is not yet whole minor units: the result of
/// a percentage, rate or tax computation. The only way out is [`Unrounded::round`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unrounded {
    /// In major units (dollars, not cents).
    value: Decimal,
    currency: Currency,
}

impl Unrounded {
    /// The exact value in major units.
    pub fn value(self) -> Decimal {
        self.value
    }

    /// The currency.
    pub fn currency(self) -> Currency {
        self.currency
    }

    /// Rounds to the currency's minor unit with the given rule.
    ///
    /// # Errors
    /// [`MoneyError::Overflow`] when the result does not fit in `i64` minor units.
    pub fn round(self, policy: RoundingPolicy) -> Result<Money, MoneyError> {
        let exp = self.currency.exponent();
        let rounded = self
            .value
            .round_dp_with_strategy(u32::from(exp), policy.strategy());
        let minor = rounded
            .checked_mul(Decimal::from(self.currency.minor_per_major()))
            .ok_or(MoneyError::Overflow)?;
        let minor = i64::try_from(minor).map_err(|_| MoneyError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }
}

/// An exact amount: integer minor units of one currency.
///
/// Equality compares amount and currency; ordering is only defined within one
/// currency (`partial_cmp` answers `None` across currencies).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// An amount in minor units (`from_minor(1250, USD)` is 12.50 USD).
    pub const fn from_minor(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    /// Zero in the currency.
    pub const fn zero(currency: Currency) -> Self {
        Money { minor: 0, currency }
    }

    /// The amount in minor units.
    pub const fn minor(self) -> i64 {
        self.minor
    }

    /// The currency.
    pub const fn currency(self) -> Currency {
        self.currency
    }

    /// `true` when the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.minor == 0
    }

    /// `true` when the amount is above zero.
    pub const fn is_positive(self) -> bool {
        self.minor > 0
    }

    /// `true` when the amount is below zero.
    pub const fn is_negative(self) -> bool {
        self.minor < 0
    }

    /// Parses a decimal string with exactly the currency's number of digits
    /// after the point: `"12.50"` for USD, `"1200"` for JPY, `"1.250"` for KWD.
    /// A leading `-` is allowed; nothing else (no `+`, spaces, exponent or grouping).
    ///
    /// # Errors
    /// [`MoneyError::InvalidAmount`], [`MoneyError::WrongDigits`] or
    /// [`MoneyError::Overflow`].
    pub fn parse(input: &str, currency: Currency) -> Result<Self, MoneyError> {
        let shown = || input.chars().take(40).collect::<String>();
        let invalid = || MoneyError::InvalidAmount { input: shown() };
        let (negative, unsigned) = match input.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, input),
        };
        let (int_part, frac_part) = match unsigned.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (unsigned, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int_part) || frac_part.is_some_and(|f| !all_digits(f)) {
            return Err(invalid());
        }
        let exp = currency.exponent();
        let frac_len = frac_part.map_or(0, str::len);
        if frac_len != usize::from(exp) {
            return Err(MoneyError::WrongDigits {
                currency,
                expected: exp,
                input: shown(),
            });
        }
        // Accumulate with the sign applied at each step, so that `i64::MIN`
        // (whose magnitude does not fit in i64) parses too.
        let mut minor: i64 = 0;
        for b in int_part.bytes().chain(frac_part.unwrap_or("").bytes()) {
            let digit = i64::from(b - b'0');
            minor = minor
                .checked_mul(10)
                .and_then(|m| {
                    if negative {
                        m.checked_sub(digit)
                    } else {
                        m.checked_add(digit)
                    }
                })
                .ok_or(MoneyError::Overflow)?;
        }
        Ok(Money { minor, currency })
    }

    /// Makes money from a decimal that has no more digits than the currency
    /// allows (`12.5` and `12.50` are both fine for USD; `12.505` is not).
    ///
    /// # Errors
    /// [`MoneyError::WrongDigits`] when rounding would be needed (use
    /// [`Money::from_decimal_rounded`]), [`MoneyError::Overflow`].
    pub fn from_decimal(value: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        let exp = currency.exponent();
        let unrounded = Unrounded { value, currency };
        let money = unrounded.round(RoundingPolicy::TowardZero)?;
        if money.to_decimal() == value {
            Ok(money)
        } else {
            Err(MoneyError::WrongDigits {
                currency,
                expected: exp,
                input: value.to_string(),
            })
        }
    }

    /// Rounds a decimal to the currency's minor unit with the given rule.
    ///
    /// # Errors
    /// [`MoneyError::Overflow`].
    pub fn from_decimal_rounded(
        value: Decimal,
        currency: Currency,
        policy: RoundingPolicy,
    ) -> Result<Self, MoneyError> {
        Unrounded { value, currency }.round(policy)
    }

    /// The amount in major units, with exactly the currency's scale.
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.minor, u32::from(self.currency.exponent()))
    }

    /// The amount as the wire shows it: exactly the currency's digits
    /// (`"12.50"`, `"1200"`, `"-0.050"`).
    pub fn amount_string(self) -> String {
        self.to_decimal().to_string()
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                expected: self.currency,
                found: other.currency,
            })
        }
    }

    /// `self + other`.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`] or [`MoneyError::Overflow`].
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }

    /// `self - other`.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`] or [`MoneyError::Overflow`].
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }

    /// `-self`.
    ///
    /// # Errors
    /// [`MoneyError::Overflow`] for `i64::MIN`.
    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        let minor = self.minor.checked_neg().ok_or(MoneyError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }

    /// `self × quantity`, exact.
    ///
    /// # Errors
    /// [`MoneyError::Overflow`].
    pub fn times(self, quantity: u32) -> Result<Money, MoneyError> {
        let minor = self
            .minor
            .checked_mul(i64::from(quantity))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }

    /// `self × rate`, exact and unrounded (`rate` 0.1 is ten per cent).
    ///
    /// # Errors
    /// [`MoneyError::Overflow`] when the product leaves `Decimal`'s range.
    pub fn mul_rate(self, rate: Decimal) -> Result<Unrounded, MoneyError> {
        let value = self
            .to_decimal()
            .checked_mul(rate)
            .ok_or(MoneyError::Overflow)?;
        Ok(Unrounded {
            value,
            currency: self.currency,
        })
    }

    /// `self ÷ divisor`, exact and unrounded.
    ///
    /// # Errors
    /// [`MoneyError::Overflow`] when `divisor` is zero or the quotient leaves
    /// `Decimal`'s range.
    pub fn div_rate(self, divisor: Decimal) -> Result<Unrounded, MoneyError> {
        let value = self
            .to_decimal()
            .checked_div(divisor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Unrounded {
            value,
            currency: self.currency,
        })
    }

    /// The smaller of two amounts of one currency.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`].
    pub fn checked_min(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        Ok(if other.minor < self.minor {
            other
        } else {
            self
        })
    }

    /// Splits the amount into parts proportional to `weights` by the
    /// largest-remainder (Hamilton) method.
    ///
    /// The parts always add up to `self` exactly; each part is within one minor
    /// unit of its exact share; a part whose weight is zero gets nothing; the
    /// units left over after flooring go to the parts with the largest
    /// remainders, ties to the earlier part. A negative amount is split the same
    /// way as its absolute value.
    ///
    /// # Errors
    /// [`MoneyError::InvalidWeights`] when `weights` is empty or sums to zero.
    pub fn allocate(self, weights: &[u64]) -> Result<Vec<Money>, MoneyError> {
        let parts = allocate_minor(self.minor, weights).ok_or(MoneyError::InvalidWeights)?;
        Ok(parts
            .into_iter()
            .map(|minor| Money {
                minor,
                currency: self.currency,
            })
            .collect())
    }
}

/// `percent` % of `minor` minor units of `currency`, rounded once with
/// `policy`: exactly `Money::from_minor(minor, currency).mul_rate(percent ×
/// 0.01)?.round(policy)?`, which is what pricing does for every percentage,
/// tier and buy-X-get-Y discount.
///
/// When that chain of `Decimal` operations is exact (a non-negative amount,
/// a percent with at most 26 decimals, a product below 2^96: every shop-sized
/// case), the same value is computed on integers, much faster; otherwise the
/// chain itself runs.
///
/// # Errors
/// [`MoneyError::Overflow`], as the chain would.
pub(crate) fn percent_of(
    minor: i64,
    currency: Currency,
    percent: Decimal,
    policy: RoundingPolicy,
) -> Result<i64, MoneyError> {
    if let Some(exact) = percent_of_exact(minor, currency, percent, policy) {
        return Ok(exact);
    }
    Ok(Money::from_minor(minor, currency)
        // × 0.01 is exact and much cheaper than ÷ 100 on Decimal.
        .mul_rate(percent * Decimal::new(1, 2))?
        .round(policy)?
        .minor())
}

/// [`percent_of`] on integers, or `None` when the `Decimal` chain would not
/// be exact (it would have to round an intermediate result) or the amount is
/// negative.
///
/// In the chain, `percent × 0.01` is `(m, s + 2)` for a percent of mantissa
/// `m` and scale `s`, exact while `s + 2 <= 28`; the amount is `(minor, e)`
/// for the currency's exponent `e`, and the product `(minor × m, e + s + 2)`
/// is exact while `minor × m < 2^96` and `e + s + 2 <= 28`. Rounding that
/// to `e` places is rounding `minor × m / 10^(s + 2)` to an integer.
fn percent_of_exact(
    minor: i64,
    currency: Currency,
    percent: Decimal,
    policy: RoundingPolicy,
) -> Option<i64> {
    let scale = percent.scale();
    let exp = u32::from(currency.exponent());
    if minor < 0 || percent.is_sign_negative() || exp + scale + 2 > 28 {
        return None;
    }
    let m = u128::try_from(percent.mantissa()).ok()?;
    let n = u128::from(minor.unsigned_abs()).checked_mul(m)?;
    if n >> 96 != 0 {
        return None;
    }
    let d = 10_u128.pow(scale + 2);
    let (q, r) = match (u64::try_from(n), u64::try_from(d)) {
        (Ok(n), Ok(d)) => (u128::from(n / d), u128::from(n % d)),
        _ => (n / d, n % d),
    };
    // r < d <= 10^28 < 2^94, so 2r does not overflow.
    let up = match policy {
        RoundingPolicy::HalfUp => 2 * r >= d,
        RoundingPolicy::HalfEven => 2 * r > d || (2 * r == d && q % 2 == 1),
        RoundingPolicy::TowardZero | RoundingPolicy::Floor => false,
        RoundingPolicy::AwayFromZero | RoundingPolicy::Ceiling => r > 0,
    };
    i64::try_from(q + u128::from(up)).ok()
}

/// Largest-remainder split of `total` minor units by `weights`; `None` when the
/// weights sum to zero. Shared by [`Money::allocate`] and the pricing engine.
pub(crate) fn allocate_minor(total: i64, weights: &[u64]) -> Option<Vec<i64>> {
    let mut parts = Vec::with_capacity(weights.len());
    allocate_into(total, weights, &mut parts, &mut SplitScratch::default())?;
    Some(parts)
}

/// Working space of [`allocate_into`], kept by callers that split often so
/// that their loops allocate nothing.
#[derive(Debug, Default)]
pub(crate) struct SplitScratch {
    /// Ranks of ordinary splits: `remainder << 32 | (u32::MAX - index)`, one
    /// integer per part whose natural order is the rank (larger remainder
    /// first, then the earlier part).
    packed: Vec<u64>,
    /// Ranks of very large splits: `(remainder, index)`.
    wide: Vec<(u128, usize)>,
}

/// [`allocate_minor`] into caller-owned buffers (`parts` is cleared and
/// filled; `scratch` is working space), so hot loops allocate nothing.
/// `None` when the weights sum to zero.
pub(crate) fn allocate_into(
    total: i64,
    weights: &[u64],
    parts: &mut Vec<i64>,
    scratch: &mut SplitScratch,
) -> Option<()> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if sum == 0 {
        return None;
    }
    let abs = total.unsigned_abs();
    // Shares are floor(|total| × w / sum), each with its remainder from the
    // same division. The products always fit in u128, and in u64 for every
    // ordinary amount (no weight exceeds the sum), where division is much
    // cheaper. Both ways give the same shares.
    let fast = u64::try_from(sum)
        .ok()
        .filter(|&sum| abs.checked_mul(sum).is_some());
    // Remainders are below `sum`: when it fits in 32 bits, a remainder and
    // its index pack into one u64 that sorts as the rank does.
    let packed = fast.filter(|&s| s <= u64::from(u32::MAX) && u32::try_from(weights.len()).is_ok());
    parts.clear();
    let negative = total < 0;
    // Signed at once: a part is at most |total| and carries its sign, so it
    // fits in i64 (2^63 only as all of i64::MIN).
    let signed = |floor: u64| -> Option<i64> {
        let s = if negative {
            -i128::from(floor)
        } else {
            i128::from(floor)
        };
        i64::try_from(s).ok()
    };
    let mut given: u64 = 0;
    if let Some(sum) = packed {
        let ranks = &mut scratch.packed;
        ranks.clear();
        ranks.reserve(weights.len());
        parts.reserve(weights.len());
        // `floor <= |total|`, so `0 ± floor` never wraps: below zero it
        // reaches at most i64::MIN, and a positive total is at most i64::MAX.
        let sign = |floor: u64| {
            if negative {
                0_i64.wrapping_sub_unsigned(floor)
            } else {
                0_i64.wrapping_add_unsigned(floor)
            }
        };
        parts.extend(weights.iter().zip((0..=u32::MAX).rev()).map(|(&w, tag)| {
            let p = abs * w;
            let (floor, rem) = (p / sum, p % sum);
            given += floor;
            ranks.push(rem << 32 | u64::from(tag));
            sign(floor)
        }));
        // Fewer than `weights.len()` units are left; they go to the largest
        // remainders, ties to the earlier part. Only the set of winners
        // matters, so a linear-time selection replaces a full sort.
        let left = usize::try_from(abs - given).ok()?;
        if left > 0 {
            let n = ranks.len();
            if left < n {
                ranks.select_nth_unstable(n - left);
            }
            let step = if negative { -1 } else { 1 };
            for &rank in &ranks[n - left..] {
                let tag = u32::try_from(rank & u64::from(u32::MAX)).ok()?;
                let i = usize::try_from(u32::MAX - tag).ok()?;
                parts[i] += step;
            }
        }
        return Some(());
    }
    let ranks = &mut scratch.wide;
    ranks.clear();
    for (i, &w) in weights.iter().enumerate() {
        let (floor, rem) = match fast {
            Some(sum) => {
                let p = abs * w;
                (p / sum, u128::from(p % sum))
            }
            None => {
                let p = u128::from(abs) * u128::from(w);
                // The quotient is at most |total|, so it fits in u64.
                (u64::try_from(p / sum).unwrap_or(u64::MAX), p % sum)
            }
        };
        given += floor;
        parts.push(signed(floor)?);
        ranks.push((rem, i));
    }
    let left = usize::try_from(abs - given).ok()?;
    if left > 0 {
        let by_rank = |a: &(u128, usize), b: &(u128, usize)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        if left < ranks.len() {
            ranks.select_nth_unstable_by(left - 1, by_rank);
        }
        let step = if negative { -1 } else { 1 };
        for &(_, i) in &ranks[..left] {
            parts[i] += step;
        }
    }
    Some(())
}

impl PartialOrd for Money {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self.currency == other.currency).then(|| self.minor.cmp(&other.minor))
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount_string(), self.currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount_string(), self.currency)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MoneyWire<'a> {
    #[serde(borrow)]
    amount: std::borrow::Cow<'a, str>,
    currency: Currency,
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        MoneyWire {
            amount: self.amount_string().into(),
            currency: self.currency,
        }
        .serialize(serializer)
    }
}

/// Accepts only `{"amount": "<decimal string>", "currency": "<ISO code>"}`:
/// a JSON number for `amount` is refused (floats never carry money), and so is
/// a digit count other than the currency's.
impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = MoneyWire::deserialize(deserializer)?;
        Money::parse(&wire.amount, wire.currency).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    fn usd(minor: i64) -> Money {
        Money::from_minor(minor, Currency::USD)
    }

    #[test]
    fn parse_requires_exactly_the_currencys_digits() {
        assert_eq!(Money::parse("12.50", Currency::USD), Ok(usd(1250)));
        assert_eq!(Money::parse("-0.05", Currency::USD), Ok(usd(-5)));
        assert_eq!(
            Money::parse("1200", Currency::JPY),
            Ok(Money::from_minor(1200, Currency::JPY))
        );
        assert_eq!(
            Money::parse("1.250", Currency::KWD),
            Ok(Money::from_minor(1250, Currency::KWD))
        );
        for (bad, cur) in [
            ("12.5", Currency::USD),
            ("12", Currency::USD),
            ("12.500", Currency::USD),
            ("1200.0", Currency::JPY),
            ("1.25", Currency::KWD),
        ] {
            assert!(
                matches!(Money::parse(bad, cur), Err(MoneyError::WrongDigits { .. })),
                "{bad}"
            );
        }
        for bad in [
            "", "-", ".50", "12.", "+1.00", " 1.00", "1,000.00", "1e3", "1.0a", "--1.00", "١.٠٠",
        ] {
            assert!(
                matches!(
                    Money::parse(bad, Currency::USD),
                    Err(MoneyError::InvalidAmount { .. } | MoneyError::WrongDigits { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn parse_refuses_amounts_beyond_i64_minor_units() {
        assert_eq!(
            Money::parse("92233720368547758.07", Currency::USD),
            Ok(usd(i64::MAX))
        );
        assert_eq!(
            Money::parse("92233720368547758.08", Currency::USD),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::parse("99999999999999999999999.00", Currency::USD),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::parse("-92233720368547758.08", Currency::USD),
            Ok(usd(i64::MIN))
        );
        assert_eq!(
            Money::parse("-92233720368547758.09", Currency::USD),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn format_shows_exactly_the_currencys_digits() {
        assert_eq!(usd(1250).amount_string(), "12.50");
        assert_eq!(usd(-5).amount_string(), "-0.05");
        assert_eq!(usd(0).amount_string(), "0.00");
        assert_eq!(
            Money::from_minor(1200, Currency::JPY).amount_string(),
            "1200"
        );
        assert_eq!(
            Money::from_minor(50, Currency::KWD).amount_string(),
            "0.050"
        );
        assert_eq!(usd(1250).to_string(), "12.50 USD");
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(usd(100).checked_add(usd(250)), Ok(usd(350)));
        assert_eq!(usd(100).checked_sub(usd(250)), Ok(usd(-150)));
        assert_eq!(
            usd(1).checked_add(Money::from_minor(1, Currency::EUR)),
            Err(MoneyError::CurrencyMismatch {
                expected: Currency::USD,
                found: Currency::EUR
            })
        );
        assert_eq!(usd(i64::MAX).checked_add(usd(1)), Err(MoneyError::Overflow));
        assert_eq!(usd(i64::MIN).checked_sub(usd(1)), Err(MoneyError::Overflow));
        assert_eq!(usd(i64::MIN).checked_neg(), Err(MoneyError::Overflow));
        assert_eq!(usd(i64::MAX / 2 + 1).times(2), Err(MoneyError::Overflow));
        assert_eq!(usd(333).times(3), Ok(usd(999)));
    }

    #[test]
    fn ordering_exists_only_within_one_currency() {
        assert!(usd(1) < usd(2));
        assert_eq!(
            usd(1).partial_cmp(&Money::from_minor(1, Currency::EUR)),
            None
        );
    }

    #[test]
    fn rates_stay_unrounded_until_a_policy_is_named() {
        let subtotal = usd(9999);
        let ten = subtotal.mul_rate(dec!(0.1)).unwrap();
        assert_eq!(ten.value(), dec!(9.9990));
        assert_eq!(ten.round(RoundingPolicy::HalfUp), Ok(usd(1000)));
        assert_eq!(ten.round(RoundingPolicy::TowardZero), Ok(usd(999)));

        let half = usd(1).mul_rate(dec!(0.5)).unwrap(); // 0.005
        assert_eq!(half.round(RoundingPolicy::HalfUp), Ok(usd(1)));
        assert_eq!(half.round(RoundingPolicy::HalfEven), Ok(usd(0)));
        assert_eq!(half.round(RoundingPolicy::Floor), Ok(usd(0)));
        assert_eq!(half.round(RoundingPolicy::Ceiling), Ok(usd(1)));
        let neg = usd(-1).mul_rate(dec!(0.5)).unwrap();
        assert_eq!(neg.round(RoundingPolicy::HalfUp), Ok(usd(-1)));
        assert_eq!(neg.round(RoundingPolicy::AwayFromZero), Ok(usd(-1)));
        assert_eq!(neg.round(RoundingPolicy::TowardZero), Ok(usd(0)));

        let yen = Money::from_minor(999, Currency::JPY)
            .mul_rate(dec!(0.15))
            .unwrap(); // 149.85
        assert_eq!(
            yen.round(RoundingPolicy::HalfUp),
            Ok(Money::from_minor(150, Currency::JPY))
        );
        assert_eq!(
            usd(i64::MAX)
                .mul_rate(dec!(2))
                .unwrap()
                .round(RoundingPolicy::HalfUp),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn from_decimal_refuses_sub_minor_fractions() {
        assert_eq!(
            Money::from_decimal(dec!(12.5), Currency::USD),
            Ok(usd(1250))
        );
        assert_eq!(
            Money::from_decimal(dec!(12.500), Currency::USD),
            Ok(usd(1250))
        );
        assert!(matches!(
            Money::from_decimal(dec!(12.505), Currency::USD),
            Err(MoneyError::WrongDigits { .. })
        ));
        assert_eq!(
            Money::from_decimal_rounded(dec!(12.505), Currency::USD, RoundingPolicy::HalfUp),
            Ok(usd(1251))
        );
    }

    #[test]
    fn allocate_by_largest_remainder_ties_to_the_earlier_part() {
        let parts = usd(1000).allocate(&[1, 1, 1]).unwrap();
        assert_eq!(parts, vec![usd(334), usd(333), usd(333)]);
        let parts = usd(5).allocate(&[1, 0, 3]).unwrap();
        assert_eq!(parts, vec![usd(1), usd(0), usd(4)]);
        let parts = usd(-1000).allocate(&[1, 1, 1]).unwrap();
        assert_eq!(parts, vec![usd(-334), usd(-333), usd(-333)]);
        // Largest remainder, not the earliest: 10 by 7:2:1 → 7, 2, 1 exactly;
        // 11 by 7:2:1 → 7.7, 2.2, 1.1 → 8, 2, 1.
        assert_eq!(
            usd(11).allocate(&[7, 2, 1]).unwrap(),
            vec![usd(8), usd(2), usd(1)]
        );
        assert_eq!(usd(0).allocate(&[3, 4]).unwrap(), vec![usd(0), usd(0)]);
        assert_eq!(
            usd(i64::MAX).allocate(&[u64::MAX, u64::MAX]).unwrap().len(),
            2
        );
        assert_eq!(usd(5).allocate(&[]), Err(MoneyError::InvalidWeights));
        assert_eq!(usd(5).allocate(&[0, 0]), Err(MoneyError::InvalidWeights));
        assert_eq!(usd(i64::MIN).allocate(&[1]).unwrap(), vec![usd(i64::MIN)]);
        assert_eq!(
            usd(i64::MIN).allocate(&[1, 1]).unwrap(),
            vec![usd(i64::MIN / 2), usd(i64::MIN / 2)]
        );
    }

    fn percent_by_decimals(
        minor: i64,
        currency: Currency,
        percent: Decimal,
        policy: RoundingPolicy,
    ) -> Result<i64, MoneyError> {
        Ok(Money::from_minor(minor, currency)
            .mul_rate(percent * Decimal::new(1, 2))?
            .round(policy)?
            .minor())
    }

    const POLICIES: [RoundingPolicy; 6] = [
        RoundingPolicy::HalfUp,
        RoundingPolicy::HalfEven,
        RoundingPolicy::TowardZero,
        RoundingPolicy::AwayFromZero,
        RoundingPolicy::Floor,
        RoundingPolicy::Ceiling,
    ];

    #[test]
    fn percent_of_takes_the_integer_path_for_shop_amounts() {
        for (minor, percent) in [(9999, dec!(10)), (16_997, dec!(12.5)), (1, dec!(0.001))] {
            for policy in POLICIES {
                let fast = percent_of_exact(minor, Currency::USD, percent, policy);
                assert!(fast.is_some(), "{minor} {percent} {policy:?}");
                assert_eq!(
                    fast.map(Ok),
                    Some(percent_by_decimals(minor, Currency::USD, percent, policy))
                );
            }
        }
        // Midpoints: 0.5 of a minor unit under each rule.
        let half = |policy| percent_of(5, Currency::USD, dec!(10), policy);
        assert_eq!(half(RoundingPolicy::HalfUp), Ok(1));
        assert_eq!(half(RoundingPolicy::HalfEven), Ok(0));
        assert_eq!(
            percent_of(15, Currency::USD, dec!(10), RoundingPolicy::HalfEven),
            Ok(2)
        );
        assert_eq!(half(RoundingPolicy::Floor), Ok(0));
        assert_eq!(half(RoundingPolicy::Ceiling), Ok(1));
        // Beyond the integer path (a product above 2^96), the decimal chain
        // answers.
        let fine = Decimal::new(i64::MAX, 17); // 92.23372036854775807
        let policy = RoundingPolicy::HalfUp;
        assert_eq!(
            percent_of_exact(i64::MAX, Currency::USD, fine, policy),
            None
        );
        assert_eq!(
            percent_of(i64::MAX, Currency::USD, fine, policy),
            percent_by_decimals(i64::MAX, Currency::USD, fine, policy)
        );
        assert!(percent_of(i64::MAX, Currency::USD, fine, policy).is_ok());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// The integer path of `percent_of` gives what the decimal chain
        /// gives, for every rounding rule, currency exponent and percent
        /// precision, wherever it applies; and `percent_of` always does.
        #[test]
        fn percent_of_agrees_with_the_decimal_chain(
            digits in 0_u32..19,
            raw in 0_i64..i64::MAX,
            mantissa in 0_i64..10_000_000_000,
            scale in 0_u32..29,
            currency in proptest::sample::select(vec![Currency::JPY, Currency::USD, Currency::KWD]),
            policy in proptest::sample::select(POLICIES.to_vec()),
        ) {
            // Amounts of every size, not only huge ones.
            let minor = raw % 10_i64.pow(digits).max(1);
            let percent = Decimal::new(mantissa, scale);
            let fast = percent_of(minor, currency, percent, policy);
            let slow = percent_by_decimals(minor, currency, percent, policy);
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Ordinary splits rank remainders packed in one integer; scaling
        /// every weight by 2^32 gives the same shares and the same order of
        /// remainders but goes through the wide ranking, so both must agree.
        #[test]
        fn packed_and_wide_ranking_agree(
            total in -1_000_000_000_i64..1_000_000_000,
            weights in proptest::collection::vec(0_u64..5_000, 1..60),
        ) {
            proptest::prop_assume!(weights.iter().any(|&w| w > 0));
            let wide: Vec<u64> = weights.iter().map(|&w| w << 32).collect();
            let mut scratch = SplitScratch::default();
            let (mut packed_parts, mut wide_parts) = (Vec::new(), Vec::new());
            proptest::prop_assert!(allocate_into(total, &weights, &mut packed_parts, &mut scratch).is_some());
            proptest::prop_assert!(scratch.wide.is_empty());
            proptest::prop_assert!(allocate_into(total, &wide, &mut wide_parts, &mut scratch).is_some());
            proptest::prop_assert!(!scratch.wide.is_empty());
            proptest::prop_assert_eq!(packed_parts, wide_parts);
        }
    }

    #[test]
    fn serde_wire_format_refuses_floats_and_wrong_digits() {
        let json = serde_json::to_string(&usd(1250)).unwrap();
        assert_eq!(json, r#"{"amount":"12.50","currency":"USD"}"#);
        let back: Money = serde_json::from_str(&json).unwrap();
        assert_eq!(back, usd(1250));
        for bad in [
            r#"{"amount": 12.5, "currency": "USD"}"#,
            r#"{"amount": 12, "currency": "USD"}"#,
            r#"{"amount": "12.5", "currency": "USD"}"#,
            r#"{"amount": "12.50", "currency": "usd"}"#,
            r#"{"amount": "12.50"}"#,
            r#"{"amount": "12.50", "currency": "USD", "extra": 1}"#,
        ] {
            assert!(serde_json::from_str::<Money>(bad).is_err(), "{bad}");
        }
        let jpy: Money = serde_json::from_str(r#"{"amount":"1200","currency":"JPY"}"#).unwrap();
        assert_eq!(jpy, Money::from_minor(1200, Currency::JPY));
    }
}
