ALTER TABLE workshops DROP COLUMN egress_allow;
