package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// AddWatcher implements store.Store.
func (s *Store) AddWatcher(ctx context.Context, w *store.Watcher) error {
	store.PrepareWatcher(w, now())
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM seat_watchers WHERE workshop_id = $1 AND seat = $2 AND seen_at < $3`, w.WorkshopID, w.Seat, w.SeenAt.Add(-store.WatcherStale))
	b.Queue(`INSERT INTO seat_watchers (id, workshop_id, seat, name, mode, since, seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		w.ID, w.WorkshopID, w.Seat, w.Name, w.Mode, w.Since, w.SeenAt)
	return mapErr("add watcher", s.pool.SendBatch(ctx, b).Close())
}

// TouchWatcher implements store.Store.
func (s *Store) TouchWatcher(ctx context.Context, id string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE seat_watchers SET seen_at = $2 WHERE id = $1`, id, store.UTC(at))
	return mapErr("touch watcher", err)
}

// RemoveWatcher implements store.Store.
func (s *Store) RemoveWatcher(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM seat_watchers WHERE id = $1`, id)
	return mapErr("remove watcher", err)
}

// ListWatchers implements store.Store.
func (s *Store) ListWatchers(ctx context.Context, workshopID string, seat int, seenSince time.Time) ([]store.Watcher, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, workshop_id, seat, name, mode, since, seen_at FROM seat_watchers
		WHERE workshop_id = $1 AND seat = $2 AND seen_at >= $3 ORDER BY since, id`, workshopID, seat, store.UTC(seenSince))
	if err != nil {
		return nil, mapErr("list watchers", err)
	}
	defer rows.Close()
	out := []store.Watcher{}
	for rows.Next() {
		var w store.Watcher
		if err := rows.Scan(&w.ID, &w.WorkshopID, &w.Seat, &w.Name, &w.Mode, &w.Since, &w.SeenAt); err != nil {
			return nil, mapErr("list watchers", err)
		}
		w.Since, w.SeenAt = w.Since.UTC(), w.SeenAt.UTC()
		out = append(out, w)
	}
	return out, mapErr("list watchers", rows.Err())
}

// ClaimLabSetup implements store.Store.
func (s *Store) ClaimLabSetup(ctx context.Context, ls *store.LabSetup) (bool, error) {
	ls.Status, ls.StartedAt, ls.FinishedAt = store.SetupRunning, store.UTC(now()), nil
	tag, err := s.pool.Exec(ctx, `INSERT INTO lab_setups (registration_id, workshop_id, lab_id, version, status, message, started_at)
		VALUES ($1, $2, $3, $4, $5, '', $6) ON CONFLICT (registration_id, lab_id, version) DO NOTHING`,
		ls.RegistrationID, ls.WorkshopID, ls.LabID, ls.Version, ls.Status, ls.StartedAt)
	if err != nil {
		return false, mapErr("claim lab setup", err)
	}
	if tag.RowsAffected() == 1 {
		return true, s.changed(nil, ls.WorkshopID)
	}
	err = s.pool.QueryRow(ctx, `SELECT workshop_id, status, message, started_at, finished_at FROM lab_setups
		WHERE registration_id = $1 AND lab_id = $2 AND version = $3`, ls.RegistrationID, ls.LabID, ls.Version).
		Scan(&ls.WorkshopID, &ls.Status, &ls.Message, &ls.StartedAt, &ls.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) { // deleted in between: the caller asks again
		return false, nil
	}
	ls.StartedAt, ls.FinishedAt = ls.StartedAt.UTC(), store.UTCPtr(ls.FinishedAt)
	return false, mapErr("claim lab setup", err)
}

// FinishLabSetup implements store.Store.
func (s *Store) FinishLabSetup(ctx context.Context, ls *store.LabSetup) error {
	_, err := s.pool.Exec(ctx, `UPDATE lab_setups SET status = $4, message = $5, finished_at = $6
		WHERE registration_id = $1 AND lab_id = $2 AND version = $3`,
		ls.RegistrationID, ls.LabID, ls.Version, ls.Status, ls.Message, store.UTCPtr(ls.FinishedAt))
	return s.changed(mapErr("finish lab setup", err), ls.WorkshopID)
}

// DeleteLabSetup implements store.Store.
func (s *Store) DeleteLabSetup(ctx context.Context, registrationID, labID string, version int) error {
	var workshopID string
	err := s.pool.QueryRow(ctx, `DELETE FROM lab_setups WHERE registration_id = $1 AND lab_id = $2 AND version = $3 RETURNING workshop_id`,
		registrationID, labID, version).Scan(&workshopID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	return s.changed(mapErr("delete lab setup", err), workshopID)
}

// ListLabSetups implements store.Store.
func (s *Store) ListLabSetups(ctx context.Context, workshopID, labID string, version int) ([]store.LabSetup, error) {
	return list(ctx, s.pool, "list lab setups", func(row pgx.Row) (*store.LabSetup, error) {
		ls := store.LabSetup{WorkshopID: workshopID, LabID: labID, Version: version}
		if err := row.Scan(&ls.RegistrationID, &ls.Status, &ls.Message, &ls.StartedAt, &ls.FinishedAt); err != nil {
			return nil, err
		}
		ls.StartedAt, ls.FinishedAt = ls.StartedAt.UTC(), store.UTCPtr(ls.FinishedAt)
		return &ls, nil
	}, `SELECT registration_id, status, message, started_at, finished_at FROM lab_setups
		WHERE workshop_id = $1 AND lab_id = $2 AND version = $3 ORDER BY registration_id`, workshopID, labID, version)
}
