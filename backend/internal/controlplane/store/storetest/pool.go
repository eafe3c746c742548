package storetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clarateach/backend/internal/controlplane/store/postgres"
)

// schemaPool holds the migrated schemas of a test binary whose tests have
// ended, emptied, for NewPostgres to hand out again. Creating a schema and
// running every migration is DDL (a few hundred catalog rows, dropped again
// after the test); emptying the tables is a fraction of that.
var schemaPool struct {
	sync.Mutex
	on   bool // Main turned it on, and drops the schemas when the tests end
	free []testSchema
}

// Main runs a test binary's tests with NewPostgres reusing schemas: when a
// test ends, its store is closed, every table but golang-migrate's version
// table is emptied (TRUNCATE … CASCADE), every sequence set back to where the
// migrations left it, and the schema kept for the binary's next NewPostgres,
// which gets it as a freshly migrated one would be. A schema whose test
// changed its relations or columns, or ANALYZEd them (TRUNCATE keeps
// statistics), is dropped instead. run runs the tests (m.Run, or what wraps it); when
// it returns Main drops the schemas and returns run's exit code. Use it
// from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(storetest.Main(m.Run)) }
func Main(run func() int) int {
	schemaPool.Lock()
	schemaPool.on = true
	schemaPool.Unlock()
	code := run()
	if err := drainPool(); err != nil {
		fmt.Fprintf(os.Stderr, "storetest: %v\n", err)
		code = 1
	}
	return code
}

// drainPool turns the pool off and drops its schemas.
func drainPool() error {
	schemaPool.Lock()
	free := schemaPool.free
	schemaPool.free, schemaPool.on = nil, false
	schemaPool.Unlock()
	var errs []error
	for _, s := range free {
		if err := execOn(s.shared, "DROP SCHEMA IF EXISTS "+s.name+" CASCADE"); err != nil {
			errs = append(errs, fmt.Errorf("drop schema %s: %w", s.name, err))
		}
	}
	return errors.Join(errs...)
}

// migratedSchema returns the URL of a migrated, empty schema that is t's
// until t ends: a pooled one when Main runs the tests, else a new one.
func migratedSchema(t testing.TB) string {
	t.Helper()
	schemaPool.Lock()
	on := schemaPool.on
	if n := len(schemaPool.free); on && n > 0 {
		s := schemaPool.free[n-1]
		schemaPool.free = schemaPool.free[:n-1]
		schemaPool.Unlock()
		t.Cleanup(func() { release(t, s) })
		return s.url
	}
	schemaPool.Unlock()
	if !on {
		url := PostgresSchemaURL(t)
		if err := postgres.Migrate(context.Background(), url); err != nil {
			t.Fatal(err)
		}
		return url
	}
	s := newSchema(t)
	err := postgres.Migrate(context.Background(), s.url)
	if err == nil {
		s.sequences, s.shape, err = snapshot(s.url)
	}
	if err != nil {
		if derr := execOn(s.shared, "DROP SCHEMA IF EXISTS "+s.name+" CASCADE"); derr != nil {
			t.Errorf("storetest: drop schema %s: %v", s.name, derr)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { release(t, s) }) // after the store's Close (cleanups run last first)
	return s.url
}

// shapeSQL describes the schema the connection selects: every relation
// (tables, indexes, sequences) and column, and whether ANALYZE left
// statistics (which TRUNCATE keeps, and a new schema has none).
const shapeSQL = `
	SELECT md5(string_agg(c.relname || ':' || c.relkind::text || ':' || coalesce(a.attname, '') || ':' ||
			coalesce(format_type(a.atttypid, a.atttypmod), ''), ',' ORDER BY c.relname, a.attnum))
		|| CASE WHEN EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = current_schema()) THEN ' analyzed' ELSE '' END
	FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	WHERE c.relnamespace = current_schema()::regnamespace`

// snapshot returns the statements that set every sequence of the schema url
// selects back to where it is now (the migrations leave some called), and
// the schema's shape (shapeSQL).
func snapshot(url string) (sequences []string, shape string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, "", err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `
		SELECT format('SELECT setval(%L, %s, %L)', quote_ident(sequencename),
			coalesce(last_value, start_value), last_value IS NOT NULL)
		FROM pg_sequences WHERE schemaname = current_schema()`)
	if err != nil {
		return nil, "", err
	}
	if sequences, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return nil, "", err
	}
	err = conn.QueryRow(ctx, shapeSQL).Scan(&shape)
	return sequences, shape, err
}

// errChanged: a test changed the schema's tables or indexes, or analyzed
// them, so emptying the tables would not give a fresh schema back.
var errChanged = errors.New("changed by its test")

// release empties s and returns it to the pool; a schema that its test
// changed (errChanged), or that cannot be emptied, is dropped instead.
func release(t testing.TB, s testSchema) {
	if err := empty(s); err != nil {
		if !errors.Is(err, errChanged) {
			t.Errorf("storetest: empty schema %s for reuse: %v", s.name, err)
		}
		if err := execOn(s.shared, "DROP SCHEMA IF EXISTS "+s.name+" CASCADE"); err != nil {
			t.Errorf("storetest: drop schema %s: %v", s.name, err)
		}
		return
	}
	schemaPool.Lock()
	defer schemaPool.Unlock()
	schemaPool.free = append(schemaPool.free, s)
}

// empty truncates every table of s but golang-migrate's schema_migrations
// and sets its sequences back to where the migrations left them, in one
// transaction; errChanged when s's shape is not what it was then.
func empty(s testSchema) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var shape string
	if err := conn.QueryRow(ctx, shapeSQL).Scan(&shape); err != nil {
		return err
	}
	if shape != s.shape {
		return errChanged
	}
	var truncate *string // NULL when there is no table
	err = conn.QueryRow(ctx, `
		SELECT 'TRUNCATE ' || string_agg(quote_ident(relname), ', ') || ' CASCADE'
		FROM pg_class WHERE relnamespace = current_schema()::regnamespace
			AND relkind IN ('r', 'p') AND relname <> 'schema_migrations'`).Scan(&truncate)
	if err != nil {
		return err
	}
	var sql strings.Builder
	sql.WriteString("BEGIN;")
	if truncate != nil {
		sql.WriteString(*truncate + ";")
	}
	for _, stmt := range s.sequences {
		sql.WriteString(stmt + ";")
	}
	sql.WriteString("COMMIT")
	_, err = conn.PgConn().Exec(ctx, sql.String()).ReadAll()
	return err
}

// execOn runs stmt on the database at url.
func execOn(url, stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, stmt)
	return err
}
