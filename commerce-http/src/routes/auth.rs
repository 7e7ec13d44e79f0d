//! The `auth` route group (`/api/v1/auth/...`): register, verify-email,
//! login, refresh, logout, one-time codes, and passwords.
//!
//! Each handler checks its rate limits, parses, calls one function of
//! [`crate::auth::credentials`] (where every credential rule lives), enqueues
//! the mail it answers, and maps the result. Calls that could tell whether an
//! email has an account (`otp/request`, `password/forgot`) answer 202 before
//! that is looked at: the work runs in a task of its own.

use std::net::IpAddr;

use commerce_core::ids::SessionFamilyId;
use commerce_core::storage::Store;
use commerce_jobs::handlers::{AccountMail, enqueue_account_mail};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::me::Profile;
use super::{Route, json, no_content, respond, with_state};
use crate::auth::credentials::{self, CredentialError, SignedIn};
use crate::auth::{self as principal, Principal};
use crate::error::ApiError;
use crate::extract;
use crate::ratelimit::{self, account_key, bucket, client_ip, ip_key_of};
use crate::state::AppState;
use crate::telemetry;

/// The group's routes.
pub fn routes<S: Store + 'static>(state: AppState<S>) -> Route {
    let ip = client_ip(state.config.auth.trusted_proxies);
    let base = || {
        warp::path("api")
            .and(warp::path("v1"))
            .and(warp::path("auth"))
    };

    let register = base()
        .and(warp::path!("register"))
        .and(warp::post())
        .and(ip.clone())
        .and(with_state(state.clone()))
        .and(extract::json::<RegisterBody>())
        .then(register::<S>)
        .map(respond);
    let verify = base()
        .and(warp::path!("verify-email"))
        .and(warp::post())
        .and(ip.clone())
        .and(with_state(state.clone()))
        .and(extract::json::<TokenBody>())
        .then(verify_email::<S>)
        .map(respond);
    let login = base()
        .and(warp::path!("login"))
        .and(warp::post())
        .and(ip.clone())
        .and(with_state(state.clone()))
        .and(extract::json::<LoginBody>())
        .then(login::<S>)
        .map(respond);
    let refresh = base()
        .and(warp::path!("refresh"))
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(extract::json::<RefreshBody>())
        .then(refresh::<S>)
        .map(respond);
    let logout = base()
        .and(warp::path!("logout"))
        .and(warp::post())
        .and(principal::required(state.clone()))
        .and(with_state(state.clone()))
        .and(extract::json::<RefreshBody>())
        .then(logout::<S>)
        .map(respond);
    let otp_request = base()
        .and(warp::path!("otp" / "request"))
        .and(warp::post())
        .and(ip.clone())
        .and(with_state(state.clone()))
        .and(extract::json::<OtpRequestBody>())
        .then(otp_request::<S>)
        .map(respond);
    let otp_verify = base()
        .and(warp::path!("otp" / "verify"))
        .and(warp::post())
        .and(ip.clone())
        .and(with_state(state.clone()))
        .and(extract::json::<OtpVerifyBody>())
        .then(otp_verify::<S>)
        .map(respond);
    let forgot = base()
        .and(warp::path!("password" / "forgot"))
        .and(warp::post())
        .and(ip.clone())
        .and(with_state(state.clone()))
        .and(extract::json::<ForgotBody>())
        .then(forgot::<S>)
        .map(respond);
    let reset = base()
        .and(warp::path!("password" / "reset"))
        .and(warp::post())
        .and(ip)
        .and(with_state(state.clone()))
        .and(extract::json::<ResetBody>())
        .then(reset::<S>)
        .map(respond);
    let change = base()
        .and(warp::path!("password" / "change"))
        .and(warp::post())
        .and(principal::required(state.clone()))
        .and(with_state(state))
        .and(extract::json::<ChangeBody>())
        .then(change::<S>)
        .map(respond);

    register
        .or(verify)
        .unify()
        .or(login)
        .unify()
        .or(refresh)
        .unify()
        .or(logout)
        .unify()
        .or(otp_request)
        .unify()
        .or(otp_verify)
        .unify()
        .or(forgot)
        .unify()
        .or(reset)
        .unify()
        .or(change)
        .unify()
        .boxed()
}

