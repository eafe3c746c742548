-- Reverts 015_labs.up.sql (labs, progress, hands and broadcasts are lost).
BEGIN;
DROP TABLE IF EXISTS broadcasts;
DROP TABLE IF EXISTS hands;
DROP TABLE IF EXISTS lab_progress;
DROP TABLE IF EXISTS workshop_labs;
DROP TABLE IF EXISTS labs;
COMMIT;
