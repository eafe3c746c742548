// Package ratelimit holds the arithmetic of the guessing limits. It counts
// failures, not requests: a whole class behind one NAT address joining in
// the same minute never trips it, and a right answer is never refused.
//
// A Budget is kept as one clock per key (an address, an account, a
// workshop, the whole service), stored where every replica sees it
// (store.Failures): each failure moves the clock to max(clock, now) +
// Every, and time pays it off. The first Free failures in a burst are
// answered at once; each further one is answered when its place comes, one
// per Every; when Queue failures are already waiting for their place, the
// next is refused at once (a 429 for a wrong code, never for a right one).
package ratelimit

import "time"

// Budget is one failure limit.
type Budget struct {
	Free  int           // failures answered at once after a quiet spell
	Every time.Duration // then one failure per Every; time pays one off per Every
	Queue int           // failures that may wait for their place; 0 = none wait
}

// Limit is how far a key's clock may run ahead of now: the clock of a key
// whose next failure is refused.
func (b Budget) Limit() time.Duration { return time.Duration(b.Free+b.Queue+1) * b.Every }

// Wait is how long the failure that moved the clock to clock, at now, waits
// for its place before it is answered.
func (b Budget) Wait(clock, now time.Time) time.Duration {
	return max(0, clock.Sub(now)-time.Duration(b.Free)*b.Every)
}

// Full reports whether the failure that moved the clock to clock at now
// found every place taken, and is refused.
func (b Budget) Full(clock, now time.Time) bool { return clock.Sub(now) >= b.Limit() }

// FullUntil is the last instant at which a further failure is certain to be
// refused, given the clock a refused failure left: until then a replica can
// refuse without writing (the stored clock would only stay at its limit).
func (b Budget) FullUntil(clock time.Time) time.Time { return clock.Add(b.Every - b.Limit()) }

// Failing reports whether the next failure of a key with this clock would
// wait: the key has used up its free failures.
func (b Budget) Failing(clock, now time.Time) bool {
	return clock.Sub(now) > time.Duration(b.Free-1)*b.Every
}

// PerDay is how many failures a key can have in a day at most (the burst,
// then one per Every): the figure docs/ARCHITECTURE.md multiplies out.
func (b Budget) PerDay() int64 {
	return int64(b.Free+b.Queue+1) + int64(24*time.Hour/b.Every)
}
