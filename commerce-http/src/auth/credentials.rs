//! The credential rules, in one place: registration, passwords, sessions
//! (refresh-token rotation with reuse detection), one-time sign-in codes,
//! email verification and password reset. Routes parse a request, call one
//! function here, and map the result; these functions never see HTTP, so
//! their tests need none.
//!
//! | rule | where |
//! | --- | --- |
//! | passwords: 8–128 characters, argon2id (m = 19 MiB, t = 2, p = 1) on a bounded blocking pool | [`super::password`] |
//! | unknown email and wrong password answer alike and cost alike (a dummy hash is verified) | [`login`] |
//! | access tokens: HS256 JWT, 15 minutes, algorithm pinned | [`super::jwt`] |
//! | refresh tokens: 256 random bits, stored as SHA-256, 30 days, rotate on every use; a spent one presented again revokes its whole sign-in (family) | [`refresh`], core's `CredentialStore` |
//! | sign-in codes: 6 digits, HMAC-SHA256 under a server key, 5 minutes, 5 wrong tries burn the code, a new code voids the old | [`request_code`], [`verify_code`], [`super::otp`] |
//! | verification (48 h) and reset (1 h) tokens: single use | [`verify_email`], [`reset_password`] |
//! | a reset revokes every session; a change every session but the caller's | [`reset_password`], [`change_password`] |
//!
//! Secrets are never stored in clear: the store holds digests, and a
//! secret for a mail travels only in the [`AccountMail`] the caller enqueues.

use std::time::Duration;

use commerce_core::account::{Account, Email};
use commerce_core::cart::{CartOwner, CartToken};
use commerce_core::credentials::{
    CodeCheck, OneTimeSecret, RefreshSession, Rotation, SecretPurpose, SessionRenewal,
};
use commerce_core::ids::{CustomerId, SessionFamilyId, SessionId};
use commerce_core::service::CommerceError;
use commerce_core::storage::Store;
use commerce_jobs::handlers::{AccountMail, AccountMailKind};
use secrecy::SecretString;
use tokio::sync::OnceCell;

use super::jwt::{AccessToken, TokenError};
use super::otp::{Code, OtpKey};
use super::password::{PasswordError, Passwords};
use super::secret::{OpaqueToken, RandomError};
use crate::state::AppState;

/// Wrong tries a sign-in code allows before it is burnt.
pub const OTP_ATTEMPTS: u32 = 5;

/// How long each kind of credential lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// A refresh token (renewed on every rotation).
    pub refresh: Duration,
    /// A sign-in code.
    pub otp: Duration,
    /// An email-verification token.
    pub verify_email: Duration,
    /// A password-reset token.
    pub password_reset: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            refresh: Duration::from_secs(30 * 24 * 3600),
            otp: Duration::from_secs(5 * 60),
            verify_email: Duration::from_secs(48 * 3600),
            password_reset: Duration::from_secs(3600),
        }
    }
}

/// What the credential rules need besides the store: the code key, the
/// lifetimes, and the dummy hash that unknown accounts are verified against.
#[derive(Debug)]
pub struct Credentials {
    otp_key: OtpKey,
    lifetimes: Lifetimes,
    dummy_hash: OnceCell<String>,
}

impl Credentials {
    /// Rules with this code key and these lifetimes.
    pub fn new(otp_key: OtpKey, lifetimes: Lifetimes) -> Self {
        Credentials {
            otp_key,
            lifetimes,
            dummy_hash: OnceCell::new(),
        }
    }

    /// The lifetimes.
    pub fn lifetimes(&self) -> Lifetimes {
        self.lifetimes
    }

    /// The hash of a password nobody knows, made once with the server's
    /// parameters: what a login for an unknown email is verified against,
    /// so that it costs what a wrong password costs.
    ///
    /// # Errors
    /// [`CredentialError::Password`] when hashing fails.
    pub async fn dummy_hash(&self, passwords: &Passwords) -> Result<&str, CredentialError> {
        self.dummy_hash
            .get_or_try_init(|| async {
                let mut pw = [0u8; 24];
                super::secret::random_bytes(&mut pw)?;
                Ok::<_, CredentialError>(
                    passwords
                        .hash_password(SecretString::from(hex::encode(pw)))
                        .await?,
                )
            })
            .await
            .map(String::as_str)
    }
}

