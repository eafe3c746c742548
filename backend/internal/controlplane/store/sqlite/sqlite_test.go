package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/sqlite"
	"github.com/clarateach/backend/internal/controlplane/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.NewSQLite(t) })
}

// TestFileModeAndWAL: the file is private and in WAL mode (foreign keys are
// checked by the conformance suite: rows referring to missing parents fail).
func TestFileModeAndWAL(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", "clarateach.db")
	if err := sqlite.Migrate(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("database file mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(s.Path()))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %v, want 0700", di.Mode().Perm())
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var mode string
	if err := raw.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.db")
	ctx := context.Background()
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- sqlite.Migrate(ctx, path) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := sqlite.Migrate(ctx, path); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
}

func TestBadPaths(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"", ":memory:", "/tmp/a?b.db"} {
		if _, err := sqlite.Open(context.Background(), p); err == nil {
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

// TestTwoStoresOneFile: two Stores on one file (a server and a CLI command)
// write at once; BEGIN IMMEDIATE and the busy timeout keep them correct and
// free of SQLITE_BUSY.
func TestTwoStoresOneFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	if err := sqlite.Migrate(ctx, path); err != nil {
		t.Fatal(err)
	}
	var stores [2]*sqlite.Store
	for i := range stores {
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	u := &store.User{Email: "o@example.com", PasswordHash: "x"}
	if err := stores[0].CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	w := &store.Workshop{OwnerID: u.ID, Name: "w", Seats: 30}
	if err := stores[1].CreateWorkshop(ctx, w); err != nil {
		t.Fatal(err)
	}
	const learners = 80
	type res struct {
		seat int
		err  error
	}
	out := make(chan res, learners)
	for i := range learners {
		s := stores[i%2]
		go func() {
			email := fmt.Sprintf("l%d@example.com", i)
			r, _, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Email: email})
			if err != nil {
				out <- res{0, err}
				return
			}
			st, err := s.AssignSeat(ctx, r.ID)
			if err != nil {
				out <- res{0, err}
				return
			}
			out <- res{st.Seat, nil}
		}()
	}
	seen := map[int]bool{}
	full := 0
	for range learners {
		r := <-out
		switch {
		case r.err == nil:
			if seen[r.seat] {
				t.Errorf("seat %d assigned twice", r.seat)
			}
			seen[r.seat] = true
		case errors.Is(r.err, store.ErrFull):
			full++
		default:
			t.Errorf("unexpected error: %v", r.err)
		}
	}
	if len(seen) != 30 || full != learners-30 {
		t.Errorf("%d seated, %d full; want 30 and %d", len(seen), full, learners-30)
	}
}
