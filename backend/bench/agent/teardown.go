package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
)

// teardownTimeout bounds deleteSeats. It outlasts the agent's own bound
// on a seat's create (2 minutes, then its first shell), so that a delete
// queued behind a create still in flight is answered.
const teardownTimeout = 4 * time.Minute

// teardownRounds is how many times deleteSeats deletes and lists again
// before it gives up on seats that keep being listed.
const teardownRounds = 3

// deleteSeats deletes every seat the bench asked the agent for and every
// seat the agent lists, then lists again until none is left.
//
// Listing alone is not enough: a seat whose create is still in flight is
// not listed yet. On a slowed machine (e.g. under perf record) a burst's
// last creates outlast the client's 60 s timeout; the agent goes on with
// them, and a seat that came up after the list, or after the agent
// stopped, outlived the bench. The agent runs a seat's create and delete
// one after the other, so deleting the seat by its number waits for the
// create to end and then destroys what it made. That wait can pass 60 s,
// so the deletes use a client without the default timeout, bounded by
// teardownTimeout instead.
func (b *benchAgent) deleteSeats() error {
	ctx, cancel := context.WithTimeout(context.Background(), teardownTimeout)
	defer cancel()
	c := agentclient.New(b.base, benchToken, &http.Client{})
	type seatID struct {
		ws   string
		seat int
	}
	var todo []seatID
	b.mu.Lock()
	for n := range b.asked {
		todo = append(todo, seatID{benchWS, n})
	}
	b.mu.Unlock()
	var errs []error
	for round := 0; ; round++ {
		list, err := c.ListSeats(ctx)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("list seats: %w", err))...)
		}
		for _, s := range list {
			todo = append(todo, seatID{s.WorkshopID, s.Seat})
		}
		if len(todo) == 0 {
			return errors.Join(errs...)
		}
		if round == teardownRounds {
			return errors.Join(append(errs, fmt.Errorf("%d seats still listed after deleting them %d times", len(list), round))...)
		}
		slices.SortFunc(todo, func(x, y seatID) int { return cmp.Or(strings.Compare(x.ws, y.ws), x.seat-y.seat) })
		for _, s := range slices.Compact(todo) {
			if err := c.DeleteSeat(ctx, s.ws, s.seat); err != nil {
				errs = append(errs, fmt.Errorf("delete seat %s/%d: %w", s.ws, s.seat, err))
			}
		}
		todo = todo[:0]
	}
}