/// Why a credential call was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// Input breaks a rule (`field` names it).
    #[error("{field}: {message}")]
    Validation {
        /// The field.
        field: &'static str,
        /// The rule.
        message: String,
    },
    /// Unknown email or wrong password (never said which).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The refresh token is unknown, expired, revoked, or was spent already
    /// (which revoked its whole sign-in).
    #[error("the refresh token is invalid")]
    InvalidRefreshToken,
    /// The verification or reset token is unknown, used or expired.
    #[error("the token is invalid, used or expired")]
    InvalidOneTimeToken,
    /// The code is wrong (or there is none).
    #[error("the code is wrong")]
    OtpInvalid,
    /// The code ran out of time or tries.
    #[error("the code expired; ask for a new one")]
    OtpExpired,
    /// A core service refused or failed.
    #[error(transparent)]
    Commerce(#[from] CommerceError),
    /// Hashing failed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// An access token could not be signed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// No randomness.
    #[error(transparent)]
    Random(#[from] RandomError),
}

impl From<commerce_core::storage::StoreError> for CredentialError {
    fn from(e: commerce_core::storage::StoreError) -> Self {
        CredentialError::Commerce(CommerceError::Store(e))
    }
}

fn validation(field: &'static str, message: impl Into<String>) -> CredentialError {
    CredentialError::Validation {
        field,
        message: message.into(),
    }
}

fn password_rule(field: &'static str, password: &SecretString) -> Result<(), CredentialError> {
    Passwords::check_rule(password).map_err(|e| validation(field, e.to_string()))
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// A signed-in session: what login, code sign-in and refresh answer.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The access token.
    pub access: AccessToken,
    /// The refresh token (its holder may rotate it once).
    pub refresh_token: OpaqueToken,
    /// The account, as it is now.
    pub account: Account,
}

/// Issues an access token for an account and a sign-in family.
fn access_token<S: Store + 'static>(
    state: &AppState<S>,
    account: &Account,
    family: SessionFamilyId,
) -> Result<AccessToken, CredentialError> {
    let now = state.commerce.clock().now().timestamp();
    Ok(state
        .tokens
        .issue(account.id, &account.roles, Some(family.as_uuid()), now)?)
}

/// Starts a new sign-in (a new session family) for an account.
///
/// # Errors
/// Store, signing or randomness failures.
pub async fn start_session<S: Store + 'static>(
    state: &AppState<S>,
    account: Account,
) -> Result<SignedIn, CredentialError> {
    let now = state.commerce.clock().now();
    let family = SessionFamilyId::new();
    let token = OpaqueToken::generate()?;
    state
        .commerce
        .store()
        .create_session(RefreshSession {
            id: SessionId::new(),
            family,
            account_id: account.id,
            digest: token.digest(),
            expires_at: now + chrono_of(state.credentials.lifetimes.refresh),
            created_at: now,
        })
        .await?;
    let access = access_token(state, &account, family)?;
    Ok(SignedIn {
        access,
        refresh_token: token,
        account,
    })
}

/// Merges a guest cart into the account's cart (at sign-in).
async fn merge_cart<S: Store + 'static>(
    state: &AppState<S>,
    account: CustomerId,
    cart_token: Option<&str>,
) -> Result<(), CredentialError> {
    if let Some(t) = cart_token {
        let token =
            CartToken::parse(t).map_err(|_| validation("cart_token", "not a cart token"))?;
        state
            .commerce
            .merge_guest_cart(&CartOwner::Guest(token), &CartOwner::Account(account))
            .await?;
    }
    Ok(())
}

/// Checks a cart token's shape before anything else is done.
fn check_cart_token(cart_token: Option<&str>) -> Result<(), CredentialError> {
    match cart_token {
        Some(t) if CartToken::parse(t).is_err() => {
            Err(validation("cart_token", "not a cart token"))
        }
        _ => Ok(()),
    }
}

