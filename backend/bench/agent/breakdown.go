package main

import (
	"github.com/clarateach/backend/bench/internal/cputime"

	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/host/procinfo"
)

// steps collects the per-step timings that the agent and the sandbox
// runtime log at debug level ("seat created", "warm seat claimed", "first
// shell") while a burst runs, so that the bench can say where a seat's
// time goes. It wraps the bench's own logger.
type steps struct {
	next slog.Handler
	mu   sync.Mutex
	on   bool
	got  map[string][]time.Duration // "message: attribute" -> values
}

func newSteps(next slog.Handler) *steps {
	return &steps{next: next, got: map[string][]time.Duration{}}
}

// stepMessages are the log records whose duration attributes are steps.
var stepMessages = map[string]bool{"seat created": true, "warm seat claimed": true, "first shell": true}

func (s *steps) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelDebug
}

func (s *steps) Handle(ctx context.Context, r slog.Record) error {
	if stepMessages[r.Message] {
		s.mu.Lock()
		if s.on {
			r.Attrs(func(a slog.Attr) bool {
				if a.Value.Kind() == slog.KindDuration {
					k := r.Message + ": " + a.Key
					s.got[k] = append(s.got[k], a.Value.Duration())
				}
				return true
			})
		}
		s.mu.Unlock()
	}
	if s.next.Enabled(ctx, r.Level) {
		return s.next.Handle(ctx, r)
	}
	return nil
}

func (s *steps) WithAttrs(as []slog.Attr) slog.Handler { return &withAttrs{s, as} }
func (s *steps) WithGroup(string) slog.Handler         { return s }

// withAttrs keeps the collector's identity through logger.With (the
// runtime adds runtime=sandbox).
type withAttrs struct {
	*steps
	as []slog.Attr
}

func (w *withAttrs) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(w.as...)
	return w.steps.Handle(ctx, r)
}
func (w *withAttrs) WithAttrs(as []slog.Attr) slog.Handler {
	return &withAttrs{w.steps, append(slices.Clip(w.as), as...)}
}

// start clears and starts collecting; stop stops.
func (s *steps) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = map[string][]time.Duration{}
	s.on = true
}

func (s *steps) stop() map[string][]time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.on = false
	return s.got
}

