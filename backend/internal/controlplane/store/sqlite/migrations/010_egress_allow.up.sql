-- A workshop's egress allowlist (see the PostgreSQL migration 010).
ALTER TABLE workshops ADD COLUMN egress_allow TEXT NOT NULL DEFAULT '';