/// Registers an account with a password; answers the account and the
/// verification mail to enqueue.
///
/// # Errors
/// [`CredentialError::Validation`] (email, password 8–128 characters,
/// name), `EmailTaken` through [`CredentialError::Commerce`].
pub async fn register<S: Store + 'static>(
    state: &AppState<S>,
    email: &str,
    password: SecretString,
    full_name: Option<String>,
) -> Result<(Account, AccountMail), CredentialError> {
    // Cheap checks first: a refused request costs no hash.
    let parsed =
        Email::parse(email).map_err(|_| validation("email", "not a valid email address"))?;
    password_rule("password", &password)?;
    if let Some(name) = &full_name
        && name.chars().count() > 200
    {
        return Err(validation("full_name", "at most 200 characters"));
    }
    let hash = state.passwords.hash_password(password).await?;
    let account = state
        .commerce
        .register(parsed.as_str(), full_name, Some(hash))
        .await?;
    let mail = issue_token(state, &account, SecretPurpose::VerifyEmail).await?;
    Ok((account, mail))
}

/// Stores a new single-use token for an account; the mail that carries it.
async fn issue_token<S: Store + 'static>(
    state: &AppState<S>,
    account: &Account,
    purpose: SecretPurpose,
) -> Result<AccountMail, CredentialError> {
    let now = state.commerce.clock().now();
    let ttl = match purpose {
        SecretPurpose::PasswordReset => state.credentials.lifetimes.password_reset,
        _ => state.credentials.lifetimes.verify_email,
    };
    let token = OpaqueToken::generate()?;
    state
        .commerce
        .store()
        .put_secret(OneTimeSecret {
            account_id: account.id,
            purpose,
            digest: token.digest(),
            expires_at: now + chrono_of(ttl),
            attempts_left: 1,
            created_at: now,
        })
        .await?;
    let token = token.into_string();
    let kind = match purpose {
        SecretPurpose::PasswordReset => AccountMailKind::Reset { token },
        _ => AccountMailKind::Verify { token },
    };
    Ok(AccountMail {
        to: account.email.clone(),
        kind,
    })
}

/// Uses a verification token: the account, now verified.
///
/// # Errors
/// [`CredentialError::InvalidOneTimeToken`].
pub async fn verify_email<S: Store + 'static>(
    state: &AppState<S>,
    token: &str,
) -> Result<Account, CredentialError> {
    let token = OpaqueToken::parse(token).ok_or(CredentialError::InvalidOneTimeToken)?;
    let now = state.commerce.clock().now();
    let account = state
        .commerce
        .store()
        .take_token(SecretPurpose::VerifyEmail, token.digest(), now)
        .await?
        .ok_or(CredentialError::InvalidOneTimeToken)?;
    Ok(state.commerce.mark_email_verified(account).await?)
}

/// An account by email, if the email is well formed and known.
async fn find<S: Store + 'static>(
    state: &AppState<S>,
    email: &str,
) -> Result<Option<Account>, CredentialError> {
    let Ok(email) = Email::parse(email) else {
        return Ok(None);
    };
    Ok(state.commerce.account_by_email(&email).await?)
}

