package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store/postgres"
	"github.com/clarateach/backend/internal/controlplane/store/storetest"
)

// keptPlansSQL has columns of the kinds the hot statements scan: text,
// int, bigint, timestamptz, and nullable ones scanned through pointers.
const keptPlansSQL = `SELECT 'a'::text, 7::int, '2026-12-06 05:00:00+00'::timestamptz,
	NULL::text, 'b'::text, NULL::timestamptz, '2026-12-06 06:00:00+00'::timestamptz, NULL::bigint, 9::bigint,
	NULL::timestamptz, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz`

type keptPlansRow struct {
	s       string
	n       int
	t       time.Time
	ns, ns2 *string
	nt, nt2 *time.Time
	nb, nb2 *int64
	more    [5]*time.Time
}

func (r *keptPlansRow) dest() []any {
	d := []any{&r.s, &r.n, &r.t, &r.ns, &r.ns2, &r.nt, &r.nt2, &r.nb, &r.nb2}
	for i := range r.more {
		d = append(d, &r.more[i])
	}
	return d
}

func (r *keptPlansRow) check(t *testing.T, what string) {
	t.Helper()
	t5, t6 := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC), time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	ok := r.s == "a" && r.n == 7 && r.t.Equal(t5) && r.ns == nil && r.ns2 != nil && *r.ns2 == "b" && r.nt == nil &&
		r.nt2 != nil && r.nt2.Equal(t6) && r.nb == nil && r.nb2 != nil && *r.nb2 == 9
	for _, m := range r.more {
		ok = ok && m == nil
	}
	if !ok {
		t.Errorf("%s: scanned %+v", what, *r)
	}
}

// TestKeptScanPlans: a row scanned with the kept plans (the hot
// statements' keptRow) gets what pgx's own Scan gives, the first time and
// again with the plans kept, after a destination's type changed, and with
// a nil destination skipped; and from the second scan on it allocates less
// than pgx's Scan, which plans every column again (a wrapper plan for each
// nullable one). Not parallel: AllocsPerRun counts the whole process.
func TestKeptScanPlans(t *testing.T) {
	pool := storetest.NewPostgres(t).(*postgres.Store).Pool()
	ctx := context.Background()
	var plans postgres.KeptPlans
	var own, kept keptPlansRow
	if err := pool.QueryRow(ctx, keptPlansSQL).Scan(own.dest()...); err != nil {
		t.Fatal(err)
	}
	own.check(t, "pgx's Scan")
	for i := range 2 {
		kept = keptPlansRow{}
		if err := postgres.ScanKept(pool.QueryRow(ctx, keptPlansSQL), &plans, kept.dest()...); err != nil {
			t.Fatal(err)
		}
		kept.check(t, "kept plans, scan "+string(rune('1'+i)))
	}
	// The int column into an int64 now, the first one skipped.
	var n64 int64
	d := kept.dest()
	d[0], d[1] = nil, &n64
	kept.s = "unchanged"
	if err := postgres.ScanKept(pool.QueryRow(ctx, keptPlansSQL), &plans, d...); err != nil {
		t.Fatal(err)
	}
	if n64 != 7 || kept.s != "unchanged" {
		t.Errorf("after a destination's type changed: %d %q", n64, kept.s)
	}

	conn, err := pool.Acquire(ctx) // one connection: the kept plans are per connection
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var r keptPlansRow
	ownAllocs := testing.AllocsPerRun(20, func() {
		if err := conn.QueryRow(ctx, keptPlansSQL).Scan(r.dest()...); err != nil {
			t.Fatal(err)
		}
	})
	keptAllocs := testing.AllocsPerRun(20, func() {
		if err := postgres.ScanKept(conn.QueryRow(ctx, keptPlansSQL), &plans, r.dest()...); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("allocations per row: pgx's Scan %.0f, kept plans %.0f", ownAllocs, keptAllocs)
	if keptAllocs+8 > ownAllocs {
		t.Errorf("kept plans: %.0f allocations per row, pgx's Scan %.0f: want at least 8 fewer", keptAllocs, ownAllocs)
	}
}
