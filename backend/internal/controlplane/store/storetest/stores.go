package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/postgres"
	"github.com/clarateach/backend/internal/controlplane/store/sqlite"
)

// NewSQLite returns a migrated store on a fresh SQLite file in t's temporary
// directory, closed when the test ends.
func NewSQLite(t testing.TB) store.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clarateach.db")
	ctx := context.Background()
	if err := sqlite.Migrate(ctx, path); err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// NewPostgres returns a migrated store on a fresh schema of the test
// PostgreSQL server (PostgresSchemaURL), closed when the test ends. It skips
// or fails like PostgresURL when the server is not reachable. In a test
// binary whose TestMain runs Main, the schema is one that an earlier test of
// the binary had, emptied (see Main), when there is one.
func NewPostgres(t testing.TB, opts ...postgres.Option) store.Store {
	t.Helper()
	url := migratedSchema(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
