package main

import (
	"github.com/clarateach/backend/bench/internal/cputime"

	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clarateach/backend/internal/controlplane/store"
)

func cpuTimes(pids []int) map[int]time.Duration {
	m := make(map[int]time.Duration, len(pids))
	for _, p := range pids {
		m[p] = cputime.Thread(p)
	}
	return m
}

// cpuDelta is the CPU the processes in after used since before; a process
// that was not there before counts from zero (its start-up included).
func cpuDelta(before, after map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, t := range after {
		d += t - before[pid]
	}
	return d
}

// poolOf is the store's PostgreSQL pool, nil for other engines.
func poolOf(st store.Store) *pgxpool.Pool {
	if p, ok := st.(interface{ Pool() *pgxpool.Pool }); ok {
		return p.Pool()
	}
	return nil
}

// baseline runs a bare INSERT … RETURNING per request through the same pool,
// from as many goroutines as the storm had learners, in the same run: what
// PostgreSQL and pgx cost here with no HTTP, JSON or application logic.
func baseline(ctx context.Context, pool *pgxpool.Pool, n, workers int, storm time.Duration, pgCPU func() time.Duration) error {
	if _, err := pool.Exec(ctx, "CREATE TABLE bench_baseline (id bigserial PRIMARY KEY, v text NOT NULL)"); err != nil {
		return err
	}
	var next sync.Mutex
	left := n
	take := func() bool {
		next.Lock()
		defer next.Unlock()
		left--
		return left >= 0
	}
	var firstErr error
	var errMu sync.Mutex
	var wg sync.WaitGroup
	self0, pg0 := cputime.Self(), pgCPU()
	t0 := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for take() {
				var id int64
				if err := pool.QueryRow(ctx, "INSERT INTO bench_baseline (v) VALUES ($1) RETURNING id", "x").Scan(&id); err != nil {
					errMu.Lock()
					firstErr = err
					errMu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	self, pg := cputime.Self()-self0, pgCPU()-pg0
	if firstErr != nil {
		return firstErr
	}
	fmt.Printf("  baseline, same run: %d bare INSERT … RETURNING through the same pool from %d goroutines: %.0f/s, %.2f ms/op wall\n",
		n, workers, float64(n)/d.Seconds(), ms(d)/float64(n))
	fmt.Printf("    CPU per op: %.2f ms in this process, %.2f ms in PostgreSQL\n", ms(self)/float64(n), ms(pg)/float64(n))
	fmt.Printf("  storm/baseline wall time per request: %.1fx\n", float64(storm)/float64(d))
	return nil
}

func sumCPU(pids []int) time.Duration {
	var d time.Duration
	for _, p := range pids {
		d += cputime.Thread(p)
	}
	return d
}
