package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/postgres"
	"github.com/clarateach/backend/internal/controlplane/store/storetest"
)

// TestWarmPool: with WithWarmPool, Open returns with all the pool's
// connections open, and each has already prepared the statements of a
// register and a join (its backend has loaded and planned them), so the
// first learners do not pay for it, and PostgreSQL has settled on a
// generic plan for each, planned once; the warm-up leaves no row behind and
// raises no notice; the store then works as usual.
func TestWarmPool(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var notices []string
	s := storetest.NewPostgres(t, postgres.WithWarmPool(), postgres.WithNotices(func(n *pgconn.Notice) {
		mu.Lock()
		defer mu.Unlock()
		notices = append(notices, n.Severity+": "+n.Message)
	}))
	ctx := context.Background()
	pool := s.(interface{ Pool() *pgxpool.Pool }).Pool()
	if got := pool.Stat().TotalConns(); got != postgres.DefaultMaxConns {
		t.Fatalf("open connections after Open: %d, want %d", got, postgres.DefaultMaxConns)
	}
	conns := pool.AcquireAllIdle(ctx)
	if len(conns) != postgres.DefaultMaxConns {
		t.Fatalf("idle connections: %d, want %d", len(conns), postgres.DefaultMaxConns)
	}
	// The statements of a register (the workshop by code, the free place,
	// the registration and its events, in one) and of a join (the learner
	// by access code, the lock of its registration, the seat and the
	// join's facts, in one).
	hot := []string{"FROM workshops WHERE code = $1::text", "FROM registrations r JOIN workshops w ON w.id = r.workshop_id"}
	for i, c := range conns {
		for _, frag := range hot {
			var n, generic int
			err := c.QueryRow(ctx, `SELECT count(*), coalesce(min(generic_plans), 0) FROM pg_prepared_statements
				WHERE strpos(statement, $1) > 0`, frag).Scan(&n, &generic)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Errorf("connection %d has not prepared the statement with %q", i, frag)
			} else if generic == 0 {
				// Still planned afresh at each execution: the first
				// learners would pay the planning.
				t.Errorf("connection %d has no generic plan for the statement with %q", i, frag)
			}
		}
		c.Release()
	}
	var rows int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM workshops)
		+ (SELECT count(*) FROM registrations) + (SELECT count(*) FROM workshop_events)
		+ (SELECT count(*) FROM sessions)`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("the warm-up left %d rows behind", rows)
	}
	w := newWorkshop(t, s, 1)
	r, created, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: "A", Email: "a@example.com"})
	if err != nil || !created {
		t.Fatalf("register after the warm-up: %v %v", created, err)
	}
	j, err := s.JoinSeat(ctx, r.ID)
	if err != nil || j.Seat.Seat != 1 {
		t.Fatalf("join after the warm-up: %+v %v", j, err)
	}
	if gen, err := s.TokenGeneration(ctx, w.ID); err != nil || j.Seat.Generation != gen {
		t.Fatalf("join after the warm-up: generation %d, the workshop's %d (%v)", j.Seat.Generation, gen, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notices) > 0 {
		t.Fatalf("the server sent notices: %q", notices)
	}
}
