DROP TABLE IF EXISTS workshop_members;
DROP TABLE IF EXISTS invites;
DROP TABLE IF EXISTS user_quotas;
