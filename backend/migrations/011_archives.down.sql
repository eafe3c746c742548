-- Reverts 011_archives.up.sql (the rows are lost; the blob objects stay).
BEGIN;
DROP TABLE IF EXISTS archives;
COMMIT;
