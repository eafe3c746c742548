-- Reverts 009_workshop_disk.up.sql.
ALTER TABLE workshops DROP COLUMN disk_mb;
