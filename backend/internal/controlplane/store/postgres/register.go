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

// A learner's register is one statement (registerWith): one round trip and
// one implicit transaction that reads the workshop, takes a free place,
// inserts the registration and its events. It was a pipelined batch of
// three statements (the workshop, the registration, each event), each with
// its own bind, execute, snapshot and executor start-up in PostgreSQL; in a
// 500-learner join storm those were most of PostgreSQL's CPU per learner
// (bench/bigclass's README).

// hotSQL is the statements of a learner's register and join, built once
// for each commit mode (Store.hot).
type hotSQL struct {
	register, registerByCode string // registerWith
	seat, seatByCode         string // seatWith (seat.go)
}

var (
	hotDurable = newHotSQL("")
	hotAsync   = newHotSQL(asyncCommit)
)

func newHotSQL(commit string) hotSQL {
	return hotSQL{
		register: registerWith(`SELECT id FROM workshops WHERE id = $1::text`, `true`, `wk.id`+commit),
		// The workshop of code $1, returned whatever its state; it takes
		// registrations when it is open at $12.
		registerByCode: registerWith(`SELECT `+query.WorkshopCols+` FROM workshops WHERE code = $1::text`,
			openSQL("wk", "$12"), query.WorkshopCols+commit),
		seat:       seatSQL(commit),
		seatByCode: seatByCodeSQL(commit),
	}
}

// registerWith is the register statement. wk selects the workshop (no row:
// nothing is written and the statement returns no row), open is when wk
// takes registrations, head the first columns of the statement's one row
// (from wk). The parameters: $2 the email, $3 the new registration's id, $4
// its name, $5 its access code, $6 its creation time, $7 to $11 the events
// (arrays of their workshop ids, ” for the registration's, times, levels,
// steps and messages); wk and open use $1 and $12.
//
// It returns the existing registration of the email, or inserts one when it
// can take a free place: the first one no other register holds locked
// (SKIP LOCKED, so concurrent registers of a class never wait for each
// other), deleted with the insert; the events are inserted with it. After
// head: whether it created the registration, and the registration; NULLs
// when neither, as when the workshop is full or an insert conflicted (the
// access code, or the same email registering at this moment): see noPlace.
func registerWith(wk, open, head string) string {
	return `WITH wk AS (
		` + wk + `
	), w AS (
		SELECT id FROM wk WHERE ` + open + `
	), existing AS (
		SELECT ` + query.RegistrationCols + ` FROM registrations WHERE workshop_id = (SELECT id FROM w) AND lower(email) = $2::text
	), place AS (
		SELECT place FROM free_places WHERE workshop_id = (SELECT id FROM w) AND NOT EXISTS (SELECT 1 FROM existing)
		ORDER BY place LIMIT 1 FOR UPDATE SKIP LOCKED
	), ins AS (
		INSERT INTO registrations (id, workshop_id, name, email, access_code, created_at)
		SELECT $3::text, w.id, $4::text, $2::text, $5::text, $6::timestamptz FROM w, place
		ON CONFLICT DO NOTHING
		RETURNING ` + query.RegistrationCols + `
	), taken AS (
		DELETE FROM free_places WHERE workshop_id = (SELECT workshop_id FROM ins) AND place = (SELECT place FROM place)
	), events AS (
		INSERT INTO workshop_events (workshop_id, at, level, step, message)
		SELECT coalesce(nullif(e.workshop_id, ''), ins.workshop_id), e.at, e.level, e.step, e.message
		FROM ins, unnest($7::text[], $8::timestamptz[], $9::text[], $10::text[], $11::text[])
			AS e (workshop_id, at, level, step, message)
	)
	SELECT ` + head + `, r.* FROM wk LEFT JOIN (
		SELECT true, ` + query.RegistrationCols + ` FROM ins
		UNION ALL
		SELECT false, ` + query.RegistrationCols + ` FROM existing
	) r (created, r_id, r_workshop_id, r_name, r_email, r_access_code, r_created_at, r_revoked_at) ON true`
}

// registerArgs are the parameters of a register statement for the workshop
// of key ($1: id or code), at ($12, RegisterByCode's only).
func registerArgs(key string, r *store.Registration, events []store.Event, at ...time.Time) []any {
	n := len(events)
	ws, ats, levels, steps, msgs := make([]string, n), make([]time.Time, n), make([]string, n), make([]string, n), make([]string, n)
	for i, e := range events {
		ws[i], ats[i], levels[i], steps[i], msgs[i] = e.WorkshopID, e.At, e.Level, string(e.Step), e.Message
	}
	args := []any{key, r.Email, r.ID, r.Name, r.AccessCode, r.CreatedAt, ws, ats, levels, steps, msgs}
	for _, t := range at {
		args = append(args, t)
	}
	return args
}

