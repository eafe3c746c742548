package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/storetest"
)

// TestPlaceWaitHoldsNoRow: a register that found every free place locked
// waits without holding a place while it waits, so a transaction that
// holds the high places and then takes a low one (as a resize does, from
// the highest down) does not deadlock with it. The wait used to lock every
// place in one statement: it held place 1 while it waited for the holder
// of places 2 and 3, which then waited for place 1.
func TestPlaceWaitHoldsNoRow(t *testing.T) {
	t.Parallel()
	s := storetest.NewPostgres(t)
	ctx := context.Background()
	w := newWorkshop(t, s, 3)
	pool := s.(interface{ Pool() *pgxpool.Pool }).Pool()
	high := begin(t, pool)
	defer high.Rollback(ctx)
	low := begin(t, pool)
	defer low.Rollback(ctx)
	lockPlaces(t, high, w.ID, "place >= 2")
	lockPlaces(t, low, w.ID, "place = 1")

	type answer struct {
		r   *store.Registration
		err error
	}
	done := make(chan answer, 1)
	go func() {
		r, _, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: "A", Email: "a@example.com"})
		done <- answer{r, err}
	}()
	waitForWaiter(t, pool, xidOf(t, low), done)
	if err := low.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// The register now takes place 1; the high holder asks for place 1 too
	// (waiting for the register if it still holds it, then finding it gone).
	if _, err := high.Exec(ctx, `SELECT 1 FROM free_places WHERE workshop_id = $1 AND place = 1 FOR UPDATE`, w.ID); err != nil {
		t.Fatalf("the holder of the high places taking place 1: %v", err)
	}
	if err := high.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	a := <-done
	if a.err != nil || a.r == nil {
		t.Fatalf("register: %+v %v", a.r, a.err)
	}
}

func begin(t *testing.T, pool *pgxpool.Pool) pgx.Tx {
	t.Helper()
	tx, err := pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func lockPlaces(t *testing.T, tx pgx.Tx, workshopID, where string) {
	t.Helper()
	if _, err := tx.Exec(context.Background(), `SELECT 1 FROM free_places WHERE workshop_id = $1 AND `+where+` FOR UPDATE`, workshopID); err != nil {
		t.Fatal(err)
	}
}

func xidOf(t *testing.T, tx pgx.Tx) string {
	t.Helper()
	var xid string
	if err := tx.QueryRow(context.Background(), `SELECT pg_current_xact_id()::text`).Scan(&xid); err != nil {
		t.Fatal(err)
	}
	return xid
}

// waitForWaiter polls (10 s deadline) until some backend waits for
// transaction xid; done answering first is a failure.
func waitForWaiter[T any](t *testing.T, pool *pgxpool.Pool, xid string, done <-chan T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting bool
		if err := pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE NOT granted AND locktype = 'transactionid' AND transactionid::text = $1)`, xid).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		select {
		case a := <-done:
			t.Fatalf("the call ended while the locks were held: %+v", a)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing waits for the transaction after 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
