package open_test

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
	"github.com/clarateach/backend/internal/controlplane/store/postgres"
	"github.com/clarateach/backend/internal/controlplane/store/storetest"
)

func TestParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		dsn, engine, target string
	}{
		{"postgres://u:p@h:5432/db?sslmode=disable", open.Postgres, "postgres://u:p@h:5432/db?sslmode=disable"},
		{"postgresql://alice:pw@ep-x.aws.neon.tech/neondb?sslmode=require&channel_binding=require", open.Postgres,
			"postgresql://alice:pw@ep-x.aws.neon.tech/neondb?sslmode=require&channel_binding=require"},
		{" POSTGRES://h/db ", open.Postgres, "POSTGRES://h/db"},
		{"sqlite:./data/clarateach.db", open.SQLite, "./data/clarateach.db"},
		{"sqlite:data/x", open.SQLite, "data/x"},
		{"sqlite:///var/lib/ct.db", open.SQLite, "/var/lib/ct.db"},
		{"sqlite://./rel.db", open.SQLite, "./rel.db"},
		{"file:/tmp/ct.db", open.SQLite, "/tmp/ct.db"},
		{"file:my%20dir/ct.db", open.SQLite, "my dir/ct.db"},
		{"./data/clarateach.db", open.SQLite, "./data/clarateach.db"},
		{"/abs/ct.sqlite3", open.SQLite, "/abs/ct.sqlite3"},
	}
	for _, c := range cases {
		engine, target, err := open.Parse(c.dsn)
		if err != nil || engine != c.engine || target != c.target {
			t.Errorf("Parse(%q) = %q, %q, %v; want %q, %q", c.dsn, engine, target, err, c.engine, c.target)
		}
	}
	for _, bad := range []string{"", "   ", "mysql://u:secretpw@h/db", "sqlite:", "sqlite::memory:", "data/x.txt",
		"sqlite:x.db?mode=ro", "host=h password=secretpw dbname=x"} {
		_, _, err := open.Parse(bad)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
			continue
		}
		if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("Parse(%q) error leaks the password: %v", bad, err)
		}
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	cases := []struct{ dsn, want string }{
		{"postgresql://alice:s3cret@ep-x.aws.neon.tech/neondb?sslmode=require", "postgres alice@ep-x.aws.neon.tech:5432/neondb"},
		{"sqlite:./data/ct.db", "sqlite ./data/ct.db"},
		{"mysql://u:s3cret@h/db", "(invalid DATABASE_URL)"},
	}
	for _, c := range cases {
		if got := open.Describe(c.dsn); got != c.want {
			t.Errorf("Describe(%q) = %q, want %q", c.dsn, got, c.want)
		}
	}
}

func TestOpenSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	for _, dsn := range []string{
		"sqlite:" + filepath.Join(dir, "a", "one.db"),
		"file:" + filepath.Join(dir, "two.db"),
		filepath.Join(dir, "three.db"),
	} {
		s, err := open.Open(ctx, dsn)
		if err != nil {
			t.Fatalf("Open(%q): %v", dsn, err)
		}
		if s.Engine() != open.SQLite {
			t.Errorf("Open(%q).Engine() = %q", dsn, s.Engine())
		}
		checkUsable(t, s)
		s.Close()
		// Reopening an existing database migrates nothing and keeps the data.
		if err := open.Migrate(ctx, dsn); err != nil {
			t.Fatalf("Migrate(%q) again: %v", dsn, err)
		}
		s, err = open.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := s.CountUsers(ctx); err != nil || n != 1 {
			t.Errorf("after reopen: %d users, %v", n, err)
		}
		s.Close()
	}
}

func TestOpenPostgres(t *testing.T) {
	t.Parallel()
	// An empty schema of its own is an empty database to the store (its
	// URL selects it with search_path), without a DROP DATABASE at the
	// end: that waits for a forced checkpoint of the whole server.
	url := storetest.PostgresSchemaURL(t)
	ctx := context.Background()
	// Two replicas start at once on an empty database.
	type res struct {
		s   store.Store
		err error
	}
	out := make(chan res, 2)
	for range 2 {
		go func() {
			s, err := open.Open(ctx, url)
			out <- res{s, err}
		}()
	}
	for range 2 {
		r := <-out
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.s.Engine() != open.Postgres {
			t.Errorf("Engine() = %q", r.s.Engine())
		}
		t.Cleanup(func() { r.s.Close() })
	}
	s, err := open.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkUsable(t, s)
	if err := open.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrorsHidePassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := "postgresql://u:hunter2@127.0.0.1:1/db?sslmode=disable&connect_timeout=2"
	for name, err := range map[string]error{
		"open":    func() error { _, err := open.Open(ctx, dsn); return err }(),
		"migrate": open.Migrate(ctx, dsn),
	} {
		if err == nil {
			t.Fatalf("%s succeeded against a closed port", name)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s error leaks the password: %v", name, err)
		}
		if !strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("%s error does not say where: %v", name, err)
		}
	}
}

func checkUsable(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	u := &store.User{Email: "x@example.com", PasswordHash: "h"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
}

// TestOpenNeonStyleURL: a postgresql://...?sslmode=require URL (what Neon
// hands out) opens over TLS.
func TestOpenNeonStyleURL(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(storetest.PostgresSchemaURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = "postgresql"
	q := u.Query()
	q.Set("sslmode", "require")
	u.RawQuery = q.Encode()
	ctx := context.Background()
	s, err := open.Open(ctx, u.String())
	if err != nil {
		if strings.Contains(err.Error(), "server refused TLS") || strings.Contains(err.Error(), "SSL") {
			t.Skipf("test server has no TLS: %v", err)
		}
		t.Fatal(err)
	}
	defer s.Close()
	var ssl bool
	pool := s.(*postgres.Store).Pool()
	if err := pool.QueryRow(ctx, `SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&ssl); err != nil {
		t.Fatal(err)
	}
	if !ssl {
		t.Fatal("sslmode=require connection is not encrypted")
	}
	checkUsable(t, s)
}
