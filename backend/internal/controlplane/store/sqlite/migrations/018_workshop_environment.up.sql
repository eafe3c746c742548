-- SQLite dialect of backend/migrations/018: the image a workshop's seats
-- run on (empty: the host's root) and its sealed pull secret.
ALTER TABLE workshops ADD COLUMN environment TEXT NOT NULL DEFAULT '';
ALTER TABLE workshops ADD COLUMN environment_auth TEXT NOT NULL DEFAULT '';
