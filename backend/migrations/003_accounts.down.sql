-- Reverts 003_accounts.up.sql (quotas, invites and co-instructors are lost).
BEGIN;
DROP TABLE IF EXISTS workshop_members;
DROP TABLE IF EXISTS invites;
DROP TABLE IF EXISTS user_quotas;
COMMIT;
