//! ISO 4217 currencies and their minor-unit exponents.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::MoneyError;
use super::iso4217::TABLE;

/// An ISO 4217 currency: its code and the number of minor-unit digits
/// (USD 2, JPY 0, KWD 3).
///
/// A `Currency` can only be made from the table of known codes, so its
/// exponent is always the right one. It is `Copy` and as cheap as an integer.
///
/// ```
/// use commerce_core::money::Currency;
///
/// let kwd: Currency = "KWD".parse()?;
/// assert_eq!(kwd.exponent(), 3);
/// assert_eq!(Currency::JPY.exponent(), 0);
/// # Ok::<(), commerce_core::money::MoneyError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    /// Index into the sorted table; ordering by index is ordering by code.
    idx: u16,
}

/// Finds a code in the table at compile time (for the constants below).
const fn const_index(code: &str) -> u16 {
    let wanted = code.as_bytes();
    let mut i = 0;
    while i < TABLE.len() {
        let have = TABLE[i].0.as_bytes();
        if have[0] == wanted[0] && have[1] == wanted[1] && have[2] == wanted[2] {
            // The table holds fewer than 200 rows.
            #[allow(clippy::cast_possible_truncation)]
            return i as u16;
        }
        i += 1;
    }
    panic!("currency code missing from the ISO 4217 table")
}

impl Currency {
    /// US dollar (2 minor digits).
    pub const USD: Currency = Currency {
        idx: const_index("USD"),
    };
    /// Euro (2).
    pub const EUR: Currency = Currency {
        idx: const_index("EUR"),
    };
    /// Pound sterling (2).
    pub const GBP: Currency = Currency {
        idx: const_index("GBP"),
    };
    /// Japanese yen (0).
    pub const JPY: Currency = Currency {
        idx: const_index("JPY"),
    };
    /// Kuwaiti dinar (3).
    pub const KWD: Currency = Currency {
        idx: const_index("KWD"),
    };
    /// Iranian rial (0 here; ISO lists 2, see the module docs).
    pub const IRR: Currency = Currency {
        idx: const_index("IRR"),
    };
    /// Ethiopian birr (2).
    pub const ETB: Currency = Currency {
        idx: const_index("ETB"),
    };

    /// Looks up an ISO 4217 alphabetic code (three upper-case letters).
    ///
    /// # Errors
    /// [`MoneyError::UnknownCurrency`] when the code is not in the table.
    pub fn from_code(code: &str) -> Result<Self, MoneyError> {
        TABLE
            .binary_search_by(|row| row.0.cmp(code))
            .ok()
            .and_then(|i| u16::try_from(i).ok())
            .map(|idx| Currency { idx })
            .ok_or_else(|| MoneyError::UnknownCurrency(code.chars().take(16).collect()))
    }

    fn row(self) -> &'static (&'static str, u16, u8, &'static str) {
        &TABLE[usize::from(self.idx)]
    }

    /// The alphabetic code, such as `"USD"`.
    pub fn code(self) -> &'static str {
        self.row().0
    }

    /// The ISO 4217 numeric code, such as `840`.
    pub fn numeric(self) -> u16 {
        self.row().1
    }

    /// The number of digits after the decimal point (minor-unit exponent).
    pub fn exponent(self) -> u8 {
        self.row().2
    }

    /// The English name of the currency.
    pub fn name(self) -> &'static str {
        self.row().3
    }

    /// How many minor units make one major unit (`10^exponent`).
    pub fn minor_per_major(self) -> i64 {
        10_i64.pow(u32::from(self.exponent()))
    }

    /// Every known currency, in code order.
    pub fn all() -> impl Iterator<Item = Currency> {
        (0..TABLE.len()).filter_map(|i| u16::try_from(i).ok().map(|idx| Currency { idx }))
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::from_code(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Currency::from_code(&code).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_of_the_currencies_the_design_names() {
        for (code, exp) in [("USD", 2), ("JPY", 0), ("KWD", 3), ("IRR", 0), ("ETB", 2)] {
            assert_eq!(
                Currency::from_code(code).map(Currency::exponent),
                Ok(exp),
                "{code}"
            );
        }
    }

    #[test]
    fn constants_match_lookups() {
        assert_eq!(Currency::USD.code(), "USD");
        assert_eq!(Currency::USD.numeric(), 840);
        assert_eq!(Currency::EUR, Currency::from_code("EUR").unwrap());
        assert_eq!(Currency::KWD.minor_per_major(), 1000);
        assert_eq!(Currency::JPY.minor_per_major(), 1);
    }

    #[test]
    fn table_is_sorted_unique_and_complete_enough() {
        let codes: Vec<&str> = Currency::all().map(Currency::code).collect();
        assert!(
            codes.windows(2).all(|w| w[0] < w[1]),
            "table must be sorted and unique"
        );
        assert!(codes.len() >= 150, "only {} currencies", codes.len());
        assert!(Currency::all().all(|c| c.exponent() <= 4));
    }

    #[test]
    fn unknown_and_malformed_codes_are_refused() {
        for bad in ["", "US", "usd", "XAU", "ABCD", "ZZZ"] {
            assert!(
                matches!(
                    Currency::from_code(bad),
                    Err(MoneyError::UnknownCurrency(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn serde_is_the_code() {
        let json = serde_json::to_string(&Currency::KWD).unwrap();
        assert_eq!(json, "\"KWD\"");
        let back: Currency = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Currency::KWD);
        assert!(serde_json::from_str::<Currency>("\"XXX\"").is_err());
        assert!(serde_json::from_str::<Currency>("840").is_err());
    }
}
