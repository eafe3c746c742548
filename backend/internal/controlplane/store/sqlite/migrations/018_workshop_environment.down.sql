ALTER TABLE workshops DROP COLUMN environment_auth;
ALTER TABLE workshops DROP COLUMN environment;
