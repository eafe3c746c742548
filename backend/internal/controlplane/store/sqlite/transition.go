package sqlite

import (
	"context"
	"database/sql"

	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/internal/flow"
	"github.com/clarateach/backend/internal/controlplane/store/internal/query"
)

// Transition implements store.Store with flow.Transition in one write
// transaction (the writer serialises it with every other write).
func (s *Store) Transition(ctx context.Context, id string, t store.Transition) (*store.Workshop, error) {
	w, err := inTxValue(ctx, s, func(tx *sql.Tx) (*store.Workshop, error) {
		return flow.Transition(ctx, workshopTx{tx}, id, t)
	})
	return w, s.changed(err, id)
}

// inTxValue runs fn in a write transaction and returns its value once
// committed.
func inTxValue[T any](ctx context.Context, s *Store, fn func(*sql.Tx) (T, error)) (T, error) {
	var out T
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// workshopTx is a write transaction as the shared workshop flows see it
// (flow.Tx).
type workshopTx struct{ tx *sql.Tx }

// ReadWorkshop reads the workshop (the one writer serialises the
// transaction: no row lock is needed).
func (t workshopTx) ReadWorkshop(ctx context.Context, op, id string) (*store.Workshop, error) {
	w, err := scanWorkshop(t.tx.QueryRowContext(ctx, `SELECT `+query.WorkshopCols+` FROM workshops WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr(op, err)
	}
	return w, nil
}

func (t workshopTx) WriteWorkshop(ctx context.Context, id string, w *store.Workshop) (*store.Workshop, error) {
	return writeWorkshop(ctx, t.tx, id, w)
}

func (t workshopTx) DeleteHost(ctx context.Context, workshopID string) error {
	_, err := t.tx.ExecContext(ctx, `DELETE FROM workshop_vms WHERE workshop_id = ?`, workshopID)
	return mapErr("delete workshop vm", err)
}

func (t workshopTx) UpsertHost(ctx context.Context, vm *store.WorkshopVM) error {
	return upsertVM(ctx, t.tx, vm)
}

func (t workshopTx) AddEvent(ctx context.Context, e *store.Event) error {
	return addEvent(ctx, t.tx, e)
}
