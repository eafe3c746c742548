// Command agent-bench measures the workshop host agent end to end and
// compares its terminal with wetty's in the same run. It prints figures; it
// asserts nothing. See README.md beside this file.
//
//	cd backend && go run ./bench/agent [--seats 30] [--no-wetty]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/clarateach/backend/bench/internal/machine"
	"github.com/clarateach/backend/bench/internal/seatbins"
	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/procinfo"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/seat/terminal"
)

const (
	benchToken  = "bench-agent-token"
	benchSecret = "bench-workspace-secret"
	benchWS     = "bench"
	fileSize    = 64 << 20
	// tpRounds: throughput rounds per side (ours and the ceiling take turns).
	tpRounds = 5
	wettyVer = "3.2.0"
	// benchDirRoot holds the bench's temp state as root.
	benchDirRoot = "/var/lib/clarateach"
)

type options struct {
	seats     int
	echoN     int
	runtime   string
	daemon    string
	shell     string
	noWetty   bool
	network   bool
	wettyDir  string
	keepState bool
	noCold    bool
	coldOnly  bool
	// noSeatInit: the daemon binary is also each seat's init (no
	// clarateach-seat-init beside it), as before cmd/seatinit.
	noSeatInit bool
	// noPID1: no clarateach-seat-pid1 beside the daemon, so every seat's
	// init is the Go one (to compare).
	noPID1 bool
	dir    string
}

