package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/postgres"
	"github.com/clarateach/backend/internal/controlplane/store/storetest"
)

// TestJoinsRaiseNoNotices: a register and a join (first and repeated) make
// the server send no notice or warning. Each one is also a line in the
// server's log, on the hottest path there is.
func TestJoinsRaiseNoNotices(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var notices []string
	s := storetest.NewPostgres(t, postgres.WithNotices(func(n *pgconn.Notice) {
		mu.Lock()
		defer mu.Unlock()
		notices = append(notices, n.Severity+": "+n.Message)
	}))
	ctx := context.Background()
	w := newWorkshop(t, s, 2)
	r, _, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: "A", Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.AssignSeat(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	// The requests' own calls: the lookup by code in the same batch.
	now := time.Now()
	_, r2, created, err := s.RegisterByCode(ctx, w.Code, &store.Registration{Name: "B", Email: "b@example.com"}, now,
		store.Event{Message: "b registered"})
	if err != nil || !created {
		t.Fatalf("register by code: %v %v", created, err)
	}
	for range 2 {
		if _, _, j, err := s.JoinByCode(ctx, r2.AccessCode, now); err != nil || j == nil || j.Seat.Seat != 2 {
			t.Fatalf("join by code: %+v %v", j, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notices) > 0 {
		t.Fatalf("the server sent notices: %q", notices)
	}
}

// TestJoinsDoNotWaitForTheWorkshop: a learner's register and join go
// through while another transaction holds the workshop's row lock (as an
// instructor's edit or a reconciler step does for a moment). When every
// register and join locked that row, the 1,000 requests of a 500-learner
// class passed through it one at a time (bench/bigclass's README).
func TestJoinsDoNotWaitForTheWorkshop(t *testing.T) {
	t.Parallel()
	s := storetest.NewPostgres(t)
	ctx := context.Background()
	w := newWorkshop(t, s, 2)
	pool := s.(interface{ Pool() *pgxpool.Pool }).Pool()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM workshops WHERE id = $1 FOR NO KEY UPDATE`, w.ID); err != nil {
		t.Fatal(err)
	}
	// A deadline, not a wait: on a store that takes the lock these block
	// until the transaction above ends.
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	now := time.Now()
	_, r, created, err := s.RegisterByCode(dctx, w.Code, &store.Registration{Name: "A", Email: "a@example.com"}, now)
	if err != nil || !created {
		t.Fatalf("register by code under the workshop's lock: %v %v", created, err)
	}
	if _, _, j, err := s.JoinByCode(dctx, r.AccessCode, now); err != nil || j == nil || j.Seat.Seat != 1 {
		t.Fatalf("join by code under the workshop's lock: %+v %v", j, err)
	}
	r2, created, err := s.Register(dctx, &store.Registration{WorkshopID: w.ID, Name: "B", Email: "b@example.com"})
	if err != nil || !created {
		t.Fatalf("register under the workshop's lock: %v %v", created, err)
	}
	if st, err := s.AssignSeat(dctx, r2.ID); err != nil || st.Seat != 2 {
		t.Fatalf("assign seat under the workshop's lock: %+v %v", st, err)
	}
}

// TestAssignSeatReadsOneWorkshop: the statement that picks a free seat
// reads only the sessions of the learner's workshop, through the
// (workshop_id, seat) index, under the generic plan a prepared statement
// ends up with. Picking the seat from a join against the registration
// made the planner read every workshop's sessions on every join.
func TestAssignSeatReadsOneWorkshop(t *testing.T) {
	t.Parallel()
	s := storetest.NewPostgres(t)
	ctx := context.Background()
	var last *store.Registration
	for i := range 20 {
		w := newWorkshop(t, s, 30)
		for j := range 30 {
			r, _, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: "L", Email: fmt.Sprintf("l%d-%d@example.com", i, j)})
			if err != nil {
				t.Fatal(err)
			}
			if j == 29 && i == 19 {
				last = r // left without a seat
				break
			}
			if _, err := s.AssignSeat(ctx, r.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	pool := s.(interface{ Pool() *pgxpool.Pool }).Pool()
	// AssignSeat's statement (by registration id) and JoinByCode's (by
	// access code, open at $4).
	assertOneWorkshop(t, pool, "PREPARE assign_plan(text, text, timestamptz) AS "+postgres.AssignSQL,
		fmt.Sprintf("EXPLAIN (FORMAT JSON) EXECUTE assign_plan('%s', '%s', now())", last.ID, authtoken.NewID()))
	assertOneWorkshop(t, pool, "PREPARE assign_plan(text, text, timestamptz, timestamptz) AS "+postgres.AssignByCodeSQL,
		fmt.Sprintf("EXPLAIN (FORMAT JSON) EXECUTE assign_plan('%s', '%s', now(), now())", last.AccessCode, authtoken.NewID()))
}

// assertOneWorkshop prepares a seat statement under generic plans and
// fails if explain's plan of it scans the sessions of every workshop.
func assertOneWorkshop(t *testing.T, pool *pgxpool.Pool, prepare, explain string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, q := range []string{
		"ANALYZE sessions", "ANALYZE registrations", "ANALYZE workshops",
		"SET plan_cache_mode = force_generic_plan", prepare, "BEGIN",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	defer conn.Exec(ctx, "DEALLOCATE assign_plan")
	defer conn.Exec(ctx, "ROLLBACK")
	var plan string
	if err := conn.QueryRow(ctx, explain).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	var nodes []map[string]any
	if err := json.Unmarshal([]byte(plan), &nodes); err != nil {
		t.Fatal(err)
	}
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		if n["Node Type"] == "Seq Scan" && n["Relation Name"] == "sessions" {
			t.Errorf("the seat pick scans every workshop's sessions:\n%s", strings.TrimSpace(plan))
		}
		kids, _ := n["Plans"].([]any)
		for _, k := range kids {
			walk(k.(map[string]any))
		}
	}
	for _, n := range nodes {
		walk(n["Plan"].(map[string]any))
	}
}

func newWorkshop(t *testing.T, s store.Store, seats int) *store.Workshop {
	t.Helper()
	ctx := context.Background()
	u := &store.User{Email: authtoken.Random(4) + "@example.com", PasswordHash: "x"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	w := &store.Workshop{OwnerID: u.ID, Name: "w", Seats: seats}
	if err := s.CreateWorkshop(ctx, w); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestJoinWaitsForTheLearnersOtherWrites: a join that finds the learner's
// registration locked (another tab's join taking a seat, or a revoke)
// waits for it, then answers with what that transaction committed: the
// other tab's seat (not a second seat, nor an error), or the revoke (no
// seat).
func TestJoinWaitsForTheLearnersOtherWrites(t *testing.T) {
	t.Parallel()
	s := storetest.NewPostgres(t)
	ctx := context.Background()
	w := newWorkshop(t, s, 3)
	pool := s.(interface{ Pool() *pgxpool.Pool }).Pool()
	now := time.Now()

	// Another tab's join, held open: AssignSeat's statement in a
	// transaction.
	r, _, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: "A", Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	j, err := joinWhileHeld(t, s, pool, r.AccessCode, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, postgres.AssignSQL, r.ID, authtoken.NewID(), now)
		return err
	})
	if err != nil || j == nil || j.Seat.Seat != 1 || j.Seat.RegistrationID != r.ID {
		t.Fatalf("join behind the other tab's join: %+v %v", j, err)
	}
	if seats, err := s.ListSeats(ctx, w.ID); err != nil || len(seats) != 1 {
		t.Fatalf("seats after two tabs joined: %+v %v", seats, err)
	}

	// A revoke of the learner, held open.
	r2, _, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: "B", Email: "b@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	j, err = joinWhileHeld(t, s, pool, r2.AccessCode, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE registrations SET revoked_at = now() WHERE id = $1`, r2.ID)
		return err
	})
	if !errors.Is(err, store.ErrRevoked) || j != nil {
		t.Fatalf("join behind a revoke: %+v %v, want ErrRevoked", j, err)
	}
	if seats, err := s.ListSeats(ctx, w.ID); err != nil || len(seats) != 1 {
		t.Fatalf("seats after a join behind a revoke: %+v %v", seats, err)
	}
}

