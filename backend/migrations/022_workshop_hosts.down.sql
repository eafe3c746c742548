-- Back to one host per workshop: the rows of hosts 2.. are removed.
BEGIN;
DELETE FROM workshop_vms WHERE host_index > 1;
DROP INDEX IF EXISTS workshop_vms_workshop_host_key;
ALTER TABLE workshop_vms DROP COLUMN IF EXISTS agent_cert;
ALTER TABLE workshop_vms DROP COLUMN IF EXISTS agent_token;
ALTER TABLE workshop_vms DROP COLUMN IF EXISTS host_index;
DO $$ BEGIN
    ALTER TABLE workshop_vms ADD CONSTRAINT workshop_vms_workshop_key UNIQUE (workshop_id);
EXCEPTION WHEN duplicate_table OR duplicate_object THEN NULL;
END $$;
ALTER TABLE workshops DROP COLUMN IF EXISTS seats_per_host;
COMMIT;
