//! The errors services return: domain refusals, and infrastructure failures
//! wrapped as they are.

use crate::ids::VariantId;
use crate::inventory::Shortage;
use crate::money::Money;
use crate::order::InvalidTransition;
use crate::payment::{GatewayError, WebhookError};
use crate::pricing::{NotApplied, PricingError};
use crate::storage::StoreError;

/// Why a service call was refused or failed. Every refusal changes nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommerceError {
    /// Input breaks a rule (`field` names it).
    #[error("{field}: {message}")]
    Validation {
        /// The field.
        field: &'static str,
        /// The rule.
        message: String,
    },
    /// The thing does not exist (or is not the caller's).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The product is withdrawn or the variant gone.
    #[error("variant {0} is not available")]
    ProductUnavailable(VariantId),
    /// Not enough stock; each short line with what is available.
    #[error("insufficient stock")]
    InsufficientStock(Vec<Shortage>),
    /// Checkout of an empty cart.
    #[error("the cart is empty")]
    CartEmpty,
    /// Prices changed since the lines were added; the cart now shows the new
    /// prices, and a new checkout accepts them.
    #[error("prices changed since the items were added")]
    PriceChanged,
    /// No promotion has this code.
    #[error("unknown discount code")]
    DiscountCodeInvalid,
    /// The code exists but does not apply to this cart, for this reason.
    #[error("discount code does not apply: {0}")]
    DiscountNotApplicable(NotApplied),
    /// The code's promotion is used up (in all or by this customer).
    #[error("discount code is used up")]
    DiscountUsageExceeded,
    /// The lifecycle forbids it.
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// A refund above what is left to refund.
    #[error("refund of {requested} exceeds the {refundable} left")]
    RefundExceedsCaptured {
        /// Asked.
        requested: Money,
        /// Left.
        refundable: Money,
    },
    /// The order's reservation expired; it cannot be paid any more.
    #[error("the order expired")]
    OrderExpired,
    /// The same idempotency key was used for another request.
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    /// A request with this key is still running; retry later.
    #[error("a request with this idempotency key is in progress")]
    IdempotencyInProgress,
    /// The caller may not do this (a seller editing another store's product).
    #[error("forbidden")]
    Forbidden,
    /// The account must verify its email first.
    #[error("email not verified")]
    EmailNotVerified,
    /// A unique name is taken (`sku`, `store slug`, `category slug`, ...).
    #[error("{0} already exists")]
    Duplicate(&'static str),
    /// A promotion's usage limit cannot go below what live orders hold.
    #[error(transparent)]
    LimitBelowUsage(#[from] crate::storage::LimitBelowUsage),
    /// Stock on hand cannot go below the units reserved by pending orders.
    #[error(transparent)]
    BelowReserved(#[from] crate::storage::BelowReserved),
    /// The category still has products or subcategories.
    #[error("the category is not empty")]
    CategoryInUse,
    /// Another account has this email.
    #[error("email already taken")]
    EmailTaken,
    /// The account already reviewed this product.
    #[error("this product was already reviewed by this account")]
    AlreadyReviewed,
    /// Someone changed the same thing at the same time; retry.
    #[error("concurrent change; retry")]
    Conflict,
    /// A webhook's signature is wrong, missing or stale.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    /// No payment has this gateway reference.
    #[error("unknown payment reference")]
    UnknownPaymentReference,
    /// The gateway failed.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// The cart could not be priced.
    #[error(transparent)]
    Pricing(#[from] PricingError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CommerceError {
    /// `true` when the same call may succeed later unchanged.
    pub fn is_retryable(&self) -> bool {
        match self {
            CommerceError::IdempotencyInProgress | CommerceError::Conflict => true,
            CommerceError::Gateway(g) => g.retryable,
            CommerceError::Store(StoreError::Backend { retryable, .. }) => *retryable,
            _ => false,
        }
    }
}
