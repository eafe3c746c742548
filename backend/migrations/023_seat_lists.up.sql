-- A learner's register and join no longer lock the workshop row (every
-- register and join of a class passed through that one lock, one at a
-- time; bench/bigclass's README has the profile). Instead:
--
-- free_seats: the seat numbers of a workshop that nobody holds (1..seats
-- minus the seats of sessions). A join takes the lowest one it can lock
-- (DELETE ... FOR UPDATE SKIP LOCKED), so concurrent joins take different
-- numbers without waiting for each other; a revoke puts the number back;
-- the primary key makes the lowest free number one index probe.
--
-- free_places: one row per registration the workshop still has room for
-- (seats minus the non-revoked registrations; the numbers only keep rows
-- apart). A register takes one the same way, a revoke gives one back.
--
-- token_generations: where seat assignments, revokes and reissues take
-- their token generation (a sequence needs no row lock; it was the
-- workshop row's counter). Values rise across workshops, so every new one
-- is above every earlier one of the workshop, which is all a generation
-- has to be. It starts above every generation given so far.
--
-- Idempotent (IF NOT EXISTS, ON CONFLICT) and one transaction, like 001.
BEGIN;
CREATE TABLE IF NOT EXISTS free_seats (
    workshop_id TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    seat        INTEGER NOT NULL CHECK (seat > 0),
    PRIMARY KEY (workshop_id, seat)
);
CREATE TABLE IF NOT EXISTS free_places (
    workshop_id TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    place       INTEGER NOT NULL CHECK (place > 0),
    PRIMARY KEY (workshop_id, place)
);
INSERT INTO free_seats (workshop_id, seat)
    SELECT w.id, n FROM workshops w, generate_series(1, w.seats) n
    WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.workshop_id = w.id AND s.seat = n)
    ON CONFLICT DO NOTHING;
INSERT INTO free_places (workshop_id, place)
    SELECT w.id, n FROM workshops w,
        generate_series(1, w.seats - (SELECT count(*) FROM registrations r WHERE r.workshop_id = w.id AND r.revoked_at IS NULL)::int) n
    WHERE NOT EXISTS (SELECT 1 FROM free_places f WHERE f.workshop_id = w.id)
    ON CONFLICT DO NOTHING;
CREATE SEQUENCE IF NOT EXISTS token_generations;
SELECT setval('token_generations', greatest(1,
    (SELECT max(token_generation) FROM workshops), (SELECT max(generation) FROM sessions), (SELECT last_value FROM token_generations)));
COMMIT;
