//! Opaque secrets handed to clients: refresh tokens, email-verification and
//! password-reset tokens. 256 random bits from the operating system, sent
//! as 64 lower-case hex digits, stored only as their SHA-256 digest (a
//! secret this long needs no key or slow hash: guessing it is hopeless, and
//! a leaked digest cannot be turned back into it).

use std::fmt;

use commerce_core::credentials::SecretDigest;
use sha2::{Digest, Sha256};

/// The length of a token on the wire, in characters.
pub const TOKEN_CHARS: usize = 64;

/// The operating system's random source failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the system's random source failed")]
pub struct RandomError;

/// Fills `buf` from the operating system's random source.
///
/// # Errors
/// [`RandomError`].
pub fn random_bytes(buf: &mut [u8]) -> Result<(), RandomError> {
    getrandom::fill(buf).map_err(|_| RandomError)
}

/// A token as a client holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct OpaqueToken(String);

impl OpaqueToken {
    /// A fresh random token.
    ///
    /// # Errors
    /// [`RandomError`].
    pub fn generate() -> Result<Self, RandomError> {
        let mut bytes = [0u8; 32];
        random_bytes(&mut bytes)?;
        Ok(OpaqueToken(hex::encode(bytes)))
    }

    /// A token received from a client: `None` unless it has the shape of
    /// ours (so nothing else is hashed or looked up).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        (s.len() == TOKEN_CHARS
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| OpaqueToken(s.to_owned()))
    }

    /// What is stored and looked up.
    pub fn digest(&self) -> SecretDigest {
        SecretDigest::from_bytes(Sha256::digest(self.0.as_bytes()).into())
    }

    /// The token, to send to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The token, to send to its owner.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpaqueToken(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex_and_digest_stably() {
        let a = OpaqueToken::generate().unwrap();
        let b = OpaqueToken::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), TOKEN_CHARS);
        assert_eq!(OpaqueToken::parse(a.expose()), Some(a.clone()));
        assert_eq!(a.digest(), OpaqueToken::parse(a.expose()).unwrap().digest());
        assert_ne!(a.digest(), b.digest());
        assert_eq!(format!("{a:?}"), "OpaqueToken(..)");
    }

    #[test]
    fn only_our_shape_parses() {
        for bad in ["", "abc", &"g".repeat(64), &"A".repeat(64), &"a".repeat(65)] {
            assert_eq!(OpaqueToken::parse(bad), None, "{bad}");
        }
    }
}
