-- Back to one host per workshop: the rows of hosts 2.. are removed.
CREATE TABLE workshop_vms_016 (
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
    CONSTRAINT workshop_vms_workshop_key UNIQUE (workshop_id)
);
INSERT INTO workshop_vms_016 (id, workshop_id, name, zone, ip, status, agent_url, steps, created_at, updated_at)
    SELECT id, workshop_id, name, zone, ip, status, agent_url, steps, created_at, updated_at FROM workshop_vms WHERE host_index = 1;
DROP TABLE workshop_vms;
ALTER TABLE workshop_vms_016 RENAME TO workshop_vms;
ALTER TABLE workshops DROP COLUMN seats_per_host;
