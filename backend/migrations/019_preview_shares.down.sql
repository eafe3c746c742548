DROP TABLE IF EXISTS preview_shares;
