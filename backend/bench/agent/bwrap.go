package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
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

// bwrapShell is one bubblewrap shell: its time to answer and its process
// tree's counters (nil when they could not be opened).
type bwrapShell struct {
	took time.Duration
	stat *treeStat
}

// bwrapStart starts one shell under bubblewrap and returns the time until
// it answers: the command goes to its stdin and the clock stops when the
// marker comes back on its stdout. Its process tree is counted
// (startCounted); the caller reads and closes the counters.
func bwrapStart(ctx context.Context, bwrap, shell string) (bwrapShell, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bwrap, bwrapArgs(shell)...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return bwrapShell{}, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return bwrapShell{}, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	var sh bwrapShell
	t0 := time.Now()
	stat, exited, err := startCounted(cmd)
	if err != nil {
		return bwrapShell{}, err
	}
	sh.stat = stat
	defer func() { in.Close(); <-exited }()
	if _, err := io.WriteString(in, "echo "+bwrapMarker+"\n"); err != nil {
		return sh, err
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if sc.Text() == bwrapMarker {
			sh.took = time.Since(t0)
			return sh, nil
		}
	}
	return sh, fmt.Errorf("bwrap shell ended without answering: %v %s", sc.Err(), strings.TrimSpace(stderr.String()))
}

// startCounted starts cmd from an OS thread of its own with a treeStat on
// it (nil when perf_event_open fails) and waits for it there: the channel
// gets Wait's result. The thread stays locked and ends with its goroutine,
// so the counters see only its fork of cmd and cmd's whole process tree;
// they hold every process's counts once it has exited.
func startCounted(cmd *exec.Cmd) (*treeStat, <-chan error, error) {
	var stat *treeStat
	started, exited := make(chan error, 1), make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends here
		stat, _ = openTreeStat()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		if stat != nil {
			stat.close()
		}
		return nil, nil, err
	}
	return stat, exited, nil
}

// bwrapBurst starts n bubblewrap shells at once and returns each one's time
// to answer. It prints the CPU time and minor page faults per shell of
// bwrap's whole process tree (bwrap, its pid-1 process in the new pid
// namespace and the shell), counted as perf stat does (treeStat).
func bwrapBurst(ctx context.Context, bwrap, shell string, n int) ([]time.Duration, error) {
	start := func(ctx context.Context, _ int) (bwrapShell, error) { return bwrapStart(ctx, bwrap, shell) }
	return peerBurst(ctx, n, start, "bubblewrap", "bwrap's whole process tree: bwrap, its pid 1 and the shell")
}

// peerBurst starts one peer (so that its binaries are in the page cache, as
// ours are), then n at once, and returns each one's time to answer. It
// prints the CPU time and minor page faults per peer of each one's whole
// process tree (tree says what that is).
func peerBurst(ctx context.Context, n int, start func(context.Context, int) (bwrapShell, error), what, tree string) ([]time.Duration, error) {
	first, err := start(ctx, 0)
	if first.stat != nil {
		first.stat.close()
	}
	if err != nil {
		return nil, err
	}
	shells := make([]bwrapShell, n)
	errs := make([]error, n)
	t0 := time.Now()
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			shells[i], errs[i] = start(ctx, i+1)
		}()
	}
	close(gate)
	wg.Wait()
	wall := time.Since(t0)
	d := make([]time.Duration, n)
	var cpu time.Duration
	var faults int64
	counted := 0
	for i, sh := range shells {
		d[i] = sh.took
		if sh.stat == nil {
			continue
		}
		if c, f, err := sh.stat.read(); err == nil {
			cpu, faults, counted = cpu+c, faults+f, counted+1
		}
		sh.stat.close()
	}
	if counted > 0 {
		fmt.Printf("  CPU of the %s burst (%s wall): per shell %s, %d minor page faults (%s, counted as perf stat does)\n",
			what, ms(wall), ms(cpu/time.Duration(counted)), faults/int64(counted), tree)
	} else {
		fmt.Printf("  CPU of the %s burst (%s wall): not counted (perf_event_open failed)\n", what, ms(wall))
	}
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

// printVsBwrapDaemon prints ours against our daemon under bubblewrap, cold
// (no target: it says how much of the gap to bubblewrap is our sandbox and
// how much the daemon that every seat runs). bwd nil: not run.
func printVsBwrapDaemon(bwd, cold []time.Duration) {
	if bwd == nil {
		return
	}
	b50, b99 := pct(bwd, 50), pct(bwd, 99)
	c50, c99 := pct(cold, 50), pct(cold, 99)
	fmt.Printf("bubblewrap + our workspace daemon, same run, just before the cold bursts: %d at once (as above, the daemon serving the terminal over a socket) until the first output byte: p50 %s  p99 %s\n",
		len(bwd), ms(b50), ms(b99))
	fmt.Printf("  ours/(bwrap + daemon) cold: p50 %.2fx  p99 %.2fx   (no target: ours against the same job under bubblewrap)\n",
		float64(c50)/float64(b50), float64(c99)/float64(b99))
	fmt.Printf("  ready over the bwrap + daemon burst:%s\n", spread(bwd))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// printVsBwrap prints ours/bwrap for cold and warm starts, p50 and p99, and
// whether each target holds. Each side is compared with the bwrap burst run
// just before it; bwCold and cold are nil when the cold phase did not run.
// bwdCold, the burst of our daemon under bubblewrap, is compared with the
// cold burst too (nil: not run).
func printVsBwrap(bwCold, bwdCold, cold, bwWarm, warm []time.Duration) {
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
		fmt.Printf("  ready over the cold burst, ours:%s\n  ready over the bwrap burst:%s\n", spread(cold), spread(bwCold))
	}
	if cold != nil {
		printVsBwrapDaemon(bwdCold, cold)
	}
	b50, b99 := show("warm", bwWarm)
	w50, w99 := pct(warm, 50), pct(warm, 99)
	fmt.Printf("  ours/bwrap warm: p50 %.2fx  p99 %.2fx   (target p50 ≤ %.2fx: %s; p50 ≤ %s: %s; p99 ≤ %s: %s)\n",
		ratio(w50, b50), ratio(w99, b99), seatTargets.warmMax, verdict(ratio(w50, b50) <= seatTargets.warmMax),
		ms(seatTargets.warmAbs), verdict(w50 <= seatTargets.warmAbs), ms(seatTargets.warmP99), verdict(w99 <= seatTargets.warmP99))
}
