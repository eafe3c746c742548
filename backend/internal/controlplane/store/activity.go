package store

import (
	"context"
	"time"
)

// SeatActivity is what the relay saw of one seat since its last flush: the
// latest time it relayed something for the seat's learner and, when a
// terminal opened or closed, the seat's status (empty keeps the stored one).
type SeatActivity struct {
	WorkshopID string
	Seat       int
	// Generation is the seat assignment the activity belongs to: a seat
	// revoked and given to another learner since is left alone.
	Generation int64
	Status     string
	At         time.Time
}

// Activity is the batched form of TouchSeat.
type Activity interface {
	// TouchSeats records many seats' activity in one statement (per
	// MaxActivityBatch entries). Entries whose seat is gone, or held at
	// another generation, are skipped without error.
	TouchSeats(ctx context.Context, batch []SeatActivity) error
}

// MaxActivityBatch is the most entries one TouchSeats statement carries
// (SQLite binds at most 32766 parameters).
const MaxActivityBatch = 1000

// ActivityWorkshops is the distinct workshops of a batch: the classes a
// TouchSeats of it changes.
func ActivityWorkshops(batch []SeatActivity) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range batch {
		if !seen[a.WorkshopID] {
			seen[a.WorkshopID] = true
			out = append(out, a.WorkshopID)
		}
	}
	return out
}
