ALTER TABLE workshops DROP COLUMN learner_root;
