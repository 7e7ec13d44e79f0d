//! Idempotency keys, with Stripe's contract: the first request with a key
//! runs; a replay with the same body gets the first result; the same key with
//! another body is refused; a duplicate arriving while the first still runs
//! gets a retryable conflict. Keys are scoped to their caller.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A refused idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an idempotency key is 1 to 255 visible ASCII characters")]
pub struct IdempotencyKeyError;

/// A client-chosen key: 1–255 visible ASCII characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks a key.
    ///
    /// # Errors
    /// [`IdempotencyKeyError`].
    pub fn parse(s: &str) -> Result<Self, IdempotencyKeyError> {
        if (1..=255).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(IdempotencyKey(s.to_owned()))
        } else {
            Err(IdempotencyKeyError)
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = IdempotencyKeyError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        IdempotencyKey::parse(&s)
    }
}

impl From<IdempotencyKey> for String {
    fn from(k: IdempotencyKey) -> Self {
        k.0
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A SHA-256 digest of what a request asked for, to tell a replay from a
/// different request reusing the key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The digest of `parts`, each length-prefixed so that `["ab", "c"]` and
    /// `["a", "bc"]` differ.
    pub fn of(parts: &[&[u8]]) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        Fingerprint(hasher.finalize().into())
    }

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Rebuilds a fingerprint from stored bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Fingerprint(bytes)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", hex::encode(&self.0[..8]))
    }
}

/// What a caller may do after presenting a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The key is new (or its earlier holder gave up): run the request, then
    /// complete or release the key.
    Started,
    /// The request already ran: here is its stored result.
    Replay(String),
    /// A request with this key is running now; retry later.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// A stored idempotency record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// Whose key (an account id, a cart token, a gateway).
    pub scope: String,
    /// The key.
    pub key: IdempotencyKey,
    /// The request's fingerprint.
    pub fingerprint: Fingerprint,
    /// The stored result, once completed.
    pub response: Option<String>,
    /// While running: until when the key is held.
    pub locked_until: DateTime<Utc>,
    /// First seen.
    pub created_at: DateTime<Utc>,
}

impl IdempotencyRecord {
    /// What a new request presenting `fingerprint` at `now` may do with this record.
    pub fn begin(&self, fingerprint: Fingerprint, now: DateTime<Utc>) -> Begin {
        if self.fingerprint != fingerprint {
            Begin::Mismatch
        } else if let Some(response) = &self.response {
            Begin::Replay(response.clone())
        } else if now < self.locked_until {
            Begin::InProgress
        } else {
            Begin::Started
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn keys_are_checked() {
        assert!(IdempotencyKey::parse("a1b2-c3").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }

    #[test]
    fn fingerprints_are_length_prefixed() {
        assert_ne!(
            Fingerprint::of(&[b"ab", b"c"]),
            Fingerprint::of(&[b"a", b"bc"])
        );
        assert_eq!(Fingerprint::of(&[b"x"]), Fingerprint::of(&[b"x"]));
    }

    #[test]
    fn begin_follows_stripes_contract() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let fp = Fingerprint::of(&[b"body"]);
        let mut rec = IdempotencyRecord {
            scope: "acct".into(),
            key: IdempotencyKey::parse("k").unwrap(),
            fingerprint: fp,
            response: None,
            locked_until: t0 + Duration::seconds(30),
            created_at: t0,
        };
        assert_eq!(rec.begin(fp, t0), Begin::InProgress);
        assert_eq!(rec.begin(Fingerprint::of(&[b"other"]), t0), Begin::Mismatch);
        assert_eq!(
            rec.begin(fp, t0 + Duration::seconds(31)),
            Begin::Started,
            "an abandoned key can be taken over"
        );
        rec.response = Some("done".into());
        assert_eq!(
            rec.begin(fp, t0 + Duration::days(1)),
            Begin::Replay("done".into())
        );
    }
}
