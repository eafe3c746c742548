package ratelimit

import (
	"testing"
	"time"
)

// clock replays AddFailure's rule (store.Failures) in memory.
func step(b Budget, clock, now time.Time) time.Time {
	c := clock
	if c.Before(now) {
		c = now
	}
	c = c.Add(b.Every)
	if lim := now.Add(b.Limit()); c.After(lim) {
		c = lim
	}
	return c
}

func TestBudgetFreeThenOnePerEveryThenFull(t *testing.T) {
	b := Budget{Free: 10, Every: 8 * time.Second, Queue: 8}
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	var clock time.Time
	for i := 1; i <= 10; i++ {
		clock = step(b, clock, now)
		if w := b.Wait(clock, now); w != 0 || b.Full(clock, now) {
			t.Fatalf("free failure %d waits %v (full %v)", i, w, b.Full(clock, now))
		}
	}
	if !b.Failing(clock, now) {
		t.Fatal("after 10 failures the key is not failing")
	}
	for i := 1; i <= 8; i++ {
		clock = step(b, clock, now)
		if w := b.Wait(clock, now); w != time.Duration(i)*8*time.Second || b.Full(clock, now) {
			t.Fatalf("queued failure %d waits %v (full %v)", i, w, b.Full(clock, now))
		}
	}
	clock = step(b, clock, now)
	if !b.Full(clock, now) {
		t.Fatal("the failure after 8 waiting ones was not refused")
	}
	// Refused failures keep it full, until FullUntil.
	until := b.FullUntil(clock)
	if c := step(b, clock, until); !b.Full(c, until) {
		t.Fatal("a failure at FullUntil was not refused")
	}
	after := until.Add(time.Microsecond)
	if c := step(b, clock, after); b.Full(c, after) {
		t.Fatal("a failure after FullUntil was refused")
	}
	// Time pays failures off: 80 s + 8 queued places later, nothing is left.
	later := clock.Add(time.Second)
	if b.Failing(clock, later) {
		t.Fatal("a key whose clock has passed is still failing")
	}
}

func TestBudgetFailingCountsRecentFailures(t *testing.T) {
	b := Budget{Free: 3, Every: 20 * time.Minute}
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	var clock time.Time
	for i := 1; i <= 3; i++ {
		if b.Failing(clock, now) {
			t.Fatalf("failing after %d failures", i-1)
		}
		clock = step(b, clock, now)
	}
	if !b.Failing(clock, now) {
		t.Fatal("not failing after 3 failures")
	}
	if b.Failing(clock, now.Add(21*time.Minute)) {
		t.Fatal("still failing after one failure was paid off")
	}
}

func TestBudgetPerDay(t *testing.T) {
	if got := (Budget{Free: 10, Every: 8 * time.Second, Queue: 8}).PerDay(); got != 19+10800 {
		t.Fatalf("per day: %d", got)
	}
}
