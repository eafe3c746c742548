package local_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/testbin"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/provision"
	"github.com/clarateach/backend/internal/controlplane/provision/local"
	"github.com/clarateach/backend/internal/controlplane/reconcile"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/localagent"
)

// daemonBin is the workspace daemon, built once: the local agent runs real
// seats with the process runtime.
var daemonBin string

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestMain(m *testing.M) {
	if os.Getenv("CLARATEACH_TEST_LOGS") == "" {
		slog.SetDefault(quiet)
	}
	os.Exit(testbin.Run(m, testbin.Workspace(&daemonBin)))
}

const secret = "test-workspace-secret-0123456789"

// start starts the local provisioner's agent with the process runtime in a
// short temp dir (unix socket paths are limited); every seat left is
// destroyed and the agent stopped at the end.
func start(t *testing.T) (*local.Provisioner, *agentclient.Client) {
	t.Helper()
	dir, err := os.MkdirTemp("", "lcl")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := agent.NewRuntime("process", agent.RuntimeOptions{StateDir: dir, DaemonCommand: []string{daemonBin}, Shell: "/bin/sh", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	p, a := startLocal(t, localagent.Config{StateDir: dir, Runtime: rt, WorkspaceSecret: []byte(secret), Logger: quiet})
	h, err := p.EnsureHost(context.Background(), provision.Request{WorkshopID: "probe", Seats: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := agentclient.New(h.AgentURL, h.AgentToken, nil)
	t.Cleanup(func() {
		ctx := context.Background()
		if seats, err := c.ListSeats(ctx); err == nil {
			for _, s := range seats {
				if err := c.DeleteSeat(ctx, s.WorkshopID, s.Seat); err != nil {
					t.Errorf("cleanup: delete seat: %v", err)
				}
			}
		}
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		os.RemoveAll(dir)
	})
	return p, c
}

// startLocal starts the local agent as package cli does, and the
// provisioner handed its URL and token.
func startLocal(t *testing.T, cfg localagent.Config) (*local.Provisioner, *localagent.Agent) {
	t.Helper()
	a, err := localagent.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return local.New(a.URL(), a.Token()), a
}

func seatNames(t *testing.T, c *agentclient.Client) []string {
	t.Helper()
	seats, err := c.ListSeats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range seats {
		out = append(out, fmt.Sprintf("%s/%d:%s", s.WorkshopID, s.Seat, s.Status))
	}
	sort.Strings(out)
	return out
}

func TestProvisioner(t *testing.T) {
	t.Parallel()
	p, c := start(t)
	ctx := context.Background()
	if p.Name() != "local" {
		t.Errorf("Name = %q", p.Name())
	}

	// EnsureHost: the shared loopback agent, with its own token, idempotent.
	h1, err := p.EnsureHost(ctx, provision.Request{WorkshopID: "wsa", Seats: 2, AgentToken: "ignored-by-local"})
	if err != nil {
		t.Fatal(err)
	}
	if h1.AgentURL != p.URL() || h1.IP != "127.0.0.1" || h1.Status != "RUNNING" || h1.WorkshopID != "wsa" || h1.AgentToken == "" || h1.CreatedAt.IsZero() {
		t.Errorf("host = %+v", h1)
	}
	if _, err := c.Health(ctx); err != nil {
		t.Fatalf("the agent at %s does not answer: %v", h1.AgentURL, err)
	}
	// The token is required on the control API.
	if _, err := agentclient.New(h1.AgentURL, "wrong-token", nil).ListSeats(ctx); err == nil {
		t.Error("the local agent accepted a wrong token")
	}
	h2, err := p.EnsureHost(ctx, provision.Request{WorkshopID: "wsa", Seats: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !h2.CreatedAt.Equal(h1.CreatedAt) || h2.AgentToken != h1.AgentToken {
		t.Errorf("EnsureHost again = %+v, want the same host as %+v", h2, h1)
	}
	g, err := p.GetHost(ctx, "wsa")
	if err != nil || g.AgentURL != h1.AgentURL {
		t.Errorf("GetHost = %+v, %v", g, err)
	}

	// ListHosts: one host per workshop that has seats.
	if hosts, err := p.ListHosts(ctx); err != nil || len(hosts) != 0 {
		t.Errorf("ListHosts with no seats = %v, %v", hosts, err)
	}
	for _, s := range []struct {
		ws   string
		seat int
	}{{"wsa", 1}, {"wsa", 2}, {"wsb", 1}} {
		if _, _, err := c.CreateSeat(ctx, s.ws, s.seat, agentclient.SeatOptions{}); err != nil {
			t.Fatalf("create seat %s/%d: %v", s.ws, s.seat, err)
		}
	}
	hosts, err := p.ListHosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range hosts {
		ids = append(ids, h.WorkshopID)
		if h.AgentURL != p.URL() {
			t.Errorf("listed host %+v", h)
		}
	}
	sort.Strings(ids)
	if !slices.Equal(ids, []string{"wsa", "wsb"}) {
		t.Errorf("ListHosts = %v", ids)
	}

	// DeleteHost removes that workshop's seats only; again is a no-op.
	if err := p.DeleteHost(ctx, "wsa"); err != nil {
		t.Fatal(err)
	}
	if got := seatNames(t, c); !slices.Equal(got, []string{"wsb/1:running"}) {
		t.Errorf("seats after DeleteHost(wsa) = %v", got)
	}
	if err := p.DeleteHost(ctx, "wsa"); err != nil {
		t.Errorf("DeleteHost of a gone host: %v", err)
	}
	if err := p.DeleteHost(ctx, "never-created"); err != nil {
		t.Errorf("DeleteHost of an unknown workshop: %v", err)
	}
	// A deleted host is created afresh.
	h3, err := p.EnsureHost(ctx, provision.Request{WorkshopID: "wsa", Seats: 2})
	if err != nil || h3.CreatedAt.Before(h1.CreatedAt) {
		t.Errorf("recreated host = %+v, %v", h3, err)
	}
}

func TestGetHostWhenAgentIsDown(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "lcl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	rt, err := agent.NewRuntime("process", agent.RuntimeOptions{StateDir: dir, DaemonCommand: []string{daemonBin}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	p, a := startLocal(t, localagent.Config{StateDir: dir, Runtime: rt, WorkspaceSecret: []byte(secret), Logger: quiet})
	ctx := context.Background()
	if _, err := p.GetHost(ctx, "ws"); err != nil {
		t.Fatalf("GetHost with the agent up: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.GetHost(ctx, "ws"); !errors.Is(err, provision.ErrNotFound) {
		t.Errorf("GetHost with the agent stopped = %v, want ErrNotFound", err)
	}
	if _, err := p.ListHosts(ctx); err == nil {
		t.Error("ListHosts with the agent stopped succeeded")
	}
}

// TestReconcilerWithLocalProvisioner: a 3-seat workshop driven by the
// reconciler reaches running with 3 live seats on the local agent, and
// stopping it removes them.
func TestReconcilerWithLocalProvisioner(t *testing.T) {
	t.Parallel()
	p, c := start(t)
	ctx := context.Background()
	st, err := open.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := &store.User{Email: "i@example.test", Name: "I", PasswordHash: "x"}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	w := &store.Workshop{OwnerID: u.ID, Name: "Local", Seats: 3, Status: store.StatusCreated, DesiredState: store.DesiredRunning, Provisioner: "local"}
	if err := st.CreateWorkshop(ctx, w); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	r := reconcile.New(reconcile.Config{Store: st, Provisioner: p, Now: func() time.Time { return now }, WorkspaceSecret: []byte(secret)})
	if err := r.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetWorkshop(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.StatusRunning || got.AgentURL != p.URL() {
		t.Fatalf("workshop = %s (%s) at %q, want running at %s", got.Status, got.StatusReason, got.AgentURL, p.URL())
	}
	want := []string{w.ID + "/1:running", w.ID + "/2:running", w.ID + "/3:running"}
	if s := seatNames(t, c); !slices.Equal(s, want) {
		t.Errorf("seats = %v, want %v", s, want)
	}
	h, err := c.Health(ctx)
	if err != nil || h.VMCount != 3 {
		t.Errorf("health = %+v, %v; want 3 live seats", h, err)
	}

	update := func(fn func(*store.Workshop)) {
		if _, err := st.UpdateWorkshop(ctx, w.ID, func(w *store.Workshop) error { fn(w); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	update(func(w *store.Workshop) { w.DesiredState = store.DesiredStopped })
	if err := r.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.GetWorkshop(ctx, w.ID); got.Status != store.StatusStopped {
		t.Errorf("after stop: %s (%s)", got.Status, got.StatusReason)
	}
	if s := seatNames(t, c); len(s) != 0 {
		t.Errorf("seats after stop = %v", s)
	}
	// Garbage collection finds nothing on a clean agent.
	if n, err := r.GC(ctx); err != nil || n != 0 {
		t.Errorf("GC = %d, %v", n, err)
	}
}
