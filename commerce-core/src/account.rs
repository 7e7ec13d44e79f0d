//! Accounts, address books, wishlists and reviews: the rules, with no HTTP
//! in them. Credentials (password hashes, tokens, one-time codes) are kept by
//! the HTTP layer's credential module; an account only stores the hash it is given.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::ids::{AddressId, CustomerId, ProductId, ReviewId};

/// A refused email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid email address")]
pub struct EmailError;

/// An email address, normalised to lower case (so uniqueness is
/// case-insensitive) and trimmed.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Checks the shape: one `@`, a non-empty local part, a domain with a dot,
    /// no spaces or control characters, at most 254 characters.
    ///
    /// # Errors
    /// [`EmailError`].
    pub fn parse(s: &str) -> Result<Self, EmailError> {
        let t = s.trim();
        let Some((local, domain)) = t.split_once('@') else {
            return Err(EmailError);
        };
        let ok = t.len() <= 254
            && !local.is_empty()
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && t.chars().all(|c| !c.is_whitespace() && !c.is_control());
        if ok {
            Ok(Email(t.to_lowercase()))
        } else {
            Err(EmailError)
        }
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Email::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> Self {
        e.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Every account.
    Customer,
    /// Owns at least one store.
    Seller,
    /// Runs the shop.
    Admin,
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The account.
    pub id: CustomerId,
    /// Its email, unique case-insensitively.
    pub email: Email,
    /// Display name.
    pub full_name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Roles; always includes [`Role::Customer`].
    pub roles: Vec<Role>,
    /// Whether the email was verified.
    pub email_verified: bool,
    /// The password hash (PHC string), if the account has a password.
    #[serde(skip_serializing)]
    pub password_hash: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl Account {
    /// A new customer account.
    pub fn new(
        email: Email,
        full_name: Option<String>,
        password_hash: Option<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Account {
            id: CustomerId::new(),
            email,
            full_name,
            phone: None,
            roles: vec![Role::Customer],
            email_verified: false,
            password_hash,
            created_at: now,
        }
    }

    /// Whether the account has a role.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// An address in an account's book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedAddress {
    /// The entry.
    pub id: AddressId,
    /// Whose.
    pub account_id: CustomerId,
    /// The address.
    pub address: Address,
    /// At most one per account.
    pub is_default: bool,
}

/// A product review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// The review.
    pub id: ReviewId,
    /// The product.
    pub product_id: ProductId,
    /// The author.
    pub account_id: CustomerId,
    /// 1 to 5.
    pub rating: u8,
    /// Optional title.
    pub title: Option<String>,
    /// The text.
    pub body: String,
    /// `true` when the author had a paid order with this product when posting.
    pub verified_purchase: bool,
    /// Posted.
    pub created_at: DateTime<Utc>,
}

/// A product's rating: average and count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rating {
    /// The mean rating, or 0 without reviews.
    pub average: f64,
    /// The number of reviews.
    pub count: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse(" Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
            "ada@.example.com",
            "ada@example.com.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }
}
