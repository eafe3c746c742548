-- Failure clocks of the guessing limits, SQLite dialect of backend/migrations/012.
CREATE TABLE IF NOT EXISTS guess_failures (
    key      TEXT PRIMARY KEY,
    clock_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS guess_failures_clock_idx ON guess_failures (clock_us);