// ---- bodies ----

/// `POST /auth/register`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// Unique, case-insensitively.
    pub email: String,
    /// 8 to 128 characters.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    /// Display name.
    #[serde(default)]
    pub full_name: Option<String>,
}

/// `POST /auth/verify-email`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// The token from the verification mail.
    pub token: String,
}

/// `POST /auth/login`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// The account's email.
    pub email: String,
    /// Its password.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    /// A guest cart to merge into the account's cart.
    #[serde(default)]
    pub cart_token: Option<String>,
}

/// `POST /auth/refresh` and `POST /auth/logout`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    /// The refresh token of the session.
    #[schema(value_type = String)]
    pub refresh_token: SecretString,
}

/// What a one-time code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OtpPurpose {
    /// Signing in.
    Login,
}

/// `POST /auth/otp/request`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OtpRequestBody {
    /// The account's email.
    pub email: String,
    /// `login`.
    pub purpose: OtpPurpose,
}

/// `POST /auth/otp/verify`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OtpVerifyBody {
    /// The account's email.
    pub email: String,
    /// The 6 digits from the mail.
    #[schema(value_type = String)]
    pub code: SecretString,
    /// `login`.
    pub purpose: OtpPurpose,
    /// A guest cart to merge into the account's cart.
    #[serde(default)]
    pub cart_token: Option<String>,
}

/// `POST /auth/password/forgot`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotBody {
    /// The account's email.
    pub email: String,
}

/// `POST /auth/password/reset`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    /// The token from the reset mail.
    #[schema(value_type = String)]
    pub token: SecretString,
    /// 8 to 128 characters.
    #[schema(value_type = String, format = Password)]
    pub new_password: SecretString,
}

/// `POST /auth/password/change`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeBody {
    /// The password now.
    #[schema(value_type = String, format = Password)]
    pub current_password: SecretString,
    /// 8 to 128 characters.
    #[schema(value_type = String, format = Password)]
    pub new_password: SecretString,
}

/// A signed-in session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Tokens {
    /// The access token (a JWT): `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Trades once for a new pair at `/auth/refresh`.
    pub refresh_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// The account.
    pub user: Profile,
}

/// An answer carrying the account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserBody {
    /// The account.
    pub user: Profile,
}

impl From<SignedIn> for Tokens {
    fn from(s: SignedIn) -> Self {
        Tokens {
            access_token: s.access.token,
            refresh_token: s.refresh_token.into_string(),
            token_type: "Bearer",
            expires_in: s.access.expires_in,
            user: Profile::from(s.account),
        }
    }
}

// ---- helpers ----

async fn limit<S: Store + 'static>(
    state: &AppState<S>,
    bucket: &'static str,
    key: &str,
) -> Result<(), ApiError> {
    state
        .limiter
        .check(bucket, key)
        .await
        .map_err(ratelimit::refused)
}

/// Sends an account mail; a queue that fails is logged (the caller's answer
/// does not change: the account or secret is already stored).
async fn send<S: Store + 'static>(state: &AppState<S>, mail: &AccountMail) {
    if let Err(e) = enqueue_account_mail(state.queue.as_ref(), mail).await {
        tracing::error!(error = %e, mail = ?mail, "account mail could not be enqueued");
    }
}

fn expose(s: &SecretString) -> &str {
    secrecy::ExposeSecret::expose_secret(s)
}

fn accepted() -> Response {
    warp::reply::with_status(warp::reply(), StatusCode::ACCEPTED).into_response()
}

// ---- handlers ----

