//! Discount codes.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};

/// A refused discount code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid discount code {0:?}: use 1 to 64 of A-Z, 0-9, '-', '_'")]
pub struct DiscountCodeError(pub String);

/// A discount code, case-insensitive: stored and compared upper-case, so
/// `save10`, `Save10` and `SAVE10` are one code. Surrounding spaces are trimmed.
///
/// The text is shared: a clone (one per trace entry of a code promotion)
/// copies a pointer.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DiscountCode(Arc<str>);

impl DiscountCode {
    /// Normalises and checks a code.
    ///
    /// # Errors
    /// [`DiscountCodeError`] unless it is 1–64 of `A-Z 0-9 - _` (any case).
    pub fn parse(s: &str) -> Result<Self, DiscountCodeError> {
        let t = s.trim();
        let ok = (1..=64).contains(&t.len())
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(DiscountCode(t.to_ascii_uppercase().into()))
        } else {
            Err(DiscountCodeError(s.chars().take(80).collect()))
        }
    }

    /// The normalised (upper-case) code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DiscountCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for DiscountCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DiscountCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        DiscountCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_case_insensitive_and_checked() {
        assert_eq!(
            DiscountCode::parse(" save10 ").unwrap(),
            DiscountCode::parse("SAVE10").unwrap()
        );
        assert_eq!(
            DiscountCode::parse("Black_Friday-24").unwrap().as_str(),
            "BLACK_FRIDAY-24"
        );
        for bad in ["", "   ", "with space", "percent%", "ß", &"A".repeat(65)] {
            assert!(DiscountCode::parse(bad).is_err(), "{bad:?}");
        }
    }
}
