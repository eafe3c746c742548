package sqlite

import (
	"context"
	"database/sql"
	"errors"
)

// The free lists of a workshop (migration 023), as in the PostgreSQL
// engine: free_seats holds the seat numbers in 1..seats that no seat row
// holds, free_places one row per registration the workshop still has room
// for (seats minus the non-revoked registrations, never below 0). SQLite
// has one writer, so a register or join simply takes the first row; the
// lowest free seat is one probe of the primary key.

// seriesSQL is the numbers ?..? (inclusive) as the table n(i).
const seriesSQL = `WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?) `

// fillLists gives a new workshop its free lists: every seat and place free.
func fillLists(ctx context.Context, q querier, id string, seats int) error {
	for _, table := range []string{"free_seats (workshop_id, seat)", "free_places (workshop_id, place)"} {
		if _, err := q.ExecContext(ctx, `INSERT INTO `+table+` `+seriesSQL+`SELECT ?, i FROM n`, 1, seats, id); err != nil {
			return mapErr("create workshop: free lists", err)
		}
	}
	return nil
}

// resizeLists brings the free lists of workshop id, whose seats went from
// old to seats, to the new count. A seat held above the new count stays
// held; its number is not given back when it is freed.
func resizeLists(ctx context.Context, tx *sql.Tx, id string, old, seats int) error {
	var err error
	if seats > old {
		_, err = tx.ExecContext(ctx, `INSERT INTO free_seats (workshop_id, seat) `+seriesSQL+`SELECT ?, i FROM n
			WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.workshop_id = ? AND s.seat = n.i)
			ON CONFLICT DO NOTHING`, old+1, seats, id, id)
	} else {
		_, err = tx.ExecContext(ctx, `DELETE FROM free_seats WHERE workshop_id = ? AND seat > ?`, id, seats)
	}
	if err != nil {
		return mapErr("update workshop: free seats", err)
	}
	var free, used int
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM free_places WHERE workshop_id = ?),
		(SELECT count(*) FROM registrations WHERE workshop_id = ? AND revoked_at IS NULL)`, id, id).Scan(&free, &used); err != nil {
		return mapErr("update workshop: free places", err)
	}
	want := max(seats-used, 0)
	switch {
	case want > free:
		var top int
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(place), 0) FROM free_places WHERE workshop_id = ?`, id).Scan(&top); err != nil {
			return mapErr("update workshop: free places", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO free_places (workshop_id, place) `+seriesSQL+`SELECT ?, i FROM n`, top+1, top+want-free, id)
	case want < free:
		_, err = tx.ExecContext(ctx, `DELETE FROM free_places WHERE workshop_id = ? AND place IN (
			SELECT place FROM free_places WHERE workshop_id = ? ORDER BY place DESC LIMIT ?)`, id, id, free-want)
	}
	return mapErr("update workshop: free places", err)
}

// givePlaceBack adds a free place to workshop id when its non-revoked
// registrations and free places are fewer than its seats (after a revoke).
func givePlaceBack(ctx context.Context, tx *sql.Tx, id string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO free_places (workshop_id, place)
		SELECT w.id, coalesce((SELECT max(place) FROM free_places WHERE workshop_id = w.id), 0) + 1 FROM workshops w
		WHERE w.id = ? AND (SELECT count(*) FROM registrations WHERE workshop_id = w.id AND revoked_at IS NULL)
			+ (SELECT count(*) FROM free_places WHERE workshop_id = w.id) < w.seats`, id)
	return err
}

// giveSeatBack puts a seat number freed by a revoke back on the free list,
// unless the workshop has fewer seats now.
func giveSeatBack(ctx context.Context, tx *sql.Tx, id string, seat int) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO free_seats (workshop_id, seat)
		SELECT id, ? FROM workshops WHERE id = ? AND ? <= seats ON CONFLICT DO NOTHING`, seat, id, seat)
	return err
}

// takePlace takes a free place of workshop id; false when there is none.
func takePlace(ctx context.Context, tx *sql.Tx, id string) (bool, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM free_places WHERE workshop_id = ? AND place =
		(SELECT place FROM free_places WHERE workshop_id = ? ORDER BY place LIMIT 1)`, id, id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// takeSeat takes the lowest free seat number of workshop id; 0 when there
// is none.
func takeSeat(ctx context.Context, tx *sql.Tx, id string) (int, error) {
	var seat int
	err := tx.QueryRowContext(ctx, `DELETE FROM free_seats WHERE workshop_id = ? AND seat =
		(SELECT seat FROM free_seats WHERE workshop_id = ? ORDER BY seat LIMIT 1) RETURNING seat`, id, id).Scan(&seat)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return seat, err
}
