-- Preview share links (PostgreSQL): a learner makes one port of their seat
-- public to whoever holds the link, until they revoke it. Only the SHA-256
-- of the link's secret is stored. A share is good only while the seat is
-- held at the generation it was made at (a revoke or reissue ends it).
-- Idempotent, one transaction.
BEGIN;

CREATE TABLE IF NOT EXISTS preview_shares (
    id          TEXT PRIMARY KEY,
    workshop_id TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    seat        INTEGER NOT NULL CHECK (seat > 0),
    port        INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    generation  BIGINT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS preview_shares_seat_idx ON preview_shares (workshop_id, seat, created_at);

COMMIT;
