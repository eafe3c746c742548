package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/internal/query"
)

// ---- revokes, reissues and token generations -------------------------------

func scanRevoke(row scanner) (*store.PendingRevoke, error) {
	var p store.PendingRevoke
	if err := row.Scan(&p.WorkshopID, &p.Seat, &p.RegistrationID, &p.MinGeneration, &p.Reset, &p.Attempts, &p.LastError,
		timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt}); err != nil {
		return nil, err
	}
	return &p, nil
}

// nextGeneration takes the workshop's next token generation (inside a write
// transaction, which SQLite serialises).
func nextGeneration(ctx context.Context, tx querier, workshopID string) (int64, error) {
	var gen int64
	err := tx.QueryRowContext(ctx, `UPDATE workshops SET token_generation = token_generation + 1 WHERE id = ?
		RETURNING token_generation`, workshopID).Scan(&gen)
	return gen, err
}

// recordRevoke records (or raises) the pending revoke of a seat. A pending
// reset stays a reset when a reissue follows it.
func recordRevoke(ctx context.Context, tx querier, workshopID string, seat int, registrationID string, gen int64, reset bool) (*store.PendingRevoke, error) {
	t := enc(now())
	return scanRevoke(tx.QueryRowContext(ctx, `INSERT INTO seat_revocations (`+query.RevokeCols+`)
		VALUES (?, ?, ?, ?, ?, 0, '', ?, ?)
		ON CONFLICT (workshop_id, seat) DO UPDATE SET min_generation = excluded.min_generation,
			registration_id = excluded.registration_id,
			reset = seat_revocations.reset OR excluded.reset, attempts = 0, last_error = '',
			updated_at = excluded.updated_at
		RETURNING `+query.RevokeCols, workshopID, seat, registrationID, gen, reset, t, t))
}

// RevokeRegistration implements store.Store; revoking twice records nothing
// new.
func (s *Store) RevokeRegistration(ctx context.Context, workshopID, registrationID string) (*store.PendingRevoke, error) {
	var out *store.PendingRevoke
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE registrations SET revoked_at = ?
			WHERE id = ? AND workshop_id = ? AND revoked_at IS NULL`, enc(now()), registrationID, workshopID)
		if err != nil {
			return mapErr("revoke registration", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			// Revoked before (its seat and place went then), or not there.
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM registrations WHERE id = ? AND workshop_id = ?`, registrationID, workshopID).Scan(&one)
			return mapErr("revoke registration", err)
		}
		if err := givePlaceBack(ctx, tx, workshopID); err != nil {
			return mapErr("revoke registration", err)
		}
		var seat int
		err = tx.QueryRowContext(ctx, `DELETE FROM sessions WHERE registration_id = ? RETURNING seat`, registrationID).Scan(&seat)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return mapErr("revoke registration", err)
		}
		if err := giveSeatBack(ctx, tx, workshopID, seat); err != nil {
			return mapErr("revoke registration", err)
		}
		gen, err := nextGeneration(ctx, tx, workshopID)
		if err != nil {
			return mapErr("revoke registration", err)
		}
		out, err = recordRevoke(ctx, tx, workshopID, seat, registrationID, gen, true)
		return mapErr("revoke registration", err)
	})
	if err != nil {
		return nil, err
	}
	return out, s.changed(nil, workshopID)
}

// ReissueAccessCode implements store.Store.
func (s *Store) ReissueAccessCode(ctx context.Context, workshopID, registrationID, code string) (*store.Registration, *store.PendingRevoke, error) {
	var (
		reg *store.Registration
		rev *store.PendingRevoke
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		r, err := scanRegistration(tx.QueryRowContext(ctx, `SELECT `+query.RegistrationCols+` FROM registrations
			WHERE id = ? AND workshop_id = ?`, registrationID, workshopID))
		if err != nil {
			return mapErr("reissue access code", err)
		}
		if r.RevokedAt != nil {
			return fmt.Errorf("reissue access code: %w", store.ErrRevoked)
		}
		done, err := store.InsertWithCode(&code, authtoken.AccessCodeLen, func() (bool, error) {
			res, err := tx.ExecContext(ctx, `UPDATE registrations SET access_code = ? WHERE id = ?
				AND NOT EXISTS (SELECT 1 FROM registrations WHERE access_code = ?)`, code, registrationID, code)
			if err != nil {
				return false, mapErr("reissue access code", err)
			}
			n, _ := res.RowsAffected()
			return n == 1, nil
		})
		if err != nil {
			return err
		}
		if !done {
			return fmt.Errorf("reissue access code: %w", store.ErrConflict)
		}
		r.AccessCode, reg = code, r
		gen, err := nextGeneration(ctx, tx, workshopID)
		if err != nil {
			return mapErr("reissue access code", err)
		}
		var seat int
		err = tx.QueryRowContext(ctx, `UPDATE sessions SET generation = ? WHERE registration_id = ? RETURNING seat`,
			gen, registrationID).Scan(&seat)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return mapErr("reissue access code", err)
		}
		rev, err = recordRevoke(ctx, tx, workshopID, seat, registrationID, gen, false)
		return mapErr("reissue access code", err)
	})
	if err != nil {
		return nil, nil, err
	}
	return reg, rev, s.changed(nil, workshopID)
}

// TokenGeneration implements store.Store.
func (s *Store) TokenGeneration(ctx context.Context, workshopID string) (int64, error) {
	var gen int64
	err := s.r.QueryRowContext(ctx, `SELECT token_generation FROM workshops WHERE id = ?`, workshopID).Scan(&gen)
	return gen, mapErr("token generation", err)
}

// ListPendingRevokes implements store.Store.
func (s *Store) ListPendingRevokes(ctx context.Context, workshopID string) ([]store.PendingRevoke, error) {
	return list(ctx, s.r, "list pending revokes", scanRevoke, `SELECT `+query.RevokeCols+` FROM seat_revocations WHERE workshop_id = ? ORDER BY seat`, workshopID)
}

// ConfirmRevoke implements store.Store.
func (s *Store) ConfirmRevoke(ctx context.Context, workshopID string, seat int, minGeneration int64) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM seat_revocations WHERE workshop_id = ? AND seat = ? AND min_generation = ?`,
		workshopID, seat, minGeneration)
	return s.changed(mapErr("confirm revoke", err), workshopID)
}

// FailRevoke implements store.Store.
func (s *Store) FailRevoke(ctx context.Context, workshopID string, seat int, minGeneration int64, msg string) error {
	_, err := s.w.ExecContext(ctx, `UPDATE seat_revocations SET attempts = attempts + 1, last_error = ?, updated_at = ?
		WHERE workshop_id = ? AND seat = ? AND min_generation = ?`, msg, enc(now()), workshopID, seat, minGeneration)
	return s.changed(mapErr("fail revoke", err), workshopID)
}
