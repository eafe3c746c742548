package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func needBwrap(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("bwrap")
	if err != nil {
		t.Skip("bwrap not installed")
	}
	return p
}

// The peer really is isolated as a seat is: its own pid namespace, a
// read-only root and a writable private home.
func TestBwrapPeerIsolation(t *testing.T) {
	bw := needBwrap(t)
	args := append(bwrapArgs("/bin/sh")[:len(bwrapArgs("/bin/sh"))-1],
		"-c", `echo pid=$$; touch /ct-bwrap-probe 2>/dev/null && echo root-writable; touch "$HOME/x" && echo home-ok; hostname`)
	out, err := exec.Command(bw, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("bwrap: %v\n%s", err, out)
	}
	got := string(out)
	// bwrap's own init is pid 1 in the new namespace, the shell pid 2.
	if !strings.Contains(got, "pid=1\n") && !strings.Contains(got, "pid=2\n") {
		t.Errorf("not in its own pid namespace:\n%s", got)
	}
	for _, want := range []string{"home-ok\n", "seat\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "root-writable") {
		os.Remove("/ct-bwrap-probe")
		t.Errorf("the root is writable inside the peer:\n%s", got)
	}
}

func TestBwrapStartTimesAnAnsweringShell(t *testing.T) {
	bw := needBwrap(t)
	d, err := bwrapBurst(context.Background(), bw, "/bin/bash", 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range d {
		if x <= 0 {
			t.Errorf("shell %d: time %v", i, x)
		}
	}
}

// The peer's figures count bwrap's whole process tree: a shell below
// bwrap's pid 1 that touches 8 MB (~2,000 pages) shows in the counters.
// getrusage(RUSAGE_CHILDREN), which the bench used before, got only bwrap's
// own ~100 faults: the shell's never reached it.
func TestTreeStatCountsBwrapsShell(t *testing.T) {
	bw := needBwrap(t)
	args := append(bwrapArgs("/bin/sh")[:len(bwrapArgs("/bin/sh"))-1],
		"-c", `x=$(head -c 8000000 /dev/zero | tr '\0' a); echo ${#x}`)
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru0)
	cmd := exec.Command(bw, args...)
	var out strings.Builder
	cmd.Stdout = &out
	stat, exited, err := startCounted(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("bwrap: %v", err)
	}
	if stat == nil {
		t.Skip("perf_event_open is not allowed here")
	}
	defer stat.close()
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru1)
	if strings.TrimSpace(out.String()) != "8000000" {
		t.Fatalf("the shell said %q", out.String())
	}
	// The pid 1 inside may still be exiting after bwrap has: poll.
	deadline := time.Now().Add(5 * time.Second)
	var faults int64
	var cpu time.Duration
	for {
		cpu, faults, err = stat.read()
		if err != nil {
			t.Fatal(err)
		}
		if faults >= 2000 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("bwrap's tree: %v CPU, %d minor faults; RUSAGE_CHILDREN saw %d faults", cpu, faults, ru1.Minflt-ru0.Minflt)
	if faults < 2000 {
		t.Errorf("the tree's counters saw %d minor faults, want ≥ 2000 (the shell's 8 MB)", faults)
	}
}

// TestPairedRatio: the throughput figure is the median of the rounds'
// ours/ceiling pairs, so one lucky (or unlucky) round of either side does
// not move it, as it moved a best-of-each comparison.
func TestPairedRatio(t *testing.T) {
	mk := func(v ...float64) []tpRun {
		out := make([]tpRun, len(v))
		for i, x := range v {
			out[i] = tpRun{mbps: x}
		}
		return out
	}
	ours := mk(90, 95, 100, 92, 97)
	ceiling := mk(100, 100, 100, 200, 100) // round 4: a lucky ceiling round
	med, lo, hi := pairedRatio(ours, ceiling)
	if med != 0.95 || lo != 0.46 || hi != 1.0 {
		t.Fatalf("median %.2f (%.2f–%.2f), want 0.95 (0.46–1.00)", med, lo, hi)
	}
	if got := best(ours).mbps / best(ceiling).mbps; got != 0.5 {
		t.Fatalf("best/best = %.2f; the example is meant to show it at 0.5", got)
	}
}
