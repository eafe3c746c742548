package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/internal/query"
)

// A learner's seat is one statement too (seatWith): it locks the learner's
// registration, takes the lowest free seat number, inserts the seat and
// reads what a join answer tells about it. It was a batch of four (the
// learner, the lock, the seat, the join's facts).

// seatWith is the seat statement. reg selects the registration to seat
// (id, workshop_id), locked FOR NO KEY UPDATE, so a revoke (which updates
// it) either waits for the join or is seen by it; it selects it only when
// the registration holds no seat yet, so re-joins take no lock. regID is the
// expression of the learner's registration id (for its seat); learner the
// FROM item of the learner's registration as r, where its condition: the
// statement's one row (none: no such registration); head the row's first
// columns. $2 is the new seat's id, $3 its creation time.
//
// A new seat is the lowest free number no other join holds locked (SKIP
// LOCKED: concurrent joins of a class take different numbers without
// waiting for each other), taken off the free list in the same statement;
// its generation comes from the sequence. Two joins of one learner that both
// saw no seat: the second waits for the first's lock, then its insert
// conflicts on the registration's one seat (sessions_registration_key,
// joinRace) and it tries again, seeing the first's seat.
//
// After head: the seat (the new one or the registration's; NULLs when
// none), whether a reset of it is pending, and when the learner's newest
// archive was saved if it has been restored.
func seatWith(reg, regID, head, learner, where string) string {
	return `WITH reg AS (
		` + reg + `
	), existing AS (
		SELECT ` + query.SeatCols + ` FROM sessions WHERE registration_id = ` + regID + `
	), free AS (
		SELECT seat FROM free_seats WHERE workshop_id = (SELECT workshop_id FROM reg)
		ORDER BY seat LIMIT 1 FOR UPDATE SKIP LOCKED
	), taken AS (
		DELETE FROM free_seats WHERE workshop_id = (SELECT workshop_id FROM reg) AND seat = (SELECT seat FROM free)
		RETURNING seat
	), ins AS (
		INSERT INTO sessions (id, workshop_id, registration_id, seat, status, created_at, generation)
		SELECT $2::text, reg.workshop_id, reg.id, taken.seat, 'assigned', $3::timestamptz, nextval('token_generations')
		FROM reg, taken
		RETURNING ` + query.SeatCols + `
	), seat AS (
		SELECT ` + query.SeatCols + ` FROM ins
		UNION ALL
		SELECT ` + query.SeatCols + ` FROM existing
	)
	SELECT ` + head + `, s.*,
		EXISTS (SELECT 1 FROM seat_revocations p WHERE p.workshop_id = s.workshop_id AND p.seat = s.seat AND p.reset),
		(SELECT CASE WHEN a.restored_at IS NOT NULL THEN a.created_at END FROM archives a
			WHERE a.registration_id = r.id ORDER BY a.created_at DESC, a.id DESC LIMIT 1)
	FROM ` + learner + ` LEFT JOIN seat s ON true
	WHERE ` + where
}

// seatSQL is AssignSeat's and JoinSeat's statement, for registration $1.
func seatSQL(commit string) string {
	return seatWith(`SELECT id, workshop_id FROM registrations r WHERE id = $1::text AND revoked_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM sessions WHERE registration_id = r.id)
		FOR NO KEY UPDATE`,
		`$1::text`, `r.id`+commit, `registrations r`, `r.id = $1::text`)
}

// seatByCodeSQL is JoinByCode's statement: the learner of access code $1
// (registration and workshop) and, when the registration is not revoked
// and its workshop is open at $4, the seat.
func seatByCodeSQL(commit string) string {
	return seatWith(`SELECT r.id, r.workshop_id FROM registrations r JOIN workshops w ON w.id = r.workshop_id
		WHERE r.access_code = $1::text AND r.revoked_at IS NULL AND `+openSQL("w", "$4")+`
			AND NOT EXISTS (SELECT 1 FROM sessions WHERE registration_id = r.id)
		FOR NO KEY UPDATE OF r`,
		`(SELECT id FROM registrations WHERE access_code = $1::text)`, query.LearnerCols+commit,
		`registrations r JOIN workshops w ON w.id = r.workshop_id`, `r.access_code = $1::text`)
}

// seated is the end of a seat statement's row.
type seated struct {
	id, workshopID, registrationID, status *string
	seat                                   *int
	lastActivity, createdAt                *time.Time
	generation                             *int64
	reset                                  bool
	restoredFrom                           *time.Time
}

