//! Password hashing: argon2id at OWASP's m = 19 MiB, t = 2, p = 1, run on
//! tokio's blocking pool and bounded by a semaphore, so a burst of logins
//! queues instead of starving the executor or exhausting memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password accepted, in characters (argon2 takes any length,
/// but hashing megabytes on request would be a denial of service).
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Why hashing or verifying failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The password breaks the length rule.
    #[error("a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")]
    Length,
    /// The stored hash cannot be read.
    #[error("the stored password hash is malformed")]
    MalformedHash,
    /// The hasher failed (bad parameters, a task that died).
    #[error("password hashing failed: {0}")]
    Hasher(String),
}

/// Argon2id parameters and the bound on concurrent hashes.
#[derive(Debug, Clone)]
pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
    verifications: Arc<AtomicU64>,
}

impl Passwords {
    /// OWASP's parameters (m = 19 MiB, t = 2, p = 1), at most `concurrent`
    /// hashes at once.
    pub fn owasp(concurrent: usize) -> Self {
        // 19 MiB, 2 passes, 1 lane: valid, so `Params::new` cannot fail.
        let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
        Passwords::with_params(params, concurrent)
    }

    /// Cheap parameters for tests only (m = 1 MiB, t = 1).
    pub fn for_tests() -> Self {
        let params = Params::new(1024, 1, 1, None).unwrap_or_default();
        Passwords::with_params(params, 4)
    }

    /// Any parameters.
    pub fn with_params(params: Params, concurrent: usize) -> Self {
        Passwords {
            params,
            permits: Arc::new(Semaphore::new(concurrent.max(1))),
            verifications: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many hashes were verified since start (a refusal that skipped
    /// the hash would show here: tests use it to check that every refused
    /// login costs one verification).
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    fn hasher(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// Checks the length rule of a new password.
    ///
    /// # Errors
    /// [`PasswordError::Length`].
    pub fn check_rule(password: &SecretString) -> Result<(), PasswordError> {
        let n = password.expose_secret().chars().count();
        if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
            Ok(())
        } else {
            Err(PasswordError::Length)
        }
    }

    /// Hashes a new password (PHC string, with a random salt).
    ///
    /// # Errors
    /// [`PasswordError::Length`], [`PasswordError::Hasher`].
    pub async fn hash_password(&self, password: SecretString) -> Result<String, PasswordError> {
        Self::check_rule(&password)?;
        let params = self.params.clone();
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| PasswordError::Hasher(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            Self::hasher(params)
                .hash_password(password.expose_secret().as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| PasswordError::Hasher(e.to_string()))
        })
        .await
        .map_err(|e| PasswordError::Hasher(e.to_string()))?
    }

    /// Whether `password` matches `hash` (in constant time, by argon2).
    /// The parameters recorded in the hash are used, so older hashes verify.
    ///
    /// # Errors
    /// [`PasswordError::MalformedHash`], [`PasswordError::Hasher`].
    pub async fn verify_password(
        &self,
        password: SecretString,
        hash: String,
    ) -> Result<bool, PasswordError> {
        if password.expose_secret().chars().count() > MAX_PASSWORD_CHARS {
            return Ok(false);
        }
        let params = self.params.clone();
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| PasswordError::Hasher(e.to_string()))?;
        self.verifications.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            match Self::hasher(params)
                .verify_password(password.expose_secret().as_bytes(), hash.as_str())
            {
                Ok(()) => Ok(true),
                Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
                Err(_) => Err(PasswordError::MalformedHash),
            }
        })
        .await
        .map_err(|e| PasswordError::Hasher(e.to_string()))?
    }
}

/// Hashes a password with OWASP's parameters (see [`Passwords::owasp`]).
///
/// # Errors
/// See [`Passwords::hash_password`].
pub async fn hash_password(password: SecretString) -> Result<String, PasswordError> {
    Passwords::owasp(1).hash_password(password).await
}

/// Verifies a password against a PHC hash (see [`Passwords::verify_password`]).
///
/// # Errors
/// See [`Passwords::verify_password`].
pub async fn verify_password(password: SecretString, hash: String) -> Result<bool, PasswordError> {
    Passwords::owasp(1).verify_password(password, hash).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let p = Passwords::for_tests();
        let hash = p
            .hash_password(SecretString::from("correct horse"))
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"));
        assert!(
            p.verify_password(SecretString::from("correct horse"), hash.clone())
                .await
                .unwrap()
        );
        assert!(
            !p.verify_password(SecretString::from("wrong horse"), hash)
                .await
                .unwrap()
        );
        assert_eq!(
            p.verify_password(SecretString::from("x"), "not a hash".into())
                .await,
            Err(PasswordError::MalformedHash)
        );
    }

    #[tokio::test]
    async fn the_owasp_parameters_are_recorded_in_the_hash() {
        let hash = hash_password(SecretString::from("long enough"))
            .await
            .unwrap();
        assert!(hash.contains("m=19456,t=2,p=1"), "{hash}");
        assert!(
            verify_password(SecretString::from("long enough"), hash)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn length_rule() {
        let p = Passwords::for_tests();
        assert_eq!(
            p.hash_password(SecretString::from("short")).await,
            Err(PasswordError::Length)
        );
        assert_eq!(
            p.hash_password(SecretString::from("x".repeat(129))).await,
            Err(PasswordError::Length)
        );
    }
}
