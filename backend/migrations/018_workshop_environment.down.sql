BEGIN;
ALTER TABLE workshops DROP COLUMN IF EXISTS environment_auth;
ALTER TABLE workshops DROP COLUMN IF EXISTS environment;
COMMIT;
