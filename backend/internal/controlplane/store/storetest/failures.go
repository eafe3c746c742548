package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// testFailures: failure clocks move by their cost from max(clock, now), stop
// at now + limit, are paid off by time, reset and prune.
func testFailures(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	now := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	if c, err := s.FailureClock(ctx, "addr:192.0.2.1"); err != nil || !c.IsZero() {
		t.Fatalf("clock of an unknown key: %v %v", c, err)
	}
	add := func(key string, at time.Time, cost, limit time.Duration) time.Time {
		t.Helper()
		c, err := s.AddFailure(ctx, key, at, cost, limit)
		must(t, err)
		return c
	}
	const key = "addr:192.0.2.1"
	for i := 1; i <= 3; i++ {
		if c := add(key, now, 8*time.Second, time.Minute); !c.Equal(now.Add(time.Duration(i) * 8 * time.Second)) {
			t.Fatalf("failure %d: clock %v, want now+%ds", i, c.Sub(now), 8*i)
		}
	}
	if c, err := s.FailureClock(ctx, key); err != nil || !c.Equal(now.Add(24*time.Second)) {
		t.Fatalf("clock after 3 failures: %v %v", c.Sub(now), err)
	}
	// The limit caps the clock, however many failures come.
	for i := 0; i < 10; i++ {
		add(key, now, 8*time.Second, time.Minute)
	}
	if c := add(key, now, 8*time.Second, time.Minute); !c.Equal(now.Add(time.Minute)) {
		t.Fatalf("capped clock: now+%v, want now+1m", c.Sub(now))
	}
	// Time pays failures off: a failure long after starts from now.
	later := now.Add(time.Hour)
	if c := add(key, later, 8*time.Second, time.Minute); !c.Equal(later.Add(8 * time.Second)) {
		t.Fatalf("failure an hour later: clock later+%v, want +8s", c.Sub(later))
	}
	// Microseconds survive (sub-second costs are the global budget's).
	if c := add("all", now, 1500*time.Microsecond, time.Minute); !c.Equal(now.Add(1500 * time.Microsecond)) {
		t.Fatalf("sub-millisecond cost: %v", c.Sub(now))
	}
	must(t, s.ResetFailures(ctx, key))
	must(t, s.ResetFailures(ctx, "never-failed"))
	if c, _ := s.FailureClock(ctx, key); !c.IsZero() {
		t.Fatalf("clock after reset: %v", c)
	}

	// Concurrent failures of one key (replicas) each get their own place.
	const n = 24
	var wg sync.WaitGroup
	got := make(chan time.Time, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.AddFailure(ctx, "shared", now, time.Second, time.Hour)
			if err != nil {
				t.Error(err)
				return
			}
			got <- c
		}()
	}
	wg.Wait()
	close(got)
	seen := map[time.Time]bool{}
	for c := range got {
		if seen[c] {
			t.Fatalf("two concurrent failures got the same clock %v", c.Sub(now))
		}
		seen[c] = true
	}
	if c, _ := s.FailureClock(ctx, "shared"); !c.Equal(now.Add(n * time.Second)) {
		t.Fatalf("after %d concurrent failures: now+%v", n, c.Sub(now))
	}

	// Prune deletes the clocks in the past only.
	add("old", now.Add(-time.Hour), time.Second, time.Minute)
	pruned, err := s.PruneFailures(ctx, now)
	must(t, err)
	if pruned != 1 {
		t.Fatalf("pruned %d clocks, want 1 (old)", pruned)
	}
	if c, _ := s.FailureClock(ctx, "shared"); c.IsZero() {
		t.Fatal("prune deleted a clock in the future")
	}
}
