-- SQLite dialect of backend/migrations/009: each seat's home gets a disk
-- limit, set per workshop in MiB (existing workshops: 2 GiB; 0 = the host
-- agent's default). golang-migrate runs this file inside one transaction.
ALTER TABLE workshops ADD COLUMN disk_mb INTEGER NOT NULL DEFAULT 2048 CHECK (disk_mb >= 0);
