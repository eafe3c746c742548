package endtoend

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/provision/local"
	"github.com/clarateach/backend/internal/controlplane/reconcile"
	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/imagecache"
	"github.com/clarateach/backend/internal/host/localagent"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/seat/terminal"
)

// hostsEnv is a control plane in local mode with several local agents
// (LOCAL_HOSTS), started as package cli starts them.
type hostsEnv struct {
	*localEnv
	hosts []*localagent.Host
}

func startLocalHosts(ctx context.Context, t *testing.T, n, seatsPerHost int) *hostsEnv {
	t.Helper()
	dataDir := t.TempDir()
	st, err := open.Open(ctx, "sqlite:"+filepath.Join(dataDir, "ct.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := &config.Config{Provisioner: "local", PublicURL: "http://e2e.test", MaxSeats: n * seatsPerHost,
		SeatsPerHost: seatsPerHost, LocalHosts: n,
		JWTSecret: authtoken.Random(16), WorkspaceTokenSecret: authtoken.Random(16), WorkspaceTTL: 15 * time.Minute, SessionTTL: time.Hour}
	// A short state directory: unix socket paths are limited.
	stateBase, err := os.MkdirTemp("", "lh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(stateBase) })
	stateDir := filepath.Join(stateBase, "agent")
	rtName := agent.DefaultRuntime()
	hosts, err := localagent.StartHosts(ctx, localagent.HostsConfig{
		Count:    n,
		StateDir: stateDir,
		Runtime: func(dir string) (seatruntime.Runtime, *imagecache.Cache, error) {
			ro := agent.RuntimeOptions{StateDir: dir, DaemonCommand: []string{daemonBin}, NoNetwork: true}
			if rtName == "sandbox" {
				ro.SeatsDir = agent.LocalSeatsDir(dir)
				t.Cleanup(func() { os.RemoveAll(filepath.Dir(ro.SeatsDir)) })
			}
			rt, err := agent.NewRuntime(rtName, ro)
			return rt, nil, err
		},
		WorkspaceSecret: []byte(cfg.WorkspaceTokenSecret),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = localagent.StopAll(hosts) })
	agents := make([]local.Agent, len(hosts))
	for i, h := range hosts {
		agents[i] = h
	}
	prov := local.NewSet(agents)
	rec := reconcile.New(reconcile.Config{Store: st, Provisioner: prov, WorkspaceSecret: []byte(cfg.WorkspaceTokenSecret),
		WatchEvery: time.Millisecond})
	srv := server.New(server.Deps{Config: cfg, Store: st, Reconciler: rec, Version: "e2e"})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	t.Logf("runtime: %s, %d local hosts", rtName, n)
	return &hostsEnv{localEnv: &localEnv{st: st, cfg: cfg, prov: prov, rec: rec, hs: hs, c: client{t, hs.URL}, rtName: rtName, srv: srv}, hosts: hosts}
}

// seatsOn lists the workshop's live seats on local host i (1-based).
func (e *hostsEnv) seatsOn(t *testing.T, i int, wsID string) []int {
	t.Helper()
	h := e.hosts[i-1]
	list, err := agentclient.New(h.URL(), h.Token(), nil).ListSeats(context.Background())
	if err != nil {
		t.Fatalf("seats of local host %d: %v", i, err)
	}
	var out []int
	for _, s := range list {
		if s.WorkshopID == wsID && s.Status != agentclient.StatusDead {
			out = append(out, s.Seat)
		}
	}
	sort.Ints(out)
	return out
}

// placement is the workshop's seats on each local host.
func (e *hostsEnv) placement(t *testing.T, wsID string) string {
	t.Helper()
	var parts []string
	for i := range e.hosts {
		parts = append(parts, fmt.Sprintf("%d:%v", i+1, e.seatsOn(t, i+1, wsID)))
	}
	return strings.Join(parts, " ")
}

// passUntil runs reconciler passes until cond holds (a deadline, no
// sleeping on a guess: each pass is real work).
func (e *hostsEnv) passUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if err := e.rec.RunOnce(ctx); err != nil {
			t.Logf("pass: %v", err)
		}
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 90s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *hostsEnv) hostRows(t *testing.T, wsID string) string {
	t.Helper()
	rows, err := e.st.ListWorkshopHosts(context.Background(), wsID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range rows {
		out = append(out, fmt.Sprintf("%d:%s", h.HostIndex, h.Status))
	}
	return strings.Join(out, " ")
}

// shell opens the learner's terminal through the relay and runs a command
// in it, returning an error when the seat does not answer.
func (e *hostsEnv) shell(ctx context.Context, wsID string, seat int, tok, marker string) error {
	u := "ws" + strings.TrimPrefix(e.hs.URL, "http") + fmt.Sprintf("/api/workspaces/%s/%d/terminal?token=%s", wsID, seat, tok)
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	term, err := terminal.Dial(dctx, u, nil)
	if err != nil {
		return err
	}
	defer term.Close()
	if err := term.Send(dctx, []byte("echo "+marker+"-$((6*7))\n")); err != nil {
		return err
	}
	_, err = term.ReadUntil(dctx, marker+"-42")
	return err
}

// TestLocalHosts: local mode with LOCAL_HOSTS=3 and 2 seats per host runs
// a 5-seat workshop on the three local agents (seats 1-2, 3-4, 5), each
// with its own token, and the relay takes every learner to the agent that
// holds their seat. When host 2's agent stops, learners on hosts 1 and 3
// keep working, and the next pass starts it again: its seats (and shells)
// are back. The same for host 1: the workshop stays running meanwhile.
// The workshop's events tell each restart.
func TestLocalHosts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := startLocalHosts(ctx, t, 3, 2)
	_, wsID, code := e.running(ctx, t, 5)
	e.passUntil(ctx, t, "three hosts running", func() bool { return e.hostRows(t, wsID) == "1:running 2:running 3:running" })
	if got, want := e.placement(t, wsID), "1:[1 2] 2:[3 4] 3:[5]"; got != want {
		t.Fatalf("placement %s, want %s", got, want)
	}
	tokens := map[string]bool{}
	for _, h := range e.hosts {
		tokens[h.Token()] = true
	}
	if len(tokens) != 3 {
		t.Fatalf("the 3 local hosts have %d distinct agent tokens", len(tokens))
	}

	toks := map[int]string{}
	for i := 1; i <= 5; i++ {
		seat, tok := e.joinReady(t, e.learner(t, code, fmt.Sprintf("l%d@example.com", i)))
		toks[seat] = tok
	}
	for seat, tok := range toks {
		if err := e.shell(ctx, wsID, seat, tok, fmt.Sprintf("seat%d", seat)); err != nil {
			t.Fatalf("seat %d's terminal through the relay: %v", seat, err)
		}
	}

	for _, down := range []int{2, 1} {
		if err := e.hosts[down-1].Stop(); err != nil {
			t.Fatal(err)
		}
		for seat, tok := range toks {
			host := (seat + 1) / 2
			err := e.shell(ctx, wsID, seat, tok, "up")
			if host != down && err != nil {
				t.Fatalf("host %d down: seat %d on host %d stopped working: %v", down, seat, host, err)
			}
			if host == down && err == nil {
				t.Fatalf("host %d down: its seat %d still answers", down, seat)
			}
		}
		// Every pass leaves the workshop running: the other hosts' learners
		// are never turned away while one host is repaired.
		e.passUntil(ctx, t, fmt.Sprintf("host %d repaired", down), func() bool {
			if w, err := e.st.GetWorkshop(ctx, wsID); err != nil || w.Status != store.StatusRunning {
				t.Fatalf("while host %d is repaired, the workshop is %v (%s) %v", down, w.Status, w.StatusReason, err)
			}
			return e.hosts[down-1].Running()
		})
		e.passUntil(ctx, t, fmt.Sprintf("host %d's seats answer", down), func() bool {
			for seat, tok := range toks {
				if (seat+1)/2 == down && e.shell(ctx, wsID, seat, tok, "back") != nil {
					return false
				}
			}
			return true
		})
		if got, want := e.placement(t, wsID), "1:[1 2] 2:[3 4] 3:[5]"; got != want {
			t.Fatalf("after repairing host %d: placement %s, want %s", down, got, want)
		}
	}
	if got := e.hostRows(t, wsID); got != "1:running 2:running 3:running" {
		t.Errorf("host records after the repairs: %s", got)
	}
	evs, err := e.st.ListEvents(ctx, wsID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"host 1's agent had stopped", "host 2 (seats 3-4) was stopped (STOPPED); it was started again"} {
		if !slices.ContainsFunc(evs, func(ev store.Event) bool { return strings.Contains(ev.Message, want) }) {
			t.Errorf("no event tells %q: %+v", want, evs)
		}
	}
}

// TestLocalHostsGrowShrink: growing a running local workshop's seats adds
// hosts (their agents get the new seats); shrinking removes the hosts past
// the new size that hold no learner's seat, and keeps a host where a
// learner still holds one.
func TestLocalHostsGrowShrink(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := startLocalHosts(ctx, t, 4, 2)
	inst, wsID, code := e.running(ctx, t, 3)
	e.passUntil(ctx, t, "two hosts running", func() bool { return e.hostRows(t, wsID) == "1:running 2:running" })
	if got, want := e.placement(t, wsID), "1:[1 2] 2:[3] 3:[] 4:[]"; got != want {
		t.Fatalf("placement %s, want %s", got, want)
	}

	// Grow to 7 seats: hosts 3 and 4 come.
	if status, m := e.c.do("PATCH", "/api/workshops/"+wsID, inst, map[string]any{"seats": 7}); status != 200 {
		t.Fatalf("grow: %d %v", status, m)
	}
	e.passUntil(ctx, t, "four hosts running", func() bool {
		return e.hostRows(t, wsID) == "1:running 2:running 3:running 4:running"
	})
	if got, want := e.placement(t, wsID), "1:[1 2] 2:[3 4] 3:[5 6] 4:[7]"; got != want {
		t.Fatalf("after growing: placement %s, want %s", got, want)
	}
	// Five learners: the fifth holds seat 5, on host 3.
	var tok5 string
	for i := 1; i <= 5; i++ {
		seat, tok := e.joinReady(t, e.learner(t, code, fmt.Sprintf("g%d@example.com", i)))
		if seat == 5 {
			tok5 = tok
		}
	}
	if tok5 == "" {
		t.Fatal("no learner got seat 5")
	}

	// Shrink to 2 seats behind the API's back (it refuses to go below a
	// held seat; a learner's seat can outlive the size it was taken in):
	// host 4 holds no learner and goes, host 3 keeps its learner.
	if _, err := e.st.UpdateWorkshop(ctx, wsID, func(w *store.Workshop) error { w.Seats = 2; return nil }); err != nil {
		t.Fatal(err)
	}
	e.passUntil(ctx, t, "host 4 drained", func() bool { return !strings.Contains(e.hostRows(t, wsID), "4:") })
	if got := e.hostRows(t, wsID); got != "1:running 2:running 3:running" {
		t.Errorf("host records after shrinking: %s", got)
	}
	if got := e.seatsOn(t, 4, wsID); len(got) != 0 {
		t.Errorf("the drained host 4 still has seats %v", got)
	}
	if got := e.seatsOn(t, 3, wsID); !slices.Contains(got, 5) {
		t.Errorf("host 3 lost the learner's seat 5: %v", got)
	}
	if err := e.shell(ctx, wsID, 5, tok5, "kept"); err != nil {
		t.Errorf("seat 5 after shrinking: %v", err)
	}
}