/// Whether `password` is the account's. An account without a password, or
/// none at all, is checked against the dummy hash so that every refusal
/// costs the same.
async fn password_matches<S: Store + 'static>(
    state: &AppState<S>,
    account: Option<&Account>,
    password: SecretString,
) -> Result<bool, CredentialError> {
    let hash = account.and_then(|a| a.password_hash.clone());
    let (hash, real) = match hash {
        Some(h) => (h, true),
        None => (
            state
                .credentials
                .dummy_hash(&state.passwords)
                .await?
                .to_owned(),
            false,
        ),
    };
    match state.passwords.verify_password(password, hash).await {
        Ok(ok) => Ok(ok && real),
        // A stored hash nobody can read: refuse like a wrong password, and say so in the log.
        Err(PasswordError::MalformedHash) => {
            tracing::error!(account = ?account.map(|a| a.id), "stored password hash is malformed");
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Signs in with email and password; merges a guest cart if given.
///
/// # Errors
/// [`CredentialError::InvalidCredentials`] (unknown email and wrong password
/// alike), [`CredentialError::Validation`] for a malformed cart token.
pub async fn login<S: Store + 'static>(
    state: &AppState<S>,
    email: &str,
    password: SecretString,
    cart_token: Option<&str>,
) -> Result<SignedIn, CredentialError> {
    check_cart_token(cart_token)?;
    let account = find(state, email).await?;
    if !password_matches(state, account.as_ref(), password).await? {
        return Err(CredentialError::InvalidCredentials);
    }
    let account = account.ok_or(CredentialError::InvalidCredentials)?;
    merge_cart(state, account.id, cart_token).await?;
    start_session(state, account).await
}

/// Rotates a refresh token: a new pair. A token presented a second time
/// revokes its whole sign-in.
///
/// # Errors
/// [`CredentialError::InvalidRefreshToken`].
pub async fn refresh<S: Store + 'static>(
    state: &AppState<S>,
    refresh_token: &str,
) -> Result<SignedIn, CredentialError> {
    let presented =
        OpaqueToken::parse(refresh_token).ok_or(CredentialError::InvalidRefreshToken)?;
    let now = state.commerce.clock().now();
    let renewal = OpaqueToken::generate()?;
    let rotation = state
        .commerce
        .store()
        .rotate_session(
            presented.digest(),
            SessionRenewal {
                id: SessionId::new(),
                digest: renewal.digest(),
                expires_at: now + chrono_of(state.credentials.lifetimes.refresh),
            },
            now,
        )
        .await?;
    match rotation {
        Rotation::Rotated { account_id, family } => {
            let account = match state.commerce.account(account_id).await {
                Ok(a) => a,
                Err(CommerceError::NotFound(_)) => {
                    return Err(CredentialError::InvalidRefreshToken);
                }
                Err(e) => return Err(e.into()),
            };
            let access = access_token(state, &account, family)?;
            Ok(SignedIn {
                access,
                refresh_token: renewal,
                account,
            })
        }
        Rotation::Reused { account_id, family } => {
            tracing::warn!(account = %account_id, family = %family.as_uuid(), "a spent refresh token was presented again; its sign-in is revoked");
            Err(CredentialError::InvalidRefreshToken)
        }
        Rotation::Invalid => Err(CredentialError::InvalidRefreshToken),
    }
}

/// Signs out the sign-in a refresh token of `account`'s belongs to
/// (idempotent: an unknown token, or another account's, changes nothing and
/// answers the same, so the call tells nobody whose a token is).
///
/// # Errors
/// Store failures.
pub async fn logout<S: Store + 'static>(
    state: &AppState<S>,
    refresh_token: &str,
    account: CustomerId,
) -> Result<(), CredentialError> {
    if let Some(t) = OpaqueToken::parse(refresh_token) {
        state
            .commerce
            .store()
            .revoke_family(t.digest(), account)
            .await?;
    }
    Ok(())
}

/// Issues a sign-in code for the email's account, voiding any earlier one;
/// the mail to enqueue, or `None` when no account has this email (the
/// caller answers the same either way).
///
/// # Errors
/// Store or randomness failures.
pub async fn request_code<S: Store + 'static>(
    state: &AppState<S>,
    email: &str,
) -> Result<Option<AccountMail>, CredentialError> {
    let Some(account) = find(state, email).await? else {
        return Ok(None);
    };
    let now = state.commerce.clock().now();
    let code = Code::generate()?;
    state
        .commerce
        .store()
        .put_secret(OneTimeSecret {
            account_id: account.id,
            purpose: SecretPurpose::LoginOtp,
            digest: state
                .credentials
                .otp_key
                .digest(account.id, SecretPurpose::LoginOtp, &code),
            expires_at: now + chrono_of(state.credentials.lifetimes.otp),
            attempts_left: OTP_ATTEMPTS,
            created_at: now,
        })
        .await?;
    Ok(Some(AccountMail {
        to: account.email,
        kind: AccountMailKind::Otp {
            code: code.expose().to_owned(),
        },
    }))
}

