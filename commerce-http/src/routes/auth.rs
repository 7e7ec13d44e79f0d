//! The `auth` route group (`/api/v1/auth/...`: register, verify, login, refresh, logout, OTP, passwords): registered in
//! [`super::all`]; its routes are added here.

use commerce_core::storage::Store;

use super::Route;
use crate::state::AppState;

/// The group's routes.
pub fn routes<S: Store + 'static>(_state: AppState<S>) -> Route {
    super::empty()
}
