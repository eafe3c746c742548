-- Labs, workshop labs, progress, hands and broadcasts: SQLite dialect of
-- backend/migrations/015.

CREATE TABLE IF NOT EXISTS labs (
    id         TEXT NOT NULL,
    version    INTEGER NOT NULL CHECK (version > 0),
    owner_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    content    BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (id, version)
);
CREATE INDEX IF NOT EXISTS labs_owner_idx ON labs (owner_id, created_at DESC);

CREATE TABLE IF NOT EXISTS workshop_labs (
    workshop_id TEXT PRIMARY KEY REFERENCES workshops (id) ON DELETE CASCADE,
    lab_id      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    FOREIGN KEY (lab_id, version) REFERENCES labs (id, version)
);

CREATE TABLE IF NOT EXISTS lab_progress (
    workshop_id     TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    registration_id TEXT NOT NULL REFERENCES registrations (id) ON DELETE CASCADE,
    step_id         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('current', 'failing', 'done')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    message         TEXT NOT NULL DEFAULT '',
    entered_at      TEXT NOT NULL,
    checked_at      TEXT,
    done_at         TEXT,
    PRIMARY KEY (registration_id, step_id)
);
CREATE INDEX IF NOT EXISTS lab_progress_workshop_idx ON lab_progress (workshop_id);

CREATE TABLE IF NOT EXISTS hands (
    id              TEXT PRIMARY KEY,
    workshop_id     TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    registration_id TEXT NOT NULL REFERENCES registrations (id) ON DELETE CASCADE,
    question        TEXT NOT NULL DEFAULT '',
    raised_at       TEXT NOT NULL,
    picked_by       TEXT NOT NULL DEFAULT '',
    picked_at       TEXT,
    closed_at       TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS hands_one_open_idx ON hands (registration_id) WHERE closed_at IS NULL;
CREATE INDEX IF NOT EXISTS hands_workshop_idx ON hands (workshop_id, raised_at);

CREATE TABLE IF NOT EXISTS broadcasts (
    workshop_id TEXT PRIMARY KEY REFERENCES workshops (id) ON DELETE CASCADE,
    message     TEXT NOT NULL,
    at          TEXT NOT NULL
);

