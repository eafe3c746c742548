-- Seat watchers and lab setups: SQLite dialect of backend/migrations/016.

CREATE TABLE IF NOT EXISTS seat_watchers (
    id          TEXT PRIMARY KEY,
    workshop_id TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    seat        INTEGER NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    mode        TEXT NOT NULL CHECK (mode IN ('ro', 'rw')),
    since       TEXT NOT NULL,
    seen_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS seat_watchers_seat_idx ON seat_watchers (workshop_id, seat, seen_at);

CREATE TABLE IF NOT EXISTS lab_setups (
    registration_id TEXT NOT NULL REFERENCES registrations (id) ON DELETE CASCADE,
    workshop_id     TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    lab_id          TEXT NOT NULL,
    version         INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    message         TEXT NOT NULL DEFAULT '',
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    PRIMARY KEY (registration_id, lab_id, version)
);
