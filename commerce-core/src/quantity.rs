//! Line quantities.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// How many units of one variant a line holds: `1..=999`.
///
/// ```
/// use commerce_core::Quantity;
///
/// assert_eq!(Quantity::new(3)?.get(), 3);
/// assert!(Quantity::new(0).is_err());
/// assert!(Quantity::new(1000).is_err());
/// # Ok::<(), commerce_core::QuantityError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Quantity(u32);

/// A quantity outside `1..=999`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("quantity must be between {min} and {max}, got {got}", min = Quantity::MIN, max = Quantity::MAX)]
pub struct QuantityError {
    /// The refused value.
    pub got: i64,
}

impl Quantity {
    /// The smallest quantity of a line.
    pub const MIN: u32 = 1;
    /// The largest quantity of a line.
    pub const MAX: u32 = 999;

    /// Checks the bounds.
    ///
    /// # Errors
    /// [`QuantityError`] outside `1..=999`.
    pub fn new(n: i64) -> Result<Self, QuantityError> {
        match u32::try_from(n) {
            Ok(q) if (Self::MIN..=Self::MAX).contains(&q) => Ok(Quantity(q)),
            _ => Err(QuantityError { got: n }),
        }
    }

    /// The number of units.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// `self + other`, capped at [`Quantity::MAX`] (used when lines merge).
    #[must_use]
    pub fn saturating_add(self, other: Quantity) -> Quantity {
        Quantity(self.0.saturating_add(other.0).min(Self::MAX))
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl TryFrom<i64> for Quantity {
    type Error = QuantityError;

    fn try_from(n: i64) -> Result<Self, Self::Error> {
        Quantity::new(n)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(deserializer)?;
        Quantity::new(n).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert!(Quantity::new(1).is_ok());
        assert!(Quantity::new(999).is_ok());
        for bad in [0, -1, 1000, i64::MAX, i64::MIN] {
            assert_eq!(Quantity::new(bad), Err(QuantityError { got: bad }));
        }
        assert!(serde_json::from_str::<Quantity>("0").is_err());
        assert!(serde_json::from_str::<Quantity>("1000").is_err());
        assert!(serde_json::from_str::<Quantity>("2.5").is_err());
        assert_eq!(serde_json::from_str::<Quantity>("7").unwrap().get(), 7);
    }

    #[test]
    fn merging_caps_at_the_maximum() {
        let a = Quantity::new(600).unwrap();
        assert_eq!(a.saturating_add(a).get(), 999);
    }
}
