package sqlite

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/golang-migrate/migrate/v4"
	migratesqlite "github.com/golang-migrate/migrate/v4/database/sqlite"
	"github.com/golang-migrate/migrate/v4/source/iofs"

	"github.com/clarateach/backend/internal/controlplane/store/internal/schema"
)

// migrationsFS is the SQLite dialect of backend/migrations: the same
// versions, tables and columns.
//
//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrate creates the database file at path if needed and applies the
// pending migrations. Migrators of the same file (a server starting while
// `clarateach migrate` runs, two processes, two goroutines) take turns on an
// exclusive lock of path+".lock": golang-migrate marks the version dirty
// while a migration runs, and a second migrator must not see that.
func Migrate(ctx context.Context, path string) error {
	if err := prepareFile(path); err != nil {
		return err
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return fmt.Errorf("migrate sqlite %s: %w", path, err)
	}
	defer unlock()
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
	if err := schema.Up(ctx, m); err != nil {
		return fmt.Errorf("migrate sqlite %s: %w", path, err)
	}
	return nil
}

// lockFile takes an exclusive flock on path (created 0600), waiting for any
// other holder; the returned function releases it.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
