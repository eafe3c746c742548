package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// ---- failure clocks (store.Failures) ----------------------------------------

// AddFailure implements store.Store: one upsert, atomic under the row lock,
// committed without waiting for the WAL flush (a crash may forget the last
// failures, which costs an attacker nothing it could use; waiting for a
// flush per wrong guess would make guessing cost the database a disk sync).
func (s *Store) AddFailure(ctx context.Context, key string, now time.Time, cost, limit time.Duration) (time.Time, error) {
	var us int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO guess_failures (key, clock_us) VALUES ($1, LEAST($2::bigint + $3::bigint, $2::bigint + $4::bigint))
		ON CONFLICT (key) DO UPDATE SET clock_us = LEAST(GREATEST(guess_failures.clock_us, $2::bigint) + $3::bigint, $2::bigint + $4::bigint)
		RETURNING clock_us`, key, now.UnixMicro(), cost.Microseconds(), limit.Microseconds()).Scan(&us)
	})
	if err != nil {
		return time.Time{}, mapErr("add failure", err)
	}
	return store.FailureTime(us), nil
}

// FailureClock implements store.Store.
func (s *Store) FailureClock(ctx context.Context, key string) (time.Time, error) {
	var us int64
	err := s.pool.QueryRow(ctx, `SELECT clock_us FROM guess_failures WHERE key = $1`, key).Scan(&us)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, mapErr("failure clock", err)
	}
	return store.FailureTime(us), nil
}

// ResetFailures implements store.Store.
func (s *Store) ResetFailures(ctx context.Context, key string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM guess_failures WHERE key = $1`, key)
	return mapErr("reset failures", err)
}

// PruneFailures implements store.Store.
func (s *Store) PruneFailures(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM guess_failures WHERE clock_us < $1`, before.UnixMicro())
	if err != nil {
		return 0, mapErr("prune failures", err)
	}
	return tag.RowsAffected(), nil
}
