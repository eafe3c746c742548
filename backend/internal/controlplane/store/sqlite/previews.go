package sqlite

import (
	"context"
	"fmt"

	"github.com/clarateach/backend/internal/controlplane/store"
)

const previewShareCols = `id, workshop_id, seat, port, generation, secret_hash, created_at`

func scanPreviewShare(row scanner) (*store.PreviewShare, error) {
	var p store.PreviewShare
	if err := row.Scan(&p.ID, &p.WorkshopID, &p.Seat, &p.Port, &p.Generation, &p.SecretHash, timeCol{&p.CreatedAt}); err != nil {
		return nil, err
	}
	return &p, nil
}

// CreatePreviewShare implements store.Store: one statement inserts the
// share only while the seat has fewer than store.MaxPreviewShares.
func (s *Store) CreatePreviewShare(ctx context.Context, p *store.PreviewShare) error {
	store.PreparePreviewShare(p, now())
	res, err := s.w.ExecContext(ctx, `INSERT INTO preview_shares (`+previewShareCols+`)
		SELECT ?, ?, ?, ?, ?, ?, ?
		WHERE (SELECT count(*) FROM preview_shares WHERE workshop_id = ? AND seat = ?) < ?`,
		p.ID, p.WorkshopID, p.Seat, p.Port, p.Generation, p.SecretHash, enc(p.CreatedAt), p.WorkshopID, p.Seat, store.MaxPreviewShares)
	if err != nil {
		return mapErr("create preview share", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("create preview share: seat %d has %d shares: %w", p.Seat, store.MaxPreviewShares, store.ErrFull)
	}
	return nil
}

// GetPreviewShare implements store.Store.
func (s *Store) GetPreviewShare(ctx context.Context, id string) (*store.PreviewShare, error) {
	p, err := scanPreviewShare(s.r.QueryRowContext(ctx, `SELECT `+previewShareCols+` FROM preview_shares WHERE id = ?`, id))
	return p, mapErr("get preview share", err)
}

// ListPreviewShares implements store.Store, oldest first.
func (s *Store) ListPreviewShares(ctx context.Context, workshopID string, seat int) ([]store.PreviewShare, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+previewShareCols+` FROM preview_shares
		WHERE workshop_id = ? AND seat = ? ORDER BY created_at, id`, workshopID, seat)
	if err != nil {
		return nil, mapErr("list preview shares", err)
	}
	defer rows.Close()
	out := []store.PreviewShare{}
	for rows.Next() {
		p, err := scanPreviewShare(rows)
		if err != nil {
			return nil, mapErr("list preview shares", err)
		}
		out = append(out, *p)
	}
	return out, mapErr("list preview shares", rows.Err())
}

// DeletePreviewShare implements store.Store.
func (s *Store) DeletePreviewShare(ctx context.Context, workshopID string, seat int, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM preview_shares WHERE id = ? AND workshop_id = ? AND seat = ?`, id, workshopID, seat)
	if err != nil {
		return mapErr("delete preview share", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete preview share %s: %w", id, store.ErrNotFound)
	}
	return nil
}
