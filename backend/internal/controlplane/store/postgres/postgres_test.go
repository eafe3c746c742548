package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/postgres"
	"github.com/clarateach/backend/internal/controlplane/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.NewPostgres(t) })
}

// TestDurableJoins runs the join concurrency test with synchronous commits
// too (the rest of the suite is unaffected by the option).
func TestDurableJoins(t *testing.T) {
	t.Parallel()
	storetest.ConcurrentJoins(t, storetest.NewPostgres(t, postgres.WithDurableJoins()))
}

func TestDescribeHidesPassword(t *testing.T) {
	t.Parallel()
	cases := []struct{ dsn, want string }{
		{"postgresql://alice:s3cret@ep-x.eu-central-1.aws.neon.tech/neondb?sslmode=require", "alice@ep-x.eu-central-1.aws.neon.tech:5432/neondb"},
		{"postgres://bob:pw@127.0.0.1:6543/db?sslmode=disable", "bob@127.0.0.1:6543/db"},
	}
	for _, c := range cases {
		got := postgres.Describe(c.dsn)
		if got != c.want || strings.Contains(got, "s3cret") {
			t.Errorf("Describe(%q) = %q, want %q", c.dsn, got, c.want)
		}
	}
}

func TestOpenErrorsHidePassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, dsn := range []string{
		"postgres://u:hunter2@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", // nothing listens on port 1
		"postgres://u:hunter2@127.0.0.1:5432/db?sslmode=bogus",
	} {
		_, err := postgres.Open(ctx, dsn)
		if err == nil {
			t.Fatalf("Open(%s) succeeded", dsn)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks the password: %v", err)
		}
		err = postgres.Migrate(ctx, dsn)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Migrate error = %v", err)
		}
	}
}
