// Command flood-bench measures what a terminal-connection flood on one
// learner token costs everyone else: the echo round trip of another
// learner's terminal through the control plane's relay and the agent, first
// quiet, then while a separate process holds --sockets WebSockets open on one
// token (re-dialling every --retry when refused). It prints both figures,
// their ratio, the server process's descriptors and the machine; it asserts
// nothing. See README.md beside this file.
//
//	cd backend && go run ./bench/flood [--sockets 5000] [--echo 300]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/clarateach/backend/bench/internal/machine"
	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
	"github.com/clarateach/backend/internal/fdlimit"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/seat/terminal"
)

const (
	agentToken = "bench-agent-token-0123456789"
	wsSecret   = "bench-workspace-secret-0123456789"
	childEnv   = "CLARATEACH_FLOOD_CHILD"
)

type options struct {
	sockets int
	echoN   int
	retry   time.Duration
	settle  time.Duration
	nice    int
	profile string
	daemon  string
}

func main() {
	if os.Getenv(childEnv) != "" {
		os.Exit(floodChild())
	}
	var o options
	flag.IntVar(&o.sockets, "sockets", 5000, "WebSockets the flood holds open on one learner token")
	flag.IntVar(&o.echoN, "echo", 300, "keystrokes per echo measurement")
	flag.DurationVar(&o.retry, "retry", time.Second, "how soon a refused flood socket dials again")
	flag.DurationVar(&o.settle, "settle", 3*time.Second, "wait after the flood's first wave before measuring")
	flag.IntVar(&o.nice, "flood-nice", 19, "nice value of the flood process (0 = share the CPU equally with the server)")
	flag.StringVar(&o.profile, "cpuprofile", "", "write the server process's CPU profile during the flood here")
	flag.StringVar(&o.daemon, "daemon", "", "workspace daemon binary (default: built from ./cmd/workspace)")
	flag.Parse()
	if os.Getenv("BENCH_LOG") == "" {
		// Request logs are still formatted (their cost is part of the
		// flood's), just not printed.
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "flood-bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if _, err := fdlimit.Raise(); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "flood-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if o.daemon == "" {
		if o.daemon, err = buildDaemon(tmp); err != nil {
			return err
		}
	}
	agentURL, stopAgent, err := startAgent(ctx, tmp, o.daemon)
	if err != nil {
		return err
	}
	defer stopAgent()
	base, wsID, gens, err := startControlPlane(ctx, tmp, agentURL)
	if err != nil {
		return err
	}
	key := authtoken.WorkshopKey([]byte(wsSecret), wsID)
	victim, _, _ := authtoken.Issue(key, wsID, 2, "learner", gens[2], time.Hour, time.Now())
	flooder, _, _ := authtoken.Issue(key, wsID, 1, "learner", gens[1], time.Hour, time.Now())
	termURL := func(seat int, tok string) string {
		return fmt.Sprintf("ws%s/api/workspaces/%s/%d/terminal?token=%s", strings.TrimPrefix(base, "http"), wsID, seat, tok)
	}

	printMachine()
	quiet, err := echoRTT(ctx, termURL(2, victim), o.echoN)
	if err != nil {
		return fmt.Errorf("quiet echo: %w", err)
	}
	report("quiet", quiet)

	child, stats, err := startFlood(termURL(1, flooder), o)
	if err != nil {
		return err
	}
	defer child.Process.Kill()
	time.Sleep(o.settle) // let the first wave land (a fixed settle, not a sync point)
	peak := &peakFDs{}
	stopWatch := peak.watch()
	if o.profile != "" {
		f, err := os.Create(o.profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	flood, err := echoRTT(ctx, termURL(2, victim), o.echoN)
	stopWatch()
	if err != nil {
		return fmt.Errorf("echo under flood: %w", err)
	}
	report(fmt.Sprintf("flood of %d", o.sockets), flood)
	_ = child.Process.Signal(os.Interrupt)
	_ = child.Wait()
	fmt.Printf("flood client: %s\n", strings.TrimSpace(stats.String()))
	fmt.Printf("server process descriptors during the flood: peak %d of %d\n", peak.max.Load(), fdlimit.Limit())
	fmt.Printf("load average at the end: %s\n", loadAvg())
	fmt.Printf("ratio p50 %.2fx, p99 %.2fx (target <= 2x)\n",
		float64(pct(flood, 50))/float64(pct(quiet, 50)), float64(pct(flood, 99))/float64(pct(quiet, 99)))
	return nil
}

func buildDaemon(dir string) (string, error) {
	out := filepath.Join(dir, "clarateach-workspace")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "github.com/clarateach/backend/cmd/workspace")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build workspace daemon: %w", err)
	}
	return out, nil
}

// startAgent runs an agent (process runtime) on loopback with two seats.
func startAgent(ctx context.Context, dir, daemon string) (string, func(), error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("BENCH_LOG") != "" {
		log = slog.Default()
	}
	state := filepath.Join(dir, "state")
	rt, err := agent.NewRuntime("process", agent.RuntimeOptions{StateDir: state, DaemonCommand: []string{daemon}, Shell: "/bin/bash", Logger: log, Capacity: 4})
	if err != nil {
		return "", nil, err
	}
	a, err := agent.New(agent.Config{Listen: "127.0.0.1:0", Token: agentToken, StateDir: state, Runtime: rt, Capacity: 4,
		WorkspaceSecret: []byte(wsSecret), Logger: log})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	actx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(actx, ln) }()
	url := "http://" + ln.Addr().String()
	c := agentclient.New(url, agentToken, nil)
	for seat := 1; seat <= 2; seat++ {
		if _, _, err := c.CreateSeat(ctx, "flood", seat, agentclient.SeatOptions{}); err != nil {
			stop()
			return "", nil, fmt.Errorf("create seat %d: %w", seat, err)
		}
	}
	return url, func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for seat := 1; seat <= 2; seat++ {
			_ = c.DeleteSeat(dctx, "flood", seat)
		}
		stop()
		<-done
	}, nil
}

