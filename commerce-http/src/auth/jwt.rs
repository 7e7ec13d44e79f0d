//! Access tokens: JWT signed with HMAC-SHA256 (HS256), and nothing else.
//!
//! Claims: `sub` (the account's UUID), `roles`, `iat`, `exp`, and `sid` (the
//! refresh-token session the token came from, when there is one).
//! Verification pins the algorithm to HS256: a token whose header says
//! `none`, `HS512`, `RS256` or anything else is refused before its signature
//! is looked at, as is one signed with another key, tampered with, expired,
//! or missing a required claim.

use std::time::Duration;

use commerce_core::account::Role;
use commerce_core::ids::CustomerId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The shortest HMAC key accepted, in bytes (the size of the hash).
pub const MIN_SECRET_LEN: usize = 32;
/// Clock skew tolerated when checking `exp`, in seconds.
pub const LEEWAY_SECS: u64 = 5;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The account.
    pub sub: Uuid,
    /// Its roles when the token was issued.
    pub roles: Vec<Role>,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The refresh-token session (family) this token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
}

/// A freshly issued access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The compact JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// Why a key could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The secret is shorter than [`MIN_SECRET_LEN`] bytes.
    #[error("the token secret must be at least {MIN_SECRET_LEN} bytes")]
    TooShort,
}

/// Why a token was refused. Every variant answers 401 `invalid_token`; the
/// distinction is for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Past its `exp`.
    #[error("token expired")]
    Expired,
    /// The header names an algorithm other than HS256 (`none` included).
    #[error("token algorithm refused")]
    WrongAlgorithm,
    /// The signature does not match (another key, or tampered content).
    #[error("token signature invalid")]
    BadSignature,
    /// Not a JWT, or its claims are missing or malformed.
    #[error("token malformed")]
    Malformed,
    /// Signing failed (never expected with an HMAC key).
    #[error("token could not be signed")]
    Signing,
}

/// The signing and verification keys, and the lifetime of tokens.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("algorithm", &"HS256")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Keys from a secret of at least [`MIN_SECRET_LEN`] bytes.
    ///
    /// # Errors
    /// [`KeyError::TooShort`].
    pub fn new(secret: &[u8], ttl: Duration) -> Result<Self, KeyError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(KeyError::TooShort);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        })
    }

    /// Keys from a random secret (development: tokens die with the process).
    pub fn random(ttl: Duration) -> Self {
        let mut secret = Vec::with_capacity(64);
        for _ in 0..4 {
            secret.extend_from_slice(Uuid::new_v4().as_bytes());
        }
        match TokenKeys::new(&secret, ttl) {
            Ok(keys) => keys,
            // 64 bytes is never too short.
            Err(KeyError::TooShort) => unreachable!("a 64-byte secret is long enough"),
        }
    }

    /// How long tokens live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a token for an account, issued at `now` (Unix seconds).
    ///
    /// # Errors
    /// [`TokenError::Signing`].
    pub fn issue(
        &self,
        account: CustomerId,
        roles: &[Role],
        session: Option<Uuid>,
        now: i64,
    ) -> Result<AccessToken, TokenError> {
        let ttl = i64::try_from(self.ttl.as_secs()).map_err(|_| TokenError::Signing)?;
        let claims = Claims {
            sub: account.as_uuid(),
            roles: roles.to_vec(),
            iat: now,
            exp: now.saturating_add(ttl),
            sid: session,
        };
        self.sign(&claims).map(|token| AccessToken {
            token,
            expires_in: self.ttl.as_secs(),
        })
    }

    /// Signs arbitrary claims (tests make expired tokens with it).
    ///
    /// # Errors
    /// [`TokenError::Signing`].
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|_| TokenError::Signing)
    }

    /// Verifies a token: HS256 with this key, not expired, claims present.
    ///
    /// # Errors
    /// A [`TokenError`] saying why it was refused.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        // Refuse any other algorithm before anything else is read.
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::WrongAlgorithm);
        }
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
                _ => TokenError::Malformed,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn keys() -> TokenKeys {
        TokenKeys::new(&[7u8; 32], Duration::from_secs(900)).unwrap()
    }

    fn b64(bytes: &[u8]) -> String {
        // base64url without padding, enough for tests.
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
            let chars = chunk.len() + 1;
            for i in 0..chars {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            }
        }
        out
    }

    #[test]
    fn a_token_round_trips() {
        // Also proves the crypto backend is installed: jsonwebtoken panics
        // at first use without exactly one.
        let k = keys();
        let id = CustomerId::new();
        let t = k
            .issue(id, &[Role::Customer, Role::Admin], None, now())
            .unwrap();
        let c = k.verify(&t.token).unwrap();
        assert_eq!(c.sub, id.as_uuid());
        assert_eq!(c.roles, vec![Role::Customer, Role::Admin]);
        assert_eq!(t.expires_in, 900);
    }

    #[test]
    fn another_key_expiry_and_tampering_are_refused() {
        let k = keys();
        let other = TokenKeys::new(&[8u8; 32], Duration::from_secs(900)).unwrap();
        let id = CustomerId::new();
        let t = other.issue(id, &[Role::Customer], None, now()).unwrap();
        assert_eq!(k.verify(&t.token), Err(TokenError::BadSignature));

        let expired = k
            .sign(&Claims {
                sub: id.as_uuid(),
                roles: vec![Role::Customer],
                iat: now() - 3600,
                exp: now() - 1800,
                sid: None,
            })
            .unwrap();
        assert_eq!(k.verify(&expired), Err(TokenError::Expired));

        let good = k.issue(id, &[Role::Customer], None, now()).unwrap().token;
        let parts: Vec<&str> = good.split('.').collect();
        let forged_claims = b64(serde_json::to_string(&Claims {
            sub: id.as_uuid(),
            roles: vec![Role::Admin],
            iat: now(),
            exp: now() + 900,
            sid: None,
        })
        .unwrap()
        .as_bytes());
        let tampered = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
        assert_eq!(k.verify(&tampered), Err(TokenError::BadSignature));
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let k = keys();
        let claims = b64(format!(
            r#"{{"sub":"{}","roles":["admin"],"iat":{},"exp":{}}}"#,
            Uuid::new_v4(),
            now(),
            now() + 900
        )
        .as_bytes());
        for alg in ["none", "HS512", "RS256"] {
            let header = b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes());
            let token = format!("{header}.{claims}.");
            assert!(k.verify(&token).is_err(), "{alg} accepted");
        }
        assert_eq!(
            k.verify(&format!("{}.{claims}.", b64(br#"{"alg":"none"}"#))),
            Err(TokenError::Malformed),
            "`none` is not even a known algorithm to the parser"
        );
    }

    #[test]
    fn missing_claims_and_short_secrets_are_refused() {
        assert_eq!(
            TokenKeys::new(b"short", Duration::from_secs(1)).err(),
            Some(KeyError::TooShort)
        );
        let k = keys();
        assert_eq!(k.verify("not-a-jwt"), Err(TokenError::Malformed));
    }
}
