package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/clarateach/backend/bench/internal/cputime"
)

// The quiet before the storm (-idle-watch, with -local-hosts): the bench
// samples its own process's CPU (the server and the local agents, nothing
// asked of them) and the machine's in 100 ms windows. Each local agent
// health-checks its seats in the background: until 2026-12-06 all of them
// at once every 5 s (with 500 seats on 5 agents started together, a burst
// of a few hundred ms of CPU every 5 s, which a join storm of ~0.5 s
// overlapped or not: bench/bigclass's README), since then a tenth of them
// every 0.5 s.

// idleWatch is -idle-watch.
var idleWatch time.Duration

// idleWindow is the sampling window; a window in which this process used
// more than burstCPU is part of a burst.
const (
	idleWindow = 100 * time.Millisecond
	burstCPU   = 10 * time.Millisecond
)

// idleSample is one window: this process's CPU and the machine's busy time.
type idleSample struct{ self, machine time.Duration }

// idleReport is what watchIdle saw: the bursts' starts (offsets from the
// watch's start), and when the watch ended.
type idleReport struct {
	bursts []time.Duration
	end    time.Time
	start  time.Time
}

// watchIdle samples for idleWatch (nothing without it) and prints the
// process's and the machine's CPU per window and the bursts it saw. With
// -cpuprofile it profiles the watch to that file + ".idle".
func watchIdle() *idleReport {
	if idleWatch <= 0 {
		return nil
	}
	if cpuProfile != "" {
		if f, err := os.Create(cpuProfile + ".idle"); err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	rep := &idleReport{start: time.Now()}
	var s []idleSample
	self, mach := cputime.Self(), cputime.MachineBusy()
	for time.Since(rep.start) < idleWatch {
		time.Sleep(idleWindow)
		s2, m2 := cputime.Self(), cputime.MachineBusy()
		s = append(s, idleSample{s2 - self, m2 - mach})
		self, mach = s2, m2
	}
	rep.end = time.Now()
	rep.bursts = burstStarts(s)
	printIdle(s, rep)
	return rep
}

// burstStarts is the offsets of the windows that start a burst: above
// burstCPU after one that was not.
func burstStarts(s []idleSample) []time.Duration {
	var out []time.Duration
	for i, w := range s {
		if w.self > burstCPU && (i == 0 || s[i-1].self <= burstCPU) {
			out = append(out, time.Duration(i)*idleWindow)
		}
	}
	return out
}

func printIdle(s []idleSample, rep *idleReport) {
	var self, mach, burstSelf, burstMach time.Duration
	var line strings.Builder
	for _, w := range s {
		self, mach = self+w.self, mach+w.machine
		if w.self > burstCPU {
			burstSelf, burstMach = burstSelf+w.self, burstMach+w.machine
		}
		fmt.Fprintf(&line, " %.0f/%.0f", ms(w.self), ms(w.machine))
	}
	n := float64(len(s))
	fmt.Printf("  before the storm, %.1f s in %d windows of 100 ms: CPU %.1f ms per window in this process (server, agents), %.1f ms the machine's\n",
		rep.end.Sub(rep.start).Seconds(), len(s), ms(self)/n, ms(mach)/n)
	if k := len(rep.bursts); k > 0 {
		fmt.Printf("    bursts (this process > %.0f ms in a window) starting at %s: %.0f ms of this process's CPU and %.0f ms of the machine's each, on average\n",
			ms(burstCPU), offsets(rep.bursts), ms(burstSelf)/float64(k), ms(burstMach)/float64(k))
	}
	fmt.Printf("    per window, this process / the machine (ms):%s\n", line.String())
}

func offsets(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.1f s", d.Seconds())
	}
	return strings.Join(parts, ", ")
}

// phase prints, at the storm's start, how long after the last burst's
// start it began (the bursts come about every 5 s).
func (rep *idleReport) phase(stormStart time.Time) {
	if rep == nil || len(rep.bursts) == 0 {
		return
	}
	last := rep.start.Add(rep.bursts[len(rep.bursts)-1])
	fmt.Printf("    the storm began %.2f s after the last burst began\n", stormStart.Sub(last).Seconds())
}

// stormPhase is -storm-phase: when set (0 or more), the storm starts that
// long after a burst's start, predicted from the watch's last burst and the
// bursts' period, so that a run can put the storm on a round of seat
// checks (0) or between two on purpose.
var stormPhase time.Duration = -1

// seatCheckPeriod is the bursts' period when the watch saw only one: the
// local agents' seat health check interval (agent.Config.SeatCheckInterval's
// default).
const seatCheckPeriod = 5 * time.Second

// period is the mean gap between the bursts seen, else seatCheckPeriod.
func (rep *idleReport) period() time.Duration {
	if n := len(rep.bursts); n >= 2 {
		return (rep.bursts[n-1] - rep.bursts[0]) / time.Duration(n-1)
	}
	return seatCheckPeriod
}

// waitForPhase sleeps until stormPhase after the next predicted burst
// start (nothing without -storm-phase or a burst seen).
func (rep *idleReport) waitForPhase() {
	if rep == nil || len(rep.bursts) == 0 || stormPhase < 0 {
		return
	}
	at := rep.start.Add(rep.bursts[len(rep.bursts)-1] + stormPhase)
	for at.Before(time.Now()) {
		at = at.Add(rep.period())
	}
	time.Sleep(time.Until(at))
}
