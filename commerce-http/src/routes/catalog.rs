//! The `catalog` route group.

use commerce_core::storage::Store;

use super::Route;
use crate::state::AppState;

/// The group's routes.
pub fn routes<S: Store + 'static>(_state: AppState<S>) -> Route {
    super::empty()
}
