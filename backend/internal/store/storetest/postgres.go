package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
// when CLARATEACH_REQUIRE_POSTGRES=1.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		base = DefaultDatabaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL", EnvDatabaseURL)
	}
	redacted := u.Redacted()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv(EnvRequirePostgres) == "1" {
			t.Fatalf("postgres not reachable at %s (and %s=1): %v", redacted, EnvRequirePostgres, err)
		}
		t.Skipf("postgres not reachable at %s: %v", redacted, err)
	}
	defer admin.Close(context.Background())

	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "ct_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database on %s: %v", redacted, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// randomSuffix returns a short random string for unique names in tests.
func randomSuffix() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b[:])
}
