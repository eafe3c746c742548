package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeTime is a clock whose Sleep advances it at once.
type fakeTime struct {
	mu    sync.Mutex
	now   time.Time
	slept time.Duration
}

func (f *fakeTime) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTime) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	f.slept += d
	return ctx.Err()
}

func newPit(f *fakeTime) *Tarpit {
	return &Tarpit{Free: 3, Base: time.Second, Max: 8 * time.Second, Forgive: time.Hour, Now: f.Now, Sleep: f.Sleep}
}

func TestTarpitDelayGrowsAndIsCapped(t *testing.T) {
	t.Parallel()
	tp := &Tarpit{Free: 3, Base: time.Second, Max: 8 * time.Second}
	want := map[int]time.Duration{0: 0, 3: 0, 4: time.Second, 5: 2 * time.Second, 6: 4 * time.Second, 7: 8 * time.Second, 50: 8 * time.Second}
	for n, d := range want {
		if got := tp.Delay(n); got != d {
			t.Errorf("Delay(%d) = %v, want %v", n, got, d)
		}
	}
}

func TestTarpitSlowsAFailingKeyOnly(t *testing.T) {
	t.Parallel()
	f := &fakeTime{now: time.Unix(1000, 0)}
	tp := newPit(f)
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		turn, err := tp.Enter(ctx, "bad")
		if err != nil {
			t.Fatal(err)
		}
		turn.Done(true)
	}
	// Attempt n waits the delay earned by n-1 failures: none for the first
	// four, then 1, 2, 4 s and 8 s for each of the last 13.
	if want := 7*time.Second + 13*8*time.Second; f.slept != want {
		t.Fatalf("20 failures slept %v, want %v", f.slept, want)
	}
	if !tp.Failing("bad") || tp.Failing("good") {
		t.Fatal("Failing must name only the failing key")
	}
	before := f.slept
	turn, err := tp.Enter(ctx, "good")
	if err != nil {
		t.Fatal(err)
	}
	turn.Done(false)
	if f.slept != before {
		t.Fatal("another key was delayed by the failing one")
	}
	// A success neither clears nor adds; Reset clears.
	tp.Reset("bad")
	if tp.Failing("bad") {
		t.Fatal("Reset did not clear the key")
	}
}

func TestTarpitForgivesOverTime(t *testing.T) {
	t.Parallel()
	f := &fakeTime{now: time.Unix(1000, 0)}
	tp := newPit(f)
	for i := 0; i < 5; i++ {
		tp.Record("k", true)
	}
	if !tp.Failing("k") {
		t.Fatal("5 failures with 3 free: should be failing")
	}
	f.Sleep(context.Background(), 3*time.Hour)
	if tp.Failing("k") {
		t.Fatal("failures not forgiven after 3 hours at one per hour")
	}
}

// Concurrent attempts of one key run one at a time, so sending many at
// once does not multiply the guessing rate.
func TestTarpitSerialisesAKey(t *testing.T) {
	t.Parallel()
	tp := &Tarpit{Free: 0, Base: time.Millisecond, Max: time.Millisecond}
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			turn, err := tp.Enter(context.Background(), "k")
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(time.Millisecond) // hold the turn so overlaps would show
			inside.Add(-1)
			turn.Done(true)
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Fatalf("%d attempts of one key ran at once", most.Load())
	}
}

func TestTarpitBoundsWaiters(t *testing.T) {
	t.Parallel()
	tp := &Tarpit{MaxWaiters: 2}
	ctx := context.Background()
	a, err := tp.Enter(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() {
		turn, err := tp.Enter(ctx, "k")
		if err == nil {
			turn.Done(false)
		}
		waiting <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		tp.mu.Lock()
		n := tp.pits["k"].waiters
		tp.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("second attempt never queued")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := tp.Enter(ctx, "k"); !errors.Is(err, ErrBusy) {
		t.Fatalf("third attempt: %v, want ErrBusy", err)
	}
	if _, err := tp.Enter(ctx, "other"); err != nil {
		t.Fatalf("another key: %v", err)
	}
	a.Done(false)
	if err := <-waiting; err != nil {
		t.Fatal(err)
	}
	// A cancelled wait gives its place back.
	b, _ := tp.Enter(ctx, "k")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tp.Enter(cctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	b.Done(false)
	if tp.pits["k"].waiters != 0 {
		t.Fatalf("waiters leaked: %d", tp.pits["k"].waiters)
	}
}

func TestTarpitBoundedKeys(t *testing.T) {
	t.Parallel()
	tp := &Tarpit{MaxKeys: 10, Forgive: time.Hour}
	for i := 0; i < 1000; i++ {
		tp.Record(string(rune('a'+i%26))+string(rune(i)), true)
	}
	if len(tp.pits) > 10 {
		t.Fatalf("keys grew to %d", len(tp.pits))
	}
}
