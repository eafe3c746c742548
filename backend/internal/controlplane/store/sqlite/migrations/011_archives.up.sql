-- Archives of learners' homes, SQLite dialect of backend/migrations/011.
CREATE TABLE IF NOT EXISTS archives (
    id              TEXT PRIMARY KEY,
    workshop_id     TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    registration_id TEXT NOT NULL REFERENCES registrations (id) ON DELETE CASCADE,
    seat            INTEGER NOT NULL CHECK (seat > 0),
    blob_key        TEXT NOT NULL,
    size_bytes      INTEGER NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
    fingerprint     TEXT NOT NULL DEFAULT '',
    reason          TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    restored_at     TEXT
);
CREATE INDEX IF NOT EXISTS archives_registration_idx ON archives (registration_id, created_at DESC);
CREATE INDEX IF NOT EXISTS archives_workshop_idx ON archives (workshop_id, created_at DESC);
CREATE INDEX IF NOT EXISTS archives_created_at_idx ON archives (created_at);
