-- Each seat's home gets a disk limit, set per workshop in MiB. Existing
-- workshops get the default, 2 GiB. 0 means "the host agent's default".
-- Idempotent (IF NOT EXISTS) and one transaction, like 001.
BEGIN;
ALTER TABLE workshops ADD COLUMN IF NOT EXISTS disk_mb INTEGER NOT NULL DEFAULT 2048 CHECK (disk_mb >= 0);
COMMIT;
