package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/internal/query"
)

func scanArchive(row pgx.Row) (*store.Archive, error) {
	var a store.Archive
	if err := row.Scan(&a.ID, &a.WorkshopID, &a.RegistrationID, &a.Seat, &a.BlobKey, &a.SizeBytes, &a.Fingerprint, &a.Reason, &a.CreatedAt, &a.RestoredAt); err != nil {
		return nil, err
	}
	a.CreatedAt, a.RestoredAt = a.CreatedAt.UTC(), store.UTCPtr(a.RestoredAt)
	return &a, nil
}

// AddArchive implements store.Store.
func (s *Store) AddArchive(ctx context.Context, a *store.Archive) error {
	store.PrepareArchive(a, now())
	_, err := s.pool.Exec(ctx, `INSERT INTO archives (`+query.ArchiveCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		a.ID, a.WorkshopID, a.RegistrationID, a.Seat, a.BlobKey, a.SizeBytes, a.Fingerprint, a.Reason, a.CreatedAt, a.RestoredAt)
	return mapErr("add archive", err)
}

// ListArchives implements store.Store, newest first.
func (s *Store) ListArchives(ctx context.Context, f store.ArchiveFilter) ([]store.Archive, error) {
	q, args := query.ListArchives(f, param, func(t time.Time) any { return t.UTC() })
	return list(ctx, s.pool, "list archives", scanArchive, q, args...)
}

// LatestArchive implements store.Store.
func (s *Store) LatestArchive(ctx context.Context, registrationID string) (*store.Archive, error) {
	a, err := scanArchive(s.pool.QueryRow(ctx, `SELECT `+query.ArchiveCols+` FROM archives
		WHERE registration_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1`, registrationID))
	return a, mapErr("latest archive", err)
}

// MarkArchiveRestored implements store.Store.
func (s *Store) MarkArchiveRestored(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE archives SET restored_at = $2 WHERE id = $1`, id, store.UTC(at))
	if err != nil {
		return mapErr("mark archive restored", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("mark archive restored %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// DeleteArchive implements store.Store (a missing row is not an error).
func (s *Store) DeleteArchive(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM archives WHERE id = $1`, id)
	return mapErr("delete archive", err)
}
