package local_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/provision"
	"github.com/clarateach/backend/internal/controlplane/provision/local"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/imagecache"
	"github.com/clarateach/backend/internal/host/localagent"
	"github.com/clarateach/backend/internal/host/seatruntime"
)

// TestHostSet: with two local agents, host n of a workshop is agent n
// (its own address and token); a stopped agent is reported stopped and
// started again by EnsureHost with its seats; draining host 2
// (DeleteHostN) touches only agent 2, and a third host is refused.
func TestHostSet(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "lhs")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	hosts, err := localagent.StartHosts(ctx, localagent.HostsConfig{
		Count:    2,
		StateDir: dir + "/agent",
		Runtime: func(d string) (seatruntime.Runtime, *imagecache.Cache, error) {
			rt, err := agent.NewRuntime("process", agent.RuntimeOptions{StateDir: d, DaemonCommand: []string{daemonBin}, Shell: "/bin/sh", Logger: quiet})
			return rt, nil, err
		},
		WorkspaceSecret: []byte(secret),
		Logger:          quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer localagent.StopAll(hosts)
	p := local.NewSet([]local.Agent{hosts[0], hosts[1]})
	client := func(h *provision.Host) *agentclient.Client { return agentclient.New(h.AgentURL, h.AgentToken, nil) }

	h1, err := p.EnsureHost(ctx, provision.Request{WorkshopID: "ws", Seats: 2})
	if err != nil {
		t.Fatal(err)
	}
	h2, err := p.EnsureHost(ctx, provision.Request{WorkshopID: "ws", Host: 2, Seats: 2})
	if err != nil {
		t.Fatal(err)
	}
	if h1.AgentURL == h2.AgentURL || h1.AgentToken == h2.AgentToken || h1.Name != "local" || h2.Name != "local-2" || h2.Index != 2 {
		t.Fatalf("hosts 1 and 2: %+v %+v", h1, h2)
	}
	for _, c := range []struct {
		h    *provision.Host
		seat int
	}{{h1, 1}, {h2, 3}, {h2, 4}} {
		seat, _, err := client(c.h).CreateSeat(ctx, "ws", c.seat, agentclient.SeatOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = client(c.h).DeleteSeat(context.Background(), "ws", seat.Seat) }()
	}
	if _, err := p.EnsureHost(ctx, provision.Request{WorkshopID: "ws", Host: 3}); err == nil || !strings.Contains(err.Error(), "LOCAL_HOSTS") {
		t.Errorf("host 3 of 2: %v", err)
	}

	// Agent 2 stops: host 2 is stopped, host 1 runs; EnsureHost brings it
	// back with its seats.
	if err := hosts[1].Stop(); err != nil {
		t.Fatal(err)
	}
	if g, err := p.GetHostN(ctx, "ws", 2); err != nil || g.State != provision.HostStopped {
		t.Fatalf("host 2 with its agent stopped: %+v %v", g, err)
	}
	if g, err := p.GetHost(ctx, "ws"); err != nil || g.State != provision.HostRunning {
		t.Fatalf("host 1 with agent 2 stopped: %+v %v", g, err)
	}
	h2, err = p.EnsureHost(ctx, provision.Request{WorkshopID: "ws", Host: 2})
	if err != nil || h2.State != provision.HostRunning || !hosts[1].Running() {
		t.Fatalf("EnsureHost of the stopped host 2: %+v %v", h2, err)
	}
	if got := seatNames(t, client(h2)); !slices.Equal(got, []string{"ws/3:running", "ws/4:running"}) {
		t.Fatalf("host 2's seats after its restart: %v", got)
	}

	// Draining host 2 leaves host 1's seat.
	if err := p.DeleteHostN(ctx, "ws", 2); err != nil {
		t.Fatal(err)
	}
	if got := seatNames(t, client(h2)); len(got) != 0 {
		t.Errorf("host 2 after the drain: %v", got)
	}
	if got := seatNames(t, client(h1)); !slices.Equal(got, []string{"ws/1:running"}) {
		t.Errorf("host 1 after draining host 2: %v", got)
	}
	list, err := p.ListHosts(ctx)
	if err != nil || len(list) != 1 || list[0].Index != 1 {
		t.Errorf("ListHosts after the drain: %+v %v", list, err)
	}
}
