package main

import (
	"github.com/clarateach/backend/bench/internal/cputime"

	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/controlplane/provision/local"
	"github.com/clarateach/backend/internal/controlplane/reconcile"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/imagecache"
	"github.com/clarateach/backend/internal/host/localagent"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/seat/terminal"
)

// realHosts is the workshop's hosts with -local-hosts: that many local
// agents in this process, as the server runs them with LOCAL_HOSTS, with
// real seats, and the reconciler that provisions the workshop on them.
type realHosts struct {
	hosts  []*localagent.Host
	prov   *local.Provisioner
	rec    *reconcile.Reconciler
	tmp    string
	rtName string
}

// hostOptions are the -local-hosts run's settings.
type hostOptions struct {
	count   int
	runtime string // "" = the best this machine runs
	diskMB  int    // each seat's home; -1 = no limit (no loop device per seat)
}

// startRealHosts builds the workshop daemon and seat init, and starts the
// local agents.
func startRealHosts(ctx context.Context, o hostOptions, st store.Store, secret []byte) (*realHosts, error) {
	dir := ""
	if os.Geteuid() == 0 && os.MkdirAll("/var/lib/clarateach-bench", 0o755) == nil {
		dir = "/var/lib/clarateach-bench" // seat uids must traverse it
	}
	tmp, err := os.MkdirTemp(dir, "bigclass-")
	if err != nil {
		return nil, err
	}
	_ = os.Chmod(tmp, 0o755)
	daemon := filepath.Join(tmp, "clarateach-workspace")
	for pkg, out := range map[string]string{"cmd/workspace": daemon, "cmd/seatinit": filepath.Join(tmp, agent.SeatInitBinaryName)} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "github.com/clarateach/backend/"+pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			os.RemoveAll(tmp)
			return nil, fmt.Errorf("build %s: %w", pkg, err)
		}
	}
	// The first start chooses the runtime ("": the best this machine
	// runs, the process runtime where sandbox seats cannot exist); every
	// later one builds the same.
	r := &realHosts{tmp: tmp, rtName: o.runtime}
	quiet := slog.Default()
	r.hosts, err = localagent.StartHosts(ctx, localagent.HostsConfig{
		Count:    o.count,
		StateDir: filepath.Join(tmp, "agent"),
		Runtime: func(dir string) (seatruntime.Runtime, *imagecache.Cache, error) {
			ro := agent.RuntimeOptions{StateDir: dir, DaemonCommand: []string{daemon}, NoNetwork: true, DiskMB: o.diskMB, Logger: quiet}
			if r.rtName == "" || r.rtName == "sandbox" {
				ro.SeatsDir = filepath.Join(dir+"-seats", "seats")
			}
			rt, name, err := agent.ChooseRuntime(r.rtName, ro)
			r.rtName = name
			return rt, nil, err
		},
		WorkspaceSecret: secret,
		Logger:          quiet,
	})
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	agents := make([]local.Agent, len(r.hosts))
	for i, h := range r.hosts {
		agents[i] = h
	}
	r.prov = local.NewSet(agents)
	r.rec = reconcile.New(reconcile.Config{Store: st, Provisioner: r.prov, WorkspaceSecret: secret, WatchEvery: time.Hour})
	return r, nil
}

// close removes the workshop's seats, stops the agents and waits until
// the seats are gone from the machine (teardown).
func (r *realHosts) close(wsID string) {
	if wsID != "" {
		r.teardown(wsID)
	} else {
		_ = localagent.StopAll(r.hosts)
	}
	os.RemoveAll(r.tmp)
}

// provision runs reconciler passes until the workshop and every one of
// its hosts run, and prints how long that took.
func (r *realHosts) provision(ctx context.Context, st store.Store, wsID string, hosts int) error {
	t0 := time.Now()
	deadline := t0.Add(30 * time.Minute)
	for {
		if err := r.rec.RunOnce(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "bigclass: reconcile:", err)
		}
		w, err := st.GetWorkshop(ctx, wsID)
		if err != nil {
			return err
		}
		rows, err := st.ListWorkshopHosts(ctx, wsID)
		if err != nil {
			return err
		}
		up := 0
		for _, h := range rows {
			if h.Status == "running" {
				up++
			}
		}
		if w.Status == store.StatusRunning && up == hosts {
			fmt.Printf("  provisioning: %d seats on %d local hosts (%s seats) running in %.1f s\n", w.Seats, hosts, r.rtName, time.Since(t0).Seconds())
			return nil
		}
		if w.Status == store.StatusError || time.Now().After(deadline) {
			return fmt.Errorf("workshop %s (%s), %d of %d hosts running", w.Status, w.StatusReason, up, hosts)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// prompts has every joined learner open their terminal through the relay
// at once and run a command, and prints the time until the last one's
// shell answered.
func (b *bench) prompts(ctx context.Context, tokens []seatToken) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		lat  []time.Duration
		ferr error
	)
	base := "ws" + strings.TrimPrefix(b.base, "http")
	start := make(chan struct{})
	for _, t := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			err := livePrompt(ctx, fmt.Sprintf("%s/api/workspaces/%s/%d/terminal?token=%s", base, b.wsID, t.seat, t.token))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				ferr = fmt.Errorf("seat %d: %w", t.seat, err)
				return
			}
			lat = append(lat, time.Since(t0))
		}()
	}
	cpu0 := cputime.Self()
	t0 := time.Now()
	close(start)
	wg.Wait()
	wall, cpu := time.Since(t0), cputime.Self()-cpu0
	if ferr != nil {
		return ferr
	}
	fmt.Printf("  live prompts: %d learners open their terminal at once\n", len(tokens))
	fmt.Printf("    every learner at a live prompt  %7.0f ms   (p50 %.0f ms, p99 %.0f ms)\n", ms(wall), ms(pct(lat, 50)), ms(pct(lat, 99)))
	fmt.Printf("    CPU per prompt          %7.2f ms in this process (relay, agents, client; not the seats)\n", ms(cpu)/float64(len(tokens)))
	return nil
}

// livePrompt opens a terminal and waits for its shell to run a command.
func livePrompt(ctx context.Context, u string) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	term, err := terminal.Dial(dctx, u, nil)
	if err != nil {
		return err
	}
	defer term.Close()
	if err := term.Send(dctx, []byte("echo ready-$((6*7))\n")); err != nil {
		return err
	}
	_, err = term.ReadUntil(dctx, "ready-42")
	return err
}

// watchPass has a fresh reconciler (the server's, as it runs every
// ReconcileInterval) watch the running workshop once, and prints the CPU
// that took: the watch asks each host's agent for its seats, and each
// answer checks every seat it runs.
func (r *realHosts) watchPass(ctx context.Context, st store.Store, secret []byte) error {
	rec := reconcile.New(reconcile.Config{Store: st, Provisioner: r.prov, WorkspaceSecret: secret})
	self0, mach0, t0 := cputime.Self(), cputime.MachineBusy(), time.Now()
	if err := rec.RunOnce(ctx); err != nil {
		return fmt.Errorf("watch pass: %w", err)
	}
	self, mach, wall := cputime.Self()-self0, cputime.MachineBusy()-mach0, time.Since(t0)
	fmt.Printf("  a reconciler pass watching the class: %.0f ms, %.0f ms of this process's CPU (server, agents), %.0f ms of the machine's\n",
		ms(wall), ms(self), ms(mach))
	return nil
}
