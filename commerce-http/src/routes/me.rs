//! The `me` route group (`/api/v1/me...`: profile, addresses, wishlist): registered in
//! [`super::all`]; its routes are added here.

use commerce_core::storage::Store;

use super::Route;
use crate::state::AppState;

/// The group's routes.
pub fn routes<S: Store + 'static>(_state: AppState<S>) -> Route {
    super::empty()
}
