-- Sign-up, quotas and co-instructors: SQLite dialect of
-- backend/migrations/003 (same tables, columns and constraints; times are
-- TEXT as in 001). golang-migrate runs this file inside one transaction.

CREATE TABLE IF NOT EXISTS user_quotas (
    user_id           TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    running_workshops INTEGER NOT NULL CHECK (running_workshops >= 0),
    seats             INTEGER NOT NULL CHECK (seats >= 0),
    workshop_hours    INTEGER NOT NULL CHECK (workshop_hours >= 1),
    updated_at        TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS invites (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    email      TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    used_by    TEXT NOT NULL DEFAULT '',
    CONSTRAINT invites_token_hash_key UNIQUE (token_hash)
);

CREATE TABLE IF NOT EXISTS workshop_members (
    workshop_id TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        TEXT NOT NULL DEFAULT 'assistant' CHECK (role IN ('assistant')),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (workshop_id, user_id)
);
CREATE INDEX IF NOT EXISTS workshop_members_user_idx ON workshop_members (user_id);
