// Package ratelimit limits guessing. It counts failures, not requests: a
// whole class behind one NAT address joining in the same minute never trips
// it, while a client guessing codes or passwords is stopped after a few
// misses.
package ratelimit

import (
	"math"
	"sync"
	"time"
)

// Limiter is a set of token buckets keyed by string (client address, email).
// Each failure takes one token; tokens refill at Rate per second up to Burst.
// A key with no token left is refused until one refills.
type Limiter struct {
	Rate  float64 // tokens per second
	Burst int
	Now   func() time.Time
	// MaxKeys bounds memory; when full, buckets that have refilled are
	// dropped, and failing that the whole table is reset.
	MaxKeys int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter allowing burst failures, refilled at one per every.
func New(burst int, every time.Duration) *Limiter {
	return &Limiter{Rate: 1 / every.Seconds(), Burst: burst, MaxKeys: 100_000}
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Limiter) level(b *bucket, now time.Time) float64 {
	return math.Min(float64(l.Burst), b.tokens+now.Sub(b.last).Seconds()*l.Rate)
}

// Allowed reports whether key may make another attempt, and if not, how
// long until it may.
func (l *Limiter) Allowed(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return true, 0
	}
	lv := l.level(b, l.now())
	if lv >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - lv) / l.Rate * float64(time.Second))
}

// Fail records a failed attempt by key.
func (l *Limiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	b, ok := l.buckets[key]
	if !ok {
		if l.MaxKeys > 0 && len(l.buckets) >= l.MaxKeys {
			l.evict(now)
		}
		b = &bucket{tokens: float64(l.Burst), last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Max(0, l.level(b, now)-1)
	b.last = now
}

// evict drops refilled buckets; if none, it resets the table.
func (l *Limiter) evict(now time.Time) {
	for k, b := range l.buckets {
		if l.level(b, now) >= float64(l.Burst) {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= l.MaxKeys {
		l.buckets = map[string]*bucket{}
	}
}
