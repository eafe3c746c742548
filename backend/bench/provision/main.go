// Command provision measures the time from "Start workshop" to a running
// workshop with the local provisioner: the reconciler (as the server
// configures it) drives a workshop of N seats through create_host,
// wait_agent and create_seats on an in-process agent with real seats (the
// sandbox runtime when this machine can run it, else process). It prints
// each run with its step timings, then p50 and max, and the ratio to the
// seed's reference (about 75 s on GCP, seats created one at a time).
//
//	go run ./bench/provision [-seats 30] [-runs 5] [-runtime sandbox|process] [-concurrency 10]
//
// It builds the workspace daemon itself, uses a temporary SQLite store and
// removes every seat it created, also when interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/clarateach/backend/bench/internal/machine"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/provision"
	"github.com/clarateach/backend/internal/controlplane/provision/local"
	"github.com/clarateach/backend/internal/controlplane/reconcile"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/localagent"
)

// Reference is the seed system's time to a running 30-seat workshop on GCP.
const Reference = 75 * time.Second

// Target is this system's goal on a development machine.
const Target = 2 * time.Second

func main() {
	seats := flag.Int("seats", 30, "seats in the workshop")
	runs := flag.Int("runs", 5, "workshops started one after the other")
	rtName := flag.String("runtime", "", "seat runtime: sandbox or process (default: the best available, as `make dev` picks)")
	conc := flag.Int("concurrency", 0, "concurrent seat creations (0 = the reconciler's default, as the server runs it)")
	seatNet := flag.Bool("seat-network", false, "give sandbox seats their network (veth + NAT; needs iptables); off by default, as local mode runs")
	flag.Parse()
	machine.Print()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *seats, *runs, *rtName, *conc, *seatNet); err != nil {
		fmt.Fprintln(os.Stderr, "provision bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, seats, runs int, rtName string, conc int, seatNet bool) (err error) {
	if seats < 1 || runs < 1 {
		return errors.New("-seats and -runs must be at least 1")
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	slog.SetDefault(quiet)

	dir, err := os.MkdirTemp("", "ctprov")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	daemon, err := buildDaemon(ctx, dir)
	if err != nil {
		return err
	}
	if rtName == "" {
		rtName = agent.DefaultRuntime()
	}
	stateDir := filepath.Join(dir, "agent")
	rt, err := agent.NewRuntime(rtName, runtimeOptions(stateDir, daemon, seatNet, quiet))
	if err != nil {
		return fmt.Errorf("runtime %s: %w", rtName, err)
	}
	la, err := localagent.Start(ctx, localagent.Config{StateDir: stateDir, Runtime: rt, WorkspaceSecret: []byte("bench-workspace-secret-0123456789"), Logger: quiet})
	if err != nil {
		return err
	}
	defer la.Close()
	prov := local.New(la.URL(), la.Token())
	probe, err := prov.EnsureHost(ctx, provision.Request{WorkshopID: "probe", Seats: 1})
	if err != nil {
		return err
	}
	ac := agentclient.New(probe.AgentURL, probe.AgentToken, nil)
	defer func() {
		// Every seat goes, whatever happened (also after Ctrl-C).
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		left, lerr := ac.ListSeats(cctx)
		if lerr != nil {
			err = errors.Join(err, fmt.Errorf("list seats for cleanup: %w", lerr))
			return
		}
		for _, s := range left {
			if derr := ac.DeleteSeat(cctx, s.WorkshopID, s.Seat); derr != nil {
				err = errors.Join(err, fmt.Errorf("cleanup seat %s/%d: %w", s.WorkshopID, s.Seat, derr))
			}
		}
	}()

	st, err := open.Open(ctx, "sqlite:"+filepath.Join(dir, "bench.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	u := &store.User{Email: "bench@example.test", Name: "Bench", PasswordHash: "x"}
	if err := st.CreateUser(ctx, u); err != nil {
		return err
	}
	rec := reconcile.New(reconcile.Config{Store: st, Provisioner: prov, WorkspaceSecret: []byte("bench-workspace-secret-0123456789"),
		BackendURL: "http://127.0.0.1:8080", SeatConcurrency: conc})
	shownConc := "10 (default)"
	if conc > 0 {
		shownConc = fmt.Sprint(conc)
	}
	network := "seat network off (loopback only, no iptables needed)"
	if seatNet {
		network = "seat network on (veth + NAT)"
	}
	fmt.Printf("time to running: %d seats, local provisioner, %s runtime, %s, seat concurrency %s, %d CPUs, %d runs\n",
		seats, rt.Name(), network, shownConc, runtime.NumCPU(), runs)

	var took []time.Duration
	for i := 1; i <= runs; i++ {
		d, steps, err := once(ctx, st, rec, ac, u.ID, seats)
		if err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
		took = append(took, d)
		fmt.Printf("  run %d: %7s   %s\n", i, d.Round(time.Millisecond), steps)
	}
	slices.Sort(took)
	p50, worst := took[(len(took)-1)/2], took[len(took)-1]
	verdict := "meets"
	if p50 > Target {
		verdict = "MISSES"
	}
	fmt.Printf("p50 %s  max %s  (target ≤ %s: %s)\n", p50.Round(time.Millisecond), worst.Round(time.Millisecond), Target, verdict)
	fmt.Printf("seed reference ~%s on GCP (seats one at a time): %.0f× faster at p50\n", Reference, Reference.Seconds()/p50.Seconds())
	return nil
}

// runtimeOptions are the agent's runtime options for the bench: the seat
// network is off unless asked for, as local mode runs by default, so the
// bench needs no iptables.
func runtimeOptions(stateDir, daemon string, seatNet bool, log *slog.Logger) agent.RuntimeOptions {
	return agent.RuntimeOptions{StateDir: stateDir, DaemonCommand: []string{daemon}, NoNetwork: !seatNet, Logger: log}
}

// once starts one workshop, waits until it is running with every seat live
// on the agent, then deletes it and checks its seats are gone.
func once(ctx context.Context, st store.Store, rec *reconcile.Reconciler, ac *agentclient.Client, owner string, seats int) (time.Duration, string, error) {
	w := &store.Workshop{OwnerID: owner, Name: "bench", Seats: seats, Status: store.StatusCreated, DesiredState: store.DesiredStopped, Provisioner: "local"}
	if err := st.CreateWorkshop(ctx, w); err != nil {
		return 0, "", err
	}
	setDesired := func(d store.DesiredState) error {
		_, err := st.UpdateWorkshop(ctx, w.ID, func(w *store.Workshop) error { w.DesiredState = d; return nil })
		return err
	}
	start := time.Now()
	// What the server's start route does, then the pass it kicks.
	if err := setDesired(store.DesiredRunning); err != nil {
		return 0, "", err
	}
	var got *store.Workshop
	for {
		if err := rec.Workshop(ctx, w.ID); err != nil {
			return 0, "", err
		}
		var err error
		if got, err = st.GetWorkshop(ctx, w.ID); err != nil {
			return 0, "", err
		}
		if got.Status != store.StatusProvisioning && got.Status != store.StatusCreated {
			break
		}
		if err := ctx.Err(); err != nil {
			return 0, "", err
		}
	}
	took := time.Since(start)
	if got.Status != store.StatusRunning {
		return 0, "", fmt.Errorf("workshop ended %s: %s", got.Status, got.StatusReason)
	}
	live, err := liveSeats(ctx, ac, w.ID)
	if err != nil {
		return 0, "", err
	}
	if live != seats {
		return 0, "", fmt.Errorf("%d of %d seats live on the agent", live, seats)
	}
	var steps []string
	if vm, err := st.GetWorkshopVM(ctx, w.ID); err == nil {
		for _, s := range vm.Steps {
			if s.FinishedAt != nil {
				steps = append(steps, fmt.Sprintf("%s %s", s.Name, s.FinishedAt.Sub(s.StartedAt).Round(time.Millisecond)))
			}
		}
	}

	if err := setDesired(store.DesiredDeleted); err != nil {
		return 0, "", err
	}
	if err := rec.Workshop(ctx, w.ID); err != nil {
		return 0, "", err
	}
	if left, err := liveSeats(ctx, ac, w.ID); err != nil || left != 0 {
		return 0, "", fmt.Errorf("after delete: %d seats left (%v)", left, err)
	}
	return took, strings.Join(steps, ", "), nil
}

func liveSeats(ctx context.Context, ac *agentclient.Client, ws string) (int, error) {
	list, err := ac.ListSeats(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range list {
		if s.WorkshopID == ws && s.Status == agentclient.StatusRunning {
			n++
		}
	}
	return n, nil
}

// buildDaemon builds cmd/workspace into dir.
func buildDaemon(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run this from the backend module (cd backend && go run ./bench/provision)")
	}
	bin := filepath.Join(dir, agent.DaemonBinaryName)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/workspace")
	cmd.Dir = filepath.Dir(mod)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build the workspace daemon: %w", err)
	}
	return bin, nil
}
