-- Back to the workshop row's counter: it is raised to the sequence's last
-- value first, so the generations the older code takes stay above every
-- one given from the sequence.
BEGIN;
DO $$ BEGIN
    UPDATE workshops SET token_generation = greatest(token_generation, (SELECT last_value FROM token_generations));
EXCEPTION WHEN undefined_table THEN NULL;
END $$;
DROP SEQUENCE IF EXISTS token_generations;
DROP TABLE IF EXISTS free_places;
DROP TABLE IF EXISTS free_seats;
COMMIT;