// startControlPlane serves the real control plane (SQLite) on loopback with
// one running workshop, "flood", on the agent.
// startControlPlane serves a control plane whose running workshop has both
// seats held by a learner; it returns its URL, the workshop id and each
// seat's token generation (the relay accepts a learner token only for its
// seat's current one).
func startControlPlane(ctx context.Context, dir, agentURL string) (string, string, map[int]int64, error) {
	st, err := open.Open(ctx, "sqlite:"+filepath.Join(dir, "cp.db"))
	if err != nil {
		return "", "", nil, err
	}
	u := &store.User{Email: "bench@example.com", Name: "Bench", PasswordHash: "x", Role: store.RoleAdmin}
	if err := st.CreateUser(ctx, u); err != nil {
		return "", "", nil, err
	}
	w := &store.Workshop{ID: "flood", OwnerID: u.ID, Name: "Flood", Seats: 2, Status: store.StatusRunning,
		DesiredState: store.DesiredRunning, AgentURL: agentURL, AgentToken: agentToken}
	if err := st.CreateWorkshop(ctx, w); err != nil {
		return "", "", nil, err
	}
	if _, err := st.UpdateWorkshop(ctx, w.ID, func(w *store.Workshop) error {
		w.Status, w.AgentURL = store.StatusRunning, agentURL
		return nil
	}); err != nil {
		return "", "", nil, err
	}
	gens := map[int]int64{}
	for i := 1; i <= 2; i++ {
		reg, _, err := st.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: "L", Email: fmt.Sprintf("l%d@example.com", i)})
		if err != nil {
			return "", "", nil, err
		}
		seat, err := st.AssignSeat(ctx, reg.ID)
		if err != nil {
			return "", "", nil, err
		}
		gens[seat.Seat] = seat.Generation
	}
	cfg := &config.Config{Provisioner: "local", PublicURL: "http://127.0.0.1", MaxSeats: 30,
		JWTSecret: "bench-jwt-secret-0123456789", WorkspaceTokenSecret: wsSecret,
		WorkspaceTTL: time.Hour, SessionTTL: time.Hour}
	srv := server.New(server.Deps{Config: cfg, Store: st, Version: "bench"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", nil, err
	}
	go http.Serve(ln, srv.Handler())
	return "http://" + ln.Addr().String(), w.ID, gens, nil
}

