package cputime

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

// user 100 + nice 10 + system 50 + irq 5 + softirq 3 + steal 2 = 170 ticks;
// idle, iowait and guest (already inside user) are not busy time.
func TestParseMachineBusy(t *testing.T) {
	if got := parseMachineBusy("cpu  100 10 50 9000 40 5 3 2 70 0"); got != 1700*time.Millisecond {
		t.Errorf("parseMachineBusy = %v, want 1.7s", got)
	}
	if got := parseMachineBusy("cpu"); got != 0 {
		t.Errorf("an empty line = %v", got)
	}
}

// The thread that spins is this process's main thread only by chance, so
// the process's CPU is Self's; Thread of the process's PID (its main
// thread) is checked only to read something.
func TestSelfAndThreadGrow(t *testing.T) {
	before := Self()
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for Self() <= before && time.Now().Before(deadline) {
		for i := range 1_000_000 {
			x += i
		}
	}
	if Self() <= before {
		t.Fatalf("CPU time did not grow after 5 s of spinning (%d)", x)
	}
	if Thread(os.Getpid()) <= 0 {
		t.Fatal("Thread of this process's main thread is 0")
	}
	if MachineBusy() <= 0 {
		t.Fatal("MachineBusy is 0")
	}
}
