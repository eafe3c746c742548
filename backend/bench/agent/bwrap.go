package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// bwrapMarker is what each bubblewrap shell prints when it answers.
const bwrapMarker = "__ct_bwrap_ready__"

// bwrapArgs starts shell as a login shell in the same set of namespaces as
// a seat (user, pid, mount, uts, ipc, net: loopback only, like a seat with
// its network off), with the host's root bound read-only, fresh /proc and
// /dev, and a private home on a tmpfs.
func bwrapArgs(shell string) []string {
	return []string{
		"--unshare-user", "--unshare-pid", "--unshare-uts", "--unshare-ipc", "--unshare-net",
		"--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
		"--tmpfs", "/home", "--dir", "/home/learner", "--setenv", "HOME", "/home/learner", "--chdir", "/home/learner",
		"--hostname", "seat", "--die-with-parent", "--", shell, "-l",
	}
}

// bwrapStart starts one shell under bubblewrap and returns the time until
// it answers: the command goes to its stdin and the clock stops when the
// marker comes back on its stdout.
func bwrapStart(ctx context.Context, bwrap, shell string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bwrap, bwrapArgs(shell)...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { in.Close(); _ = cmd.Wait() }()
	if _, err := io.WriteString(in, "echo "+bwrapMarker+"\n"); err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if sc.Text() == bwrapMarker {
			return time.Since(t0), nil
		}
	}
	return 0, fmt.Errorf("bwrap shell ended without answering: %v %s", sc.Err(), strings.TrimSpace(stderr.String()))
}

// bwrapBurst starts n bubblewrap shells at once and returns each one's time
// to answer.
func bwrapBurst(ctx context.Context, bwrap, shell string, n int) ([]time.Duration, error) {
	if _, err := bwrapStart(ctx, bwrap, shell); err != nil { // one first: the binary and shell in the page cache, as for ours
		return nil, err
	}
	d := make([]time.Duration, n)
	errs := make([]error, n)
	cpu0, flt0, t0 := childrenCPU(), childrenFaults(), time.Now()
	defer func() {
		fmt.Printf("  CPU of the bubblewrap burst (%s wall): per shell %s, %d minor page faults (bwrap and its shell, measured once they exited)\n",
			ms(time.Since(t0)), ms((childrenCPU()-cpu0)/time.Duration(n)), (childrenFaults()-flt0)/int64(n))
	}()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			d[i], errs[i] = bwrapStart(ctx, bwrap, shell)
		}()
	}
	close(start)
	wg.Wait()
	return d, errors.Join(errs...)
}

// targets are issue 16's seat-start targets against bubblewrap.
type startTargets struct {
	coldMax float64       // ours/bwrap cold p50 at most
	warmMax float64       // ours/bwrap warm p50 at most
	warmAbs time.Duration // warm p50 at most
	warmP99 time.Duration // warm p99 at most
}

var seatTargets = startTargets{coldMax: 1.0, warmMax: 0.25, warmAbs: 100 * time.Millisecond, warmP99: 250 * time.Millisecond}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// printVsBwrap prints ours/bwrap for cold and warm starts, p50 and p99, and
// whether each target holds. Each side is compared with the bwrap burst run
// just before it; bwCold and cold are nil when the cold phase did not run.
func printVsBwrap(bwCold, cold, bwWarm, warm []time.Duration) {
	ratio := func(a, b time.Duration) float64 { return float64(a) / float64(b) }
	show := func(what string, bw []time.Duration) (time.Duration, time.Duration) {
		b50, b99 := pct(bw, 50), pct(bw, 99)
		fmt.Printf("bubblewrap, same run, just before the %s burst: %d shells at once (same namespaces, read-only root, tmpfs home) until the shell answers: p50 %s  p99 %s\n",
			what, len(bw), ms(b50), ms(b99))
		return b50, b99
	}
	if cold != nil && bwCold != nil {
		b50, b99 := show("cold", bwCold)
		c50, c99 := pct(cold, 50), pct(cold, 99)
		fmt.Printf("  ours/bwrap cold: p50 %.2fx  p99 %.2fx   (target p50 ≤ %.2fx: %s)\n",
			ratio(c50, b50), ratio(c99, b99), seatTargets.coldMax, verdict(ratio(c50, b50) <= seatTargets.coldMax))
	}
	b50, b99 := show("warm", bwWarm)
	w50, w99 := pct(warm, 50), pct(warm, 99)
	fmt.Printf("  ours/bwrap warm: p50 %.2fx  p99 %.2fx   (target p50 ≤ %.2fx: %s; p50 ≤ %s: %s; p99 ≤ %s: %s)\n",
		ratio(w50, b50), ratio(w99, b99), seatTargets.warmMax, verdict(ratio(w50, b50) <= seatTargets.warmMax),
		ms(seatTargets.warmAbs), verdict(w50 <= seatTargets.warmAbs), ms(seatTargets.warmP99), verdict(w99 <= seatTargets.warmP99))
}