/// Signs in with a code; a right code also proves the mailbox, so the email
/// is marked verified. Merges a guest cart if given.
///
/// # Errors
/// [`CredentialError::OtpInvalid`] (wrong, none, or unknown email),
/// [`CredentialError::OtpExpired`] (out of time or of tries),
/// [`CredentialError::Validation`] for a malformed code or cart token.
pub async fn verify_code<S: Store + 'static>(
    state: &AppState<S>,
    email: &str,
    code: &str,
    cart_token: Option<&str>,
) -> Result<SignedIn, CredentialError> {
    let code = Code::parse(code).ok_or_else(|| validation("code", "6 digits"))?;
    check_cart_token(cart_token)?;
    let Some(account) = find(state, email).await? else {
        return Err(CredentialError::OtpInvalid);
    };
    let now = state.commerce.clock().now();
    let digest = state
        .credentials
        .otp_key
        .digest(account.id, SecretPurpose::LoginOtp, &code);
    match state
        .commerce
        .store()
        .check_code(account.id, SecretPurpose::LoginOtp, digest, now)
        .await?
    {
        CodeCheck::Accepted => {}
        CodeCheck::Expired => return Err(CredentialError::OtpExpired),
        _ => return Err(CredentialError::OtpInvalid),
    }
    let account = state.commerce.mark_email_verified(account.id).await?;
    merge_cart(state, account.id, cart_token).await?;
    start_session(state, account).await
}

/// Issues a password-reset token for the email's account, voiding any
/// earlier one; the mail to enqueue, or `None` for an unknown email.
///
/// # Errors
/// Store or randomness failures.
pub async fn forgot_password<S: Store + 'static>(
    state: &AppState<S>,
    email: &str,
) -> Result<Option<AccountMail>, CredentialError> {
    match find(state, email).await? {
        Some(account) => Ok(Some(
            issue_token(state, &account, SecretPurpose::PasswordReset).await?,
        )),
        None => Ok(None),
    }
}

/// Sets a new password with a reset token (once), marks the email verified
/// (the token came by mail), and revokes every session.
///
/// # Errors
/// [`CredentialError::Validation`] for the password (checked before the
/// token is used), [`CredentialError::InvalidOneTimeToken`].
pub async fn reset_password<S: Store + 'static>(
    state: &AppState<S>,
    token: &str,
    new_password: SecretString,
) -> Result<Account, CredentialError> {
    password_rule("new_password", &new_password)?;
    let token = OpaqueToken::parse(token).ok_or(CredentialError::InvalidOneTimeToken)?;
    let now = state.commerce.clock().now();
    let id = state
        .commerce
        .store()
        .take_token(SecretPurpose::PasswordReset, token.digest(), now)
        .await?
        .ok_or(CredentialError::InvalidOneTimeToken)?;
    let hash = state.passwords.hash_password(new_password).await?;
    state.commerce.set_password_hash(id, hash).await?;
    let account = state.commerce.mark_email_verified(id).await?;
    state.commerce.store().revoke_sessions(id, None).await?;
    Ok(account)
}

/// Changes a signed-in account's password and revokes its other sessions
/// (all but `keep`, the caller's sign-in).
///
/// # Errors
/// [`CredentialError::InvalidCredentials`] for a wrong current password,
/// [`CredentialError::Validation`] for the new one.
pub async fn change_password<S: Store + 'static>(
    state: &AppState<S>,
    account: CustomerId,
    keep: Option<SessionFamilyId>,
    current: SecretString,
    new_password: SecretString,
) -> Result<(), CredentialError> {
    password_rule("new_password", &new_password)?;
    let found = state.commerce.account(account).await?;
    if !password_matches(state, Some(&found), current).await? {
        return Err(CredentialError::InvalidCredentials);
    }
    let hash = state.passwords.hash_password(new_password).await?;
    state.commerce.set_password_hash(account, hash).await?;
    state
        .commerce
        .store()
        .revoke_sessions(account, keep)
        .await?;
    Ok(())
}
