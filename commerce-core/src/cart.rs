//! Carts: an account's, or a guest's found by an unguessable token.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CartId, CustomerId, LineId, VariantId};
use crate::money::{Currency, Money};
use crate::promotion::DiscountCode;
use crate::quantity::Quantity;

/// A guest's cart token: 244 random bits, hex. Whoever holds it holds the cart.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CartToken(String);

/// A malformed cart token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed cart token")]
pub struct CartTokenError;

impl CartToken {
    /// A fresh random token.
    pub fn generate() -> Self {
        let a = uuid::Uuid::new_v4();
        let b = uuid::Uuid::new_v4();
        CartToken(format!("{}{}", a.simple(), b.simple()))
    }

    /// Checks a token received from a client (64 lower-case hex digits).
    ///
    /// # Errors
    /// [`CartTokenError`].
    pub fn parse(s: &str) -> Result<Self, CartTokenError> {
        if s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(CartToken(s.to_owned()))
        } else {
            Err(CartTokenError)
        }
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CartToken {
    type Error = CartTokenError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        CartToken::parse(&s)
    }
}

impl From<CartToken> for String {
    fn from(t: CartToken) -> Self {
        t.0
    }
}

impl fmt::Debug for CartToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a bearer secret whole.
        write!(f, "CartToken({}…)", &self.0[..6])
    }
}

/// Whose cart it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CartOwner {
    /// A signed-in account's.
    Account(CustomerId),
    /// A guest's, by token.
    Guest(CartToken),
}

/// One line: a variant and a quantity, and the price it had when added (to
/// tell the buyer when it changed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    /// The line.
    pub id: LineId,
    /// The variant.
    pub variant_id: VariantId,
    /// Units.
    pub quantity: Quantity,
    /// The unit price when the line was added or last changed.
    pub price_when_added: Money,
}

/// A cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    /// The cart.
    pub id: CartId,
    /// Whose.
    pub owner: CartOwner,
    /// Its currency.
    pub currency: Currency,
    /// Lines, in the order added; at most one per variant.
    pub lines: Vec<CartLine>,
    /// Entered codes.
    pub codes: Vec<DiscountCode>,
    /// The chosen shipping method's code.
    pub shipping_method: Option<String>,
    /// Bumped by every save; stores refuse a save based on an older version.
    pub version: u64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Cart {
    /// An empty cart.
    pub fn new(owner: CartOwner, currency: Currency, now: DateTime<Utc>) -> Self {
        Cart {
            id: CartId::new(),
            owner,
            currency,
            lines: Vec::new(),
            codes: Vec::new(),
            shipping_method: None,
            version: 0,
            created_at: now,
            updated_at: now,
        }
    }

    /// The line holding a variant.
    pub fn line_for(&self, variant: VariantId) -> Option<&CartLine> {
        self.lines.iter().find(|l| l.variant_id == variant)
    }

    /// `true` without lines.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}
