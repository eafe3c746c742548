package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// The free lists of a workshop (migration 023): free_seats holds the seat
// numbers in 1..seats that no seat row holds, free_places one row per
// registration the workshop still has room for (seats minus the
// non-revoked registrations, never below 0). A register takes a place and a
// join takes the lowest seat number it can lock (FOR UPDATE SKIP LOCKED,
// in registerWith and seatWith), so neither waits for another learner's
// transaction nor for the workshop's row. Rows are added only under the
// workshop's lock (creation, a change of seats, a revoke), so the place
// numbers given back (max + 1) never collide.

// fillListsSQL follows a workshop insert (the CTE w: id, seats) with its
// free lists: every seat number and every place free.
const fillListsSQL = `, fs AS (
		INSERT INTO free_seats (workshop_id, seat) SELECT w.id, n FROM w, generate_series(1, w.seats) n
	)
	INSERT INTO free_places (workshop_id, place) SELECT w.id, n FROM w, generate_series(1, w.seats) n`

// resizeLists brings the free lists of workshop id, whose seats went from
// old to seats, to the new count, in tx (which holds the workshop's lock).
// A seat held above the new count stays held (its host stays too, see
// reconcile); its number is not given back when it is freed.
func resizeLists(ctx context.Context, tx pgx.Tx, id string, old, seats int) error {
	var err error
	if seats > old {
		_, err = tx.Exec(ctx, `INSERT INTO free_seats (workshop_id, seat)
			SELECT $1, n FROM generate_series($2::int + 1, $3::int) n
			WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.workshop_id = $1 AND s.seat = n)
			ON CONFLICT DO NOTHING`, id, old, seats)
	} else {
		// Waits for the joins that hold one of these numbers locked.
		_, err = tx.Exec(ctx, `DELETE FROM free_seats WHERE workshop_id = $1 AND seat > $2`, id, seats)
	}
	if err != nil {
		return mapErr("update workshop: free seats", err)
	}
	return resizePlaces(ctx, tx, id, seats)
}

// resizePlaces makes the free places seats minus the non-revoked
// registrations (at least 0). Registers in flight take a place and add a
// registration in one transaction, so the sum of the two stays as it is
// while they commit; the delete waits for those holding one of its rows.
func resizePlaces(ctx context.Context, tx pgx.Tx, id string, seats int) error {
	var free, used int
	if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM free_places WHERE workshop_id = $1),
		(SELECT count(*) FROM registrations WHERE workshop_id = $1 AND revoked_at IS NULL)`, id).Scan(&free, &used); err != nil {
		return mapErr("update workshop: free places", err)
	}
	want := max(seats-used, 0)
	var err error
	switch {
	case want > free:
		_, err = tx.Exec(ctx, `INSERT INTO free_places (workshop_id, place)
			SELECT $1, m.top + n FROM (SELECT coalesce(max(place), 0) AS top FROM free_places WHERE workshop_id = $1) m,
				generate_series(1, $2::int) n`, id, want-free)
	case want < free:
		_, err = tx.Exec(ctx, `DELETE FROM free_places WHERE (workshop_id, place) IN (
			SELECT workshop_id, place FROM free_places WHERE workshop_id = $1 ORDER BY place DESC LIMIT $2 FOR UPDATE)`, id, free-want)
	}
	return mapErr("update workshop: free places", err)
}

// givePlaceBack adds a free place to workshop id when its non-revoked
// registrations and free places are fewer than its seats (after a revoke,
// in its transaction, under the workshop's lock).
func givePlaceBack(ctx context.Context, tx pgx.Tx, id string) error {
	_, err := tx.Exec(ctx, `INSERT INTO free_places (workshop_id, place)
		SELECT w.id, coalesce((SELECT max(place) FROM free_places WHERE workshop_id = w.id), 0) + 1 FROM workshops w
		WHERE w.id = $1 AND (SELECT count(*) FROM registrations WHERE workshop_id = w.id AND revoked_at IS NULL)
			+ (SELECT count(*) FROM free_places WHERE workshop_id = w.id) < w.seats`, id)
	return err
}

// giveSeatBack puts a seat number freed by a revoke back on the free list,
// unless the workshop has fewer seats now.
func giveSeatBack(ctx context.Context, tx pgx.Tx, id string, seat int) error {
	_, err := tx.Exec(ctx, `INSERT INTO free_seats (workshop_id, seat)
		SELECT id, $2 FROM workshops WHERE id = $1 AND $2 <= seats ON CONFLICT DO NOTHING`, id, seat)
	return err
}

// placesLeft reports whether workshop id has a free place (read without
// locking: after a register found none it could lock, a place is either
// taken or about to be by a register still in flight).
func (s *Store) placesLeft(ctx context.Context, id string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM free_places WHERE workshop_id = $1)`, id).Scan(&ok)
	return ok, err
}
