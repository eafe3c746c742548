package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// SaveLab implements store.Store.
func (s *Store) SaveLab(ctx context.Context, l *store.Lab) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if l.ID == "" {
			store.PrepareLab(l, now())
			l.Version = 1
		} else {
			var owner string
			var last int
			err := tx.QueryRow(ctx, `SELECT owner_id, max(version) FROM labs WHERE id = $1 GROUP BY owner_id`, l.ID).Scan(&owner, &last)
			if errors.Is(err, pgx.ErrNoRows) || (err == nil && owner != l.OwnerID) {
				return fmt.Errorf("save lab %s: %w", l.ID, store.ErrNotFound)
			}
			if err != nil {
				return mapErr("save lab", err)
			}
			store.PrepareLab(l, now())
			l.Version = last + 1
		}
		_, err := tx.Exec(ctx, `INSERT INTO labs (id, version, owner_id, title, content, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			l.ID, l.Version, l.OwnerID, l.Title, l.Content, l.CreatedAt)
		return mapErr("save lab", err)
	})
}

// GetLab implements store.Store.
func (s *Store) GetLab(ctx context.Context, id string, version int) (*store.Lab, error) {
	var l store.Lab
	err := s.pool.QueryRow(ctx, `SELECT id, version, owner_id, title, content, created_at FROM labs
		WHERE id = $1 AND ($2 = 0 OR version = $2) ORDER BY version DESC LIMIT 1`, id, version).
		Scan(&l.ID, &l.Version, &l.OwnerID, &l.Title, &l.Content, &l.CreatedAt)
	if err != nil {
		return nil, mapErr("get lab", err)
	}
	l.CreatedAt = l.CreatedAt.UTC()
	return &l, nil
}

// ListLabs implements store.Store.
func (s *Store) ListLabs(ctx context.Context, ownerID string) ([]store.Lab, error) {
	out, err := list(ctx, s.pool, "list labs", scanLabHead, `SELECT DISTINCT ON (id) id, version, owner_id, title, created_at FROM labs
		WHERE $1 = '' OR owner_id = $1 ORDER BY id, version DESC`, ownerID)
	if err != nil {
		return nil, err
	}
	store.SortLabs(out)
	return out, nil
}

// scanLabHead scans a lab's listed columns (no archive).
func scanLabHead(row pgx.Row) (*store.Lab, error) {
	var l store.Lab
	if err := row.Scan(&l.ID, &l.Version, &l.OwnerID, &l.Title, &l.CreatedAt); err != nil {
		return nil, err
	}
	l.CreatedAt = l.CreatedAt.UTC()
	return &l, nil
}

// SetWorkshopLab implements store.Store.
func (s *Store) SetWorkshopLab(ctx context.Context, workshopID, labID string, version int) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO workshop_labs (workshop_id, lab_id, version, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (workshop_id) DO UPDATE SET lab_id = EXCLUDED.lab_id, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at`,
		workshopID, labID, version, now())
	return s.changed(mapErr("set workshop lab", err), workshopID)
}

// GetWorkshopLab implements store.Store.
func (s *Store) GetWorkshopLab(ctx context.Context, workshopID string) (*store.WorkshopLab, error) {
	var wl store.WorkshopLab
	err := s.pool.QueryRow(ctx, `SELECT workshop_id, lab_id, version, updated_at FROM workshop_labs WHERE workshop_id = $1`, workshopID).
		Scan(&wl.WorkshopID, &wl.LabID, &wl.Version, &wl.UpdatedAt)
	if err != nil {
		return nil, mapErr("get workshop lab", err)
	}
	wl.UpdatedAt = wl.UpdatedAt.UTC()
	return &wl, nil
}

// SaveProgress implements store.Store.
func (s *Store) SaveProgress(ctx context.Context, p *store.Progress) error {
	p.EnteredAt = store.UTC(p.EnteredAt)
	_, err := s.pool.Exec(ctx, `INSERT INTO lab_progress (workshop_id, registration_id, step_id, status, attempts, message, entered_at, checked_at, done_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (registration_id, step_id) DO UPDATE SET workshop_id = EXCLUDED.workshop_id, status = EXCLUDED.status,
			attempts = EXCLUDED.attempts, message = EXCLUDED.message, entered_at = EXCLUDED.entered_at,
			checked_at = EXCLUDED.checked_at, done_at = EXCLUDED.done_at`,
		p.WorkshopID, p.RegistrationID, p.StepID, p.Status, p.Attempts, p.Message, p.EnteredAt, store.UTCPtr(p.CheckedAt), store.UTCPtr(p.DoneAt))
	return s.changed(mapErr("save progress", err), p.WorkshopID)
}

// ListProgress implements store.Store.
func (s *Store) ListProgress(ctx context.Context, workshopID, registrationID string) ([]store.Progress, error) {
	return list(ctx, s.pool, "list progress", scanProgress, `SELECT workshop_id, registration_id, step_id, status, attempts, message, entered_at, checked_at, done_at
		FROM lab_progress WHERE workshop_id = $1 AND ($2 = '' OR registration_id = $2) ORDER BY registration_id, entered_at, step_id`, workshopID, registrationID)
}

