//! One-time sign-in codes: 6 random digits, stored as an HMAC-SHA256 under
//! a server key, bound to the account and purpose.
//!
//! A million codes are few enough to try them all against a leaked digest,
//! so a plain hash would not do: without the server key (never in the
//! database) a digest says nothing. The account and purpose are part of
//! what is authenticated, so a digest is worth nothing for another account.
//! How long a code lives, how many tries it has, and that a new code voids
//! the old are rules of the credential module and the store.

use std::fmt;

use commerce_core::credentials::{SecretDigest, SecretPurpose};
use commerce_core::ids::CustomerId;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::secret::{RandomError, random_bytes};

/// Digits in a code.
pub const CODE_DIGITS: usize = 6;

/// The server key that digests codes.
#[derive(Clone)]
pub struct OtpKey([u8; 32]);

impl fmt::Debug for OtpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpKey(..)")
    }
}

impl OtpKey {
    /// A key derived from a server secret (the JWT secret), separated from
    /// its other uses by a label: servers sharing that secret share codes.
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| {
            <Hmac<Sha256> as KeyInit>::new_from_slice(&[0u8; 32]).unwrap_or_else(|_| unreachable!())
        });
        mac.update(b"commerce-http one-time codes v1");
        OtpKey(mac.finalize().into_bytes().into())
    }

    /// A random key (codes do not survive a restart, nor cross servers).
    ///
    /// # Errors
    /// [`RandomError`].
    pub fn random() -> Result<Self, RandomError> {
        let mut k = [0u8; 32];
        random_bytes(&mut k)?;
        Ok(OtpKey(k))
    }

    /// The digest of `code` for `account` and `purpose`.
    pub fn digest(&self, account: CustomerId, purpose: SecretPurpose, code: &Code) -> SecretDigest {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(account.as_uuid().as_bytes());
        mac.update(purpose.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(code.0.as_bytes());
        SecretDigest::from_bytes(mac.finalize().into_bytes().into())
    }
}

/// A 6-digit code.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(..)")
    }
}

impl Code {
    /// A uniformly random code.
    ///
    /// # Errors
    /// [`RandomError`].
    pub fn generate() -> Result<Self, RandomError> {
        // Rejection sampling: 2^32 is not a multiple of 10^6, so values at
        // or above the largest multiple would favour low codes.
        const SPAN: u32 = 1_000_000;
        let limit = u32::MAX - (u32::MAX % SPAN);
        loop {
            let mut b = [0u8; 4];
            random_bytes(&mut b)?;
            let n = u32::from_le_bytes(b);
            if n < limit {
                return Ok(Code(format!("{:06}", n % SPAN)));
            }
        }
    }

    /// A code received from a client: exactly 6 ASCII digits (spaces around
    /// are forgiven).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        (s.len() == CODE_DIGITS && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Code(s.to_owned()))
    }

    /// The code, to mail to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_spread() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let c = Code::generate().unwrap();
            assert_eq!(c.expose().len(), 6);
            assert!(c.expose().bytes().all(|b| b.is_ascii_digit()));
            seen.insert(c.expose().to_owned());
        }
        assert!(seen.len() > 190, "{} distinct of 200", seen.len());
        assert_eq!(Code::parse(" 012345 ").map(|c| c.0), Some("012345".into()));
        for bad in ["", "12345", "1234567", "12345a", "１２３４５６"] {
            assert_eq!(Code::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn digests_depend_on_key_account_purpose_and_code() {
        let k = OtpKey::derive(b"a server secret of some length..");
        let a = CustomerId::from_u128(1);
        let c = Code::parse("123456").unwrap();
        let d = k.digest(a, SecretPurpose::LoginOtp, &c);
        assert_eq!(
            d,
            OtpKey::derive(b"a server secret of some length..").digest(
                a,
                SecretPurpose::LoginOtp,
                &c
            )
        );
        assert_ne!(
            d,
            OtpKey::derive(b"another server secret...........").digest(
                a,
                SecretPurpose::LoginOtp,
                &c
            )
        );
        assert_ne!(
            d,
            k.digest(CustomerId::from_u128(2), SecretPurpose::LoginOtp, &c)
        );
        assert_ne!(d, k.digest(a, SecretPurpose::PasswordReset, &c));
        assert_ne!(
            d,
            k.digest(a, SecretPurpose::LoginOtp, &Code::parse("123457").unwrap())
        );
    }
}
