-- Reverts 004_host_cert.up.sql.
ALTER TABLE workshops DROP COLUMN agent_cert;
