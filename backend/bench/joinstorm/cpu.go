package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat (100
// on every Linux architecture Go supports).
const clockTick = 100

// cpuTime is the CPU time a PostgreSQL backend (one thread) has used so
// far: the nanoseconds on CPU from /proc/PID/schedstat, else utime + stime
// from /proc/PID/stat (10 ms ticks: ten backends could be 0.1 s off over a
// storm, 0.17 ms per request); 0 when neither can be read (it is gone).
// /proc/PID/schedstat is the thread PID's alone, so this process's own CPU
// is selfCPU.
func cpuTime(pid int) time.Duration {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid)); err == nil {
		if d, ok := parseSchedstat(string(b)); ok {
			return d
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	return parseStatCPU(string(b))
}

// parseSchedstat reads the first field of /proc/PID/schedstat: nanoseconds
// spent on a CPU.
func parseSchedstat(s string) (time.Duration, bool) {
	f := strings.Fields(s)
	if len(f) < 1 {
		return 0, false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(n), err == nil
}

// selfCPU is the user + system CPU time of this process, all its threads
// (getrusage, microseconds).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/PID/stat line. The command name (field 2) may hold spaces and
// parentheses, so fields are counted after its closing parenthesis.
func parseStatCPU(stat string) time.Duration {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * time.Second / clockTick
}

func cpuTimes(pids []int) map[int]time.Duration {
	m := make(map[int]time.Duration, len(pids))
	for _, p := range pids {
		m[p] = cpuTime(p)
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
	self0, pg0 := selfCPU(), pgCPU()
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
	self, pg := selfCPU()-self0, pgCPU()-pg0
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
		d += cpuTime(p)
	}
	return d
}
