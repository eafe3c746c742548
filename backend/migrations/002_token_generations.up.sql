-- Exact revocation of workspace tokens (PostgreSQL).
--
-- Every workshop has a monotonic counter, token_generation. Assigning a seat
-- to a learner, revoking a learner and reissuing a learner's access code
-- each take the next value. A seat row carries the generation it was
-- assigned with, and every workspace token carries the generation of the
-- seat it was issued for, so "issued before the revoke" is an integer
-- comparison that cannot tie (unlike the whole-second iat it replaces).
--
-- seat_revocations holds the revokes and reissues that the workshop's host
-- has not confirmed yet: the reconciler retries them until the agent
-- refuses every token of the seat below min_generation. reset means the
-- seat's workspace must be wiped for its next learner (a revoke; a reissue
-- keeps the learner's files).
--
-- Idempotent (IF NOT EXISTS) and one transaction, like 001.

BEGIN;

ALTER TABLE workshops ADD COLUMN IF NOT EXISTS token_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS generation BIGINT NOT NULL DEFAULT 0;

CREATE TABLE IF NOT EXISTS seat_revocations (
    workshop_id    TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    seat           INTEGER NOT NULL CHECK (seat > 0),
    -- the learner revoked (whose home a reset saves first) or reissued
    registration_id TEXT NOT NULL DEFAULT '',
    min_generation BIGINT NOT NULL,
    reset          BOOLEAN NOT NULL DEFAULT false,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (workshop_id, seat)
);

COMMIT;
