package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/clarateach/backend/bench/internal/benchdb"
)

// sampleWaits is -waits: it samples what the run's PostgreSQL backends are
// doing (pg_stat_activity: running, waiting for a lock, for the client, for
// the WAL ...) every millisecond, from the admin connection, until the
// returned function is called; that stops it and summarises the counts. The
// sampling costs CPU of its own (on another database's backend), so it is
// off by default.
func sampleWaits(ctx context.Context, d *benchdb.DB) func() string {
	counts := map[string]int{}
	samples := 0
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			rows, err := d.Admin.Query(ctx, `SELECT coalesce(wait_event_type, 'CPU'), coalesce(wait_event, 'running'), state
				FROM pg_stat_activity WHERE datname = $1`, d.Name)
			if err != nil {
				return
			}
			for rows.Next() {
				var typ, ev, state string
				if rows.Scan(&typ, &ev, &state) == nil {
					counts[state+" "+typ+":"+ev]++
				}
			}
			rows.Close()
			samples++
			time.Sleep(time.Millisecond)
		}
	}()
	return func() string {
		close(stop)
		<-done
		type kv struct {
			k string
			n int
		}
		var list []kv
		for k, n := range counts {
			list = append(list, kv{k, n})
		}
		sort.Slice(list, func(i, j int) bool { return list[i].n > list[j].n })
		var parts []string
		for _, e := range list {
			parts = append(parts, fmt.Sprintf("%s %.1f", e.k, float64(e.n)/float64(max(samples, 1))))
		}
		return fmt.Sprintf("  PostgreSQL backends by state, mean over %d samples: %s\n", samples, strings.Join(parts, ", "))
	}
}
