package postgres

import (
	"context"
	"fmt"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"

	"github.com/clarateach/backend/internal/controlplane/store/internal/schema"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/clarateach/backend/migrations"
)

// Migrate applies the pending migrations of backend/migrations (embedded) to
// the database at dsn. golang-migrate holds a PostgreSQL advisory lock while
// it works, so replicas that start at once apply each migration once; the
// others wait and then find nothing to do.
func Migrate(ctx context.Context, dsn string) error {
	cfg, err := parseConfig(dsn)
	if err != nil {
		return err
	}
	db := stdlib.OpenDB(*cfg.ConnConfig)
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("migrate postgres %s: %w", Describe(dsn), err)
	}
	driver, err := migratepgx.WithInstance(db, &migratepgx.Config{})
	if err != nil {
		return fmt.Errorf("migrate postgres %s: %w", Describe(dsn), err)
	}
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return fmt.Errorf("migrate: embedded migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", driver)
	if err != nil {
		return fmt.Errorf("migrate postgres %s: %w", Describe(dsn), err)
	}
	defer m.Close()
	if err := schema.Up(ctx, m); err != nil {
		return fmt.Errorf("migrate postgres %s: %w", Describe(dsn), err)
	}
	return nil
}
