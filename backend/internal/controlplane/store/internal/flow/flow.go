// Package flow holds the write flows that both store engines run inside
// their own transactions: changing a workshop row (read it for update, let
// the caller change it, write it back) and a reconciler step's Transition
// (the workshop, its host record and its events in one transaction). The
// engines supply the SQL through Tx; the order of the writes, and so what
// a refused write undoes, is decided here once.
package flow

import (
	"context"
	"fmt"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// Tx is an engine's write transaction as the flows see it. Its errors are
// already the engine's (store.Err* wrapped).
type Tx interface {
	// ReadWorkshop reads workshop id for update (PostgreSQL locks the
	// row; SQLite's one writer serialises the transaction); op names the
	// caller in its error.
	ReadWorkshop(ctx context.Context, op, id string) (*store.Workshop, error)
	// WriteWorkshop writes w back as workshop id (UpdatedAt set to now).
	WriteWorkshop(ctx context.Context, id string, w *store.Workshop) (*store.Workshop, error)
	// DeleteHost removes the workshop's host records (none is no error).
	DeleteHost(ctx context.Context, workshopID string) error
	// UpsertHost writes a host record, as Store.UpsertWorkshopVM.
	UpsertHost(ctx context.Context, vm *store.WorkshopVM) error
	// AddEvent adds an event, as Store.AddEvent.
	AddEvent(ctx context.Context, e *store.Event) error
}

// UpdateWorkshop is Store.UpdateWorkshop inside tx: fn changes the
// workshop read for update, which is then written back.
func UpdateWorkshop(ctx context.Context, tx Tx, id string, fn func(*store.Workshop) error) (*store.Workshop, error) {
	w, err := tx.ReadWorkshop(ctx, "update workshop", id)
	if err != nil {
		return nil, err
	}
	before := *w
	if err := fn(w); err != nil {
		return nil, err
	}
	if err := store.CheckPlacement(&before, w); err != nil {
		return nil, fmt.Errorf("update workshop %s: %w", id, err)
	}
	return tx.WriteWorkshop(ctx, id, w)
}

// Transition is Store.Transition inside tx: the workshop is read for
// update first (so a transition and an instructor's update of the same
// workshop are serialised), t.Workshop changes it, the host record is
// deleted and/or written, the events are added, and the workshop is
// written last, so that a workshop the schema refuses undoes the rest.
// Without t.Workshop it returns the workshop as read.
func Transition(ctx context.Context, tx Tx, id string, t store.Transition) (*store.Workshop, error) {
	w, err := tx.ReadWorkshop(ctx, "transition", id)
	if err != nil {
		return nil, err
	}
	if t.Workshop != nil {
		before := *w
		if err := t.Workshop(w); err != nil {
			return nil, err
		}
		if err := store.CheckPlacement(&before, w); err != nil {
			return nil, fmt.Errorf("transition %s: %w", id, err)
		}
	}
	if t.DeleteHost {
		if err := tx.DeleteHost(ctx, id); err != nil {
			return nil, fmt.Errorf("transition: delete workshop vm: %w", err)
		}
	}
	if t.Host != nil {
		t.Host.WorkshopID = id
		if err := tx.UpsertHost(ctx, t.Host); err != nil {
			return nil, fmt.Errorf("transition: %w", err)
		}
	}
	for _, e := range t.Events {
		e.WorkshopID = id
		if err := tx.AddEvent(ctx, e); err != nil {
			return nil, fmt.Errorf("transition: %w", err)
		}
	}
	if t.Workshop == nil {
		return w, nil
	}
	return tx.WriteWorkshop(ctx, id, w)
}
