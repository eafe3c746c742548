package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// ---- failure clocks (store.Failures) ----------------------------------------

// AddFailure implements store.Store: one upsert on the write connection,
// which SQLite serialises.
func (s *Store) AddFailure(ctx context.Context, key string, now time.Time, cost, limit time.Duration) (time.Time, error) {
	var us int64
	err := s.w.QueryRowContext(ctx, `INSERT INTO guess_failures (key, clock_us) VALUES (?1, MIN(?2 + ?3, ?2 + ?4))
		ON CONFLICT (key) DO UPDATE SET clock_us = MIN(MAX(guess_failures.clock_us, ?2) + ?3, ?2 + ?4)
		RETURNING clock_us`, key, now.UnixMicro(), cost.Microseconds(), limit.Microseconds()).Scan(&us)
	if err != nil {
		return time.Time{}, mapErr("add failure", err)
	}
	return store.FailureTime(us), nil
}

// FailureClock implements store.Store.
func (s *Store) FailureClock(ctx context.Context, key string) (time.Time, error) {
	var us int64
	err := s.r.QueryRowContext(ctx, `SELECT clock_us FROM guess_failures WHERE key = ?`, key).Scan(&us)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, mapErr("failure clock", err)
	}
	return store.FailureTime(us), nil
}

// ResetFailures implements store.Store.
func (s *Store) ResetFailures(ctx context.Context, key string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM guess_failures WHERE key = ?`, key)
	return mapErr("reset failures", err)
}

// PruneFailures implements store.Store.
func (s *Store) PruneFailures(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM guess_failures WHERE clock_us < ?`, before.UnixMicro())
	if err != nil {
		return 0, mapErr("prune failures", err)
	}
	return res.RowsAffected()
}
