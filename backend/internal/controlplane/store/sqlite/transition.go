package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/internal/query"
)

// Transition implements store.Store in one write transaction (the writer
// serialises it with every other write).
func (s *Store) Transition(ctx context.Context, id string, t store.Transition) (*store.Workshop, error) {
	var out *store.Workshop
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		w, err := scanWorkshop(tx.QueryRowContext(ctx, `SELECT `+query.WorkshopCols+` FROM workshops WHERE id = ?`, id))
		if err != nil {
			return mapErr("transition", err)
		}
		out = w
		if t.Workshop != nil {
			if err := t.Workshop(w); err != nil {
				return err
			}
		}
		if t.DeleteHost {
			if _, err := tx.ExecContext(ctx, `DELETE FROM workshop_vms WHERE workshop_id = ?`, id); err != nil {
				return mapErr("transition: delete workshop vm", err)
			}
		}
		if t.Host != nil {
			t.Host.WorkshopID = id
			if err := upsertVM(ctx, tx, t.Host); err != nil {
				return fmt.Errorf("transition: %w", err)
			}
		}
		for _, e := range t.Events {
			e.WorkshopID = id
			if err := addEvent(ctx, tx, e); err != nil {
				return fmt.Errorf("transition: %w", err)
			}
		}
		if t.Workshop != nil {
			// Written last: a workshop the schema refuses undoes the rest.
			out, err = writeWorkshop(ctx, tx, id, w)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