// echoRTT types n keys, one at a time, and times each until bash echoes it.
func echoRTT(ctx context.Context, url string, n int) ([]time.Duration, error) {
	c, err := terminal.Dial(ctx, url, &terminal.DialOptions{Cols: 80, Rows: 24})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// A read whose context ends closes a WebSocket: one reader goroutine
	// feeds a channel, and the timeouts are on the channel.
	out := make(chan []byte, 64)
	go func() {
		defer close(out)
		for {
			b, err := c.ReadOutput(ctx)
			if err != nil {
				return
			}
			out <- b
		}
	}()
	if err := c.Send(ctx, []byte("PS1='$ '\r")); err != nil {
		return nil, err
	}
	drain(out, 300*time.Millisecond) // the prompt and the command's echo
	rtts := make([]time.Duration, 0, n)
	for i := range n {
		k := string(rune('a' + i%26))
		t0 := time.Now()
		if err := c.Send(ctx, []byte(k)); err != nil {
			return nil, err
		}
		for seen := ""; !strings.Contains(seen, k); {
			select {
			case b, ok := <-out:
				if !ok {
					return nil, fmt.Errorf("key %d: the terminal closed", i)
				}
				seen += string(b)
			case <-time.After(10 * time.Second):
				return nil, fmt.Errorf("key %d: no echo in 10 s", i)
			}
		}
		rtts = append(rtts, time.Since(t0))
		if i%60 == 59 { // keep the line short: ^U erases it
			if err := c.Send(ctx, []byte("\x15")); err != nil {
				return nil, err
			}
			drain(out, 50*time.Millisecond)
		}
	}
	return rtts, nil
}

// drain takes output until none came for quiet.
func drain(out <-chan []byte, quiet time.Duration) {
	for {
		select {
		case _, ok := <-out:
			if !ok {
				return
			}
		case <-time.After(quiet):
			return
		}
	}
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func report(label string, d []time.Duration) {
	fmt.Printf("echo round trip, %s: p50 %.2f ms, p99 %.2f ms (%d keys)\n", label,
		float64(pct(d, 50).Microseconds())/1000, float64(pct(d, 99).Microseconds())/1000, len(d))
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func printMachine() {
	fmt.Printf("%s, RLIMIT_NOFILE %d\n", machine.Read(), fdlimit.Limit())
}

// peakFDs samples the process's open descriptors.
type peakFDs struct{ max atomic.Int64 }

func (p *peakFDs) watch() func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			if n, err := fdlimit.Open(); err == nil && int64(n) > p.max.Load() {
				p.max.Store(int64(n))
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// startFlood starts the flood in a child process (so its sockets do not
// count against the server's descriptors, as in production) and returns
// where its final counts will be written.
func startFlood(url string, o options) (*exec.Cmd, *strings.Builder, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	// The flood runs at the lowest CPU priority: on a real host the
	// attacker's CPU is elsewhere, and this measures what the server pays.
	cmd := exec.Command("nice", "-n", strconv.Itoa(o.nice), self)
	cmd.Env = append(os.Environ(), childEnv+"=1", "FLOOD_URL="+url,
		fmt.Sprintf("FLOOD_SOCKETS=%d", o.sockets), "FLOOD_RETRY="+o.retry.String())
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	return cmd, out, cmd.Start()
}

// floodChild holds FLOOD_SOCKETS terminal WebSockets on FLOOD_URL: each
// worker dials, keeps an accepted socket open reading, and dials again
// FLOOD_RETRY after a refusal or a close, until interrupted.
func floodChild() int {
	if _, err := fdlimit.Raise(); err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
	}
	var n int
	fmt.Sscan(os.Getenv("FLOOD_SOCKETS"), &n)
	retry, _ := time.ParseDuration(os.Getenv("FLOOD_RETRY"))
	url := os.Getenv("FLOOD_URL")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var accepted, refused, failed, open, inFlight, peak atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if n := inFlight.Add(1); n > peak.Load() {
					peak.Store(n) // racy maximum: good enough for a figure
				}
				c, _, err := websocket.Dial(ctx, url, nil)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
				} else {
					c.SetReadLimit(1 << 20)
					if _, _, err := c.Read(ctx); err != nil {
						refused.Add(1)
					} else {
						accepted.Add(1)
						open.Add(1)
						for err == nil {
							_, _, err = c.Read(ctx)
						}
						open.Add(-1)
					}
					c.CloseNow()
				}
				inFlight.Add(-1)
				// Retries spread over ±50 % so the workers do not dial in
				// lockstep.
				jitter := time.Duration(rand.Int64N(int64(retry)+1)) - retry/2
				select {
				case <-ctx.Done():
				case <-time.After(retry + jitter):
				}
			}
		}()
	}
	<-ctx.Done()
	wg.Wait()
	fmt.Printf("%d workers, at most %d sockets at once: %d accepted, %d refused with a close code, %d failed to connect (503 or reset)\n",
		n, peak.Load(), accepted.Load(), refused.Load(), failed.Load())
	return 0
}