func main() {
	var o options
	home, _ := os.UserCacheDir()
	flag.IntVar(&o.seats, "seats", 30, "seats created concurrently for the seat-ready figure")
	flag.IntVar(&o.echoN, "echo", 300, "keystrokes for the echo round trip")
	flag.StringVar(&o.runtime, "runtime", "", "seat runtime (default: sandbox as root when available, else process)")
	flag.StringVar(&o.daemon, "daemon", "", "workspace daemon binary (default: built from ./cmd/workspace)")
	flag.StringVar(&o.shell, "shell", "/bin/bash", "shell for both sides")
	flag.BoolVar(&o.noWetty, "no-wetty", false, "skip the wetty comparison")
	flag.BoolVar(&o.network, "seat-network", false, "give sandbox seats their network (veth + NAT; installs host firewall rules, removed at the end)")
	flag.StringVar(&o.wettyDir, "wetty-dir", filepath.Join(home, "clarateach-bench", "wetty"), "where wetty@"+wettyVer+" is installed (npm)")
	flag.BoolVar(&o.keepState, "keep", false, "keep the temp state directory")
	flag.StringVar(&o.dir, "dir", "", "where the temp state directory (agent state, seats) is made (default "+benchDirRoot+" as root, else $TMPDIR)")
	flag.BoolVar(&o.noCold, "no-cold", false, "sandbox: skip the seat-ready figure without warm seats")
	flag.BoolVar(&o.noPID1, "no-pid1", false, "sandbox: do not build clarateach-seat-pid1 (the seat init in C) beside the daemon, so every seat's init is the Go one (to compare)")
	flag.BoolVar(&o.noSeatInit, "no-seat-init", false, "sandbox: do not build clarateach-seat-init beside the daemon, so the daemon binary is each seat's init too (to compare)")
	flag.BoolVar(&o.coldOnly, "cold-only", false, "sandbox: only the bubblewrap burst and the cold burst with the disk limit, then stop (for profiling a cold start)")
	flag.StringVar(&tpProfile, "tpprofile", "", "write a CPU profile of this process (the agent's proxy and the bench's client) during ours' first throughput round to this file")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of this process (the agent, its proxy and the bench's clients) during the warm burst (or --cpuprofile-cold's) to this file")
	flag.BoolVar(&cpuProfileCold, "cpuprofile-cold", false, "--cpuprofile profiles the cold burst with the disk limit instead of the warm one")
	flag.Parse()
	machine.Print()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	// Ctrl-C or a timeout's SIGTERM still deletes the seats and stops wetty.
	sctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sctx, 15*time.Minute)
	defer cancel()
	if o.dir == "" {
		o.dir = os.TempDir()
		// As root, where a production agent keeps its state and seats
		// (/var/lib/clarateach): on the build machine, creating a file in
		// /tmp costs ~20x the CPU it costs in /var/lib on the same disk,
		// and a seat's start and claim create several.
		if os.Geteuid() == 0 && os.MkdirAll(benchDirRoot, 0o755) == nil {
			o.dir = benchDirRoot
		}
	}
	tmp, err := os.MkdirTemp(o.dir, "bench-")
	if err != nil {
		return err
	}
	// The sandbox bind-mounts the daemon: its directory must be traversable.
	_ = os.Chmod(tmp, 0o755)
	if !o.keepState {
		defer os.RemoveAll(tmp)
	}
	if o.daemon == "" {
		// Beside the daemon, where the agent looks for them, the seat
		// inits (make build puts all in bin/).
		bins, err := seatbins.Build(context.Background(), tmp, seatbins.Options{NoSeatInit: o.noSeatInit, NoPID1: o.noPID1})
		if err != nil {
			return err
		}
		if bins.PID1Err != nil {
			return bins.PID1Err
		}
		o.daemon = bins.Daemon
	}
	var h slog.Handler = slog.NewTextHandler(io.Discard, nil)
	if os.Getenv("BENCH_LOG") != "" {
		h = slog.Default().Handler()
	}
	// The collector sees the agent's and runtime's per-step debug records.
	stepLog = newSteps(h)
	log := slog.New(stepLog)

	// The runtime: sandbox when it works here, else process.
	name := o.runtime
	why := ""
	if name == "" {
		name = agent.DefaultRuntime()
		if name == "process" {
			if os.Geteuid() != 0 {
				why = " (not root: the sandbox runtime needs root)"
			} else {
				why = " (the sandbox runtime is not available in this build/machine)"
			}
		}
	}
	state := filepath.Join(tmp, "state")
	ropts := agent.RuntimeOptions{StateDir: state, DaemonCommand: []string{o.daemon}, Shell: o.shell, Logger: log,
		Capacity: o.seats + 2, NoNetwork: !o.network}
	rt, err := agent.NewRuntime(name, ropts)
	if err != nil && o.runtime == "" && name != "process" {
		why = fmt.Sprintf(" (%s: %v)", name, err)
		name = "process"
		rt, err = agent.NewRuntime(name, ropts)
	}
	if err != nil {
		return err
	}
	if fw, ok := rt.(interface{ RemoveFirewall(context.Context) error }); ok && o.network {
		defer func() { _ = fw.RemoveFirewall(context.Background()) }()
	}
	if name == "sandbox" {
		if o.network {
			why = " (seats with their own network and NAT)"
		} else {
			why = " (seat network off: loopback only; --seat-network to include it)"
		}
	}
	fmt.Printf("ClaraTeach agent bench — runtime %s%s, shell %s, %d CPUs\n", name, why, o.shell, runtime.NumCPU())

	// 1. Seat ready, 30 seats at once: from scratch, then (sandbox) from
	// warm seats; each also without the seats' disk limit, in the same run,
	// for what the limit costs. Each phase has its own agent and runtime.
	sandboxed := name == "sandbox"
	// The bubblewrap peer runs twice, each time just before the seat burst
	// it is compared with, so that a change of the machine's load between
	// them moves both sides alike.
	var bwCold, bwdCold, bwWarm, cold []time.Duration
	bwrap, err := exec.LookPath("bwrap")
	if err != nil {
		fmt.Println("bubblewrap: not compared: bwrap not installed (apt-get install bubblewrap)")
	}
	bwrapPeer := func() []time.Duration {
		if bwrap == "" {
			return nil
		}
		d, err := bwrapBurst(ctx, bwrap, o.shell, o.seats)
		if err != nil {
			fmt.Printf("bubblewrap: not compared: %v\n", err)
			return nil
		}
		return d
	}
	// The second peer: our daemon under bubblewrap (bwrapdaemon.go).
	bwrapDaemonPeer := func() []time.Duration {
		if bwrap == "" {
			return nil
		}
		d, err := bwrapDaemonBurst(ctx, bwrap, o.daemon, o.shell, tmp, o.seats)
		if err != nil {
			fmt.Printf("bubblewrap + daemon: not compared: %v\n", err)
			return nil
		}
		return d
	}
	if sandboxed && !o.noCold {
		bwCold = bwrapPeer()
		bwdCold = bwrapDaemonPeer()
	}
	if sandboxed && o.coldOnly {
		return coldOnly(ctx, ropts, name, o.seats, state, log, bwCold, bwdCold)
	}
	if sandboxed && !o.noCold {
		if cold, err = coldPhases(ctx, ropts, name, o.seats, state, log); err != nil {
			return err
		}
	}
	var warmNoDisk []time.Duration
	warm := 0
	if sandboxed {
		warm = o.seats
		noDisk := ropts
		noDisk.DiskMB = -1
		nd, err := readyPhase(ctx, noDisk, name, o.seats, warm, state, log)
		if err != nil {
			return err
		}
		nd.stop()
		warmNoDisk = nd.ready
	}
	bwWarm = bwrapPeer()
	ph, err := readyPhase(ctx, ropts, name, o.seats, warm, state, log)
	if err != nil {
		return err
	}
	ag := ph.agent
	defer ag.stop()
	client, ready, creates, terms := ag.client, ph.ready, ph.creates, ph.terms
	p50, p99 := pct(ready, 50), pct(ready, 99)
	label := ""
	if warm > 0 {
		label = fmt.Sprintf(" with %d warm seats and the disk limit", warm)
	}
	fmt.Printf("seat ready%s (POST /vms/ → first prompt byte via the proxy), %d concurrent: p50 %s  p99 %s  (target p50 ≤ 100 ms)\n",
		label, o.seats, ms(p50), ms(p99))
	fmt.Printf("  of which POST /vms/ (seat running, its first shell up): p50 %s  p99 %s\n", ms(pct(creates, 50)), ms(pct(creates, 99)))
	if warmNoDisk != nil {
		printDiskCost("warm", ready, warmNoDisk)
	}
	if bwWarm != nil {
		printVsBwrap(bwCold, bwdCold, cold, bwWarm, ready)
	}

	// 2. Idle memory per seat.
	time.Sleep(time.Second) // let the shells settle: this is the idle figure
	if mem, err := seatMemory(ctx, client); err == nil {
		fmt.Printf("idle memory per seat (all of a seat's processes%s): RSS %.1f MiB, PSS %.1f MiB  (target ≤ 10 MiB)\n",
			mem.note, mem.rss/(1<<20), mem.pss/(1<<20))
	} else {
		fmt.Printf("idle memory per seat: not measured: %v\n", err)
	}

	// 3. Echo round trip and throughput through the agent's proxy.
	term := terms[0]
	ours := &oursTerm{c: term}
	oursRTT, err := echoRTT(ctx, ours, o.echoN)
	if err != nil {
		return fmt.Errorf("ours echo: %w", err)
	}
	fmt.Printf("echo round trip, ours via agent proxy: p50 %s  p99 %s\n", ms(pct(oursRTT, 50)), ms(pct(oursRTT, 99)))
	// Ours and the bare-PTY ceiling take turns, three rounds each, so both
	// see the same machine (its load moves by the second here); each side's
	// best round is its figure.
	seatPID := 0
	if s, err := client.GetSeat(ctx, benchWS, 1); err == nil {
		seatPID = s.PID
	}
	// The daemon's command name: "workspace" in a sandbox seat (its path
	// there is /run/clarateach/workspace), the binary's name (at most 15
	// characters, the kernel's comm) with the process runtime.
	daemonComm := filepath.Base(o.daemon)
	if len(daemonComm) > 15 {
		daemonComm = daemonComm[:15]
	}
	daemonComm += ",workspace"
	ceilFile, err := ptyCeilingFile(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(ceilFile)
	var ceilRuns []tpRun
	stopTP := profileThroughput()
	oursRuns, err := throughputRuns(ctx, ours, tpRounds, seatPID, daemonComm, func() error {
		stopTP.pause()
		defer stopTP.resume()
		r, err := ptyCeilingOnce(ctx, ceilFile)
		ceilRuns = append(ceilRuns, r)
		return err
	})
	stopTP.stop()
	if err != nil {
		return fmt.Errorf("ours throughput: %w", err)
	}
	fmt.Printf("throughput (cat 64 MiB), ours via the agent proxy and the bare-PTY ceiling (the same cat into a bare PTY, one Go reader, no terminal server), taking turns:\n")
	for i := range oursRuns {
		fmt.Printf("  round %d: ours %.0f MB/s, ceiling %.0f MB/s (%.0f %%)\n", i+1, oursRuns[i].mbps, ceilRuns[i].mbps, 100*oursRuns[i].mbps/ceilRuns[i].mbps)
	}
	oursTP, ceiling := best(oursRuns).mbps, best(ceilRuns).mbps
	fmt.Printf("throughput, best of %d: ours %.0f MB/s, PTY ceiling %.0f MB/s — ours reaches %.0f%%\n", tpRounds, oursTP, ceiling, 100*oursTP/ceiling)
	med, lo, hi := pairedRatio(oursRuns, ceilRuns)
	met := "met"
	if med < 0.9 {
		met = "NOT met"
	}
	fmt.Printf("throughput / PTY ceiling, median of the %d back-to-back pairs: %.0f%% (pairs %.0f–%.0f %%; target ≥ 90 %%: %s)\n", len(oursRuns), 100*med, 100*lo, 100*hi, met)
	fmt.Printf("  CPU per MB (median of the rounds): ours %s; ceiling %s\n",
		cpuLine(oursRuns, "agent proxy + bench client", "daemon", "rest of the seat: shell, cat"),
		cpuLine(ceilRuns, "reader", "", "cat"))
	for _, t := range terms {
		t.Close()
	}
	if direct, err := directThroughput(ctx, state); err == nil {
		fmt.Printf("throughput, ours straight to the daemon (no agent, for reference; one round): %.0f MB/s\n", direct)
	} else {
		fmt.Printf("throughput straight to the daemon: not measured: %v\n", err)
	}

	// 4. wetty, same machine, same shell, same run.
	if o.noWetty {
		fmt.Println("wetty: skipped (--no-wetty)")
		return nil
	}
	w, err := startWetty(ctx, o, tmp)
	if err != nil {
		fmt.Printf("wetty: not compared: %v\n", err)
		return nil
	}
	defer w.stop()
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Minute)
	defer wcancel()
	ctx = wctx
	peer, err := dialWetty(ctx, w.url)
	if err != nil {
		fmt.Printf("wetty: not compared: %v\n%s\n", err, lastLines(w.log.Bytes(), 10))
		return nil
	}
	defer peer.close()
	peerRTT, err := echoRTT(ctx, peer, o.echoN)
	if err != nil {
		fmt.Printf("wetty: echo failed: %v\n%s\n", err, lastLines(w.log.Bytes(), 10))
		return nil
	}
	fmt.Printf("echo round trip, wetty %s: p50 %s  p99 %s\n", wettyVer, ms(pct(peerRTT, 50)), ms(pct(peerRTT, 99)))
	peerRuns, err := throughputRuns(ctx, peer, tpRounds, w.cmd.Process.Pid, "node", nil)
	if err != nil {
		fmt.Printf("wetty: throughput failed: %v\n%s\n", err, lastLines(w.log.Bytes(), 10))
		return nil
	}
	peerTP := best(peerRuns).mbps
	fmt.Printf("throughput, wetty %s (cat 64 MiB), best of %d: %.0f MB/s;  CPU per MB %s\n", wettyVer, tpRounds, peerTP,
		cpuLine(peerRuns, "bench client", "wetty (node)", "shell, cat"))
	tpMet := "met"
	if oursTP < 1.5*peerTP {
		tpMet = "NOT met"
	}
	fmt.Printf("ours/wetty: echo RTT p50 %.2fx, p99 %.2fx (lower is better; target ≤ 1)  throughput %.2fx (target ≥ 1.5: %s)\n",
		float64(pct(oursRTT, 50))/float64(pct(peerRTT, 50)), float64(pct(oursRTT, 99))/float64(pct(peerRTT, 99)), oursTP/peerTP, tpMet)
	if ceiling > 0 {
		fmt.Printf("  a terminal behind a PTY cannot pass the PTY ceiling: at most %.2fx wetty on this machine (ceiling/wetty)\n", ceiling/peerTP)
	}
	return nil
}

