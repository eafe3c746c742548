package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox"
	"github.com/clarateach/backend/internal/seat/terminal"
)

// TestWatcherRestartsDeadSeatInPlace: a seat whose daemon was killed from
// the host is found by the seat watcher and restarted in place: its files
// are kept, GET /vms reports it healthy with restarted_at, its terminal
// works again, and healthy seats are left alone.
func TestWatcherRestartsDeadSeatInPlace(t *testing.T) {
	t.Run("process", func(t *testing.T) {
		t.Parallel()
		testWatcherRestarts(t, newTestAgent(t, "", func(c *Config) { c.SeatCheckInterval = -1 }))
	})
	t.Run("sandbox", func(t *testing.T) {
		t.Parallel()
		if os.Geteuid() != 0 {
			t.Skip("the sandbox runtime needs root")
		}
		testWatcherRestarts(t, newTestAgent(t, "", func(c *Config) {
			c.SeatCheckInterval = -1
			base := shortTempDir(t)
			if err := os.Chmod(base, 0o711); err != nil {
				t.Fatal(err)
			}
			rt, err := sandbox.New(sandbox.Config{DaemonPath: daemonBin, BaseDir: filepath.Join(base, "seats"), Shell: "/bin/sh",
				CgroupParent: "clarateach-agent-test", Network: sandbox.NetworkConfig{Disabled: true}, Logger: quietLog})
			if err != nil {
				t.Skip("sandbox unavailable: ", err)
			}
			c.Runtime = rt
		}))
	})
}

func testWatcherRestarts(t *testing.T, ta *testAgent) {
	ta.destroyAllOnCleanup(t)
	c := ta.client()
	ctx := context.Background()
	s1, _, err := c.CreateSeat(ctx, "wsh", 1, agentclient.SeatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CreateSeat(ctx, "wsh", 2, agentclient.SeatOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetSeat(ctx, "wsh", 1); err != nil || got.Health != "ok" || got.RestartedAt != nil {
		t.Fatalf("new seat: %+v %v", got, err)
	}
	tok := learnerToken(t, "wsh", 1, "", 0)
	if resp, body := proxyReq(t, "PUT", ta.srv.URL, "/proxy/wsh/1/files/content?path=keep.txt", "", tok, strings.NewReader("kept")); resp.StatusCode/100 != 2 {
		t.Fatalf("PUT file: %d %s", resp.StatusCode, body)
	}
	// Killed from the host: the process runtime's daemon, the sandbox
	// seat's init (a daemon alone is restarted by the init itself).
	if err := syscall.Kill(s1.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "seat 1 reported dead and down", func() bool {
		g, err := c.GetSeat(ctx, "wsh", 1)
		return err == nil && g.Status == "dead" && g.Health == "down"
	})
	before := time.Now().UTC().Add(-time.Second)
	if n := ta.CheckSeats(ctx); n != 1 {
		t.Fatalf("CheckSeats restarted %d seats, want 1", n)
	}
	got, err := c.GetSeat(ctx, "wsh", 1)
	if err != nil || got.Status != "running" || got.Health != "ok" || got.PID == s1.PID || got.RestartedAt == nil || got.RestartedAt.Before(before) {
		t.Fatalf("after the watcher: %+v %v", got, err)
	}
	resp, body := proxyReq(t, "GET", ta.srv.URL, "/proxy/wsh/1/files/content?path=keep.txt", tok, "", nil)
	if resp.StatusCode != 200 || string(body) != "kept" {
		t.Fatalf("learner's file after the restart: %d %q", resp.StatusCode, body)
	}
	term := dialTerminal(t, ta.srv.URL, "wsh", 1, tok, &terminal.DialOptions{Cols: 80, Rows: 24})
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := term.Send(tctx, []byte("echo back-$((40+2))\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := term.ReadUntil(tctx, "back-42"); err != nil {
		t.Fatalf("terminal after the restart: %v", err)
	}
	if other, err := c.GetSeat(ctx, "wsh", 2); err != nil || other.RestartedAt != nil {
		t.Fatalf("healthy seat 2: %+v %v", other, err)
	}
	if n := ta.CheckSeats(ctx); n != 0 {
		t.Fatalf("second CheckSeats restarted %d healthy seats", n)
	}
	if list, err := c.ListSeats(ctx); err != nil || len(list) != 2 || list[0].RestartedAt == nil || list[1].RestartedAt != nil {
		t.Fatalf("list: %+v %v", list, err)
	}
	resp, body = do(t, "GET", ta.srv.URL+"/metrics", testToken, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "clarateach_agent_seat_restarts_total 1\n") {
		t.Fatalf("metrics: %d, no restart counted", resp.StatusCode)
	}
}

// The seat watcher checks every seat once per interval, in ten slices:
// each seat number (a 500-seat class on one host included) falls in
// exactly one slice, and no slice holds more than a tenth of the seats
// rounded up, so no round checks them all at once.
func TestSeatCheckSlices(t *testing.T) {
	per := make([]int, checkSlices)
	for n := 1; n <= 500; n++ {
		in := 0
		for s := range checkSlices {
			if inSlice(n, s) {
				in++
				per[s]++
			}
		}
		if in != 1 {
			t.Fatalf("seat %d is in %d slices, want 1", n, in)
		}
	}
	for s, n := range per {
		if n > 50 {
			t.Fatalf("slice %d has %d of 500 seats, want at most 50", s, n)
		}
	}
	if !inSlice(-3, 7) {
		t.Fatal("a negative seat number is in no slice")
	}
}
