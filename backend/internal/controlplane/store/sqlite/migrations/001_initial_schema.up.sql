-- ClaraTeach initial schema, SQLite dialect of backend/migrations/001 (same
-- tables, columns and constraints). Times are TEXT in one fixed-width UTC
-- format, 2006-01-02T15:04:05.000000Z, so they sort and compare as strings.
-- golang-migrate runs this file inside one transaction.

CREATE TABLE IF NOT EXISTS users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    name          TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'instructor' CHECK (role IN ('instructor', 'admin')),
    created_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (lower(email));

CREATE TABLE IF NOT EXISTS auth_sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_sessions_user_id_idx ON auth_sessions (user_id);
CREATE INDEX IF NOT EXISTS auth_sessions_expires_at_idx ON auth_sessions (expires_at);

CREATE TABLE IF NOT EXISTS workshops (
    id              TEXT PRIMARY KEY,
    owner_id        TEXT NOT NULL REFERENCES users (id),
    name            TEXT NOT NULL,
    code            TEXT NOT NULL,
    seats           INTEGER NOT NULL CHECK (seats > 0),
    status          TEXT NOT NULL DEFAULT 'created',
    desired_state   TEXT NOT NULL DEFAULT 'stopped',
    status_reason   TEXT NOT NULL DEFAULT '',
    step            TEXT NOT NULL DEFAULT '',
    starts_at       TEXT,
    ends_at         TEXT,
    lab_guide       TEXT NOT NULL DEFAULT '',
    provisioner     TEXT NOT NULL DEFAULT '',
    agent_url       TEXT NOT NULL DEFAULT '',
    agent_token     TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT,
    CONSTRAINT workshops_code_key UNIQUE (code)
);
CREATE INDEX IF NOT EXISTS workshops_owner_id_idx ON workshops (owner_id, created_at DESC);
CREATE INDEX IF NOT EXISTS workshops_created_at_idx ON workshops (created_at DESC);
CREATE INDEX IF NOT EXISTS workshops_status_idx ON workshops (status, desired_state);

CREATE TABLE IF NOT EXISTS registrations (
    id          TEXT PRIMARY KEY,
    workshop_id TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    name        TEXT NOT NULL DEFAULT '',
    email       TEXT NOT NULL,
    access_code TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT,
    CONSTRAINT registrations_access_code_key UNIQUE (access_code)
);
CREATE UNIQUE INDEX IF NOT EXISTS registrations_workshop_email_key ON registrations (workshop_id, lower(email));

CREATE TABLE IF NOT EXISTS sessions (
    id              TEXT PRIMARY KEY,
    workshop_id     TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    registration_id TEXT NOT NULL REFERENCES registrations (id) ON DELETE CASCADE,
    seat            INTEGER NOT NULL CHECK (seat > 0),
    status          TEXT NOT NULL DEFAULT 'assigned',
    last_activity   TEXT,
    created_at      TEXT NOT NULL,
    CONSTRAINT sessions_workshop_seat_key UNIQUE (workshop_id, seat),
    CONSTRAINT sessions_registration_key UNIQUE (registration_id)
);

CREATE TABLE IF NOT EXISTS workshop_vms (
    id          TEXT PRIMARY KEY,
    workshop_id TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    name        TEXT NOT NULL DEFAULT '',
    zone        TEXT NOT NULL DEFAULT '',
    ip          TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT '',
    agent_url   TEXT NOT NULL DEFAULT '',
    steps       TEXT NOT NULL DEFAULT '[]',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT workshop_vms_workshop_key UNIQUE (workshop_id)
);

-- AUTOINCREMENT: event ids are never reused, so "after id N" stays valid.
CREATE TABLE IF NOT EXISTS workshop_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    workshop_id TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    level       TEXT NOT NULL DEFAULT 'info',
    step        TEXT NOT NULL DEFAULT '',
    message     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS workshop_events_workshop_idx ON workshop_events (workshop_id, id);

CREATE TABLE IF NOT EXISTS leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
