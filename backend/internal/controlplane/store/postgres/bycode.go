package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/internal/query"
)

// A learner's register and join, one round trip each (RegisterByCode,
// JoinByCode), neither locking the workshop (seatlists.go): the request's lookup by code travels in the same pipelined
// batch as the write, so "is the workshop open" (store.Workshop.OpenAt) is
// checked in SQL as well, where the write happens (openSQL), and again in
// Go on the row the batch returns.

// openSQL is store.Workshop.OpenAt of the workshop alias w at the time
// parameter at: not deleted, not being deleted, not ended.
func openSQL(w, at string) string {
	return w + `.status <> '` + string(store.StatusDeleted) + `' AND ` + w + `.desired_state <> '` + string(store.DesiredDeleted) +
		`' AND (` + w + `.ends_at IS NULL OR ` + w + `.ends_at > ` + at + `::timestamptz)`
}

// registerByCodeSQL is registerSQL for the workshop of code $1 when it is
// open at $7 (else nothing: no row).
var registerByCodeSQL = registerWith(`SELECT id FROM workshops w WHERE code = $1::text AND ` + openSQL("w", "$7"))

// registerByCodeEventSQL adds an event to the workshop of the registration
// with the (fresh) id $5 if it exists, that is if this batch created it.
const registerByCodeEventSQL = `INSERT INTO workshop_events (workshop_id, at, level, step, message)
	SELECT workshop_id, $1, $2, $3, $4 FROM registrations WHERE id = $5`

// registerByCodeBatch is the one round trip of RegisterByCode (and of the
// connection warm-up): the workshop (read, not locked: the register takes
// a free place instead); the registration; the events.
func (s *Store) registerByCodeBatch(code string, r *store.Registration, at time.Time, events []store.Event) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(`SELECT `+query.WorkshopCols+s.joinCommit()+` FROM workshops WHERE code = $1`, code)
	b.Queue(registerByCodeSQL, code, r.Email, r.ID, r.Name, r.AccessCode, r.CreatedAt, at)
	for _, e := range events {
		b.Queue(registerByCodeEventSQL, e.At, e.Level, e.Step, e.Message, r.ID)
	}
	return b
}

// RegisterByCode implements store.Store.
func (s *Store) RegisterByCode(ctx context.Context, code string, in *store.Registration, at time.Time, onCreate ...store.Event) (*store.Workshop, *store.Registration, bool, error) {
	r := *in
	store.PrepareRegistration(&r, now())
	r.RevokedAt = nil // a new registration is never revoked
	events := make([]store.Event, len(onCreate))
	for i, e := range onCreate {
		store.PrepareEvent(&e, now())
		events[i] = e
	}
	var (
		w       *store.Workshop
		out     *store.Registration
		created bool
	)
	done, err := store.InsertWithCode(&r.AccessCode, authtoken.AccessCodeLen, func() (bool, error) {
		var err error
		w, out, created, err = s.registerByCodeOnce(ctx, code, &r, at, events)
		if errors.Is(err, errCodeTaken) {
			return false, nil
		}
		return true, err
	})
	switch {
	case err != nil:
		return w, nil, false, err
	case !done:
		return w, nil, false, fmt.Errorf("register: access code: %w", store.ErrConflict)
	case created:
		s.changed(nil, w.ID)
	}
	return w, out, created, nil
}

func (s *Store) registerByCodeOnce(ctx context.Context, code string, r *store.Registration, at time.Time, events []store.Event) (*store.Workshop, *store.Registration, bool, error) {
	br := s.pool.SendBatch(ctx, s.registerByCodeBatch(code, r, at, events))
	var w store.Workshop
	dest := workshopFields(&w)
	if s.asyncJoins {
		dest = append(dest, nil)
	}
	found := true
	if err := br.QueryRow().Scan(dest...); errors.Is(err, pgx.ErrNoRows) {
		found = false
	} else if err != nil {
		br.Close()
		return nil, nil, false, mapErr("register", err)
	}
	utcWorkshop(&w)
	out, created, err := readRegistered(br, len(events))
	switch {
	case err != nil:
		return nil, nil, false, mapErr("register", err)
	case !found:
		return nil, nil, false, fmt.Errorf("register: workshop %w", store.ErrNotFound)
	case out != nil:
		return &w, out, created, nil
	case !w.OpenAt(at):
		return &w, nil, false, nil // nothing written
	}
	return &w, nil, false, s.noPlace(ctx, w.ID)
}

// byCodeRegID is the id of the registration whose access code is $1.
const byCodeRegID = `(SELECT id FROM registrations WHERE access_code = $1::text)`

// assignByCodeSQL is assignSQL for the registration of access code $1 when
// it is not revoked and its workshop is open at $4.
var assignByCodeSQL = assignWith(`SELECT r.id, r.workshop_id FROM registrations r JOIN workshops w ON w.id = r.workshop_id
		WHERE r.access_code = $1::text AND r.revoked_at IS NULL AND `+openSQL("w", "$4"), byCodeRegID)

// joinByCodeInfoSQL is joinInfoSQL for the registration of access code $1.
var joinByCodeInfoSQL = joinInfoWith(byCodeRegID)

// joinByCodeBatch is the one round trip of JoinByCode (and of the
// connection warm-up): the learner; the lock of the learner's own
// registration (only when it holds no seat yet, so re-joins never wait);
// the seat; the join's facts.
func (s *Store) joinByCodeBatch(code string, at time.Time) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(learnerSQL, code)
	b.Queue(`SELECT 1`+s.joinCommit()+` FROM registrations r WHERE access_code = $1::text
			AND NOT EXISTS (SELECT 1 FROM sessions WHERE registration_id = r.id)
		FOR NO KEY UPDATE`, code)
	b.Queue(assignByCodeSQL, code, authtoken.NewID(), now(), at)
	b.Queue(joinByCodeInfoSQL, code)
	return b
}

// JoinByCode implements store.Store.
func (s *Store) JoinByCode(ctx context.Context, code string, at time.Time) (*store.Registration, *store.Workshop, *store.SeatJoin, error) {
	for attempt := 1; ; attempt++ {
		r, w, j, err := s.joinByCodeOnce(ctx, code, at, attempt)
		if !errors.Is(err, errSeatsBusy) {
			return r, w, j, err
		}
	}
}

func (s *Store) joinByCodeOnce(ctx context.Context, code string, at time.Time, attempt int) (*store.Registration, *store.Workshop, *store.SeatJoin, error) {
	br := s.pool.SendBatch(ctx, s.joinByCodeBatch(code, at))
	var r store.Registration
	var w store.Workshop
	if err := br.QueryRow().Scan(append(registrationFields(&r), workshopFields(&w)...)...); err != nil {
		br.Close()
		return nil, nil, nil, mapErr("join", err)
	}
	utcRegistration(&r)
	utcWorkshop(&w)
	j, err := readSeat(br, true)
	switch {
	case err != nil:
		return &r, &w, nil, err
	case j.Seat != nil:
		_, err = s.seatChanged(j, nil)
		return &r, &w, j, err
	case r.RevokedAt != nil || !w.OpenAt(at):
		return &r, &w, nil, nil // nothing written
	}
	return &r, &w, nil, s.noSeat(ctx, r.ID, attempt)
}