// stepLog collects the agent's and runtime's step timings (breakdown.go).
var stepLog *steps

// benchAgent is an agent served in-process on a loopback port.
type benchAgent struct {
	client *agentclient.Client
	base   string
	stop   func() // deletes its seats, then stops it

	mu    sync.Mutex
	asked map[int]bool // seats of benchWS the bench asked it to create
}

// createSeat asks the agent for seat of benchWS and remembers that it did,
// so that stop deletes the seat even if the call fails (teardown.go).
func (b *benchAgent) createSeat(ctx context.Context, seat int) error {
	b.mu.Lock()
	b.asked[seat] = true
	b.mu.Unlock()
	_, _, err := b.client.CreateSeat(ctx, benchWS, seat, agentclient.SeatOptions{})
	return err
}

// phase is one seat-ready measurement: its agent (still running, with the
// seats and their terminals) and the figures.
type phase struct {
	agent          *benchAgent
	ready, creates []time.Duration
	terms          []*terminal.Client
}

// stop closes the terminals and deletes the seats and the agent.
func (p *phase) stop() {
	for _, t := range p.terms {
		t.Close()
	}
	p.agent.stop()
}

// readyPhase starts an agent (with warm seats, waiting for them) and
// measures n seats created at once.
func readyPhase(ctx context.Context, ropts agent.RuntimeOptions, name string, n, warm int, state string, log *slog.Logger) (*phase, error) {
	ag, err := startAgent(ropts, name, n, warm, state, log)
	if err != nil {
		return nil, err
	}
	if warm > 0 {
		if err := waitWarm(ctx, ag.client, warm); err != nil {
			ag.stop()
			return nil, err
		}
	}
	stepLog.start()
	cpu0 := readCPU()
	stopProfile := profileBurst((warm > 0) != cpuProfileCold && ropts.DiskMB >= 0)
	ready, creates, terms, err := seatReady(ctx, ag, n)
	stopProfile()
	cpu1 := readCPU()
	got := stepLog.stop()
	if err != nil {
		ag.stop()
		return nil, err
	}
	what := "cold"
	if warm > 0 {
		what = "warm"
	}
	if ropts.DiskMB < 0 {
		what += " (no disk limit)"
	}
	printSteps(what, got)
	printCPU(what, n, cpu0, cpu1)
	return &phase{agent: ag, ready: ready, creates: creates, terms: terms}, nil
}

