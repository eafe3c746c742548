package postgres

import (
	"context"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// TouchSeats implements store.Store: one UPDATE ... FROM unnest(...) per
// store.MaxActivityBatch entries.
func (s *Store) TouchSeats(ctx context.Context, batch []store.SeatActivity) error {
	defer s.changed(nil, store.ActivityWorkshops(batch)...)
	for len(batch) > 0 {
		n := min(len(batch), store.MaxActivityBatch)
		part := batch[:n]
		batch = batch[n:]
		ws := make([]string, n)
		seats := make([]int32, n)
		gens := make([]int64, n)
		statuses := make([]string, n)
		ats := make([]time.Time, n)
		for i, a := range part {
			ws[i], seats[i], gens[i], statuses[i], ats[i] = a.WorkshopID, int32(a.Seat), a.Generation, a.Status, store.UTC(a.At)
		}
		_, err := s.pool.Exec(ctx, `UPDATE sessions s
			SET last_activity = v.at, status = COALESCE(NULLIF(v.status, ''), s.status)
			FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::timestamptz[]) AS v(workshop_id, seat, generation, status, at)
			WHERE s.workshop_id = v.workshop_id AND s.seat = v.seat AND s.generation = v.generation`,
			ws, seats, gens, statuses, ats)
		if err != nil {
			return mapErr("touch seats", err)
		}
	}
	return nil
}
