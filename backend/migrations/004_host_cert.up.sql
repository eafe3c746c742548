-- The workshop host's TLS certificate (PEM), which the control plane pins:
-- the agent is reached over TLS that accepts exactly this certificate.
-- Empty for a loopback (local) agent, reached over plain HTTP. The private
-- key is never stored here (it lives in the host's instance metadata).
-- Idempotent (IF NOT EXISTS) and one transaction, like 001.
BEGIN;
ALTER TABLE workshops ADD COLUMN IF NOT EXISTS agent_cert TEXT NOT NULL DEFAULT '';
COMMIT;
