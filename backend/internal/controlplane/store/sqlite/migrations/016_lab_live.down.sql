DROP TABLE IF EXISTS lab_setups;
DROP TABLE IF EXISTS seat_watchers;