/// `POST /api/v1/auth/register`.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterBody,
    responses(
        (status = 201, description = "Registered; a verification mail is on its way", body = UserBody),
        (status = 409, description = "`email_taken`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn register<S: Store + 'static>(
    ip: Option<IpAddr>,
    state: AppState<S>,
    body: RegisterBody,
) -> Result<Response, ApiError> {
    limit(&state, bucket::REGISTER_IP, &ip_key_of(ip)).await?;
    let (account, mail) =
        credentials::register(&state, &body.email, body.password, body.full_name).await?;
    send(&state, &mail).await;
    Ok(json(
        StatusCode::CREATED,
        &UserBody {
            user: Profile::from(account),
        },
    ))
}

/// `POST /api/v1/auth/verify-email`.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = TokenBody,
    responses(
        (status = 200, description = "The email is verified", body = UserBody),
        (status = 400, description = "`invalid_token`: unknown, used or expired", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify_email<S: Store + 'static>(
    ip: Option<IpAddr>,
    state: AppState<S>,
    body: TokenBody,
) -> Result<Response, ApiError> {
    limit(&state, bucket::RESET_IP, &ip_key_of(ip)).await?;
    let account = credentials::verify_email(&state, &body.token).await?;
    Ok(json(
        StatusCode::OK,
        &UserBody {
            user: Profile::from(account),
        },
    ))
}

/// `POST /api/v1/auth/login`.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = Tokens),
        (status = 401, description = "`invalid_credentials` (unknown email and wrong password alike)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn login<S: Store + 'static>(
    ip: Option<IpAddr>,
    state: AppState<S>,
    body: LoginBody,
) -> Result<Response, ApiError> {
    let limited = async {
        limit(&state, bucket::LOGIN_IP, &ip_key_of(ip)).await?;
        limit(&state, bucket::LOGIN_ACCOUNT, &account_key(&body.email)).await
    };
    if let Err(e) = limited.await {
        telemetry::record_login_failure("rate_limited");
        return Err(e);
    }
    match credentials::login(
        &state,
        &body.email,
        body.password,
        body.cart_token.as_deref(),
    )
    .await
    {
        Ok(signed_in) => Ok(json(StatusCode::OK, &Tokens::from(signed_in))),
        Err(e) => {
            if matches!(e, CredentialError::InvalidCredentials) {
                telemetry::record_login_failure("invalid_credentials");
            }
            Err(e.into())
        }
    }
}

/// `POST /api/v1/auth/refresh`.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses(
        (status = 200, description = "A new pair; the presented refresh token is spent", body = Tokens),
        (status = 401, description = "`invalid_token`: unknown, expired, revoked, or spent (which revokes the whole sign-in)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh<S: Store + 'static>(
    state: AppState<S>,
    body: RefreshBody,
) -> Result<Response, ApiError> {
    let signed_in = credentials::refresh(&state, expose(&body.refresh_token)).await?;
    Ok(json(StatusCode::OK, &Tokens::from(signed_in)))
}

/// `POST /api/v1/auth/logout`.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshBody,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The session's refresh tokens stop working"),
        (status = 401, description = "`unauthorized` or `invalid_token`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout<S: Store + 'static>(
    principal: Principal,
    state: AppState<S>,
    body: RefreshBody,
) -> Result<Response, ApiError> {
    credentials::logout(&state, expose(&body.refresh_token), principal.customer_id).await?;
    Ok(no_content())
}

/// `POST /api/v1/auth/otp/request`.
#[utoipa::path(post, path = "/api/v1/auth/otp/request", tag = "auth", request_body = OtpRequestBody,
    responses(
        (status = 202, description = "Always: a code is mailed if the email has an account"),
        (status = 429, description = "`rate_limited`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn otp_request<S: Store + 'static>(
    ip: Option<IpAddr>,
    state: AppState<S>,
    body: OtpRequestBody,
) -> Result<Response, ApiError> {
    let OtpPurpose::Login = body.purpose;
    limit(&state, bucket::OTP_IP, &ip_key_of(ip)).await?;
    limit(&state, bucket::OTP_ACCOUNT, &account_key(&body.email)).await?;
    tokio::spawn(async move {
        match credentials::request_code(&state, &body.email).await {
            Ok(Some(mail)) => send(&state, &mail).await,
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "sign-in code could not be issued"),
        }
    });
    Ok(accepted())
}

/// `POST /api/v1/auth/otp/verify`.
#[utoipa::path(post, path = "/api/v1/auth/otp/verify", tag = "auth", request_body = OtpVerifyBody,
    responses(
        (status = 200, description = "Signed in", body = Tokens),
        (status = 401, description = "`otp_invalid` (wrong code), then `otp_expired` (after 5 wrong codes or 5 minutes)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn otp_verify<S: Store + 'static>(
    ip: Option<IpAddr>,
    state: AppState<S>,
    body: OtpVerifyBody,
) -> Result<Response, ApiError> {
    let OtpPurpose::Login = body.purpose;
    limit(&state, bucket::OTP_IP, &ip_key_of(ip)).await?;
    limit(&state, bucket::OTP_ACCOUNT, &account_key(&body.email)).await?;
    match credentials::verify_code(
        &state,
        &body.email,
        expose(&body.code),
        body.cart_token.as_deref(),
    )
    .await
    {
        Ok(signed_in) => Ok(json(StatusCode::OK, &Tokens::from(signed_in))),
        Err(e) => {
            if matches!(e, CredentialError::OtpInvalid | CredentialError::OtpExpired) {
                telemetry::record_login_failure("otp_invalid");
            }
            Err(e.into())
        }
    }
}

/// `POST /api/v1/auth/password/forgot`.
#[utoipa::path(post, path = "/api/v1/auth/password/forgot", tag = "auth", request_body = ForgotBody,
    responses(
        (status = 202, description = "Always: a reset link is mailed if the email has an account"),
        (status = 429, description = "`rate_limited`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn forgot<S: Store + 'static>(
    ip: Option<IpAddr>,
    state: AppState<S>,
    body: ForgotBody,
) -> Result<Response, ApiError> {
    limit(&state, bucket::RESET_IP, &ip_key_of(ip)).await?;
    limit(&state, bucket::RESET_ACCOUNT, &account_key(&body.email)).await?;
    tokio::spawn(async move {
        match credentials::forgot_password(&state, &body.email).await {
            Ok(Some(mail)) => send(&state, &mail).await,
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "reset token could not be issued"),
        }
    });
    Ok(accepted())
}

/// `POST /api/v1/auth/password/reset`.
#[utoipa::path(post, path = "/api/v1/auth/password/reset", tag = "auth", request_body = ResetBody,
    responses(
        (status = 204, description = "The password is set; every session is revoked"),
        (status = 400, description = "`invalid_token`: unknown, used or expired", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (the token is not used)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn reset<S: Store + 'static>(
    ip: Option<IpAddr>,
    state: AppState<S>,
    body: ResetBody,
) -> Result<Response, ApiError> {
    limit(&state, bucket::RESET_IP, &ip_key_of(ip)).await?;
    credentials::reset_password(&state, expose(&body.token), body.new_password).await?;
    Ok(no_content())
}

/// `POST /api/v1/auth/password/change`.
#[utoipa::path(post, path = "/api/v1/auth/password/change", tag = "auth", request_body = ChangeBody,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed; every other session is revoked"),
        (status = 401, description = "`invalid_credentials` (the current password is wrong), `unauthorized`, `invalid_token`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn change<S: Store + 'static>(
    principal: Principal,
    state: AppState<S>,
    body: ChangeBody,
) -> Result<Response, ApiError> {
    limit(
        &state,
        bucket::LOGIN_ACCOUNT,
        &format!("account:{}", principal.customer_id),
    )
    .await?;
    let keep = principal.session.map(SessionFamilyId::from_uuid);
    match credentials::change_password(
        &state,
        principal.customer_id,
        keep,
        body.current_password,
        body.new_password,
    )
    .await
    {
        Ok(()) => Ok(no_content()),
        Err(e) => {
            if matches!(e, CredentialError::InvalidCredentials) {
                telemetry::record_login_failure("invalid_credentials");
            }
            Err(e.into())
        }
    }
}
