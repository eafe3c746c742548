package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// AddWatcher implements store.Store.
func (s *Store) AddWatcher(ctx context.Context, w *store.Watcher) error {
	store.PrepareWatcher(w, now())
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM seat_watchers WHERE workshop_id = ?1 AND seat = ?2 AND seen_at < ?3`,
			w.WorkshopID, w.Seat, enc(w.SeenAt.Add(-store.WatcherStale))); err != nil {
			return mapErr("add watcher", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO seat_watchers (id, workshop_id, seat, name, mode, since, seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)`,
			w.ID, w.WorkshopID, w.Seat, w.Name, w.Mode, enc(w.Since), enc(w.SeenAt))
		return mapErr("add watcher", err)
	})
}

// TouchWatcher implements store.Store.
func (s *Store) TouchWatcher(ctx context.Context, id string, at time.Time) error {
	_, err := s.w.ExecContext(ctx, `UPDATE seat_watchers SET seen_at = ?2 WHERE id = ?1`, id, enc(at))
	return mapErr("touch watcher", err)
}

// RemoveWatcher implements store.Store.
func (s *Store) RemoveWatcher(ctx context.Context, id string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM seat_watchers WHERE id = ?1`, id)
	return mapErr("remove watcher", err)
}

// ListWatchers implements store.Store.
func (s *Store) ListWatchers(ctx context.Context, workshopID string, seat int, seenSince time.Time) ([]store.Watcher, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, workshop_id, seat, name, mode, since, seen_at FROM seat_watchers
		WHERE workshop_id = ?1 AND seat = ?2 AND seen_at >= ?3 ORDER BY since, id`, workshopID, seat, enc(seenSince))
	if err != nil {
		return nil, mapErr("list watchers", err)
	}
	defer rows.Close()
	out := []store.Watcher{}
	for rows.Next() {
		var w store.Watcher
		if err := rows.Scan(&w.ID, &w.WorkshopID, &w.Seat, &w.Name, &w.Mode, timeCol{&w.Since}, timeCol{&w.SeenAt}); err != nil {
			return nil, mapErr("list watchers", err)
		}
		out = append(out, w)
	}
	return out, mapErr("list watchers", rows.Err())
}

// ClaimLabSetup implements store.Store.
func (s *Store) ClaimLabSetup(ctx context.Context, ls *store.LabSetup) (bool, error) {
	ls.Status, ls.StartedAt, ls.FinishedAt = store.SetupRunning, store.UTC(now()), nil
	res, err := s.w.ExecContext(ctx, `INSERT INTO lab_setups (registration_id, workshop_id, lab_id, version, status, message, started_at)
		VALUES (?1, ?2, ?3, ?4, ?5, '', ?6) ON CONFLICT (registration_id, lab_id, version) DO NOTHING`,
		ls.RegistrationID, ls.WorkshopID, ls.LabID, ls.Version, ls.Status, enc(ls.StartedAt))
	if err != nil {
		return false, mapErr("claim lab setup", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, s.changed(nil, ls.WorkshopID)
	}
	err = s.r.QueryRowContext(ctx, `SELECT workshop_id, status, message, started_at, finished_at FROM lab_setups
		WHERE registration_id = ?1 AND lab_id = ?2 AND version = ?3`, ls.RegistrationID, ls.LabID, ls.Version).
		Scan(&ls.WorkshopID, &ls.Status, &ls.Message, timeCol{&ls.StartedAt}, nullTimeCol{&ls.FinishedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return false, mapErr("claim lab setup", err)
}

// FinishLabSetup implements store.Store.
func (s *Store) FinishLabSetup(ctx context.Context, ls *store.LabSetup) error {
	_, err := s.w.ExecContext(ctx, `UPDATE lab_setups SET status = ?4, message = ?5, finished_at = ?6
		WHERE registration_id = ?1 AND lab_id = ?2 AND version = ?3`,
		ls.RegistrationID, ls.LabID, ls.Version, ls.Status, ls.Message, encp(ls.FinishedAt))
	return s.changed(mapErr("finish lab setup", err), ls.WorkshopID)
}

// DeleteLabSetup implements store.Store.
func (s *Store) DeleteLabSetup(ctx context.Context, registrationID, labID string, version int) error {
	var workshopID string
	err := s.w.QueryRowContext(ctx, `DELETE FROM lab_setups WHERE registration_id = ?1 AND lab_id = ?2 AND version = ?3 RETURNING workshop_id`,
		registrationID, labID, version).Scan(&workshopID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	return s.changed(mapErr("delete lab setup", err), workshopID)
}

// ListLabSetups implements store.Store.
func (s *Store) ListLabSetups(ctx context.Context, workshopID, labID string, version int) ([]store.LabSetup, error) {
	return list(ctx, s.r, "list lab setups", func(row scanner) (*store.LabSetup, error) {
		ls := store.LabSetup{WorkshopID: workshopID, LabID: labID, Version: version}
		err := row.Scan(&ls.RegistrationID, &ls.Status, &ls.Message, timeCol{&ls.StartedAt}, nullTimeCol{&ls.FinishedAt})
		return &ls, err
	}, `SELECT registration_id, status, message, started_at, finished_at FROM lab_setups
		WHERE workshop_id = ?1 AND lab_id = ?2 AND version = ?3 ORDER BY registration_id`, workshopID, labID, version)
}
