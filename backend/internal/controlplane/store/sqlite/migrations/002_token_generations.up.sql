-- Exact revocation of workspace tokens, SQLite dialect of
-- backend/migrations/002 (same columns and table; see there for the design).
-- golang-migrate runs this file inside one transaction.

ALTER TABLE workshops ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;

CREATE TABLE IF NOT EXISTS seat_revocations (
    workshop_id    TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    seat           INTEGER NOT NULL CHECK (seat > 0),
    registration_id TEXT NOT NULL DEFAULT '',
    min_generation INTEGER NOT NULL,
    reset          INTEGER NOT NULL DEFAULT 0,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (workshop_id, seat)
);
