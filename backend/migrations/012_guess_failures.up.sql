-- Failure clocks of the guessing limits (wrong access and workshop codes,
-- wrong passwords), shared by every control-plane replica instead of kept
-- in each one's memory. One row per key (an address, an account, a
-- workshop, or the whole service); clock_us is the key's clock in Unix
-- microseconds: every failure moves it to max(clock, now) + its cost, so a
-- clock in the past holds nothing and is pruned. Only failures write.
-- Idempotent, one transaction.
BEGIN;

CREATE TABLE IF NOT EXISTS guess_failures (
    key      TEXT PRIMARY KEY,
    clock_us BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS guess_failures_clock_idx ON guess_failures (clock_us);

COMMIT;
