// Package schema runs golang-migrate for both store engines, which differ
// only in their driver and their embedded migration files.
package schema

import (
	"context"
	"errors"

	"github.com/golang-migrate/migrate/v4"
)

// Up applies m's pending migrations (none pending is not an error).
// golang-migrate takes no context: when ctx ends, m stops after the
// migration it is running and Up returns ctx's error.
func Up(ctx context.Context, m *migrate.Migrate) error {
	stop := context.AfterFunc(ctx, func() {
		select {
		case m.GracefulStop <- true:
		default:
		}
	})
	defer stop()
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return err
	}
	return ctx.Err()
}
