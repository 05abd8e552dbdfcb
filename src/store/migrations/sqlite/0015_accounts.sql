-- Accounts that can be ended: disabled or deleted users keep their rows
-- (reports name them), tokens issued before sessions_valid_after no longer
-- count (a password or role changed), logged-out tokens are listed until
-- they would have expired, and every account change is numbered so that a
-- running server applies changes made elsewhere (the command line, another
-- node) without a restart.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE users ADD COLUMN deleted_at BIGINT;
ALTER TABLE users ADD COLUMN sessions_valid_after BIGINT NOT NULL DEFAULT 0;
CREATE TABLE revoked_tokens (
    token_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE account_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    at BIGINT NOT NULL
);
-- The token-signing secret is kept outside the database from now on (a
-- file of its own beside it, or the configuration): whoever can read the
-- database must not be able to sign an admin's token.
DELETE FROM server_secrets WHERE name = 'token_signing';
