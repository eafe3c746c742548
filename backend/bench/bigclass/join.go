package main

import (
	"github.com/clarateach/backend/bench/internal/cputime"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"time"
)

var client = &http.Client{Transport: &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096}, Timeout: 60 * time.Second}

func post(url string, body any) (int, map[string]any, time.Duration, error) {
	b, _ := json.Marshal(body)
	t0 := time.Now()
	res, err := client.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, nil, 0, err
	}
	defer res.Body.Close()
	var m map[string]any
	err = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m, time.Since(t0), err
}

// seatToken is a joined learner's seat and workspace token.
type seatToken struct {
	seat  int
	token string
}

// joinStorm has every learner register and join at once, from the load
// process, and prints the latencies and the CPU per learner: the server's
// (this process), the load's and PostgreSQL's.
func (b *bench) joinStorm(ctx context.Context) ([]seatToken, error) {
	goLoad, err := startLoad(b.base, b.code, b.learners)
	if err != nil {
		return nil, err
	}
	pids := b.db.Backends(ctx)
	b.idle.waitForPhase() // -storm-phase: the load is ready, the storm starts now
	stopProfile, err := startCPUProfile()
	if err != nil {
		return nil, err
	}
	cpu0, pg0, hr0, busy0, f0 := cputime.Self(), cputime.Threads(pids), hostReads.Load(), cputime.MachineBusy(), cputime.Faults()
	pgf0 := cputime.ThreadFaults(pids)
	stormStart := time.Now()
	r, err := goLoad()
	cpu, pg, hr, busy, faults := cputime.Self()-cpu0, cputime.Threads(pids)-pg0, hostReads.Load()-hr0, cputime.MachineBusy()-busy0, cputime.Faults()-f0
	pgFaults := cputime.ThreadFaults(pids) - pgf0
	stopProfile()
	if err != nil {
		return nil, err
	}
	if r.FirstErr != "" {
		return nil, fmt.Errorf("%d of %d learners failed; first: %s", b.learners-len(r.Lat), b.learners, r.FirstErr)
	}
	given := map[int]bool{}
	tokens := make([]seatToken, len(r.Seats))
	for i, seat := range r.Seats {
		if given[seat] {
			return nil, fmt.Errorf("seat %d given twice", seat)
		}
		given[seat] = true
		tokens[i] = seatToken{seat, r.Tokens[i]}
	}
	n := float64(b.learners)
	fmt.Printf("  join storm: %d learners register and join at once: %.0f ms in all\n", b.learners, ms(r.Wall))
	fmt.Printf("    register+join p50/p99   %7.1f / %.1f ms   (target p99 <= 500 ms)\n", ms(pct(r.Lat, 50)), ms(pct(r.Lat, 99)))
	fmt.Printf("    CPU per learner         %7.2f ms in the server (this process)\n", ms(cpu)/n)
	fmt.Printf("                            %7.2f ms in the load (the learners' HTTP client, a process of its own on the same CPUs)\n", ms(r.CPU)/n)
	if pids != nil {
		fmt.Printf("                            %7.2f ms in PostgreSQL (its backends for this database, /proc/PID/schedstat)\n", ms(pg)/n)
	}
	fmt.Printf("    page faults per learner %7.1f in the server, %.1f in the load (minor, getrusage), %.1f in PostgreSQL's backends (/proc/PID/stat)\n",
		float64(faults)/n, float64(r.Faults)/n, float64(pgFaults)/n)
	fmt.Printf("    the machine's CPUs      %7.2f ms busy per learner, all processes (%.1f of %d CPUs over the storm)\n",
		ms(busy)/n, busy.Seconds()/r.Wall.Seconds(), runtime.NumCPU())
	fmt.Printf("    host records read       %7d times (the server's host cache)\n", hr)
	b.idle.phase(stormStart)
	return tokens, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration{}, d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}
