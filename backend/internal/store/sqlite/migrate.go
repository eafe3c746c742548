package sqlite

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/golang-migrate/migrate/v4"
	migratesqlite "github.com/golang-migrate/migrate/v4/database/sqlite"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

// migrationsFS is the SQLite dialect of backend/migrations: the same
// versions, tables and columns.
//
//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrate creates the database file at path if needed and applies the
// pending migrations. Each migration runs in one BEGIN IMMEDIATE
// transaction and every statement is idempotent, so two processes migrating
// the same file at once are safe.
func Migrate(ctx context.Context, path string) error {
	if err := prepareFile(path); err != nil {
		return err
	}
	db, err := openDB(ctx, path, true)
	if err != nil {
		return err
	}
	defer db.Close()
	driver, err := migratesqlite.WithInstance(db, &migratesqlite.Config{})
	if err != nil {
		return fmt.Errorf("migrate sqlite %s: %w", path, err)
	}
	src, err := iofs.New(migrationsFS, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: embedded sqlite migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "sqlite", driver)
	if err != nil {
		return fmt.Errorf("migrate sqlite %s: %w", path, err)
	}
	defer m.Close()
	stop := context.AfterFunc(ctx, func() {
		select {
		case m.GracefulStop <- true:
		default:
		}
	})
	defer stop()
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrate sqlite %s: %w", path, err)
	}
	return ctx.Err()
}
