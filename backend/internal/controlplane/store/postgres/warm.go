package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// WithWarmPool is for a long-running server: Open opens the pool's
// connections before it returns (pool_min_conns, when the URL does not set
// it, becomes pool_max_conns, so the pool keeps them) and makes every new
// connection register and seat warmRuns learners, in a transaction it rolls
// back, before the pool hands the connection out.
//
// A PostgreSQL backend's first register and join cost about 20 times a
// later one (about 18 ms of CPU on the machine of bench/joinstorm's README,
// plus 17 ms to start the backend): it loads the catalog entries of every
// table, index, type and function the statements touch, plans them, and
// plans the foreign-key checks of the inserts, all cached per backend; pgx
// adds a round trip to prepare each statement on first use. Without this,
// the first class to arrive paid all of it at once, ten backends at a time,
// and that doubled PostgreSQL's CPU per request in a join storm.
//
// Nothing the warm-up writes is ever committed. A command that runs a few
// statements and exits (migrate, ops) does not want this.
func WithWarmPool() Option { return func(s *Store) { s.warm = true } }

// warmConfig applies WithWarmPool to the pool's configuration.
func (s *Store) warmConfig(cfg *pgxpool.Config, dsn string) {
	if !s.warm {
		return
	}
	if !strings.Contains(dsn, "pool_min_conns") {
		cfg.MinConns = cfg.MaxConns
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		if err := s.warmConn(ctx, c); err != nil {
			// A connection that could not be warmed still works: its
			// first requests pay what the warm-up would have.
			slog.Warn("postgres: warming a new connection", "err", err)
		}
		return nil
	}
}

// fill opens the pool's minimum connections now (each warmed by
// AfterConnect) instead of in the background after Open returns.
func fill(ctx context.Context, pool *pgxpool.Pool) error {
	n := int(pool.Config().MinConns)
	conns := make([]*pgxpool.Conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns[i], errs[i] = pool.Acquire(ctx)
		}()
	}
	wg.Wait()
	var first error
	for i, c := range conns {
		if c != nil {
			c.Release()
		} else if first == nil {
			first = errs[i]
		}
	}
	return first
}

// warmRuns is how many learners the warm-up registers and seats on each
// connection. PostgreSQL plans a prepared statement afresh at each of its
// first five executions on a backend (a custom plan for the parameters) and
// only then settles on a generic plan, planned once and kept; the
// foreign-key checks of the inserts are prepared statements too. One run
// left four more plannings of every statement of a register and a join to
// each connection's first learners: planning was about a fifth of
// PostgreSQL's CPU in a join storm on a fresh server (bench/joinstorm's
// README). Six runs get every one of them to its generic plan.
const warmRuns = 6

// warmConn registers warmRuns learners on a new connection and seats them,
// with the same statements as the requests (same SQL text, so pgx's
// statement cache and the server's prepared statements are the ones the
// requests will use), on a user and workshop of its own, and rolls it all
// back.
func (s *Store) warmConn(ctx context.Context, c *pgx.Conn) error {
	tx, err := c.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	t := now()
	u := &store.User{Email: "warm-up-" + authtoken.NewID() + "@localhost.invalid", Name: "connection warm-up", Role: store.RoleInstructor}
	store.PrepareUser(u, t)
	if err := insertUser(ctx, tx, u); err != nil {
		return err
	}
	w := &store.Workshop{OwnerID: u.ID, Name: "connection warm-up", Seats: warmRuns, Status: store.StatusRunning, DesiredState: store.DesiredRunning}
	store.PrepareWorkshop(w, t)
	if err := insertWorkshop(ctx, tx, w); err != nil {
		return err
	}
	for i := range warmRuns {
		if err := s.warmLearner(ctx, tx, w, fmt.Sprintf("warm-up-%d@localhost.invalid", i), t); err != nil {
			return err
		}
	}
	return tx.Rollback(ctx)
}

// warmLearner is one learner of warmConn: the statements of a register
// (RegisterByCode's) and of a join (JoinByCode's), in tx.
func (s *Store) warmLearner(ctx context.Context, tx pgx.Tx, w *store.Workshop, email string, t time.Time) error {
	r := &store.Registration{WorkshopID: w.ID, Name: "warm-up", Email: email, AccessCode: authtoken.Code(authtoken.AccessCodeLen)}
	store.PrepareRegistration(r, t)
	e := store.Event{WorkshopID: w.ID, Message: "warm-up"}
	store.PrepareEvent(&e, t)
	sql, args := s.registerByCodeStatement(w.Code, r, t, []store.Event{e})
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	sql, args = s.joinByCodeStatement(r.AccessCode, t)
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	return nil
}