// printSteps prints p50 and p90 of each collected step, in a fixed order.
// The sandbox runtime's steps are cumulative from the moment a start got
// its turn ("queued" is the wait for that turn).
func printSteps(what string, got map[string][]time.Duration) {
	if len(got) == 0 {
		return
	}
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	order := []string{"seat created: queued", "seat created: cgroups", "seat created: dirs", "seat created: disk",
		"seat created: started", "seat created: joined", "seat created: network", "seat created: init-done", "seat created: ready",
		"warm seat claimed: checked", "warm seat claimed: limits", "warm seat claimed: renamed", "warm seat claimed: named",
		"warm seat claimed: shell-ended", "warm seat claimed: took", "seat created: runtime_create", "seat created: state_file", "first shell: queued",
		"first shell: took", "seat created: first_shell", "seat created: took"}
	rank := func(k string) int {
		if i := slices.Index(order, k); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(keys, func(a, b string) int { return rank(a) - rank(b) })
	fmt.Printf("  steps of the %s burst (p50 / p90 over the seats; sandbox \"seat created\" steps are cumulative from its turn):\n", what)
	for _, k := range keys {
		v := got[k]
		fmt.Printf("    %-34s %8s / %8s  (n=%d)\n", k, ms(pct(v, 50)), ms(pct(v, 90)), len(v))
	}
}

// cpuMeter measures CPU time used during a burst: by this process (the
// agent, its proxy and the bench's clients), by every process below it
// (the seats: init, daemon, shells, and what those reaped), and by the
// whole machine (other users' work included).
//
// Reading the processes below walks /proc, which with 30 warm seats costs
// this process tens of milliseconds. So the process's and the machine's own
// counters are read on both sides of the walk (before and after), and a
// burst is measured from the end of its first meter's walk to the start of
// its second's: the walks are never counted as the burst's work.
type cpuMeter struct {
	before, after counters
	below         time.Duration
	byName        map[string]time.Duration // below, by argv[0]
	// faults: minor page faults below, by argv[0] (with their reaped
	// children's). On this machine kind (a VM whose page faults and TLB
	// flushes trap to the host) they are most of a process start's CPU,
	// and unlike CPU time they do not move with the machine's load.
	faults map[string]int64
}

// counters are this process's and the machine's CPU counters at one
// instant.
type counters struct {
	self, machine, wall time.Duration
	// reaped: what this process's children that it waited for used
	// (RUSAGE_CHILDREN): the seat spawner, which ends before its seat is
	// up (the sandbox's spawner_linux.go), and any helper the agent runs.
	reaped       time.Duration
	reapedFaults int64
	// selfFaults: this process's own minor page faults (the agent, its
	// proxy and the bench's clients: Go heap growth, stacks, the
	// scavenger's returned pages faulted in again).
	selfFaults int64
}

func readCounters() counters {
	self, reaped := cputime.SelfUsage(), cputime.Reaped()
	return counters{
		self:         self.CPU,
		selfFaults:   self.Faults,
		reaped:       reaped.CPU,
		reapedFaults: reaped.Faults,
		machine:      cputime.MachineBusy(),
		wall:         time.Duration(time.Now().UnixNano()),
	}
}

func readCPU() cpuMeter {
	m := cpuMeter{before: readCounters(), byName: map[string]time.Duration{}, faults: map[string]int64{}}
	children := procinfo.Children()
	for _, p := range procinfo.Below(children, os.Getpid()) {
		d := procCPU(p)
		m.below += d
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		name, _, _ := strings.Cut(string(b), "\x00")
		m.byName[filepath.Base(name)] += d
		if st, err := procinfo.Stat(p); err == nil {
			// fields 10 and 11 of /proc/pid/stat (minflt, cminflt)
			f, _ := strconv.ParseInt(st[7], 10, 64)
			cf, _ := strconv.ParseInt(st[8], 10, 64)
			m.faults[filepath.Base(name)] += f + cf
		}
	}
	m.after = readCounters()
	return m
}

// procCPU is the CPU time of pid: its threads' run time (schedstat, in ns)
// plus what its waited-for children used (clock ticks).
func procCPU(pid int) time.Duration {
	var d time.Duration
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			d += time.Duration(n)
		}
	}
	if st, err := procinfo.Stat(pid); err == nil {
		// fields 16 and 17 of /proc/pid/stat (cutime, cstime); Stat's
		// index 0 is field 3
		cu, _ := strconv.ParseInt(st[13], 10, 64)
		cs, _ := strconv.ParseInt(st[14], 10, 64)
		d += time.Duration(cu+cs) * 10 * time.Millisecond
	}
	return d
}

// printCPU prints the CPU used between a and b, per seat.
func printCPU(what string, n int, am, bm cpuMeter) {
	// from the end of the first meter's walk to the start of the second's
	a, b := am.after, bm.before
	wall := b.wall - a.wall
	per := func(d time.Duration) string { return ms(d / time.Duration(n)) }
	fmt.Printf("  CPU of the %s burst (%s wall): per seat %s in the agent+bench process (%d minor page faults), %s in the seats' processes; the machine's %d CPUs were %.0f%% busy (all users)\n",
		what, ms(wall), per(b.self-a.self), (b.selfFaults-a.selfFaults)/int64(n), per(bm.below-am.below), runtime.NumCPU(), 100*float64(b.machine-a.machine)/float64(time.Duration(runtime.NumCPU())*wall))
	var names []string
	for k := range bm.byName {
		names = append(names, k)
	}
	slices.Sort(names)
	var parts []string
	for _, k := range names {
		if d := bm.byName[k] - am.byName[k]; d > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", k, per(d)))
		}
	}
	fmt.Printf("    the seats' processes by argv[0], per seat: %s\n", strings.Join(parts, ", "))
	fmt.Printf("    processes the agent started and reaped (the seat spawner), per seat: %s, %d minor page faults\n",
		per(b.reaped-a.reaped), (b.reapedFaults-a.reapedFaults)/int64(n))
	parts = parts[:0]
	for _, k := range names {
		if f := bm.faults[k] - am.faults[k]; f > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, f/int64(n)))
		}
	}
	fmt.Printf("    their minor page faults per seat: %s\n", strings.Join(parts, ", "))
}