// coldPhases measures seats started from scratch, without and then with
// the disk limit, and one seat at a time (no contention) both ways.
// It returns the burst's times with the disk limit (the default).
func coldPhases(ctx context.Context, ropts agent.RuntimeOptions, name string, n int, state string, log *slog.Logger) ([]time.Duration, error) {
	noDisk := ropts
	noDisk.DiskMB = -1
	burst := map[bool][]time.Duration{}
	one := map[bool][]time.Duration{}
	for _, limited := range []bool{false, true} {
		o, what := noDisk, "without the disk limit"
		if limited {
			o, what = ropts, "with the disk limit"
		}
		var err error
		if one[limited], err = oneAtATime(ctx, o, name, state, log); err != nil {
			return nil, err
		}
		ph, err := readyPhase(ctx, o, name, n, 0, state, log)
		if err != nil {
			return nil, err
		}
		ph.stop()
		burst[limited] = ph.ready
		fmt.Printf("seat ready, no warm seats, %s (POST /vms/ → first prompt byte via the proxy), %d concurrent: p50 %s  p99 %s\n",
			what, n, ms(pct(ph.ready, 50)), ms(pct(ph.ready, 99)))
		fmt.Printf("  of which POST /vms/ (seats started from scratch): p50 %s  p99 %s;  one seat at a time: p50 %s\n",
			ms(pct(ph.creates, 50)), ms(pct(ph.creates, 99)), ms(pct(one[limited], 50)))
	}
	printDiskCost("cold", burst[true], burst[false])
	fmt.Printf("  the disk limit, one seat at a time (cold): p50 %+.2f ms\n", float64((pct(one[true], 50)-pct(one[false], 50)).Microseconds())/1000)
	return burst[true], nil
}

