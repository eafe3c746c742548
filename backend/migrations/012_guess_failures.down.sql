-- Reverts 012_guess_failures.up.sql (the failure counts are forgotten).
BEGIN;
DROP TABLE IF EXISTS guess_failures;
COMMIT;
