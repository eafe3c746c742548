-- Learner root: the learner is root inside their seat's own namespaces
-- (sandbox seats; see docs/ARCHITECTURE.md "Learner root"). Idempotent
-- (IF NOT EXISTS) and one transaction, like 001.
BEGIN;
ALTER TABLE workshops ADD COLUMN IF NOT EXISTS learner_root BOOLEAN NOT NULL DEFAULT FALSE;
COMMIT;
