//go:build linux

package firecracker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/egress"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/host/seatruntime/firecracker"
	"github.com/clarateach/backend/internal/host/seatruntime/firecracker/fcfake"
	"github.com/clarateach/backend/internal/host/seatruntime/firecracker/hostnet"
	"github.com/clarateach/backend/internal/host/seatruntime/firecracker/internal/nstest"
)

// envFakeMain makes the test binary the firecracker stand-in (TestMain).
const envFakeMain = "CLARATEACH_FCFAKE_MAIN"

// TestAgentWatcherRepairsDeadMicroVM: through the agent's own seat watcher
// (CheckSeats, the path every runtime's dead seat takes), a microVM seat
// whose Firecracker process was killed is booted again in place: same seat
// disk with the learner's data, its allowlist in force, GET /vms reports it
// healthy with restarted_at, and a healthy seat next to it is left alone.
func TestAgentWatcherRepairsDeadMicroVM(t *testing.T) {
	if !nstest.Enter(t, "iptables", "iptables-restore", "mkfs.ext4") {
		return
	}
	dir := t.TempDir()
	rt := standInRuntime(t, dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := agent.New(agent.Config{Listen: "127.0.0.1:0", Token: "tok", StateDir: filepath.Join(dir, "agent"),
		Runtime: rt, SeatCheckInterval: -1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	c := agentclient.New(srv.URL, "tok", nil)
	ctx := context.Background()
	defer func() {
		for _, n := range []int{1, 2} {
			if err := a.DeleteSeat(ctx, "wsfc", n); err != nil {
				t.Errorf("delete seat %d: %v", n, err)
			}
		}
	}()

	guestAddrsOnLoopback(t, 1, 2)
	lab := []egress.Rule{{Prefix: netip.MustParsePrefix("10.99.0.2/32"), Port: 80}}
	s1, _, err := a.CreateSeat(ctx, seatruntime.Spec{WorkshopID: "wsfc", Seat: 1, Egress: lab})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.CreateSeat(ctx, seatruntime.Spec{WorkshopID: "wsfc", Seat: 2}); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(s1.Dir, "home.ext4")
	f, err := os.OpenFile(disk, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("kept"), 3<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()

	// The VM dies: GET /vms says so, the watcher boots it again in place.
	if err := syscall.Kill(s1.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, err := c.GetSeat(ctx, "wsfc", 1)
		if err == nil && g.Status == "dead" && g.Health == "down" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("seat 1 never reported dead: %+v %v", g, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the agent with a deadline
	}
	before := time.Now().UTC().Add(-time.Second)
	if n := a.CheckSeats(ctx); n != 1 {
		t.Fatalf("CheckSeats restarted %d seats, want 1", n)
	}
	got, err := c.GetSeat(ctx, "wsfc", 1)
	if err != nil || got.Status != "running" || got.Health != "ok" || got.PID == s1.PID || got.RestartedAt == nil || got.RestartedAt.Before(before) {
		t.Fatalf("after the watcher: %+v %v", got, err)
	}
	b := make([]byte, 4)
	if f, err := os.Open(disk); err != nil {
		t.Fatal(err)
	} else {
		f.ReadAt(b, 3<<20) //nolint:errcheck
		f.Close()
	}
	if string(b) != "kept" {
		t.Fatalf("learner's data on the seat disk after the repair: %q", b)
	}
	out, err := exec.Command("iptables", "-w", "-S", hostnet.ChainAllow).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-d 10.99.0.2/32") || !strings.Contains(string(out), "-s 192.168.100.11/32") {
		t.Fatalf("allowlist after the repair: %v\n%s", err, out)
	}
	if other, err := c.GetSeat(ctx, "wsfc", 2); err != nil || other.RestartedAt != nil || other.Health != "ok" {
		t.Fatalf("healthy seat 2: %+v %v", other, err)
	}
	if n := a.CheckSeats(ctx); n != 0 {
		t.Fatalf("second CheckSeats restarted %d healthy seats", n)
	}
}

// standInRuntime is a firecracker runtime whose "firecracker" is the test
// binary (fcfake.Main) and whose seat N's "guest daemon" is the fake's
// unix socket in the seat's directory.
func standInRuntime(t *testing.T, dir string) *firecracker.Runtime {
	t.Helper()
	kernel, base := filepath.Join(dir, "vmlinux"), filepath.Join(dir, "rootfs.ext4")
	for _, f := range []string{kernel, base} {
		if err := os.WriteFile(f, []byte("stand-in"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	state := filepath.Join(dir, "fc")
	rt, err := firecracker.New(firecracker.Config{
		Kernel: kernel, BaseImage: base, StateDir: state, LogDir: filepath.Join(dir, "log"),
		SeatDiskMB: 64, BootTimeout: 10 * time.Second, ShutdownTimeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Launcher: firecracker.ExecLauncher{Binary: os.Args[0], Env: []string{
			envFakeMain + "=1", fcfake.EnvGuestSock + "=guest.sock", fcfake.EnvCheckTap + "=1",
		}},
		Dial: func(ctx context.Context, _, addr string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(addr)
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return nil, err
			}
			seat := int(ip.As4()[3]) - firecracker.GuestIPOffset
			socks, _ := filepath.Glob(filepath.Join(state, "*-"+strconv.Itoa(seat), "guest.sock"))
			if len(socks) != 1 {
				return nil, fmt.Errorf("no guest at %s", addr)
			}
			var d net.Dialer
			return d.DialContext(ctx, "unix", socks[0])
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// guestAddrsOnLoopback puts seats' guest addresses on lo: the agent starts
// each seat's first shell there, where the stand-in has no daemon, and on
// loopback the dial is refused at once instead of waiting for ARP.
func guestAddrsOnLoopback(t *testing.T, seats ...int) {
	t.Helper()
	for _, n := range seats {
		ip := fmt.Sprintf("192.168.100.%d/32", firecracker.GuestIPOffset+n)
		if out, err := exec.Command("ip", "addr", "add", ip, "dev", "lo").CombinedOutput(); err != nil {
			t.Fatalf("ip addr add %s: %v: %s", ip, err, out)
		}
	}
}
