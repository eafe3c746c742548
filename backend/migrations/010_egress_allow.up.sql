-- A workshop's egress allowlist: lab servers on private addresses that its
-- seats may reach (space-separated "CIDR[:port]" rules; empty = none). By
-- default seats reach the public internet only.
BEGIN;
ALTER TABLE workshops ADD COLUMN IF NOT EXISTS egress_allow TEXT NOT NULL DEFAULT '';
COMMIT;
