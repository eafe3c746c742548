package main

import (
	"testing"
	"time"
)

func TestCPUDeltaCountsNewProcessesFromZero(t *testing.T) {
	before := map[int]time.Duration{1: time.Second}
	after := map[int]time.Duration{1: 3 * time.Second, 2: time.Second}
	if got := cpuDelta(before, after); got != 3*time.Second {
		t.Errorf("cpuDelta = %v, want 3s", got)
	}
}
