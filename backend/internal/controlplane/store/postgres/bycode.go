package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// A learner's register and join, one statement each (RegisterByCode,
// JoinByCode; register.go and seat.go), neither locking the workshop
// (seatlists.go): the request's lookup by code is part of the statement
// that writes, so "is the workshop open" (store.Workshop.OpenAt) is checked
// in SQL as well, where the write happens (openSQL), and again in Go on the
// row the statement returns.

// openSQL is store.Workshop.OpenAt of the workshop alias w at the time
// parameter at: not deleted, not being deleted, not ended.
func openSQL(w, at string) string {
	return w + `.status <> '` + string(store.StatusDeleted) + `' AND ` + w + `.desired_state <> '` + string(store.DesiredDeleted) +
		`' AND (` + w + `.ends_at IS NULL OR ` + w + `.ends_at > ` + at + `::timestamptz)`
}

// RegisterByCode implements store.Store.
func (s *Store) RegisterByCode(ctx context.Context, code string, in *store.Registration, at time.Time, onCreate ...store.Event) (*store.Workshop, *store.Registration, bool, error) {
	r, events := prepareRegister(in, onCreate)
	var (
		w       *store.Workshop
		out     *store.Registration
		created bool
	)
	done, err := store.InsertWithCode(&r.AccessCode, authtoken.AccessCodeLen, func() (bool, error) {
		var err error
		w, out, created, err = s.registerByCodeOnce(ctx, code, r, at, events)
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

// registerByCodeStatement is RegisterByCode's statement and its parameters
// (the connection warm-up sends the same).
func (s *Store) registerByCodeStatement(code string, r *store.Registration, at time.Time, events []store.Event) (string, []any) {
	return s.hot().registerByCode, registerArgs(code, r, events, at)
}

func (s *Store) registerByCodeOnce(ctx context.Context, code string, r *store.Registration, at time.Time, events []store.Event) (*store.Workshop, *store.Registration, bool, error) {
	var w store.Workshop
	var x registered
	dest := append(append(append(make([]any, 0, 40), workshopFields(&w)...), s.commitDest()...), x.fields()...)
	sql, args := s.registerByCodeStatement(code, r, at, events)
	err := s.pool.QueryRow(ctx, sql, args...).Scan(&keptRow{&s.plans, stmtRegisterByCode, dest})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil, false, fmt.Errorf("register: workshop %w", store.ErrNotFound)
	case err != nil:
		return nil, nil, false, mapErr("register", err)
	}
	utcWorkshop(&w)
	out, created := x.registration()
	switch {
	case out != nil:
		return &w, out, created, nil
	case !w.OpenAt(at):
		return &w, nil, false, nil // nothing written
	}
	return &w, nil, false, s.noPlace(ctx, w.ID)
}

// joinByCodeStatement is JoinByCode's statement and its parameters (the
// connection warm-up sends the same).
func (s *Store) joinByCodeStatement(code string, at time.Time) (string, []any) {
	return s.hot().seatByCode, []any{code, authtoken.NewID(), now(), at}
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
	var r store.Registration
	var w store.Workshop
	var x seated
	dest := append(append(append(append(make([]any, 0, 48), registrationFields(&r)...), workshopFields(&w)...), s.commitDest()...), x.fields()...)
	sql, args := s.joinByCodeStatement(code, at)
	err := s.pool.QueryRow(ctx, sql, args...).Scan(&keptRow{&s.plans, stmtJoinByCode, dest})
	switch {
	case joinRace(err) && attempt < seatAttempts:
		return nil, nil, nil, errSeatsBusy
	case err != nil:
		return nil, nil, nil, mapErr("join", err)
	}
	utcRegistration(&r)
	utcWorkshop(&w)
	j := x.join()
	switch {
	case j != nil:
		_, err = s.seatChanged(j, nil)
		return &r, &w, j, err
	case r.RevokedAt != nil || !w.OpenAt(at):
		return &r, &w, nil, nil // nothing written
	}
	return &r, &w, nil, s.noSeat(ctx, r.ID, attempt)
}
