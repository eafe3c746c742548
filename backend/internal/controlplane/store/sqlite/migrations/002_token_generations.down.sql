-- Reverts 002_token_generations.up.sql (pending revokes are lost).
DROP TABLE IF EXISTS seat_revocations;
ALTER TABLE sessions DROP COLUMN generation;
ALTER TABLE workshops DROP COLUMN token_generation;
