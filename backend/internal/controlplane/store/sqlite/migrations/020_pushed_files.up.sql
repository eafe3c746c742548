-- Pushed files and their deliveries: SQLite dialect of backend/migrations/020.

CREATE TABLE IF NOT EXISTS pushed_files (
    id              TEXT PRIMARY KEY,
    workshop_id     TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    registration_id TEXT NOT NULL DEFAULT '',
    path            TEXT NOT NULL,
    content         BLOB NOT NULL,
    pushed_by       TEXT NOT NULL DEFAULT '',
    pushed_at       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pushed_files_workshop_idx ON pushed_files (workshop_id, pushed_at);

-- The progress matrix lists a workshop's lab setups (lab_setups is from 016).
CREATE INDEX IF NOT EXISTS lab_setups_workshop_idx ON lab_setups (workshop_id, lab_id, version);

CREATE TABLE IF NOT EXISTS push_deliveries (
    push_id         TEXT NOT NULL REFERENCES pushed_files (id) ON DELETE CASCADE,
    registration_id TEXT NOT NULL REFERENCES registrations (id) ON DELETE CASCADE,
    status          TEXT NOT NULL CHECK (status IN ('running', 'done')),
    at              TEXT NOT NULL,
    PRIMARY KEY (registration_id, push_id)
);
