-- Sign-up, quotas and co-instructors (PostgreSQL).
--
-- user_quotas: an instructor's own limits; no row = the server's defaults
-- (QUOTA_RUNNING_WORKSHOPS, QUOTA_SEATS, QUOTA_WORKSHOP_HOURS).
-- invites: single-use instructor sign-up links; only the SHA-256 of the
-- token is stored.
-- workshop_members: co-instructors (teaching assistants) of a workshop.
-- Idempotent, one transaction.

BEGIN;

CREATE TABLE IF NOT EXISTS user_quotas (
    user_id           TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    running_workshops INTEGER NOT NULL CHECK (running_workshops >= 0),
    seats             INTEGER NOT NULL CHECK (seats >= 0),
    workshop_hours    INTEGER NOT NULL CHECK (workshop_hours >= 1),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS invites (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    email      TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    used_by    TEXT NOT NULL DEFAULT '',
    CONSTRAINT invites_token_hash_key UNIQUE (token_hash)
);

CREATE TABLE IF NOT EXISTS workshop_members (
    workshop_id TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        TEXT NOT NULL DEFAULT 'assistant' CHECK (role IN ('assistant')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (workshop_id, user_id)
);
CREATE INDEX IF NOT EXISTS workshop_members_user_idx ON workshop_members (user_id);

COMMIT;
