-- Multi-host workshops: a workshop of N seats runs on ceil(N / seats_per_host)
-- hosts. Placement is arithmetic on the seat number, which the store already
-- gives out atomically: seat s lives on host ceil(s / seats_per_host), so a
-- seat never moves while it lives and no host holds more than
-- seats_per_host seats. seats_per_host is fixed when the workshop is created
-- (0: a workshop from before this migration, every seat on host 1).
--
-- workshop_vms now holds one row per host, numbered 1.. (host_index). Host 1
-- keeps using the workshop's agent_token/agent_cert (the seed's single host);
-- hosts 2.. keep their own token and certificate in their row.
-- Idempotent (IF NOT EXISTS) and one transaction, like 001.
BEGIN;
ALTER TABLE workshops ADD COLUMN IF NOT EXISTS seats_per_host INTEGER NOT NULL DEFAULT 0
    CHECK (seats_per_host >= 0);
ALTER TABLE workshop_vms ADD COLUMN IF NOT EXISTS host_index INTEGER NOT NULL DEFAULT 1
    CHECK (host_index >= 1);
ALTER TABLE workshop_vms ADD COLUMN IF NOT EXISTS agent_token TEXT NOT NULL DEFAULT '';
ALTER TABLE workshop_vms ADD COLUMN IF NOT EXISTS agent_cert TEXT NOT NULL DEFAULT '';
ALTER TABLE workshop_vms DROP CONSTRAINT IF EXISTS workshop_vms_workshop_key;
CREATE UNIQUE INDEX IF NOT EXISTS workshop_vms_workshop_host_key ON workshop_vms (workshop_id, host_index);
COMMIT;
