package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/internal/query"
)

func scanArchive(row scanner) (*store.Archive, error) {
	var a store.Archive
	if err := row.Scan(&a.ID, &a.WorkshopID, &a.RegistrationID, &a.Seat, &a.BlobKey, &a.SizeBytes, &a.Fingerprint, &a.Reason, timeCol{&a.CreatedAt}, nullTimeCol{&a.RestoredAt}); err != nil {
		return nil, err
	}
	return &a, nil
}

// AddArchive implements store.Store.
func (s *Store) AddArchive(ctx context.Context, a *store.Archive) error {
	store.PrepareArchive(a, now())
	_, err := s.w.ExecContext(ctx, `INSERT INTO archives (`+query.ArchiveCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.WorkshopID, a.RegistrationID, a.Seat, a.BlobKey, a.SizeBytes, a.Fingerprint, a.Reason, enc(a.CreatedAt), encp(a.RestoredAt))
	return mapErr("add archive", err)
}

// ListArchives implements store.Store, newest first.
func (s *Store) ListArchives(ctx context.Context, f store.ArchiveFilter) ([]store.Archive, error) {
	q, args := query.ListArchives(f, param, func(t time.Time) any { return enc(t) })
	return list(ctx, s.r, "list archives", scanArchive, q, args...)
}

// LatestArchive implements store.Store.
func (s *Store) LatestArchive(ctx context.Context, registrationID string) (*store.Archive, error) {
	a, err := scanArchive(s.r.QueryRowContext(ctx, `SELECT `+query.ArchiveCols+` FROM archives
		WHERE registration_id = ? ORDER BY created_at DESC, id DESC LIMIT 1`, registrationID))
	return a, mapErr("latest archive", err)
}

// MarkArchiveRestored implements store.Store.
func (s *Store) MarkArchiveRestored(ctx context.Context, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE archives SET restored_at = ? WHERE id = ?`, enc(at), id)
	if err != nil {
		return mapErr("mark archive restored", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("mark archive restored %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// DeleteArchive implements store.Store (a missing row is not an error).
func (s *Store) DeleteArchive(ctx context.Context, id string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM archives WHERE id = ?`, id)
	return mapErr("delete archive", err)
}
