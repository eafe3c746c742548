package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/clarateach/backend/internal/controlplane/store"
)

const previewShareCols = `id, workshop_id, seat, port, generation, secret_hash, created_at`

func scanPreviewShare(row pgx.Row) (*store.PreviewShare, error) {
	var p store.PreviewShare
	if err := row.Scan(&p.ID, &p.WorkshopID, &p.Seat, &p.Port, &p.Generation, &p.SecretHash, &p.CreatedAt); err != nil {
		return nil, err
	}
	p.CreatedAt = p.CreatedAt.UTC()
	return &p, nil
}

// CreatePreviewShare implements store.Store: one statement inserts the
// share only while the seat has fewer than store.MaxPreviewShares (a soft
// cap: two racing creates may both pass it).
func (s *Store) CreatePreviewShare(ctx context.Context, p *store.PreviewShare) error {
	store.PreparePreviewShare(p, now())
	tag, err := s.pool.Exec(ctx, `INSERT INTO preview_shares (`+previewShareCols+`)
		SELECT $1, $2, $3, $4, $5, $6, $7
		WHERE (SELECT count(*) FROM preview_shares WHERE workshop_id = $2 AND seat = $3) < $8`,
		p.ID, p.WorkshopID, p.Seat, p.Port, p.Generation, p.SecretHash, p.CreatedAt, store.MaxPreviewShares)
	if err != nil {
		return mapErr("create preview share", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("create preview share: seat %d has %d shares: %w", p.Seat, store.MaxPreviewShares, store.ErrFull)
	}
	return nil
}

// GetPreviewShare implements store.Store.
func (s *Store) GetPreviewShare(ctx context.Context, id string) (*store.PreviewShare, error) {
	p, err := scanPreviewShare(s.pool.QueryRow(ctx, `SELECT `+previewShareCols+` FROM preview_shares WHERE id = $1`, id))
	return p, mapErr("get preview share", err)
}

// ListPreviewShares implements store.Store, oldest first.
func (s *Store) ListPreviewShares(ctx context.Context, workshopID string, seat int) ([]store.PreviewShare, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+previewShareCols+` FROM preview_shares
		WHERE workshop_id = $1 AND seat = $2 ORDER BY created_at, id`, workshopID, seat)
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
	tag, err := s.pool.Exec(ctx, `DELETE FROM preview_shares WHERE id = $1 AND workshop_id = $2 AND seat = $3`, id, workshopID, seat)
	if err != nil {
		return mapErr("delete preview share", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete preview share %s: %w", id, store.ErrNotFound)
	}
	return nil
}
