//! The one place errors become HTTP answers: `application/problem+json`
//! (RFC 9457) with a stable machine `code`.
//!
//! Every handler returns [`ApiError`] on failure, and every core error goes
//! through `From<CommerceError>` below: the status and code of each domain
//! refusal are decided here and nowhere else. Infrastructure failures are
//! logged with their detail and answered with a bare 500 (or 503 when a
//! retry may work); their messages never reach clients.

use std::borrow::Cow;

use commerce_core::payment::WebhookError;
use commerce_core::service::CommerceError;
use commerce_core::storage::StoreError;
use serde::Serialize;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

/// The media type of error bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field, as a JSON path (`variants[0].sku`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// An error answer: status, stable code, and what a client may show.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable machine code (`not_found`, `validation_failed`, ...).
    pub code: &'static str,
    /// A human sentence about this occurrence.
    pub detail: Cow<'static, str>,
    /// Fields that failed validation.
    pub errors: Vec<FieldError>,
    /// Extra members of the problem document (`lines` of a stock shortage).
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
    /// Seconds a client should wait (sent as `Retry-After`).
    pub retry_after: Option<u64>,
}

/// The body of an error answer, as documented in the OpenAPI document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:commerce:problem:<code>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened this time.
    pub detail: String,
    /// The stable machine code clients rely on.
    pub code: String,
    /// Fields that failed validation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl ApiError {
    /// An error with a status, a code and a detail.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            extra: None,
            retry_after: None,
        }
    }

    /// 422 `validation_failed` naming one field.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("{field}: {message}"),
        );
        e.errors.push(FieldError { field, message });
        e
    }

    /// 400 `bad_request`.
    pub fn bad_request(detail: impl Into<Cow<'static, str>>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    /// 404 `not_found`.
    pub fn not_found(what: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 401 `unauthorized`: no credentials were sent.
    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this call needs an access token (Authorization: Bearer ...)",
        )
    }

    /// 401 `invalid_token`: credentials were sent and refused.
    pub fn invalid_token() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is invalid or expired",
        )
    }

    /// 403 `forbidden`.
    pub fn forbidden() -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", "you may not do this")
    }

    /// 429 `rate_limited`, with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests; try again later",
        );
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// 500 `internal`: the detail is logged, never sent.
    pub fn internal(log: impl std::fmt::Display) -> Self {
        tracing::error!(error = %log, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side",
        )
    }

    /// Adds a member to the problem document.
    #[must_use]
    pub fn with_extra(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extra
            .get_or_insert_with(serde_json::Map::new)
            .insert(key.to_owned(), value);
        self
    }

    /// The title of a status (`Not Found`).
    fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }

    /// The problem document.
    pub fn body(&self) -> serde_json::Value {
        let problem = Problem {
            kind: format!("urn:commerce:problem:{}", self.code),
            title: self.title().to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone().into_owned(),
            code: self.code.to_owned(),
            errors: self.errors.clone(),
        };
        let mut value = serde_json::to_value(problem).unwrap_or_default();
        if let (Some(extra), Some(obj)) = (&self.extra, value.as_object_mut()) {
            for (k, v) in extra {
                obj.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        value
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl std::error::Error for ApiError {}

impl warp::reject::Reject for ApiError {}

impl warp::Reply for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut res = Response::new(body.into());
        *res.status_mut() = self.status;
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::from(CommerceError::Store(e))
    }
}

impl From<crate::auth::credentials::CredentialError> for ApiError {
    fn from(e: crate::auth::credentials::CredentialError) -> Self {
        use crate::auth::credentials::CredentialError as C;
        match e {
            C::Validation { field, message } => ApiError::validation(field, message),
            C::InvalidCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "the email or password is wrong",
            ),
            C::InvalidRefreshToken => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the refresh token is invalid, expired or revoked; sign in again",
            ),
            C::InvalidOneTimeToken => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_token",
                "the token is invalid, used or expired",
            ),
            C::OtpInvalid => {
                ApiError::new(StatusCode::UNAUTHORIZED, "otp_invalid", "the code is wrong")
            }
            C::OtpExpired => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "otp_expired",
                "the code expired or had too many wrong tries; ask for a new one",
            ),
            C::Commerce(e) => ApiError::from(e),
            C::Password(crate::auth::password::PasswordError::Busy) => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the server is too busy to check a password now; try again shortly",
                );
                e.retry_after = Some(1);
                e
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<CommerceError> for ApiError {
    fn from(e: CommerceError) -> Self {
        use CommerceError as E;
        let s = |status: StatusCode, code: &'static str, detail: String| {
            ApiError::new(status, code, detail)
        };
        match e {
            E::Validation { field, message } => ApiError::validation(field, message),
            E::NotFound(what) => ApiError::not_found(what),
            E::ProductUnavailable(variant) => s(
                StatusCode::CONFLICT,
                "product_unavailable",
                format!("variant {variant} is not available"),
            )
            .with_extra("variant_id", serde_json::json!(variant)),
            E::InsufficientStock(lines) => s(
                StatusCode::CONFLICT,
                "insufficient_stock",
                "not enough stock for some lines".into(),
            )
            .with_extra("lines", serde_json::to_value(&lines).unwrap_or_default()),
            E::CartEmpty => s(
                StatusCode::CONFLICT,
                "cart_empty",
                "the cart is empty".into(),
            ),
            E::PriceChanged => s(
                StatusCode::CONFLICT,
                "price_changed",
                "prices changed since the items were added; review the cart and try again".into(),
            ),
            E::DiscountCodeInvalid => s(
                StatusCode::UNPROCESSABLE_ENTITY,
                "discount_code_invalid",
                "unknown discount code".into(),
            ),
            E::DiscountNotApplicable(reason) => s(
                StatusCode::UNPROCESSABLE_ENTITY,
                "discount_not_applicable",
                "the discount code does not apply to this cart".into(),
            )
            .with_extra("reason", serde_json::to_value(&reason).unwrap_or_default()),
            E::DiscountUsageExceeded => s(
                StatusCode::UNPROCESSABLE_ENTITY,
                "discount_usage_exceeded",
                "the discount code is used up".into(),
            ),
            E::InvalidTransition(t) => s(StatusCode::CONFLICT, "invalid_transition", t.to_string()),
            E::RefundExceedsCaptured {
                requested,
                refundable,
            } => s(
                StatusCode::CONFLICT,
                "refund_exceeds_captured",
                format!("a refund of {requested} exceeds the {refundable} left"),
            ),
            E::OrderExpired => s(
                StatusCode::CONFLICT,
                "order_expired",
                "the order expired".into(),
            ),
            E::IdempotencyKeyReused => s(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used with another request".into(),
            ),
            E::IdempotencyInProgress => {
                let mut e = s(
                    StatusCode::CONFLICT,
                    "conflict",
                    "a request with this Idempotency-Key is in progress".into(),
                );
                e.retry_after = Some(1);
                e
            }
            E::Forbidden => ApiError::forbidden(),
            E::EmailNotVerified => s(
                StatusCode::FORBIDDEN,
                "email_not_verified",
                "verify your email address first".into(),
            ),
            E::Duplicate(what) => s(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists"),
            )
            .with_extra("field", serde_json::json!(what)),
            E::LimitBelowUsage(b) => s(StatusCode::CONFLICT, "conflict", b.to_string())
                .with_extra("field", serde_json::json!("usage_limit"))
                .with_extra("held", serde_json::json!(b.held)),
            E::BelowReserved(b) => s(StatusCode::CONFLICT, "stock_below_reserved", b.to_string())
                .with_extra("reserved", serde_json::json!(b.reserved)),
            E::CategoryInUse => s(
                StatusCode::CONFLICT,
                "conflict",
                "the category still has products or subcategories".into(),
            ),
            E::EmailTaken => s(
                StatusCode::CONFLICT,
                "email_taken",
                "email already taken".into(),
            ),
            E::AlreadyReviewed => s(
                StatusCode::CONFLICT,
                "conflict",
                "you already reviewed this product".into(),
            ),
            E::Conflict => {
                let mut e = s(
                    StatusCode::CONFLICT,
                    "conflict",
                    "a concurrent change won; retry".into(),
                );
                e.retry_after = Some(1);
                e
            }
            E::Webhook(WebhookError::SignatureInvalid(why)) => s(
                StatusCode::BAD_REQUEST,
                "signature_invalid",
                format!("signature invalid: {why}"),
            ),
            E::Webhook(other) => ApiError::bad_request(other.to_string()),
            E::UnknownPaymentReference => ApiError::not_found("payment"),
            E::Gateway(g) => {
                tracing::warn!(gateway = %g.gateway, error = %g.message, retryable = g.retryable, "gateway failed");
                let mut e = s(
                    StatusCode::BAD_GATEWAY,
                    "gateway_error",
                    "the payment gateway failed; try again".into(),
                );
                if g.retryable {
                    e.retry_after = Some(5);
                }
                e
            }
            E::Pricing(commerce_core::pricing::PricingError::CurrencyMismatch {
                expected,
                found,
                what,
            }) => s(
                StatusCode::CONFLICT,
                "currency_mismatch",
                format!("the cart is in {expected} but {what} is in {found}"),
            ),
            E::Pricing(other) => ApiError::internal(other),
            E::Store(StoreError::NotFound(what)) => ApiError::not_found(what),
            E::Store(StoreError::Duplicate { what }) => s(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists"),
            ),
            E::Store(StoreError::Backend { message, retryable }) => {
                tracing::error!(error = %message, retryable, "store failed");
                let mut e = s(
                    if retryable {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::INTERNAL_SERVER_ERROR
                    },
                    if retryable { "unavailable" } else { "internal" },
                    "something went wrong on our side".into(),
                );
                if retryable {
                    e.retry_after = Some(1);
                }
                e
            }
            other => ApiError::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::Reply;

    #[test]
    fn domain_errors_keep_their_codes() {
        let cases: Vec<(CommerceError, u16, &str)> = vec![
            (CommerceError::NotFound("product"), 404, "not_found"),
            (CommerceError::Forbidden, 403, "forbidden"),
            (CommerceError::EmailNotVerified, 403, "email_not_verified"),
            (CommerceError::EmailTaken, 409, "email_taken"),
            (CommerceError::Duplicate("sku"), 409, "conflict"),
            (CommerceError::CartEmpty, 409, "cart_empty"),
            (
                CommerceError::InsufficientStock(vec![]),
                409,
                "insufficient_stock",
            ),
            (
                CommerceError::IdempotencyKeyReused,
                422,
                "idempotency_key_reused",
            ),
            (
                CommerceError::DiscountCodeInvalid,
                422,
                "discount_code_invalid",
            ),
            (CommerceError::OrderExpired, 409, "order_expired"),
        ];
        for (err, status, code) in cases {
            let api = ApiError::from(err);
            assert_eq!((api.status.as_u16(), api.code), (status, code));
        }
    }

    #[test]
    fn backend_messages_never_reach_the_body() {
        let api = ApiError::from(CommerceError::Store(StoreError::Backend {
            message: "password authentication failed for user postgres".into(),
            retryable: false,
        }));
        let body = api.body().to_string();
        assert_eq!(api.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.contains("postgres"), "{body}");
    }

    #[test]
    fn problem_json_has_the_rfc_members_and_retry_after() {
        let res = ApiError::rate_limited(7).into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(res.headers()[header::RETRY_AFTER], "7");
        let v = ApiError::validation("name", "required").body();
        for k in ["type", "title", "status", "detail", "code", "errors"] {
            assert!(v.get(k).is_some(), "{k} missing in {v}");
        }
        assert_eq!(v["errors"][0]["field"], "name");
    }
}
