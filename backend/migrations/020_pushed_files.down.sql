BEGIN;
DROP INDEX IF EXISTS lab_setups_workshop_idx;
DROP TABLE IF EXISTS push_deliveries;
DROP TABLE IF EXISTS pushed_files;
COMMIT;
