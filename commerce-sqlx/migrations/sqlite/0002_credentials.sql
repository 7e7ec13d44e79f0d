-- Refresh-token sessions and one-time secrets. Only digests are stored.

CREATE TABLE refresh_sessions (
    id          BLOB PRIMARY KEY,
    family      BLOB NOT NULL,
    account_id  BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    digest      BLOB NOT NULL CONSTRAINT refresh_sessions_digest_key UNIQUE,
    expires_at  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    -- used once: presenting it again revokes the family
    spent       INTEGER NOT NULL DEFAULT FALSE,
    revoked     INTEGER NOT NULL DEFAULT FALSE
) STRICT;
CREATE INDEX refresh_sessions_family_idx ON refresh_sessions (family);
CREATE INDEX refresh_sessions_account_idx ON refresh_sessions (account_id);
CREATE INDEX refresh_sessions_expiry_idx ON refresh_sessions (expires_at);

-- At most one live secret per account and purpose: a new one replaces the old.
CREATE TABLE one_time_secrets (
    account_id     BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose        TEXT NOT NULL CHECK (purpose IN ('verify_email', 'password_reset', 'login_otp')),
    digest         BLOB NOT NULL,
    expires_at     INTEGER NOT NULL,
    attempts_left  INTEGER NOT NULL CHECK (attempts_left >= 0),
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (account_id, purpose)
) STRICT;
CREATE INDEX one_time_secrets_digest_idx ON one_time_secrets (purpose, digest);
CREATE INDEX one_time_secrets_expiry_idx ON one_time_secrets (expires_at);
