package localagent_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/localagent"
	"github.com/clarateach/backend/internal/testbin"
)

// daemonBin is the workspace daemon, built once: the agent runs real
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

// TestRestartKeepsAddressAndToken: a control plane that starts again brings
// its local agent back on the same address with the same token (kept in the
// state directory, mode 0600), and the agent reattaches the same seats; when
// that port is taken, it takes another.
func TestRestartKeepsAddressAndToken(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "lcl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	startAgent := func() *localagent.Agent {
		rt, err := agent.NewRuntime("process", agent.RuntimeOptions{StateDir: dir, DaemonCommand: []string{daemonBin}, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		p, err := localagent.Start(ctx, localagent.Config{StateDir: dir, Runtime: rt, WorkspaceSecret: []byte(secret), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1 := startAgent()
	c1 := agentclient.New(p1.URL(), p1.Token(), nil)
	seat, _, err := c1.CreateSeat(ctx, "wsr", 1, agentclient.SeatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-seat.PID, syscall.SIGKILL) }()
	if err := p1.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "local-agent.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}

	p2 := startAgent()
	if p2.URL() != p1.URL() || p2.Token() != p1.Token() {
		t.Fatalf("restarted agent at %s (token kept: %v), was %s", p2.URL(), p2.Token() == p1.Token(), p1.URL())
	}
	seats, err := agentclient.New(p2.URL(), p2.Token(), nil).ListSeats(ctx)
	if err != nil || len(seats) != 1 || seats[0].PID != seat.PID || seats[0].Status != agentclient.StatusRunning {
		t.Fatalf("seats after restart: %+v %v", seats, err)
	}
	if err := p2.Close(); err != nil {
		t.Fatal(err)
	}

	// Take the old port. If something else already holds it (another
	// test's socket), it is just as taken.
	hold, err := net.Listen("tcp", strings.TrimPrefix(p1.URL(), "http://"))
	switch {
	case err == nil:
		defer hold.Close()
	case !errors.Is(err, syscall.EADDRINUSE):
		t.Fatal(err)
	}
	p3 := startAgent()
	defer p3.Close()
	if p3.URL() == p1.URL() || p3.Token() != p1.Token() {
		t.Fatalf("with the old port taken: %s (token kept: %v)", p3.URL(), p3.Token() == p1.Token())
	}
	if _, err := agentclient.New(p3.URL(), p3.Token(), nil).Health(ctx); err != nil {
		t.Fatal(err)
	}
}