// joinWhileHeld runs hold in a transaction, starts JoinByCode of code,
// waits until the join waits for that transaction, commits, and returns
// the join's answer.
func joinWhileHeld(t *testing.T, s store.Store, pool *pgxpool.Pool, code string, hold func(pgx.Tx) error) (*store.SeatJoin, error) {
	t.Helper()
	return whileHeld(t, pool, hold, func() (*store.SeatJoin, error) {
		_, _, j, err := s.JoinByCode(context.Background(), code, time.Now())
		return j, err
	})
}

// whileHeld runs hold in a transaction, starts call, waits until call waits
// for a lock of that transaction (failing the test if call ends first),
// commits, and returns call's answer.
func whileHeld[T any](t *testing.T, pool *pgxpool.Pool, hold func(pgx.Tx) error, call func() (T, error)) (T, error) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := hold(tx); err != nil {
		t.Fatal(err)
	}
	var xid string
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&xid); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		v   T
		err error
	}
	done := make(chan answer, 1)
	go func() {
		v, err := call()
		done <- answer{v, err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE NOT granted AND locktype = 'transactionid' AND transactionid::text = $1)`, xid).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case a := <-done:
			t.Fatalf("the call ended while the transaction's lock was held, without waiting for it: %+v %v", a.v, a.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the call is not waiting for the transaction's lock after 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	a := <-done
	return a.v, a.err
}

// TestJoinsCommitAsync: a learner's register and join statements turn
// synchronous commit off for their own transaction (so their row locks are
// not held through a WAL flush, WithDurableJoins), and leave it on with
// WithDurableJoins.
func TestJoinsCommitAsync(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		opts []postgres.Option
		want string
	}{{"default", nil, "off"}, {"durable", []postgres.Option{postgres.WithDurableJoins()}, "on"}} {
		s := storetest.NewPostgres(t, c.opts...)
		ps := s.(*postgres.Store)
		ctx := context.Background()
		w := newWorkshop(t, s, 2)
		pool := ps.Pool()
		now := time.Now()
		r := &store.Registration{Name: "A", Email: "a@example.com", AccessCode: authtoken.Code(authtoken.AccessCodeLen)}
		sql, args := ps.RegisterByCodeStatement(w.Code, r, now, []store.Event{{Message: "a registered"}})
		check := func(what string) {
			t.Helper()
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, sql, args...); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			var got string
			if err := tx.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("%s, %s: synchronous_commit %s after the statement, want %s", c.name, what, got, c.want)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
		check("register")
		sql, args = ps.JoinByCodeStatement(r.AccessCode, now)
		check("join")
	}
}

// TestRegisterWaitsForLockedPlaces: while another transaction holds every
// free place of a workshop locked (a resize does, for a moment), a register
// waits for it and then takes a place; it used to use up its attempts at
// once and fail with "access code: already exists" (storetest
// JoinsWhileResized failed so under load).
func TestRegisterWaitsForLockedPlaces(t *testing.T) {
	t.Parallel()
	s := storetest.NewPostgres(t)
	ctx := context.Background()
	w := newWorkshop(t, s, 2)
	pool := s.(interface{ Pool() *pgxpool.Pool }).Pool()
	r, err := whileHeld(t, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT 1 FROM free_places WHERE workshop_id = $1 FOR UPDATE`, w.ID)
		return err
	}, func() (*store.Registration, error) {
		r, _, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: "A", Email: "a@example.com"})
		return r, err
	})
	if err != nil || r == nil {
		t.Fatalf("register after the locks went: %+v %v", r, err)
	}
}

// A join that finds every free seat locked (by joins that will roll back,
// or a resize) waits for those locks and then takes a seat; it does not use
// up its attempts while they are held and answer "full".
func TestJoinWaitsForLockedSeats(t *testing.T) {
	t.Parallel()
	s := storetest.NewPostgres(t)
	ctx := context.Background()
	w := newWorkshop(t, s, 2)
	r, _, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: "A", Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	pool := s.(interface{ Pool() *pgxpool.Pool }).Pool()
	j, err := joinWhileHeld(t, s, pool, r.AccessCode, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT 1 FROM free_seats WHERE workshop_id = $1 FOR UPDATE`, w.ID)
		return err
	})
	if err != nil || j == nil || j.Seat == nil || j.Seat.Seat != 1 {
		t.Fatalf("join after the locks went: %+v %v", j, err)
	}
}
