-- SQLite dialect of backend/migrations/017: hosts per workshop. SQLite
-- cannot drop a table constraint, so workshop_vms is rebuilt with
-- (workshop_id, host_index) as its key; existing rows become host 1.
ALTER TABLE workshops ADD COLUMN seats_per_host INTEGER NOT NULL DEFAULT 0 CHECK (seats_per_host >= 0);
CREATE TABLE workshop_vms_017 (
    id          TEXT PRIMARY KEY,
    workshop_id TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    name        TEXT NOT NULL DEFAULT '',
    zone        TEXT NOT NULL DEFAULT '',
    ip          TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT '',
    agent_url   TEXT NOT NULL DEFAULT '',
    steps       TEXT NOT NULL DEFAULT '[]',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    host_index  INTEGER NOT NULL DEFAULT 1 CHECK (host_index >= 1),
    agent_token TEXT NOT NULL DEFAULT '',
    agent_cert  TEXT NOT NULL DEFAULT '',
    CONSTRAINT workshop_vms_workshop_host_key UNIQUE (workshop_id, host_index)
);
INSERT INTO workshop_vms_017 (id, workshop_id, name, zone, ip, status, agent_url, steps, created_at, updated_at)
    SELECT id, workshop_id, name, zone, ip, status, agent_url, steps, created_at, updated_at FROM workshop_vms;
DROP TABLE workshop_vms;
ALTER TABLE workshop_vms_017 RENAME TO workshop_vms;
