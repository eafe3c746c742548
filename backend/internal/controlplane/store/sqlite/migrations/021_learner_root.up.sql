-- SQLite dialect of backend/migrations/021: the learner is root inside
-- their seat's own namespaces (0 or 1).
ALTER TABLE workshops ADD COLUMN learner_root INTEGER NOT NULL DEFAULT 0;
