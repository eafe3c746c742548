-- Files the instructor pushed into learners' homes, kept so that a learner
-- who joins later (or whose seat is rebuilt) gets them too, and one
-- delivery row per push and learner, so a file is written once (PostgreSQL).
-- Idempotent, one transaction.
BEGIN;

CREATE TABLE IF NOT EXISTS pushed_files (
    id              TEXT PRIMARY KEY,
    workshop_id     TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    -- '' for every learner, else the one learner it was pushed to
    registration_id TEXT NOT NULL DEFAULT '',
    path            TEXT NOT NULL,
    content         BYTEA NOT NULL,
    pushed_by       TEXT NOT NULL DEFAULT '',
    pushed_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS pushed_files_workshop_idx ON pushed_files (workshop_id, pushed_at);

-- The progress matrix lists a workshop's lab setups (lab_setups is from 016).
CREATE INDEX IF NOT EXISTS lab_setups_workshop_idx ON lab_setups (workshop_id, lab_id, version);

CREATE TABLE IF NOT EXISTS push_deliveries (
    push_id         TEXT NOT NULL REFERENCES pushed_files (id) ON DELETE CASCADE,
    registration_id TEXT NOT NULL REFERENCES registrations (id) ON DELETE CASCADE,
    status          TEXT NOT NULL CHECK (status IN ('running', 'done')),
    at              TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (registration_id, push_id)
);

COMMIT;
