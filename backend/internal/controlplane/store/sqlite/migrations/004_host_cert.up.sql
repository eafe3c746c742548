-- SQLite dialect of backend/migrations/004: the workshop host's pinned TLS
-- certificate (PEM; empty for a loopback agent). golang-migrate runs this
-- file inside one transaction.
ALTER TABLE workshops ADD COLUMN agent_cert TEXT NOT NULL DEFAULT '';
