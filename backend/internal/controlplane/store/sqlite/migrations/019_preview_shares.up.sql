-- Preview share links, SQLite dialect of backend/migrations/019.
CREATE TABLE IF NOT EXISTS preview_shares (
    id          TEXT PRIMARY KEY,
    workshop_id TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    seat        INTEGER NOT NULL CHECK (seat > 0),
    port        INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    generation  INTEGER NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS preview_shares_seat_idx ON preview_shares (workshop_id, seat, created_at);
