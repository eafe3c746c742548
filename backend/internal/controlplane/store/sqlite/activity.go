package sqlite

import (
	"context"
	"strings"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// TouchSeats implements store.Store: one UPDATE ... FROM (VALUES ...) per
// store.MaxActivityBatch entries.
func (s *Store) TouchSeats(ctx context.Context, batch []store.SeatActivity) error {
	defer s.hub.Changed(store.ActivityWorkshops(batch)...)
	for len(batch) > 0 {
		n := min(len(batch), store.MaxActivityBatch)
		part := batch[:n]
		batch = batch[n:]
		var q strings.Builder
		q.WriteString(`UPDATE sessions SET last_activity = v.column5, status = COALESCE(NULLIF(v.column4, ''), sessions.status)
			FROM (VALUES `)
		args := make([]any, 0, 5*n)
		for i, a := range part {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?)")
			args = append(args, a.WorkshopID, a.Seat, a.Generation, a.Status, enc(a.At))
		}
		q.WriteString(`) AS v
			WHERE sessions.workshop_id = v.column1 AND sessions.seat = v.column2 AND sessions.generation = v.column3`)
		if _, err := s.w.ExecContext(ctx, q.String(), args...); err != nil {
			return mapErr("touch seats", err)
		}
	}
	return nil
}
