-- Reverts 009_workshop_disk.up.sql: seats go back to the agent's default size.
BEGIN;
ALTER TABLE workshops DROP COLUMN IF EXISTS disk_mb;
COMMIT;
