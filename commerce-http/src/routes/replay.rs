//! The optional `Idempotency-Key` of POST routes that do not require one
//! (API.md: "optional elsewhere on POST"), for the back office's writes.
//!
//! With a key, the first answer (status, content type, body) is stored
//! under the caller's scope and the key, and the same request with the same
//! key is answered with it again without running twice: a refund retried
//! after a lost answer refunds once. The same key with another request
//! (method, path or body) is 422 `idempotency_key_reused`; while the first
//! request runs, 409 `conflict` with `Retry-After`. Answers a retry could
//! change (5xx, 429, 409 `conflict`) are not stored: the key is released
//! and a retry runs. Without a key the route runs as before.
//!
//! Keys live in the same store as checkout's (`IdempotencyStore`), with the
//! scope `http:<account id>`, and are pruned with them. Only admins' writes
//! take them ([`admin_guard`]): the role is checked before a key is read,
//! so a refusal of the caller is never stored under it.

use std::future::Future;

use bytes::Bytes;
use commerce_core::idempotency::{Begin, Fingerprint, IdempotencyKey};
use commerce_core::service::CommerceError;
use commerce_core::storage::{Store, StoreError};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::checkout::IDEMPOTENCY_KEY;
use super::respond;
use crate::auth::{self, Principal};
use crate::error::ApiError;
use crate::state::AppState;

/// Whose request, with which key, and what it is made of (its fingerprint).
#[derive(Debug, Clone)]
pub struct Guard {
    who: Principal,
    key: Option<IdempotencyKey>,
    method: String,
    path: String,
}

/// An admin's request with its optional key: not an admin is 401/403 (as
/// [`Principal::require_admin`]); a malformed key is 422
/// `validation_failed` (`Idempotency-Key`).
pub fn admin_guard<S: Store + 'static>(
    state: AppState<S>,
) -> impl Filter<Extract = (Guard,), Error = Rejection> + Clone {
    auth::required(state)
        .and_then(|who: Principal| async move {
            who.require_admin()
                .map(|()| who)
                .map_err(warp::reject::custom)
        })
        .and(warp::header::optional::<String>(IDEMPOTENCY_KEY))
        .and(warp::method())
        .and(warp::path::full())
        .and_then(
            |who: Principal,
             key: Option<String>,
             method: warp::http::Method,
             path: warp::path::FullPath| async move {
                let key = match key {
                    None => None,
                    Some(k) => Some(IdempotencyKey::parse(&k).map_err(|e| {
                        warp::reject::custom(ApiError::validation("Idempotency-Key", e.to_string()))
                    })?),
                };
                Ok::<_, Rejection>(Guard {
                    who,
                    key,
                    method: method.as_str().to_owned(),
                    path: path.as_str().to_owned(),
                })
            },
        )
}

/// A stored answer.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    status: u16,
    content_type: Option<String>,
    body: String,
}

/// Whether a retry could be answered differently (so the answer is not kept).
fn retryable(status: StatusCode, body: &[u8]) -> bool {
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return true;
    }
    status == StatusCode::CONFLICT
        && serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .is_some_and(|v| v["code"] == "conflict")
}

fn rebuild(stored: Stored) -> Response {
    let mut res = Response::new(stored.body.into());
    *res.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    if let Some(ct) = stored
        .content_type
        .and_then(|ct| HeaderValue::from_str(&ct).ok())
    {
        res.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    res
}

impl Guard {
    /// The caller (an admin).
    pub fn who(&self) -> &Principal {
        &self.who
    }

    /// Runs `route` once per key of the caller, `body` being the request's
    /// raw body; without a key, just runs it.
    pub async fn run<S, F>(
        self,
        state: &AppState<S>,
        body: &[u8],
        route: F,
    ) -> Result<Response, ApiError>
    where
        S: Store + 'static,
        F: Future<Output = Result<Response, ApiError>>,
    {
        let Some(key) = self.key else {
            return route.await;
        };
        let scope = format!("http:{}", self.who.customer_id);
        let store = state.commerce.store();
        let now = state.commerce.clock().now();
        let fingerprint = Fingerprint::of(&[self.method.as_bytes(), self.path.as_bytes(), body]);
        let lock_until = now + state.commerce.config().idempotency_lock;
        match store
            .begin(&scope, &key, fingerprint, now, lock_until)
            .await
            .map_err(ApiError::from)?
        {
            Begin::Started => {}
            Begin::Replay(text) => {
                let stored: Stored = serde_json::from_str(&text)
                    .map_err(|_| ApiError::from(CommerceError::Conflict))?;
                return Ok(rebuild(stored));
            }
            Begin::InProgress => return Err(CommerceError::IdempotencyInProgress.into()),
            Begin::Mismatch => return Err(CommerceError::IdempotencyKeyReused.into()),
        }
        let res = respond(route.await);
        let (parts, body) = res.into_parts();
        let bytes: Bytes = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                let _ = store.release(&scope, &key).await;
                return Err(ApiError::from(StoreError::Backend {
                    message: format!("reading the answer to store it: {e}"),
                    retryable: true,
                }));
            }
        };
        if retryable(parts.status, &bytes) {
            let _ = store.release(&scope, &key).await;
        } else {
            let stored = Stored {
                status: parts.status.as_u16(),
                content_type: parts
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                body: String::from_utf8_lossy(&bytes).into_owned(),
            };
            // The change is made; a key that cannot be completed is
            // released, so a retry runs again rather than waiting.
            let completed = match serde_json::to_string(&stored) {
                Ok(text) => store.complete(&scope, &key, text).await.is_ok(),
                Err(_) => false,
            };
            if !completed {
                let _ = store.release(&scope, &key).await;
            }
        }
        Ok(Response::from_parts(parts, bytes.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_answers_a_retry_cannot_change_are_kept() {
        assert!(retryable(StatusCode::INTERNAL_SERVER_ERROR, b""));
        assert!(retryable(StatusCode::SERVICE_UNAVAILABLE, b""));
        assert!(retryable(StatusCode::TOO_MANY_REQUESTS, b""));
        assert!(retryable(
            StatusCode::CONFLICT,
            br#"{"code":"conflict","status":409}"#
        ));
        assert!(!retryable(
            StatusCode::CONFLICT,
            br#"{"code":"invalid_transition","status":409}"#
        ));
        assert!(!retryable(StatusCode::OK, b"{}"));
        assert!(!retryable(StatusCode::UNPROCESSABLE_ENTITY, b"{}"));
    }
}
