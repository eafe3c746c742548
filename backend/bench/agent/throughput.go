package main

import (
	"github.com/clarateach/backend/bench/internal/cputime"

	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/creack/pty"

	"github.com/clarateach/backend/internal/host/procinfo"
)

// tpRun is one timed cat of the 64 MiB file and the CPU it cost: in this
// process (the agent's proxy and the bench's client, or the ceiling's
// reader) and in the terminal server's processes (the seat, or wetty; the
// shell's reaped children, cat included, count), split into the server
// process itself and the rest (the shell and cat).
type tpRun struct {
	mbps                 float64
	self, server, others time.Duration
}

func (r tpRun) perMB(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000 / (fileSize / 1e6)
}

// cpuOf is the CPU time (user + system, and that of reaped children) of pid
// and every process below it, split into the processes whose command name
// is one of servers (comma-separated) and the others.
func cpuOf(pid int, servers string) (srv, others time.Duration) {
	if pid <= 0 {
		return 0, 0
	}
	tick := time.Second / 100 // USER_HZ
	for _, p := range append([]int{pid}, procinfo.Below(procinfo.Children(), pid)...) {
		f, err := procinfo.Stat(p)
		if err != nil || len(f) < 15 {
			continue
		}
		var own, reaped int64
		for i, v := range f[11:15] {
			n, _ := strconv.ParseInt(v, 10, 64)
			if i < 2 {
				own += n
			} else {
				reaped += n
			}
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
		if slices.Contains(strings.Split(servers, ","), strings.TrimSpace(string(comm))) {
			srv += time.Duration(own) * tick
			others += time.Duration(reaped) * tick
		} else {
			others += time.Duration(own+reaped) * tick
		}
	}
	return srv, others
}

// throughputRuns makes the 64 MiB text file in the shell's directory once
// and times n cats of it to the marker after it, in MB/s (10^6 bytes of the
// file per second). between runs after each (the ceiling's turn, so both
// see the same machine).
func throughputRuns(ctx context.Context, t term, n, serverPID int, server string, between func() error) ([]tpRun, error) {
	r := &reader{t: t}
	if err := quiet(ctx, r); err != nil {
		return nil, err
	}
	line := strings.Repeat("0123456789abcdef", 6) + "xyz" // 99 chars + newline
	cmd := fmt.Sprintf("yes '%s' | head -c %d > ct-bench-64m.txt; echo MADE''-FILE\n", line, fileSize)
	if err := t.send(ctx, []byte(cmd)); err != nil {
		return nil, err
	}
	if _, err := r.until(ctx, "MADE-FILE"); err != nil {
		return nil, err
	}
	if _, err := r.until(ctx, prompt); err != nil {
		return nil, err
	}
	// Both 64 MiB files were just written: without this, the kernel's
	// writeback of their dirty pages ran during the first rounds, on the
	// same two CPUs, and slowed whichever side it fell on.
	syscall.Sync()
	var out []tpRun
	for range n {
		s0, o0 := cpuOf(serverPID, server)
		c0 := cputime.Self()
		t0 := time.Now()
		if err := t.send(ctx, []byte("cat ct-bench-64m.txt; echo CAT''-DONE\n")); err != nil {
			return nil, err
		}
		got, err := r.until(ctx, "CAT-DONE")
		if err != nil {
			return nil, err
		}
		el := time.Since(t0)
		if got < fileSize {
			return nil, fmt.Errorf("read only %d bytes", got)
		}
		c1 := cputime.Self()
		if _, err := r.until(ctx, prompt); err != nil {
			return nil, err
		}
		s1, o1 := cpuOf(serverPID, server)
		out = append(out, tpRun{mbps: fileSize / 1e6 / el.Seconds(), self: c1 - c0, server: s1 - s0, others: o1 - o0})
		if between != nil {
			if err := between(); err != nil {
				return nil, err
			}
		}
	}
	if err := t.send(ctx, []byte("rm -f ct-bench-64m.txt\n")); err != nil {
		return nil, err
	}
	return out, nil
}

// ptyCeilingFile writes the ceiling's copy of the throughput file.
func ptyCeilingFile(dir string) (string, error) {
	f := filepath.Join(dir, "ct-bench-pty.txt")
	line := strings.Repeat("0123456789abcdef", 6) + "xyz\n"
	data := make([]byte, 0, fileSize+len(line))
	for len(data) < fileSize {
		data = append(data, line...)
	}
	return f, os.WriteFile(f, data[:fileSize], 0o644)
}

// ptyCeilingOnce times cat of the file into a bare PTY drained by one Go
// reader with a large buffer: what the kernel's PTY allows at best here,
// with no terminal server, WebSocket or client-side work.
func ptyCeilingOnce(ctx context.Context, f string) (tpRun, error) {
	buf := make([]byte, 64<<10)
	cmd := exec.CommandContext(ctx, "cat", f)
	c0 := cputime.Self()
	t0 := time.Now()
	p, err := pty.Start(cmd)
	if err != nil {
		return tpRun{}, err
	}
	var n int64
	for {
		k, err := p.Read(buf)
		n += int64(k)
		if err != nil {
			break // EIO once cat has exited and all was read
		}
	}
	el := time.Since(t0)
	c1 := cputime.Self()
	p.Close()
	_ = cmd.Wait()
	if n < fileSize {
		return tpRun{}, fmt.Errorf("read %d of %d bytes", n, fileSize)
	}
	var cat time.Duration
	if st := cmd.ProcessState; st != nil {
		cat = st.UserTime() + st.SystemTime()
	}
	return tpRun{mbps: fileSize / 1e6 / el.Seconds(), self: c1 - c0, others: cat}, nil
}

// pairedRatio compares the rounds pairwise, ours[i] against the ceiling
// round run right after it (the same moment of the machine), and returns
// the median of ours/ceiling over the pairs and its range. The best round
// of each side, compared, took the extremes of two noisy series: one lucky
// ceiling round (144 then 58 MB/s in consecutive rounds under load) moved
// the ratio by half; the median of pairs moves with neither side's single
// outlier.
func pairedRatio(ours, ceiling []tpRun) (med, lo, hi float64) {
	var v []float64
	for i := range min(len(ours), len(ceiling)) {
		if ceiling[i].mbps > 0 {
			v = append(v, ours[i].mbps/ceiling[i].mbps)
		}
	}
	if len(v) == 0 {
		return 0, 0, 0
	}
	slices.Sort(v)
	return v[len(v)/2], v[0], v[len(v)-1]
}

// best is the fastest run.
func best(runs []tpRun) tpRun {
	var b tpRun
	for _, r := range runs {
		if r.mbps > b.mbps {
			b = r
		}
	}
	return b
}

// median CPU per MB over the runs, of one part.
func medianPerMB(runs []tpRun, part func(tpRun) time.Duration) float64 {
	var v []float64
	for _, r := range runs {
		v = append(v, r.perMB(part(r)))
	}
	for i := range v {
		for j := i + 1; j < len(v); j++ {
			if v[j] < v[i] {
				v[i], v[j] = v[j], v[i]
			}
		}
	}
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}

func cpuLine(runs []tpRun, selfName, serverName, othersName string) string {
	self := medianPerMB(runs, func(r tpRun) time.Duration { return r.self })
	srv := medianPerMB(runs, func(r tpRun) time.Duration { return r.server })
	oth := medianPerMB(runs, func(r tpRun) time.Duration { return r.others })
	total := medianPerMB(runs, func(r tpRun) time.Duration { return r.self + r.server + r.others })
	s := fmt.Sprintf("%.2f ms (%s %.2f", total, selfName, self)
	if serverName != "" {
		s += fmt.Sprintf(", %s %.2f", serverName, srv)
	}
	return s + fmt.Sprintf(", %s %.2f)", othersName, oth)
}
