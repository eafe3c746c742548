package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// AddPushedFile implements store.Store.
func (s *Store) AddPushedFile(ctx context.Context, p *store.PushedFile) error {
	store.PreparePushedFile(p, now())
	_, err := s.pool.Exec(ctx, `INSERT INTO pushed_files (id, workshop_id, registration_id, path, content, pushed_by, pushed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, p.ID, p.WorkshopID, p.RegistrationID, p.Path, p.Content, p.PushedBy, p.PushedAt)
	return mapErr("add pushed file", err)
}

// GetPushedFile implements store.Store.
func (s *Store) GetPushedFile(ctx context.Context, id string) (*store.PushedFile, error) {
	var p store.PushedFile
	err := s.pool.QueryRow(ctx, `SELECT id, workshop_id, registration_id, path, content, pushed_by, pushed_at FROM pushed_files WHERE id = $1`, id).
		Scan(&p.ID, &p.WorkshopID, &p.RegistrationID, &p.Path, &p.Content, &p.PushedBy, &p.PushedAt)
	if err != nil {
		return nil, mapErr("get pushed file", err)
	}
	p.PushedAt, p.Size = p.PushedAt.UTC(), len(p.Content)
	return &p, nil
}

// ListLearnerPushes implements store.Store.
func (s *Store) ListLearnerPushes(ctx context.Context, workshopID, registrationID string) ([]store.LearnerPush, error) {
	return list(ctx, s.pool, "list learner pushes", func(row pgx.Row) (*store.LearnerPush, error) {
		var p store.LearnerPush
		if err := row.Scan(&p.ID, &p.WorkshopID, &p.RegistrationID, &p.Path, &p.Size, &p.PushedBy, &p.PushedAt, &p.Delivery, &p.DeliveredAt); err != nil {
			return nil, err
		}
		p.PushedAt, p.DeliveredAt = p.PushedAt.UTC(), store.UTCPtr(p.DeliveredAt)
		return &p, nil
	}, `SELECT f.id, f.workshop_id, f.registration_id, f.path, length(f.content), f.pushed_by, f.pushed_at, coalesce(d.status, ''), d.at
		FROM pushed_files f LEFT JOIN push_deliveries d ON d.push_id = f.id AND d.registration_id = $2
		WHERE f.workshop_id = $1 AND f.registration_id IN ('', $2) ORDER BY f.pushed_at, f.id`, workshopID, registrationID)
}

// ClaimPushDelivery implements store.Store.
func (s *Store) ClaimPushDelivery(ctx context.Context, pushID, registrationID string, at, staleBefore time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO push_deliveries (push_id, registration_id, status, at) VALUES ($1, $2, 'running', $3)
		ON CONFLICT (registration_id, push_id) DO UPDATE SET at = excluded.at
		WHERE push_deliveries.status = 'running' AND push_deliveries.at < $4`, pushID, registrationID, store.UTC(at), store.UTC(staleBefore))
	if err != nil {
		return false, mapErr("claim push delivery", err)
	}
	return tag.RowsAffected() == 1, nil
}

// FinishPushDelivery implements store.Store.
func (s *Store) FinishPushDelivery(ctx context.Context, pushID, registrationID string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO push_deliveries (push_id, registration_id, status, at) VALUES ($1, $2, 'done', $3)
		ON CONFLICT (registration_id, push_id) DO UPDATE SET status = 'done', at = excluded.at`, pushID, registrationID, store.UTC(at))
	return mapErr("finish push delivery", err)
}

// DeletePushDelivery implements store.Store.
func (s *Store) DeletePushDelivery(ctx context.Context, pushID, registrationID string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM push_deliveries WHERE push_id = $1 AND registration_id = $2`, pushID, registrationID)
	return mapErr("delete push delivery", err)
}