func scanProgress(row pgx.Row) (*store.Progress, error) {
	var p store.Progress
	if err := row.Scan(&p.WorkshopID, &p.RegistrationID, &p.StepID, &p.Status, &p.Attempts, &p.Message, &p.EnteredAt, &p.CheckedAt, &p.DoneAt); err != nil {
		return nil, err
	}
	p.EnteredAt, p.CheckedAt, p.DoneAt = p.EnteredAt.UTC(), store.UTCPtr(p.CheckedAt), store.UTCPtr(p.DoneAt)
	return &p, nil
}

// DeleteProgress implements store.Store.
func (s *Store) DeleteProgress(ctx context.Context, registrationID, stepID string) error {
	var workshopID string
	err := s.pool.QueryRow(ctx, `DELETE FROM lab_progress WHERE registration_id = $1 AND step_id = $2 RETURNING workshop_id`,
		registrationID, stepID).Scan(&workshopID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	return s.changed(mapErr("delete progress", err), workshopID)
}

const handCols = `id, workshop_id, registration_id, question, raised_at, picked_by, picked_at, closed_at`

func scanHand(row pgx.Row) (*store.Hand, error) {
	var h store.Hand
	if err := row.Scan(&h.ID, &h.WorkshopID, &h.RegistrationID, &h.Question, &h.RaisedAt, &h.PickedBy, &h.PickedAt, &h.ClosedAt); err != nil {
		return nil, err
	}
	h.RaisedAt, h.PickedAt, h.ClosedAt = h.RaisedAt.UTC(), store.UTCPtr(h.PickedAt), store.UTCPtr(h.ClosedAt)
	return &h, nil
}

// RaiseHand implements store.Store.
func (s *Store) RaiseHand(ctx context.Context, h *store.Hand) (*store.Hand, error) {
	var out *store.Hand
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		open, err := scanHand(tx.QueryRow(ctx, `UPDATE hands SET question = $2 WHERE registration_id = $1 AND closed_at IS NULL RETURNING `+handCols, h.RegistrationID, h.Question))
		if err == nil {
			out = open
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		store.PrepareHand(h, now())
		out, err = scanHand(tx.QueryRow(ctx, `INSERT INTO hands (id, workshop_id, registration_id, question, raised_at) VALUES ($1, $2, $3, $4, $5) RETURNING `+handCols,
			h.ID, h.WorkshopID, h.RegistrationID, h.Question, h.RaisedAt))
		return err
	})
	return out, s.changed(mapErr("raise hand", err), h.WorkshopID)
}

// PickHand implements store.Store.
func (s *Store) PickHand(ctx context.Context, workshopID, id, userID string, at time.Time) (*store.Hand, error) {
	h, err := scanHand(s.pool.QueryRow(ctx, `UPDATE hands SET picked_by = $3, picked_at = $4 WHERE workshop_id = $1 AND id = $2 AND closed_at IS NULL RETURNING `+handCols,
		workshopID, id, userID, store.UTC(at)))
	return h, s.changed(mapErr("pick hand", err), workshopID)
}

// CloseHand implements store.Store.
func (s *Store) CloseHand(ctx context.Context, workshopID, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE hands SET closed_at = $3 WHERE workshop_id = $1 AND id = $2 AND closed_at IS NULL`, workshopID, id, store.UTC(at))
	if err != nil {
		return mapErr("close hand", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("close hand %s: %w", id, store.ErrNotFound)
	}
	return s.changed(nil, workshopID)
}

// ListHands implements store.Store.
func (s *Store) ListHands(ctx context.Context, workshopID, registrationID string) ([]store.Hand, error) {
	return list(ctx, s.pool, "list hands", scanHand, `SELECT `+handCols+` FROM hands WHERE workshop_id = $1 AND closed_at IS NULL AND ($2 = '' OR registration_id = $2) ORDER BY raised_at, id`, workshopID, registrationID)
}

// SetBroadcast implements store.Store.
func (s *Store) SetBroadcast(ctx context.Context, b *store.Broadcast) error {
	if b.Message == "" {
		_, err := s.pool.Exec(ctx, `DELETE FROM broadcasts WHERE workshop_id = $1`, b.WorkshopID)
		return mapErr("clear broadcast", err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO broadcasts (workshop_id, message, at) VALUES ($1, $2, $3)
		ON CONFLICT (workshop_id) DO UPDATE SET message = EXCLUDED.message, at = EXCLUDED.at`, b.WorkshopID, b.Message, store.UTC(b.At))
	return mapErr("set broadcast", err)
}

// GetBroadcast implements store.Store.
func (s *Store) GetBroadcast(ctx context.Context, workshopID string) (*store.Broadcast, error) {
	var b store.Broadcast
	err := s.pool.QueryRow(ctx, `SELECT workshop_id, message, at FROM broadcasts WHERE workshop_id = $1`, workshopID).Scan(&b.WorkshopID, &b.Message, &b.At)
	if err != nil {
		return nil, mapErr("get broadcast", err)
	}
	b.At = b.At.UTC()
	return &b, nil
}