// coldOnly is --cold-only: the cold burst with the disk limit against the
// bwrap bursts just before it (plain, and with our daemon), and nothing
// else.
func coldOnly(ctx context.Context, ropts agent.RuntimeOptions, name string, n int, state string, log *slog.Logger, bw, bwd []time.Duration) error {
	ph, err := readyPhase(ctx, ropts, name, n, 0, state, log)
	if err != nil {
		return err
	}
	ph.stop()
	fmt.Printf("seat ready, no warm seats, with the disk limit (POST /vms/ → first prompt byte via the proxy), %d concurrent: p50 %s  p99 %s\n",
		n, ms(pct(ph.ready, 50)), ms(pct(ph.ready, 99)))
	if bw != nil {
		b50 := pct(bw, 50)
		c50 := pct(ph.ready, 50)
		fmt.Printf("bubblewrap just before: p50 %s  p99 %s\n  ours/bwrap cold: p50 %.2fx   (target p50 ≤ %.2fx: %s)\n",
			ms(b50), ms(pct(bw, 99)), float64(c50)/float64(b50), seatTargets.coldMax, verdict(float64(c50)/float64(b50) <= seatTargets.coldMax))
		fmt.Printf("  ready over the burst, ours:%s\n  ready over the burst, bwrap:%s\n", spread(ph.ready), spread(bw))
	}
	printVsBwrapDaemon(bwd, ph.ready)
	return nil
}

// oneAtATime times POST /vms/ for seats started from scratch one after the
// other (each deleted before the next): the seat start without contention.
func oneAtATime(ctx context.Context, ropts agent.RuntimeOptions, name, state string, log *slog.Logger) ([]time.Duration, error) {
	ag, err := startAgent(ropts, name, 2, 0, state, log)
	if err != nil {
		return nil, err
	}
	defer ag.stop()
	var out []time.Duration
	for range 10 {
		t0 := time.Now()
		if err := ag.createSeat(ctx, 1); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
		if err := ag.client.DeleteSeat(ctx, benchWS, 1); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// printDiskCost prints what the seats' disk limit adds to seat ready.
func printDiskCost(what string, with, without []time.Duration) {
	fmt.Printf("  the disk limit adds (%s, %d concurrent, same run): p50 %+.2f ms  p99 %+.2f ms\n", what, len(with),
		float64((pct(with, 50)-pct(without, 50)).Microseconds())/1000, float64((pct(with, 99)-pct(without, 99)).Microseconds())/1000)
}

// startAgent starts an agent with its own runtime (warm seats kept ready).
func startAgent(ropts agent.RuntimeOptions, name string, seats, warm int, state string, log *slog.Logger) (*benchAgent, error) {
	ropts.WarmSeats = warm
	rt, err := agent.NewRuntime(name, ropts)
	if err != nil {
		return nil, err
	}
	return serveAgent(rt, max(seats, 2)+2, state, log)
}

// serveAgent serves an agent on rt on a loopback port. On an error it
// closes rt (its warm seats).
func serveAgent(rt seatruntime.Runtime, capacity int, state string, log *slog.Logger) (ba *benchAgent, err error) {
	defer func() {
		if c, ok := rt.(io.Closer); ok && err != nil {
			_ = c.Close()
		}
	}()
	a, err := agent.New(agent.Config{
		Listen: "127.0.0.1:0", Token: benchToken, StateDir: state, Runtime: rt,
		Capacity: capacity, WorkspaceSecret: []byte(benchSecret), Logger: log,
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	// The agent outlives the bench's ctx so that the seats can still be
	// deleted after an interrupt.
	actx, stopAgent := context.WithCancel(context.Background())
	agentDone := make(chan error, 1)
	go func() { agentDone <- a.Serve(actx, ln) }()
	ba = &benchAgent{base: "http://" + ln.Addr().String(), asked: map[int]bool{}}
	ba.client = agentclient.New(ba.base, benchToken, nil)
	var once sync.Once
	ba.stop = func() {
		once.Do(func() {
			if err := ba.deleteSeats(); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
			}
			stopAgent() // Serve removes the warm seats on its way out
			<-agentDone
		})
	}
	return ba, nil
}

// waitWarm polls the agent's /health until n warm seats are ready.
func waitWarm(ctx context.Context, c *agentclient.Client, n int) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		h, err := c.Health(ctx)
		if err == nil && h.WarmSeats >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("warm seats not ready: %+v %v", h, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// seatReady creates n seats concurrently and times each from POST /vms/ to
// the first output byte of a terminal opened through the agent's proxy.
func seatReady(ctx context.Context, ag *benchAgent, n int) ([]time.Duration, []time.Duration, []*terminal.Client, error) {
	key := authtoken.WorkshopKey([]byte(benchSecret), benchWS)
	durs := make([]time.Duration, n)
	creates := make([]time.Duration, n)
	terms := make([]*terminal.Client, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seat := i + 1
			tok, _, err := authtoken.Issue(key, benchWS, seat, "", 0, time.Hour, time.Now())
			if err != nil {
				errs[i] = err
				return
			}
			<-start
			t0 := time.Now()
			if err := ag.createSeat(ctx, seat); err != nil {
				errs[i] = err
				return
			}
			creates[i] = time.Since(t0)
			u := ag.base + "/proxy/" + benchWS + "/" + strconv.Itoa(seat) + "/terminal?token=" + tok
			term, err := terminal.Dial(ctx, u, &terminal.DialOptions{Cols: 120, Rows: 40})
			if err != nil {
				errs[i] = err
				return
			}
			if _, err := term.ReadOutput(ctx); err != nil {
				errs[i] = fmt.Errorf("seat %d: first output: %w", seat, err)
				term.Close()
				return
			}
			durs[i] = time.Since(t0)
			terms[i] = term
		}()
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, t := range terms {
			if t != nil {
				t.Close()
			}
		}
		return nil, nil, nil, err
	}
	return durs, creates, terms, nil
}

type memFigures struct {
	rss, pss float64 // bytes per seat
	note     string
}

// seatMemory sums RSS and PSS of every seat's processes (its top process
// and all descendants) from /proc and averages over seats.
func seatMemory(ctx context.Context, c *agentclient.Client) (memFigures, error) {
	seats, err := c.ListSeats(ctx)
	if err != nil {
		return memFigures{}, err
	}
	if len(seats) == 0 {
		return memFigures{}, errors.New("no seats")
	}
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		return memFigures{}, errors.New("needs Linux /proc")
	}
	children := procinfo.Children()
	var rss, pss float64
	for _, s := range seats {
		pids := append([]int{s.PID}, procinfo.Below(children, s.PID)...)
		for _, p := range pids {
			r, ps := procMem(p)
			rss += r
			pss += ps
		}
	}
	n := float64(len(seats))
	return memFigures{rss: rss / n, pss: pss / n, note: fmt.Sprintf("; %d seats, one terminal session each", len(seats))}, nil
}

// procMem returns RSS and PSS of pid in bytes.
func procMem(pid int) (rss, pss float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "Rss:":
			rss = v * 1024
		case "Pss:":
			pss = v * 1024
		}
	}
	return rss, pss
}

