package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Environment variables read by PostgresURL.
const (
	// EnvDatabaseURL points the tests at a PostgreSQL server (a URL whose
	// user may CREATE DATABASE).
	EnvDatabaseURL = "CLARATEACH_TEST_DATABASE_URL"
	// EnvRequirePostgres=1 turns "PostgreSQL not reachable" from a skip
	// into a failure (CI sets it).
	EnvRequirePostgres = "CLARATEACH_REQUIRE_POSTGRES"
	// DefaultDatabaseURL is used when EnvDatabaseURL is unset.
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
)

// PostgresURL creates a fresh, empty, randomly named database on the test
// PostgreSQL server and returns its URL; the database is dropped when the
// test ends. When the server is not reachable the test is skipped, or fails
// when CLARATEACH_REQUIRE_POSTGRES=1. Creating a database costs about half a
// second; PostgresSchemaURL is much cheaper where a schema will do.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base, u := testServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := connectOrSkip(t, ctx, base)
	defer admin.Close(context.Background())

	name := "ct_test_" + randomSuffix() + randomSuffix()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database on %s: %v", u.Redacted(), err)
	}
	// DROP DATABASE waits for a forced checkpoint of the whole server
	// (PostgreSQL 15), which syncs every file the other tests' schemas
	// made: tens of seconds on a busy CI disk, none of it this test's.
	execOnCleanupWithin(t, base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)", 3*time.Minute)
	u.Path = "/" + name
	return u.String()
}

// SharedTestDatabase holds the schemas PostgresSchemaURL creates.
const SharedTestDatabase = "clarateach_test"

// schemaPrefix starts every schema PostgresSchemaURL creates; the unix time
// follows, so schemas left behind by killed runs can be swept.
const schemaPrefix = "ct_"

// PostgresSchemaURL creates a fresh, empty schema in the shared test
// database (clarateach_test, created when missing) and returns a URL whose
// search_path selects it, so everything the store and its migrations create
// lands in that schema. The schema is dropped when the test ends; schemas
// older than two hours (from killed runs) are swept. It skips or fails like
// PostgresURL. The URL is for pgx (search_path is a startup parameter);
// libpq tools such as psql do not take it.
func PostgresSchemaURL(t testing.TB) string {
	t.Helper()
	s := newSchema(t)
	execOnCleanup(t, s.shared, "DROP SCHEMA IF EXISTS "+s.name+" CASCADE")
	return s.url
}

// testSchema is a schema newSchema created: its name, the URL of the shared
// test database, the URL that selects the schema, and (once migrated, when
// pooled) the statements that set its sequences back to their state then
// and its shape then (shapeSQL).
type testSchema struct {
	name, shared, url string
	sequences         []string
	shape             string
}

// newSchema creates a fresh, empty schema in the shared test database (see
// PostgresSchemaURL); the caller drops it.
func newSchema(t testing.TB) testSchema {
	t.Helper()
	base, u := testServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := connectOrSkip(t, ctx, base)
	defer admin.Close(context.Background())
	_, err := admin.Exec(ctx, "CREATE DATABASE "+SharedTestDatabase)
	var pe *pgconn.PgError
	if err != nil && !(errors.As(err, &pe) && (pe.Code == "42P04" || pe.Code == "23505")) {
		t.Fatalf("create %s on %s: %v", SharedTestDatabase, u.Redacted(), err)
	}

	u.Path = "/" + SharedTestDatabase
	shared := u.String()
	conn, err := pgx.Connect(ctx, shared)
	if err != nil {
		t.Fatalf("connect to %s: %v", SharedTestDatabase, err)
	}
	defer conn.Close(context.Background())
	sweepSchemas(ctx, conn)
	name := fmt.Sprintf("%s%d_%s", schemaPrefix, time.Now().Unix(), randomSuffix())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("create schema %s: %v", name, err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return testSchema{name: name, shared: shared, url: u.String()}
}

// sweepSchemas drops test schemas older than two hours (best effort).
func sweepSchemas(ctx context.Context, conn *pgx.Conn) {
	rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'ct\_%'`)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	cutoff := time.Now().Add(-2 * time.Hour).Unix()
	for _, n := range names {
		var ts int64
		if _, err := fmt.Sscanf(strings.TrimPrefix(n, schemaPrefix), "%d_", &ts); err == nil && ts > 0 && ts < cutoff {
			_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{n}.Sanitize()+" CASCADE")
		}
	}
}

// testServer returns the test server's URL, raw and parsed.
func testServer(t testing.TB) (string, *url.URL) {
	t.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		base = DefaultDatabaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL", EnvDatabaseURL)
	}
	return base, u
}

// connectOrSkip connects to the test server, or skips (fails when
// CLARATEACH_REQUIRE_POSTGRES=1) when it is not reachable.
func connectOrSkip(t testing.TB, ctx context.Context, base string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		redacted := base
		if u, perr := url.Parse(base); perr == nil {
			redacted = u.Redacted()
		}
		if os.Getenv(EnvRequirePostgres) == "1" {
			t.Fatalf("postgres not reachable at %s (and %s=1): %v", redacted, EnvRequirePostgres, err)
		}
		t.Skipf("postgres not reachable at %s: %v", redacted, err)
	}
	return conn
}

// randomSuffix returns a short random string for unique names in tests.
func randomSuffix() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// execOnCleanup runs stmt on the database at url when the test ends,
// reporting (not failing silently) when it cannot within 30 s.
func execOnCleanup(t testing.TB, url, stmt string) {
	execOnCleanupWithin(t, url, stmt, 30*time.Second)
}

// execOnCleanupWithin is execOnCleanup with its own time limit.
func execOnCleanupWithin(t testing.TB, url, stmt string, limit time.Duration) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("%s: %v", stmt, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Errorf("%s: %v", stmt, err)
		}
	})
}
