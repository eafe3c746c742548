package ratelimit

import (
	"testing"
	"time"
)

func TestLimiterCountsFailuresOnly(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	l := New(3, 10*time.Second)
	l.Now = func() time.Time { return now }
	for i := 0; i < 100; i++ { // successes never consume
		if ok, _ := l.Allowed("ip"); !ok {
			t.Fatal("refused before any failure")
		}
	}
	for i := 0; i < 3; i++ {
		l.Fail("ip")
	}
	ok, wait := l.Allowed("ip")
	if ok || wait != 10*time.Second {
		t.Fatalf("after burst: ok=%v wait=%v", ok, wait)
	}
	if ok, _ := l.Allowed("other"); !ok {
		t.Fatal("keys must be independent")
	}
	now = now.Add(10 * time.Second)
	if ok, _ := l.Allowed("ip"); !ok {
		t.Fatal("token should have refilled")
	}
	l.Fail("ip")
	if ok, _ := l.Allowed("ip"); ok {
		t.Fatal("refill must not exceed one token after 10s")
	}
}

func TestLimiterBoundedKeys(t *testing.T) {
	t.Parallel()
	l := New(1, time.Hour)
	l.MaxKeys = 10
	for i := 0; i < 1000; i++ {
		l.Fail(string(rune('a'+i%26)) + string(rune(i)))
	}
	if len(l.buckets) > 10 {
		t.Fatalf("buckets grew to %d", len(l.buckets))
	}
}
