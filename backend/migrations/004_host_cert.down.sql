-- Reverts 004_host_cert.up.sql: no certificate is pinned any more.
BEGIN;
ALTER TABLE workshops DROP COLUMN IF EXISTS agent_cert;
COMMIT;
