package ratelimit

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"
)

// ErrBusy is returned by Tarpit.Enter when a key already has MaxWaiters
// attempts waiting for their turn.
var ErrBusy = errors.New("too many attempts waiting")

// Tarpit slows a failing key down instead of refusing it. Once a key has
// used up Free failures, its attempts go one at a time, and each starts no
// earlier than Delay(failures) after the previous one ended: Base, doubling
// with every further failure, capped at Max. Failures are forgotten at one
// per Forgive, and a success forgets them all. A key that keeps failing thus
// gets at most one attempt per Max, however many requests it sends at once,
// while the right answer is never refused, only delayed.
type Tarpit struct {
	Free       int
	Base, Max  time.Duration
	Forgive    time.Duration
	MaxWaiters int // per key; 0 = unlimited
	MaxKeys    int // idle keys are dropped beyond this; 0 = 100,000
	Now        func() time.Time
	// Sleep waits d or until ctx ends; nil = a real timer.
	Sleep func(ctx context.Context, d time.Duration) error

	mu   sync.Mutex
	pits map[string]*pit
}

type pit struct {
	turn    chan struct{} // a lock that can be given up when ctx ends
	waiters int           // attempts in Enter or holding the turn
	fails   float64
	last    time.Time // when fails was last brought up to date
	next    time.Time // earliest start of the next attempt
}

// Turn is one attempt holding its key's turn; Done gives it back.
type Turn struct {
	t   *Tarpit
	key string
	p   *pit
}

func (t *Tarpit) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Tarpit) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	if t.Sleep != nil {
		return t.Sleep(ctx, d)
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// decay forgets the failures that Forgive has paid off since p.last.
func (t *Tarpit) decay(p *pit, now time.Time) {
	if t.Forgive > 0 && now.After(p.last) {
		p.fails -= float64(now.Sub(p.last)) / float64(t.Forgive)
		if p.fails < 0 {
			p.fails = 0
		}
	}
	p.last = now
}

// Delay is the pause before the next attempt of a key with n failures.
func (t *Tarpit) Delay(n int) time.Duration {
	if n <= t.Free {
		return 0
	}
	d := t.Base
	for i := t.Free + 1; i < n && d < t.Max; i++ {
		d *= 2
	}
	return min(d, t.Max)
}

// Failing reports whether key has used up its free failures, so that its
// attempts are serialised and delayed.
func (t *Tarpit) Failing(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pits[key]
	if p == nil {
		return false
	}
	t.decay(p, t.now())
	return int(math.Ceil(p.fails)) >= t.Free
}

// pit returns key's state, creating it, and counts a waiter.
func (t *Tarpit) enterPit(key string) (*pit, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pits == nil {
		t.pits = map[string]*pit{}
	}
	p := t.pits[key]
	if p == nil {
		t.evict()
		p = &pit{turn: make(chan struct{}, 1), last: t.now()}
		t.pits[key] = p
	}
	if t.MaxWaiters > 0 && p.waiters >= t.MaxWaiters {
		return nil, ErrBusy
	}
	p.waiters++
	return p, nil
}

func (t *Tarpit) leavePit(key string, p *pit) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p.waiters--
}

// evict drops idle keys with nothing left to remember; if that is not
// enough, every idle key (memory is bounded before state is kept).
func (t *Tarpit) evict() {
	limit := t.MaxKeys
	if limit <= 0 {
		limit = 100_000
	}
	if len(t.pits) < limit {
		return
	}
	now := t.now()
	for k, p := range t.pits {
		if p.waiters == 0 {
			t.decay(p, now)
			if p.fails < 1 && !now.Before(p.next) {
				delete(t.pits, k)
			}
		}
	}
	if len(t.pits) >= limit {
		for k, p := range t.pits {
			if p.waiters == 0 {
				delete(t.pits, k)
			}
		}
	}
}

// Enter waits for key's turn: until no other attempt of key is running and
// the delay earned by its failures has passed. It fails only when ctx ends
// or MaxWaiters attempts of key are already waiting (ErrBusy).
func (t *Tarpit) Enter(ctx context.Context, key string) (*Turn, error) {
	p, err := t.enterPit(key)
	if err != nil {
		return nil, err
	}
	select {
	case p.turn <- struct{}{}:
	case <-ctx.Done():
		t.leavePit(key, p)
		return nil, ctx.Err()
	}
	t.mu.Lock()
	wait := p.next.Sub(t.now())
	t.mu.Unlock()
	if err := t.sleep(ctx, wait); err != nil {
		<-p.turn
		t.leavePit(key, p)
		return nil, err
	}
	return &Turn{t: t, key: key, p: p}, nil
}

// Done ends the attempt: a failure counts against the key and sets the
// earliest start of its next attempt. A success changes nothing (one right
// answer behind a shared address must not wipe a guesser's record); Reset
// clears a key.
func (u *Turn) Done(failed bool) {
	t, p := u.t, u.p
	t.mu.Lock()
	now := t.now()
	t.record(p, now, failed)
	p.waiters--
	t.mu.Unlock()
	<-p.turn
}

// Record counts a failure of key (failed=true) without taking a turn.
func (t *Tarpit) Record(key string, failed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pits == nil {
		t.pits = map[string]*pit{}
	}
	p := t.pits[key]
	if p == nil {
		if !failed {
			return
		}
		t.evict()
		p = &pit{turn: make(chan struct{}, 1), last: t.now()}
		t.pits[key] = p
	}
	t.record(p, t.now(), failed)
}

func (t *Tarpit) record(p *pit, now time.Time, failed bool) {
	t.decay(p, now)
	if !failed {
		return
	}
	p.fails++
	p.next = now.Add(t.Delay(int(math.Ceil(p.fails))))
}

// Reset forgets key's failures (an account owner who signed in from this
// address).
func (t *Tarpit) Reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.pits[key]; p != nil {
		p.fails, p.next = 0, time.Time{}
	}
}
