-- Workshop environments: the OCI image the seats run on (empty: the host's
-- own root) and its registry pull secret, sealed by the control plane
-- (AES-GCM; empty: anonymous or the host's own credentials). Idempotent
-- (IF NOT EXISTS) and one transaction, like 001.
BEGIN;
ALTER TABLE workshops ADD COLUMN IF NOT EXISTS environment TEXT NOT NULL DEFAULT '';
ALTER TABLE workshops ADD COLUMN IF NOT EXISTS environment_auth TEXT NOT NULL DEFAULT '';
COMMIT;
