-- SQLite dialect of backend/migrations/023: the free seat numbers and the
-- free registration places of each workshop. SQLite has one writer, so it
-- needs no sequence: its generations stay the workshop's counter.
CREATE TABLE free_seats (
    workshop_id TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    seat        INTEGER NOT NULL CHECK (seat > 0),
    PRIMARY KEY (workshop_id, seat)
) WITHOUT ROWID;
CREATE TABLE free_places (
    workshop_id TEXT NOT NULL REFERENCES workshops (id) ON DELETE CASCADE,
    place       INTEGER NOT NULL CHECK (place > 0),
    PRIMARY KEY (workshop_id, place)
) WITHOUT ROWID;
INSERT INTO free_seats (workshop_id, seat)
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < (SELECT coalesce(max(seats), 0) FROM workshops))
    SELECT w.id, n.i FROM workshops w JOIN n ON n.i <= w.seats
    WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.workshop_id = w.id AND s.seat = n.i);
INSERT INTO free_places (workshop_id, place)
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < (SELECT coalesce(max(seats), 0) FROM workshops))
    SELECT w.id, n.i FROM workshops w JOIN n
        ON n.i <= w.seats - (SELECT count(*) FROM registrations r WHERE r.workshop_id = w.id AND r.revoked_at IS NULL);
