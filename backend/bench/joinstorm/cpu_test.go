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

func TestCPUTimeOfThisProcessGrows(t *testing.T) {
	before := cpuTime(os.Getpid())
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for cpuTime(os.Getpid()) <= before && time.Now().Before(deadline) {
		for i := range 1_000_000 {
			x += i
		}
	}
	if cpuTime(os.Getpid()) <= before {
		t.Fatalf("CPU time did not grow after 5 s of spinning (%d)", x)
	}
}

func TestCPUDeltaCountsNewProcessesFromZero(t *testing.T) {
	before := map[int]time.Duration{1: time.Second}
	after := map[int]time.Duration{1: 3 * time.Second, 2: time.Second}
	if got := cpuDelta(before, after); got != 3*time.Second {
		t.Errorf("cpuDelta = %v, want 3s", got)
	}
}
