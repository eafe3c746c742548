package sqlite

import (
	"context"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// RegisterByCode implements store.Store: GetWorkshopByCode, then Register
// when the workshop is open at `at` (a round trip costs nothing here).
func (s *Store) RegisterByCode(ctx context.Context, code string, in *store.Registration, at time.Time, onCreate ...store.Event) (*store.Workshop, *store.Registration, bool, error) {
	w, err := s.GetWorkshopByCode(ctx, code)
	if err != nil || !w.OpenAt(at) {
		return w, nil, false, err
	}
	r := *in
	r.WorkshopID = w.ID
	events := make([]store.Event, len(onCreate))
	for i, e := range onCreate {
		e.WorkshopID = w.ID
		events[i] = e
	}
	reg, created, err := s.Register(ctx, &r, events...)
	return w, reg, created, err
}

// JoinByCode implements store.Store: GetLearner, then JoinSeat when the
// registration is not revoked and its workshop is open at `at`.
func (s *Store) JoinByCode(ctx context.Context, code string, at time.Time) (*store.Registration, *store.Workshop, *store.SeatJoin, error) {
	r, w, err := s.GetLearner(ctx, code)
	if err != nil || r.RevokedAt != nil || !w.OpenAt(at) {
		return r, w, nil, err
	}
	j, err := s.JoinSeat(ctx, r.ID)
	return r, w, j, err
}
