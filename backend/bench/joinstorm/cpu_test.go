package main

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// utime 250, stime 50 ticks; the command name holds a space and a ')'.
	line := "1234 (postgres: a) b) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 100 0 0"
	if got := parseStatCPU(line); got != 3*time.Second {
		t.Errorf("parseStatCPU = %v, want 3s", got)
	}
	if got := parseStatCPU("garbage"); got != 0 {
		t.Errorf("garbage = %v", got)
	}
}

func TestParseSchedstat(t *testing.T) {
	if got, ok := parseSchedstat("4116774 19658854 8\n"); !ok || got != 4116774*time.Nanosecond {
		t.Errorf("parseSchedstat = %v %v, want 4.116774ms", got, ok)
	}
	if _, ok := parseSchedstat(""); ok {
		t.Error("empty schedstat parsed")
	}
}

// The thread that spins is this process's main thread only by chance, so
// the process's CPU is selfCPU's; cpuTime of the process's PID (its main
// thread) is checked only to read something.
func TestCPUTimeOfThisProcessGrows(t *testing.T) {
	before := selfCPU()
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for selfCPU() <= before && time.Now().Before(deadline) {
		for i := range 1_000_000 {
			x += i
		}
	}
	if selfCPU() <= before {
		t.Fatalf("CPU time did not grow after 5 s of spinning (%d)", x)
	}
	if cpuTime(os.Getpid()) <= 0 {
		t.Fatal("cpuTime of this process's main thread is 0")
	}
}

func TestCPUDeltaCountsNewProcessesFromZero(t *testing.T) {
	before := map[int]time.Duration{1: time.Second}
	after := map[int]time.Duration{1: 3 * time.Second, 2: time.Second}
	if got := cpuDelta(before, after); got != 3*time.Second {
		t.Errorf("cpuDelta = %v, want 3s", got)
	}
}