// term is what the echo and throughput measurements drive.
type term interface {
	send(ctx context.Context, p []byte) error
	// read returns the next chunk of output.
	read(ctx context.Context) ([]byte, error)
}

type oursTerm struct{ c *terminal.Client }

func (t *oursTerm) send(ctx context.Context, p []byte) error { return t.c.Send(ctx, p) }
func (t *oursTerm) read(ctx context.Context) ([]byte, error) { return t.c.ReadOutput(ctx) }

// reader reads a term's output and finds markers in it without keeping
// more than the unmatched tail (64 MiB of cat must not pile up).
type reader struct {
	t   term
	buf []byte // read but not yet consumed
}

// until consumes output up to and including marker and returns how many
// bytes it consumed.
func (r *reader) until(ctx context.Context, marker string) (int64, error) {
	var n int64
	m := []byte(marker)
	for {
		if i := bytes.Index(r.buf, m); i >= 0 {
			n += int64(i + len(m))
			r.buf = append(r.buf[:0], r.buf[i+len(m):]...)
			return n, nil
		}
		if keep := len(m) - 1; len(r.buf) > keep {
			n += int64(len(r.buf) - keep)
			r.buf = append(r.buf[:0], r.buf[len(r.buf)-keep:]...)
		}
		p, err := r.t.read(ctx)
		if err != nil {
			return n, err
		}
		r.buf = append(r.buf, p...)
	}
}

// prompt is set in both shells; the command types it with an empty quoted
// string inside, so that the echo of the command line never matches it.
const prompt = "ct> "

// quiet sets the prompt and waits until the shell is idle at it.
func quiet(ctx context.Context, r *reader) error {
	if err := r.t.send(ctx, []byte("\x15PS1='c''t> '; echo QUI''ET\n")); err != nil {
		return err
	}
	if _, err := r.until(ctx, "QUIET"); err != nil {
		return err
	}
	_, err := r.until(ctx, prompt)
	return err
}

// echoRTT types one key at a time and waits for its echo.
func echoRTT(ctx context.Context, t term, n int) ([]time.Duration, error) {
	r := &reader{t: t}
	if err := quiet(ctx, r); err != nil {
		return nil, err
	}
	out := make([]time.Duration, 0, n)
	for i := range n {
		if i > 0 && i%40 == 0 {
			if err := quiet(ctx, r); err != nil {
				return nil, err
			}
		}
		k := []byte{byte('a' + i%26)}
		t0 := time.Now()
		if err := t.send(ctx, k); err != nil {
			return nil, err
		}
		if _, err := r.until(ctx, string(k)); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
	}
	return out, quiet(ctx, r)
}

