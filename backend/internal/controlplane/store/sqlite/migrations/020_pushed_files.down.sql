DROP TABLE IF EXISTS push_deliveries;
DROP TABLE IF EXISTS pushed_files;