func (x *seated) fields() []any {
	return []any{&x.id, &x.workshopID, &x.registrationID, &x.seat, &x.status, &x.lastActivity, &x.createdAt, &x.generation,
		&x.reset, &x.restoredFrom}
}

// join is the seat the statement returned and what it tells about it; nil
// when it returned none.
func (x *seated) join() *store.SeatJoin {
	if x.id == nil || x.seat == nil || x.createdAt == nil {
		return nil
	}
	st := &store.Seat{ID: *x.id, WorkshopID: deref(x.workshopID), RegistrationID: deref(x.registrationID), Seat: *x.seat,
		Status: deref(x.status), LastActivity: store.UTCPtr(x.lastActivity), CreatedAt: x.createdAt.UTC(), Generation: deref(x.generation)}
	return &store.SeatJoin{Seat: st, ResetPending: x.reset, RestoredFrom: store.UTCPtr(x.restoredFrom)}
}

// joinRace reports whether a seat statement lost to another join of the
// same learner (two tabs): both saw no seat, the other committed first.
func joinRace(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "sessions_registration_key"
}

// AssignSeat implements store.Store: JoinSeat's seat.
func (s *Store) AssignSeat(ctx context.Context, registrationID string) (*store.Seat, error) {
	j, err := s.JoinSeat(ctx, registrationID)
	if err != nil {
		return nil, err
	}
	return j.Seat, nil
}

// JoinSeat implements store.Store: one round trip, one statement
// (seatWith).
func (s *Store) JoinSeat(ctx context.Context, registrationID string) (*store.SeatJoin, error) {
	for attempt := 1; ; attempt++ {
		var x seated
		dest := append(append([]any{nil}, s.commitDest()...), x.fields()...) // r.id first
		err := s.pool.QueryRow(ctx, s.hot().seat, registrationID, authtoken.NewID(), now()).Scan(dest...)
		switch {
		case joinRace(err) && attempt < seatAttempts:
			continue
		case errors.Is(err, pgx.ErrNoRows):
			return nil, fmt.Errorf("assign seat: registration %w", store.ErrNotFound)
		case err != nil:
			return nil, mapErr("assign seat", err)
		}
		if j := x.join(); j != nil {
			return s.seatChanged(j, nil)
		}
		if err := s.noSeat(ctx, registrationID, attempt); !errors.Is(err, errSeatsBusy) {
			return nil, err
		}
	}
}

// seatChanged signals the watchers of the class of a seat a join gave.
func (s *Store) seatChanged(j *store.SeatJoin, err error) (*store.SeatJoin, error) {
	if err != nil || j.Seat == nil {
		return j, err
	}
	return j, s.changed(nil, j.Seat.WorkshopID)
}

// errSeatsBusy: a join found no free seat it could lock, but free seats
// remain: other joins (or a resize) held them locked. It waited for those
// locks (noSeat) and tries again.
var errSeatsBusy = errors.New("free seats held by joins that did not take them")

// seatAttempts bounds how often a join tries again on errSeatsBusy or
// joinRace.
const seatAttempts = 3

// noSeat is why the attempt-th seat statement gave registrationID no seat:
// revoked, full, or (before seatAttempts) errSeatsBusy.
//
// Free seats left but none taken is what the statement sees when every
// free seat is locked by other joins or a resize (SKIP LOCKED passes them
// by): before errSeatsBusy it waits until those locks are gone
// (waitForLocks), so the next attempt sees what they did, as a register
// does (noPlace).
// Without the wait, a join that met joins about to roll back used up its
// attempts at once and answered "full" with seats free.
func (s *Store) noSeat(ctx context.Context, registrationID string, attempt int) error {
	var (
		revoked, free bool
		workshopID    string
	)
	err := s.pool.QueryRow(ctx, `SELECT r.revoked_at IS NOT NULL, EXISTS (SELECT 1 FROM free_seats f WHERE f.workshop_id = r.workshop_id),
		r.workshop_id FROM registrations r WHERE r.id = $1`, registrationID).Scan(&revoked, &free, &workshopID)
	switch {
	case err != nil:
		return mapErr("assign seat", err)
	case revoked:
		return fmt.Errorf("assign seat: %w", store.ErrRevoked)
	case !free || attempt >= seatAttempts:
		return fmt.Errorf("assign seat: %w", store.ErrFull)
	}
	if err := s.waitForLocks(ctx, "free_seats", "seat", workshopID); err != nil {
		return mapErr("assign seat: wait for free seats", err)
	}
	return errSeatsBusy
}
