//! Admin accounts: made by `commerce-server create-admin --email E`
//! (password on standard input) or by `COMMERCE_ADMIN_EMAIL` and
//! `COMMERCE_ADMIN_PASSWORD` at start.

use commerce_core::account::{Account, Email, Role};
use commerce_core::service::{Commerce, CommerceError};
use commerce_core::storage::Store;
use secrecy::SecretString;

use crate::auth::password::{PasswordError, Passwords};

/// Why an admin could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The email is malformed.
    #[error("not a valid email address")]
    Email,
    /// The password breaks the rule, or hashing failed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The engine refused or the store failed.
    #[error(transparent)]
    Commerce(#[from] CommerceError),
}

/// Makes `email` an admin with `password`, verified: creates the account,
/// or sets the password and grants the role of an existing one. Idempotent.
///
/// # Errors
/// [`AdminError`].
pub async fn ensure_admin<S: Store>(
    commerce: &Commerce<S>,
    passwords: &Passwords,
    email: &str,
    password: SecretString,
) -> Result<Account, AdminError> {
    let email = Email::parse(email).map_err(|_| AdminError::Email)?;
    let hash = passwords.hash_password(password).await?;
    let existing = commerce
        .store()
        .account_by_email(&email)
        .await
        .map_err(CommerceError::from)?;
    let account = match existing {
        Some(mut account) => {
            account.password_hash = Some(hash);
            commerce
                .store()
                .update_account(account)
                .await
                .map_err(CommerceError::from)?
                .map_err(|_| CommerceError::EmailTaken)?
        }
        None => commerce.register(email.as_str(), None, Some(hash)).await?,
    };
    commerce.mark_email_verified(account.id).await?;
    Ok(commerce.grant_role(account.id, Role::Admin).await?)
}
