-- Reverts 002_token_generations.up.sql (pending revokes are lost).
BEGIN;
DROP TABLE IF EXISTS seat_revocations;
ALTER TABLE sessions DROP COLUMN IF EXISTS generation;
ALTER TABLE workshops DROP COLUMN IF EXISTS token_generation;
COMMIT;
