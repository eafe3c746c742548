package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/internal/query"
)

// ---- revokes, reissues and token generations -------------------------------

func scanRevoke(row pgx.Row) (*store.PendingRevoke, error) {
	var p store.PendingRevoke
	if err := row.Scan(&p.WorkshopID, &p.Seat, &p.RegistrationID, &p.MinGeneration, &p.Reset, &p.Attempts, &p.LastError,
		&p.CreatedAt, &p.UpdatedAt); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return &p, nil
}

// nextGeneration takes the next token generation for a revoke or reissue
// (the caller holds the workshop lock): the sequence's next value, which a
// seat assignment takes too (seatWith), recorded as the workshop's
// token_generation for TokenGeneration (a revoke deletes the seat whose
// generation it supersedes).
func nextGeneration(ctx context.Context, tx pgx.Tx, workshopID string) (int64, error) {
	var gen int64
	err := tx.QueryRow(ctx, `UPDATE workshops SET token_generation = nextval('token_generations') WHERE id = $1
		RETURNING token_generation`, workshopID).Scan(&gen)
	return gen, err
}

// recordRevoke records (or raises) the pending revoke of a seat. A pending
// reset stays a reset when a reissue follows it.
func recordRevoke(ctx context.Context, tx pgx.Tx, workshopID string, seat int, registrationID string, gen int64, reset bool) (*store.PendingRevoke, error) {
	t := now()
	return scanRevoke(tx.QueryRow(ctx, `INSERT INTO seat_revocations (`+query.RevokeCols+`)
		VALUES ($1, $2, $3, $4, $5, 0, '', $6, $6)
		ON CONFLICT (workshop_id, seat) DO UPDATE SET min_generation = EXCLUDED.min_generation,
			registration_id = EXCLUDED.registration_id,
			reset = seat_revocations.reset OR EXCLUDED.reset, attempts = 0, last_error = '',
			updated_at = EXCLUDED.updated_at
		RETURNING `+query.RevokeCols, workshopID, seat, registrationID, gen, reset, t))
}

// RevokeRegistration implements store.Store; revoking twice records nothing
// new.
func (s *Store) RevokeRegistration(ctx context.Context, workshopID, registrationID string) (*store.PendingRevoke, error) {
	var out *store.PendingRevoke
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockWorkshop(ctx, tx, workshopID); err != nil {
			return fmt.Errorf("revoke registration: %w", err)
		}
		// Waits for a join of this learner in flight (it locks the
		// registration), so its seat is seen below.
		var live bool
		err := tx.QueryRow(ctx, `SELECT revoked_at IS NULL FROM registrations WHERE id = $1 AND workshop_id = $2
			FOR NO KEY UPDATE`, registrationID, workshopID).Scan(&live)
		if err != nil {
			return mapErr("revoke registration", err)
		}
		if !live {
			return nil // revoked before: its seat and place went then
		}
		if _, err := tx.Exec(ctx, `UPDATE registrations SET revoked_at = $2 WHERE id = $1`, registrationID, now()); err != nil {
			return mapErr("revoke registration", err)
		}
		if err := givePlaceBack(ctx, tx, workshopID); err != nil {
			return mapErr("revoke registration", err)
		}
		var seat int
		err = tx.QueryRow(ctx, `DELETE FROM sessions WHERE registration_id = $1 RETURNING seat`, registrationID).Scan(&seat)
		if errors.Is(err, pgx.ErrNoRows) {
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
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockWorkshop(ctx, tx, workshopID); err != nil {
			return fmt.Errorf("reissue access code: %w", err)
		}
		r, err := scanRegistration(tx.QueryRow(ctx, `SELECT `+query.RegistrationCols+` FROM registrations
			WHERE id = $1 AND workshop_id = $2`, registrationID, workshopID))
		if err != nil {
			return mapErr("reissue access code", err)
		}
		if r.RevokedAt != nil {
			return fmt.Errorf("reissue access code: %w", store.ErrRevoked)
		}
		done, err := store.InsertWithCode(&code, authtoken.AccessCodeLen, func() (bool, error) {
			tag, err := tx.Exec(ctx, `UPDATE registrations SET access_code = $2 WHERE id = $1
				AND NOT EXISTS (SELECT 1 FROM registrations WHERE access_code = $2)`, registrationID, code)
			return tag.RowsAffected() == 1, mapErr("reissue access code", err)
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
		err = tx.QueryRow(ctx, `UPDATE sessions SET generation = $2 WHERE registration_id = $1 RETURNING seat`,
			registrationID, gen).Scan(&seat)
		if errors.Is(err, pgx.ErrNoRows) {
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

// TokenGeneration implements store.Store: the workshop's last revoke or
// reissue, or its newest seat if that is newer (a seat assignment takes
// its generation from the sequence and does not write the workshop row).
func (s *Store) TokenGeneration(ctx context.Context, workshopID string) (int64, error) {
	var gen int64
	err := s.pool.QueryRow(ctx, `SELECT greatest(w.token_generation, (SELECT max(generation) FROM sessions WHERE workshop_id = w.id))
		FROM workshops w WHERE w.id = $1`, workshopID).Scan(&gen)
	return gen, mapErr("token generation", err)
}

// ListPendingRevokes implements store.Store.
func (s *Store) ListPendingRevokes(ctx context.Context, workshopID string) ([]store.PendingRevoke, error) {
	return list(ctx, s.pool, "list pending revokes", scanRevoke, `SELECT `+query.RevokeCols+` FROM seat_revocations WHERE workshop_id = $1 ORDER BY seat`, workshopID)
}

// ConfirmRevoke implements store.Store.
func (s *Store) ConfirmRevoke(ctx context.Context, workshopID string, seat int, minGeneration int64) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM seat_revocations WHERE workshop_id = $1 AND seat = $2 AND min_generation = $3`,
		workshopID, seat, minGeneration)
	return s.changed(mapErr("confirm revoke", err), workshopID)
}

// FailRevoke implements store.Store.
func (s *Store) FailRevoke(ctx context.Context, workshopID string, seat int, minGeneration int64, msg string) error {
	_, err := s.pool.Exec(ctx, `UPDATE seat_revocations SET attempts = attempts + 1, last_error = $4, updated_at = $5
		WHERE workshop_id = $1 AND seat = $2 AND min_generation = $3`, workshopID, seat, minGeneration, msg, now())
	return s.changed(mapErr("fail revoke", err), workshopID)
}