// registered is the end of a register statement's row: whether it created
// the registration, and the registration (all nil when neither).
type registered struct {
	created                                 *bool
	id, workshopID, name, email, accessCode *string
	createdAt, revokedAt                    *time.Time
}

func (x *registered) fields() []any {
	return []any{&x.created, &x.id, &x.workshopID, &x.name, &x.email, &x.accessCode, &x.createdAt, &x.revokedAt}
}

// registration is the registration the statement returned, if any, and
// whether it created it.
func (x *registered) registration() (*store.Registration, bool) {
	if x.id == nil || x.created == nil || x.createdAt == nil {
		return nil, false
	}
	r := &store.Registration{ID: *x.id, WorkshopID: deref(x.workshopID), Name: deref(x.name), Email: deref(x.email),
		AccessCode: deref(x.accessCode), CreatedAt: x.createdAt.UTC(), RevokedAt: store.UTCPtr(x.revokedAt)}
	return r, *x.created
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// Register implements store.Store. The email is stored trimmed and
// lower-cased. An empty AccessCode is filled with a fresh access code
// (retrying on collision); a given one that exists is ErrConflict.
//
// One round trip, one statement (registerWith): the workshop, then the
// existing registration or a new one if it can take one of the workshop's
// free places, with the events.
func (s *Store) Register(ctx context.Context, in *store.Registration, onCreate ...store.Event) (*store.Registration, bool, error) {
	r, events := prepareRegister(in, onCreate)
	var (
		out     *store.Registration
		created bool
	)
	done, err := store.InsertWithCode(&r.AccessCode, authtoken.AccessCodeLen, func() (bool, error) {
		var err error
		out, created, err = s.registerOnce(ctx, r, events)
		if errors.Is(err, errCodeTaken) {
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return nil, false, err
	}
	if !done {
		return nil, false, fmt.Errorf("register: access code: %w", store.ErrConflict)
	}
	if created {
		s.changed(nil, r.WorkshopID)
	}
	return out, created, nil
}

// prepareRegister is a copy of a registration to insert and of its events,
// as Register and RegisterByCode write them.
func prepareRegister(in *store.Registration, onCreate []store.Event) (*store.Registration, []store.Event) {
	r := *in
	store.PrepareRegistration(&r, now())
	r.RevokedAt = nil // a new registration is never revoked
	events := make([]store.Event, len(onCreate))
	for i, e := range onCreate {
		store.PrepareEvent(&e, now())
		events[i] = e
	}
	return &r, events
}

var errCodeTaken = errors.New("access code taken")

func (s *Store) registerOnce(ctx context.Context, r *store.Registration, events []store.Event) (*store.Registration, bool, error) {
	var x registered
	dest := append(append([]any{nil}, s.commitDest()...), x.fields()...) // wk.id first
	err := s.pool.QueryRow(ctx, s.hot().register, registerArgs(r.WorkshopID, r, events)...).Scan(dest...)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, false, fmt.Errorf("register: workshop %w", store.ErrNotFound)
	case err != nil:
		return nil, false, mapErr("register", err)
	}
	if out, created := x.registration(); out != nil {
		return out, created, nil
	}
	return nil, false, s.noPlace(ctx, r.WorkshopID)
}

// noPlace is why a register statement inserted nothing and found nothing:
// no free place (ErrFull), else a conflict (errCodeTaken: the caller
// retries with a new code, and finds the registration if the same email
// was just registered).
//
// Places left but none taken is also what the statement sees when every
// free place is locked by another register or by a resize (SKIP LOCKED
// passes them by): then it first waits until those locks are gone
// (waitForLocks), so the retry sees what they did. Without the wait,
// registers that met a resize used up their attempts at once ("access
// code: already exists").
func (s *Store) noPlace(ctx context.Context, workshopID string) error {
	left, err := s.placesLeft(ctx, workshopID)
	switch {
	case err != nil:
		return mapErr("register", err)
	case !left:
		return fmt.Errorf("register: %w", store.ErrFull)
	}
	if err := s.waitForLocks(ctx, "free_places", "place", workshopID); err != nil {
		return mapErr("register: wait for free places", err)
	}
	return errCodeTaken
}

// waitForLocks waits until one of workshop id's rows of a free list
// (free_places or free_seats, ordered by its number column) can be
// locked: a key share lock on the lowest row that still exists, which
// waits for the transaction holding it and, if that one deleted it, moves
// on to the next. It holds no row while it waits, so it cannot deadlock
// with a resize, which locks many (an earlier wait locked every row in
// one statement, holding the first ones while waiting for the others, and
// deadlocked with resizePlaces, which locks them from the highest down:
// storetest JoinsWhileResized).
func (s *Store) waitForLocks(ctx context.Context, list, number, workshopID string) error {
	_, err := s.pool.Exec(ctx, `SELECT 1 FROM `+list+` WHERE workshop_id = $1 ORDER BY `+number+` LIMIT 1 FOR KEY SHARE`, workshopID)
	return err
}
