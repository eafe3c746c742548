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

// hostReads counts the reads of a workshop's host records (the server's
// host cache reads them again after every change to the class).
var hostReads atomic.Int64

func (c *countingStore) ListWorkshopHosts(ctx context.Context, id string) ([]store.WorkshopVM, error) {
	hostReads.Add(1)
	return c.Store.ListWorkshopHosts(ctx, id)
}
