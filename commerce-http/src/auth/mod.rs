//! Who is calling: the [`Principal`] an access token names, and the warp
//! filters that demand one ([`required`]) or accept its absence ([`optional`]).
//!
//! A missing `Authorization` header is 401 `unauthorized`; a header that is
//! there but not a valid HS256 token of ours (malformed, another key,
//! tampered, expired, `alg: none`) is 401 `invalid_token`.

pub mod credentials;
pub mod jwt;
pub mod otp;
pub mod password;
pub mod secret;
pub mod settings;

use commerce_core::account::Role;
use commerce_core::ids::CustomerId;
use commerce_core::service::Actor;
use commerce_core::storage::Store;
use uuid::Uuid;
use warp::{Filter, Rejection};

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The account.
    pub customer_id: CustomerId,
    /// Its roles when the token was issued.
    pub roles: Vec<Role>,
    /// The refresh-token session the access token came from.
    pub session: Option<Uuid>,
}

impl Principal {
    /// Whether the caller holds a role.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.has_role(Role::Admin)
    }

    /// The caller as core's services see it.
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.customer_id,
            admin: self.is_admin(),
        }
    }

    /// 403 `forbidden` unless the caller is an admin.
    ///
    /// # Errors
    /// [`ApiError::forbidden`].
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

/// Reads a bearer token from an `Authorization` header value.
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
        Some(token.trim())
    } else {
        None
    }
}

/// Verifies an `Authorization` header value.
///
/// # Errors
/// 401 `invalid_token`.
pub fn principal_from_header<S>(state: &AppState<S>, header: &str) -> Result<Principal, ApiError> {
    let token = bearer(header).ok_or_else(ApiError::invalid_token)?;
    let claims = state.tokens.verify(token).map_err(|e| {
        tracing::debug!(reason = %e, "access token refused");
        ApiError::invalid_token()
    })?;
    Ok(Principal {
        customer_id: CustomerId::from_uuid(claims.sub),
        roles: claims.roles,
        session: claims.sid,
    })
}

/// Demands a valid access token.
pub fn required<S: Store + 'static>(
    state: AppState<S>,
) -> impl Filter<Extract = (Principal,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization").and_then(move |h: Option<String>| {
        let state = state.clone();
        async move {
            match h {
                None => Err(warp::reject::custom(ApiError::unauthorized())),
                Some(h) => principal_from_header(&state, &h).map_err(warp::reject::custom),
            }
        }
    })
}

/// Accepts a missing token; a token that is sent must be valid.
pub fn optional<S: Store + 'static>(
    state: AppState<S>,
) -> impl Filter<Extract = (Option<Principal>,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization").and_then(move |h: Option<String>| {
        let state = state.clone();
        async move {
            match h {
                None => Ok(None),
                Some(h) => principal_from_header(&state, &h)
                    .map(Some)
                    .map_err(warp::reject::custom),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_token() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("abc"), None);
    }
}
