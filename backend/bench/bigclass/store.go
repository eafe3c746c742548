package main

import (
	"context"
	"sync/atomic"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// countingStore counts the class view's reads of the seats: one per
// workshop and tick however many views are open, or one per view and tick.
type countingStore struct {
	store.Store
	listSeats atomic.Int64
}

func (c *countingStore) ListSeats(ctx context.Context, id string) ([]store.Seat, error) {
	c.listSeats.Add(1)
	return c.Store.ListSeats(ctx, id)
}
