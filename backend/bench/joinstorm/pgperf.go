package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pgPerf is -pgperf: where `perf record` of the run's PostgreSQL backends
// over the storm goes ("" = not taken).
var pgPerf string

// perfBackends starts `perf record -g` on the PostgreSQL backends pids (the
// run's database's, as the storm starts) and returns its stop, which waits
// for perf to write its file. It needs perf and the right to trace the
// backends (root, or perf_event_paranoid ≤ 1 as their user); without them it
// says why and does nothing.
func perfBackends(pids []int) func() {
	if pgPerf == "" {
		return func() {}
	}
	if len(pids) == 0 {
		fmt.Println("pgperf: no PostgreSQL backends to record (SQLite, or none connected)")
		return func() {}
	}
	ps := make([]string, len(pids))
	for i, p := range pids {
		ps[i] = strconv.Itoa(p)
	}
	cmd := exec.Command("perf", "record", "-q", "-g", "-o", pgPerf, "-p", strings.Join(ps, ","))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Printf("pgperf: %v\n", err)
		return func() {}
	}
	// perf attaches asynchronously; a storm of half a second must not
	// start before it records. It has no ready signal, so give it a
	// moment (this runs before the storm's clock starts).
	time.Sleep(300 * time.Millisecond)
	return func() {
		cmd.Process.Signal(syscall.SIGINT)
		// perf writes its file and then dies of the SIGINT it was sent.
		var exit *exec.ExitError
		if err := cmd.Wait(); err != nil && (!errors.As(err, &exit) || exit.ExitCode() != -1) {
			fmt.Printf("pgperf: perf: %v\n", err)
			return
		}
		fmt.Printf("perf record of PostgreSQL's backends over the storm written to %s (perf report -i %s --no-children --sort sym)\n", pgPerf, pgPerf)
	}
}
