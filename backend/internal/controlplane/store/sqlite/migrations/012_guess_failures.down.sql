DROP TABLE IF EXISTS guess_failures;
