//! The demo catalog seeded into an empty database (`COMMERCE_DEMO=1`).

use commerce_core::money::Currency;
use commerce_core::service::{Commerce, CommerceError};
use commerce_core::shipping::ShippingMethod;
use commerce_core::storage::Store;

/// The demo's shipping methods.
///
/// # Errors
/// A currency whose amounts cannot be written.
pub fn shipping_methods(_currency: Currency) -> Result<Vec<ShippingMethod>, String> {
    Ok(Vec::new())
}

/// Seeds the demo into an empty database; `None` when it holds a catalog already.
///
/// # Errors
/// The engine refused or the store failed.
pub async fn seed<S: Store>(_commerce: &Commerce<S>) -> Result<Option<String>, CommerceError> {
    Ok(None)
}
