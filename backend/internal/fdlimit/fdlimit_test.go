package fdlimit

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

func TestRaiseLiftsTheSoftLimitToTheHardLimit(t *testing.T) {
	var lim, low = rlimit(t), rlimit(t)
	if lim.Max < 128 {
		t.Skipf("hard limit %d is too low to test", lim.Max)
	}
	low.Cur = 100
	setRlimit(t, low)
	t.Cleanup(func() { setRlimit(t, lim) })
	got, err := Raise()
	if err != nil {
		t.Fatal(err)
	}
	if now := rlimit(t); got != lim.Max || now.Cur != lim.Max {
		t.Fatalf("after Raise: soft %d (returned %d), want the hard limit %d", now.Cur, got, lim.Max)
	}
}

func TestOpenCountsDescriptors(t *testing.T) {
	before, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	var files []*os.File
	for i := 0; i < 50; i++ {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	after, _ := Open()
	for _, f := range files {
		f.Close()
	}
	if after-before < 50 {
		t.Fatalf("opened 50 files: count went from %d to %d", before, after)
	}
}

func TestShedAnswers503NearTheLimit(t *testing.T) {
	t.Parallel()
	open := 100
	g := &Guard{Every: 1, Limit: func() uint64 { return 1000 }, Open: func() (int, error) { return open, nil }}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := g.Shed(ok, "/health")
	get := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code
	}
	if c := get("/api/x"); c != http.StatusNoContent {
		t.Fatalf("at 100/1000: %d", c)
	}
	open = 899
	if c := get("/api/x"); c != http.StatusNoContent {
		t.Fatalf("at 899/1000 (101 free): %d", c)
	}
	open = 900
	if c := get("/api/x"); c != http.StatusServiceUnavailable {
		t.Fatalf("at 900/1000 (10%% headroom reached): %d, want 503", c)
	}
	if c := get("/health"); c != http.StatusNoContent {
		t.Fatalf("health must never be shed: %d", c)
	}
}

// Counting is rate-limited: a flood of requests does not read
// /proc/self/fd once per request.
func TestGuardCountsAtMostEveryInterval(t *testing.T) {
	t.Parallel()
	counts := 0
	g := &Guard{Every: time.Hour, Limit: func() uint64 { return 1000 }, Open: func() (int, error) { counts++; return 950, nil }}
	for i := 0; i < 100; i++ {
		if !g.Full() {
			t.Fatal("950 of 1000 open: should be full")
		}
	}
	if counts != 1 {
		t.Fatalf("counted %d times in 100 calls within the interval", counts)
	}
}