// throughput makes a 64 MiB text file in the shell's directory and times
// cat of it to the marker after it, in MB/s (10^6 bytes of the file).
func throughput(ctx context.Context, t term) (float64, error) {
	r := &reader{t: t}
	if err := quiet(ctx, r); err != nil {
		return 0, err
	}
	line := strings.Repeat("0123456789abcdef", 6) + "xyz" // 99 chars + newline
	cmd := fmt.Sprintf("yes '%s' | head -c %d > ct-bench-64m.txt; echo MADE''-FILE\n", line, fileSize)
	if err := t.send(ctx, []byte(cmd)); err != nil {
		return 0, err
	}
	if _, err := r.until(ctx, "MADE-FILE"); err != nil {
		return 0, err
	}
	if _, err := r.until(ctx, prompt); err != nil {
		return 0, err
	}
	t0 := time.Now()
	if err := t.send(ctx, []byte("cat ct-bench-64m.txt; echo CAT''-DONE; rm -f ct-bench-64m.txt\n")); err != nil {
		return 0, err
	}
	n, err := r.until(ctx, "CAT-DONE")
	if err != nil {
		return 0, err
	}
	el := time.Since(t0)
	if n < fileSize {
		return 0, fmt.Errorf("read only %d bytes", n)
	}
	if _, err := r.until(ctx, prompt); err != nil {
		return 0, err
	}
	return float64(fileSize) / 1e6 / el.Seconds(), nil
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[i-1]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// spread is when the seats of a burst were ready, from its start: p10,
// p25, p50, p75, p90 and the last. Seats finishing in arrival order spread
// evenly up to the last (p50 about half of it); seats that share the CPU
// evenly all finish near the end (p50 close to the last).
func spread(d []time.Duration) string {
	var b strings.Builder
	for _, p := range []int{10, 25, 50, 75, 90, 100} {
		fmt.Fprintf(&b, " p%d %.0f", p, float64(pct(d, p).Microseconds())/1000)
	}
	last := pct(d, 100)
	return fmt.Sprintf("%s ms (p50/last %.2f)", b.String(), float64(pct(d, 50))/float64(last))
}

// directThroughput measures cat through a terminal opened on the seat's
// daemon socket itself, bypassing the agent, to show the proxy's cost. The
// daemon's address is host-internal (the agent's API does not report it):
// it is read from the agent's seat file in its state directory.
func directThroughput(ctx context.Context, state string) (float64, error) {
	raw, err := os.ReadFile(filepath.Join(state, "seats", benchWS+".1.json"))
	if err != nil {
		return 0, err
	}
	var s struct {
		Network string `json:"network"`
		Address string `json:"address"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, err
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, s.Network, s.Address)
	}}}
	tc, err := terminal.Dial(ctx, "http://workspace/terminal", &terminal.DialOptions{HTTPClient: hc, Cols: 120, Rows: 40})
	if err != nil {
		return 0, err
	}
	defer tc.Close()
	return throughput(ctx, &oursTerm{c: tc})
}

// ---- wetty ----

type wettyProc struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
	log  *bytes.Buffer
}

func (w *wettyProc) stop() {
	_ = w.cmd.Process.Kill()
	<-w.done
}

// startWetty installs wetty@3.2.0 (npm, once, in o.wettyDir), builds its
// node-pty and runs it on loopback with the same shell.
func startWetty(ctx context.Context, o options, tmp string) (*wettyProc, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("wetty runs a local shell only as root (otherwise it logs in over ssh)")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return nil, errors.New("npm is not installed")
	}
	if err := installWetty(ctx, o.wettyDir); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	home := filepath.Join(tmp, "wetty-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	main := filepath.Join(o.wettyDir, "node_modules", "wetty", "build", "main.js")
	cmd := exec.Command("node", main, "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--base", "/wetty",
		"--command", o.shell+" --norc --noprofile", "--log-level", wettyLogLevel())
	cmd.Dir = home
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TERM=xterm-256color", "LANG=C.UTF-8"}
	var logb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logb, &logb
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start wetty: %w", err)
	}
	w := &wettyProc{cmd: cmd, url: fmt.Sprintf("127.0.0.1:%d", port), done: make(chan struct{}), log: &logb}
	go func() { _ = cmd.Wait(); close(w.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + w.url + "/wetty/socket.io/?EIO=4&transport=polling")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return w, nil
			}
		}
		select {
		case <-w.done:
			return nil, fmt.Errorf("wetty exited: %s", strings.TrimSpace(logb.String()))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			w.stop()
			return nil, fmt.Errorf("wetty did not start: %s", logb.String())
		}
	}
}

// installWetty runs npm install of the pinned wetty with node-pty's install
// scripts allowed (npm 11 blocks dependency install scripts unless the
// project's package.json lists them in allowScripts), then npm rebuild
// node-pty so its native module matches this node.
func installWetty(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pkg := fmt.Sprintf(`{"private": true, "dependencies": {"wetty": %q}, "allowScripts": {"node-pty": true}}`+"\n", wettyVer)
	if b, _ := os.ReadFile(filepath.Join(dir, "package.json")); string(b) != pkg {
		if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(pkg), 0o644); err != nil {
			return err
		}
	}
	var installed struct{ Version string }
	b, _ := os.ReadFile(filepath.Join(dir, "node_modules", "wetty", "package.json"))
	_ = json.Unmarshal(b, &installed)
	ptyNode := filepath.Join(dir, "node_modules", "node-pty", "build", "Release", "pty.node")
	_, ptyErr := os.Stat(ptyNode)
	if installed.Version == wettyVer && ptyErr == nil {
		return nil
	}
	fmt.Fprintf(os.Stderr, "installing wetty@%s into %s (npm)...\n", wettyVer, dir)
	for _, args := range [][]string{
		{"install", "--no-audit", "--no-fund", "--save-exact"},
		{"rebuild", "node-pty", "--foreground-scripts"},
	} {
		cmd := exec.CommandContext(ctx, "npm", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("npm %s: %v: %s", strings.Join(args, " "), err, lastLines(out, 10))
		}
	}
	if _, err := os.Stat(ptyNode); err != nil {
		return fmt.Errorf("node-pty did not build (%s missing)", ptyNode)
	}
	return nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// wettyTerm speaks wetty's socket.io (Engine.IO v4) protocol over a
// WebSocket: events "input" and "resize" out, "data" in, and "commit"
// acknowledgements every 256 KiB as wetty's own browser client does (wetty
// pauses the PTY after 2 MiB unacknowledged).
type wettyTerm struct {
	conn      *websocket.Conn
	uncommit  int
	closeOnce sync.Once
}

const wettyAck = 262144

func wettyLogLevel() string {
	if os.Getenv("BENCH_LOG") != "" {
		return "debug"
	}
	return "error"
}

func dialWetty(ctx context.Context, addr string) (*wettyTerm, error) {
	u := "ws://" + addr + "/wetty/socket.io/?EIO=4&transport=websocket"
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, fmt.Errorf("dial wetty: %w", err)
	}
	conn.SetReadLimit(64 << 20)
	w := &wettyTerm{conn: conn}
	// Engine.IO open packet, then connect to the default namespace.
	if _, p, err := conn.Read(ctx); err != nil || len(p) == 0 || p[0] != '0' {
		conn.CloseNow()
		return nil, fmt.Errorf("wetty handshake: %q %v", p, err)
	}
	if err := conn.Write(ctx, websocket.MessageText, []byte("40")); err != nil {
		return nil, err
	}
	// Wait for the namespace connect, then for the shell.
	for {
		_, p, err := conn.Read(ctx)
		if err != nil {
			conn.CloseNow()
			return nil, fmt.Errorf("wetty connect: %w", err)
		}
		// wetty registers its input handler only once the shell runs, and
		// says so with a "login" event: input sent before it is lost.
		if bytes.HasPrefix(p, []byte(`42["login"`)) {
			break
		}
		if bytes.HasPrefix(p, []byte("44")) {
			conn.CloseNow()
			return nil, fmt.Errorf("wetty refused the connection: %s", p)
		}
	}
	if err := w.emit(ctx, "resize", map[string]int{"cols": 120, "rows": 40}); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *wettyTerm) close() { w.closeOnce.Do(func() { w.conn.CloseNow() }) }

func (w *wettyTerm) emit(ctx context.Context, event string, arg any) error {
	b, err := json.Marshal([]any{event, arg})
	if err != nil {
		return err
	}
	return w.conn.Write(ctx, websocket.MessageText, append([]byte("42"), b...))
}

func (w *wettyTerm) send(ctx context.Context, p []byte) error { return w.emit(ctx, "input", string(p)) }

func (w *wettyTerm) read(ctx context.Context) ([]byte, error) {
	for {
		_, p, err := w.conn.Read(ctx)
		if err != nil {
			return nil, err
		}
		switch {
		case len(p) == 1 && p[0] == '2': // Engine.IO ping
			if err := w.conn.Write(ctx, websocket.MessageText, []byte("3")); err != nil {
				return nil, err
			}
			continue
		case !bytes.HasPrefix(p, []byte("42")):
			continue
		}
		var ev []json.RawMessage
		if err := json.Unmarshal(p[2:], &ev); err != nil || len(ev) == 0 {
			continue
		}
		var name string
		_ = json.Unmarshal(ev[0], &name)
		switch name {
		case "data":
			var s string
			if len(ev) < 2 || json.Unmarshal(ev[1], &s) != nil {
				continue
			}
			w.uncommit += len(s)
			for w.uncommit >= wettyAck {
				w.uncommit -= wettyAck
				if err := w.emit(ctx, "commit", wettyAck); err != nil {
					return nil, err
				}
			}
			return []byte(s), nil
		case "logout", "disconnect":
			return nil, errors.New("wetty: shell exited")
		}
	}
}
