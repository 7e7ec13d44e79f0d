//! Postal addresses, checked once at the edge.

use serde::{Deserialize, Serialize};

/// A refused address field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct AddressError {
    /// The field.
    pub field: &'static str,
    /// What is wrong.
    pub message: &'static str,
}

/// A postal address. Build with [`Address::new`] from an [`AddressInput`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    full_name: String,
    line1: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    line2: Option<String>,
    city: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    postal_code: String,
    country: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
}

/// The unchecked fields of an address, as clients send them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    /// Recipient.
    pub full_name: String,
    /// Street and number.
    pub line1: String,
    /// More.
    #[serde(default)]
    pub line2: Option<String>,
    /// City.
    pub city: String,
    /// State, province or region.
    #[serde(default)]
    pub region: Option<String>,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code (`DE`, `us` is upper-cased).
    pub country: String,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
}

fn text(field: &'static str, value: &str, max: usize) -> Result<String, AddressError> {
    let t = value.trim();
    if t.is_empty() {
        return Err(AddressError {
            field,
            message: "must not be empty",
        });
    }
    if t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(AddressError {
            field,
            message: "too long or contains control characters",
        });
    }
    Ok(t.to_owned())
}

fn optional(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, AddressError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

impl Address {
    /// Checks and normalises (trimmed text, upper-case country).
    ///
    /// # Errors
    /// [`AddressError`] naming the first bad field.
    pub fn new(input: &AddressInput) -> Result<Self, AddressError> {
        let country = input.country.trim().to_ascii_uppercase();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(AddressError {
                field: "country",
                message: "must be an ISO 3166-1 alpha-2 code",
            });
        }
        let phone = optional("phone", input.phone.as_deref(), 32)?;
        if let Some(p) = &phone
            && !p
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        {
            return Err(AddressError {
                field: "phone",
                message: "digits, spaces and + - ( ) . only",
            });
        }
        Ok(Address {
            full_name: text("full_name", &input.full_name, 200)?,
            line1: text("line1", &input.line1, 200)?,
            line2: optional("line2", input.line2.as_deref(), 200)?,
            city: text("city", &input.city, 100)?,
            region: optional("region", input.region.as_deref(), 100)?,
            postal_code: text("postal_code", &input.postal_code, 20)?,
            country,
            phone,
        })
    }

    /// The fields, for storage and display.
    pub fn to_input(&self) -> AddressInput {
        AddressInput {
            full_name: self.full_name.clone(),
            line1: self.line1.clone(),
            line2: self.line2.clone(),
            city: self.city.clone(),
            region: self.region.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
            phone: self.phone.clone(),
        }
    }

    /// The country code.
    pub fn country(&self) -> &str {
        &self.country
    }

    /// The recipient.
    pub fn full_name(&self) -> &str {
        &self.full_name
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let input = AddressInput::deserialize(deserializer)?;
        Address::new(&input).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> AddressInput {
        AddressInput {
            full_name: " Ada Lovelace ".into(),
            line1: "12 St James's Square".into(),
            line2: Some("  ".into()),
            city: "London".into(),
            region: None,
            postal_code: "SW1Y 4JH".into(),
            country: "gb".into(),
            phone: Some("+44 20 7946 0000".into()),
        }
    }

    #[test]
    fn normalises() {
        let a = Address::new(&input()).unwrap();
        assert_eq!(a.full_name(), "Ada Lovelace");
        assert_eq!(a.country(), "GB");
        assert_eq!(a.to_input().line2, None);
    }

    #[test]
    fn refuses_bad_fields() {
        let mut i = input();
        i.country = "GBR".into();
        assert_eq!(Address::new(&i).unwrap_err().field, "country");
        let mut i = input();
        i.city = " ".into();
        assert_eq!(Address::new(&i).unwrap_err().field, "city");
        let mut i = input();
        i.phone = Some("call me".into());
        assert_eq!(Address::new(&i).unwrap_err().field, "phone");
        let mut i = input();
        i.line1 = "a\u{0}b".into();
        assert_eq!(Address::new(&i).unwrap_err().field, "line1");
    }
}
