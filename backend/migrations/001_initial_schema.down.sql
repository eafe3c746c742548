-- Reverts 001_initial_schema.up.sql: drops every ClaraTeach table (data is lost).
BEGIN;
DROP TABLE IF EXISTS leases;
DROP TABLE IF EXISTS workshop_events;
DROP TABLE IF EXISTS workshop_vms;
DROP TABLE IF EXISTS sessions;
DROP TABLE IF EXISTS registrations;
DROP TABLE IF EXISTS workshops;
DROP TABLE IF EXISTS auth_sessions;
DROP TABLE IF EXISTS users;
COMMIT;
