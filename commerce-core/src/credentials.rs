//! Stored credentials: refresh-token sessions and one-time secrets (email
//! verification and password-reset tokens, login codes).
//!
//! The store keeps digests only, never a secret: making secrets and digests
//! (random tokens, HMACs of codes, argon2 password hashes, JWTs) is the job
//! of the HTTP layer's credential module. What lives here are the rules
//! every backend must apply atomically:
//!
//! - a refresh token works once: using it again means it was stolen, and the
//!   whole family of tokens from that sign-in is revoked;
//! - an account has at most one live secret per purpose (a new code voids
//!   the old), which expires, and a login code dies after too many wrong tries;
//! - a verification or reset token works once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::ids::{CustomerId, SessionFamilyId, SessionId};

/// A digest of a secret (SHA-256 or HMAC-SHA256 output): what is stored
/// and looked up instead of the secret.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    /// Wraps digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretDigest(bytes)
    }

    /// The bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for SecretDigest {
    /// In constant time.
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretDigest {}

impl std::fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

/// What a one-time secret is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretPurpose {
    /// A link that verifies the account's email.
    VerifyEmail,
    /// A link that sets a new password.
    PasswordReset,
    /// A 6-digit code that signs the account in.
    LoginOtp,
}

impl SecretPurpose {
    /// Every purpose.
    pub const ALL: [SecretPurpose; 3] = [
        SecretPurpose::VerifyEmail,
        SecretPurpose::PasswordReset,
        SecretPurpose::LoginOtp,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretPurpose::VerifyEmail => "verify_email",
            SecretPurpose::PasswordReset => "password_reset",
            SecretPurpose::LoginOtp => "login_otp",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// A one-time secret of an account, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeSecret {
    /// Whose.
    pub account_id: CustomerId,
    /// What for.
    pub purpose: SecretPurpose,
    /// The digest of the secret.
    pub digest: SecretDigest,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Wrong tries left before a code dies (codes only; tokens are looked up
    /// by digest and have no tries).
    pub attempts_left: u32,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// The result of checking a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right: the code is used up and gone.
    Accepted,
    /// Wrong; this many tries are left (0: the code is now dead).
    Wrong {
        /// Tries left.
        attempts_left: u32,
    },
    /// The code ran out of time or of tries.
    Expired,
    /// The account has no code for this purpose.
    Missing,
}

/// One refresh token of a session, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshSession {
    /// This token.
    pub id: SessionId,
    /// The chain of tokens from the same sign-in.
    pub family: SessionFamilyId,
    /// Whose.
    pub account_id: CustomerId,
    /// The digest of the token.
    pub digest: SecretDigest,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
}

/// The token that replaces a rotated one (same family and account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRenewal {
    /// The new token.
    pub id: SessionId,
    /// Its digest.
    pub digest: SecretDigest,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: it is spent, and the renewal now holds the session.
    Rotated {
        /// Whose session.
        account_id: CustomerId,
        /// Which sign-in.
        family: SessionFamilyId,
    },
    /// The token had already been used: it was stolen or replayed, and the
    /// whole family is now revoked.
    Reused {
        /// Whose session.
        account_id: CustomerId,
        /// The revoked family.
        family: SessionFamilyId,
    },
    /// Unknown, expired or revoked: refused.
    Invalid,
}
