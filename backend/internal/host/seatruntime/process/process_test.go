package process

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/testbin"

	"golang.org/x/sys/unix"

	"github.com/clarateach/backend/internal/host/seatruntime"
)

// daemonBin is the workspace daemon, built once for the package's tests.
var daemonBin string

func TestMain(m *testing.M) {
	os.Exit(testbin.Run(m, testbin.Workspace(&daemonBin)))
}

// shortTempDir returns a temp dir with a short path (unix socket paths are
// limited to ~104 bytes) that is removed after the test.
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "prt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func newRuntime(t *testing.T, base string) *Runtime {
	t.Helper()
	r, err := New(Config{DaemonCommand: []string{daemonBin}, BaseDir: base, Shell: "/bin/sh"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func createSeat(t *testing.T, r *Runtime, ws string, seat int) *seatruntime.Seat {
	t.Helper()
	s, err := r.Create(context.Background(), seatruntime.Spec{WorkshopID: ws, Seat: seat})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Destroy(context.Background(), s) })
	return s
}

func TestCreateAliveDestroy(t *testing.T) {
	t.Parallel()
	base := shortTempDir(t)
	r := newRuntime(t, base)
	ctx := context.Background()
	s := createSeat(t, r, "ws1", 3)

	if s.Runtime != "process" || s.WorkshopID != "ws1" || s.Seat != 3 || s.Network != "unix" || s.PID <= 0 {
		t.Fatalf("seat = %+v", s)
	}
	if want := filepath.Join(base, "ws1", "3", "run", "workspace.sock"); s.Address != want {
		t.Fatalf("address = %s, want %s", s.Address, want)
	}
	if fi, err := os.Stat(filepath.Join(s.Dir, "home")); err != nil || !fi.IsDir() {
		t.Fatalf("home dir: %v", err)
	}
	if !r.Alive(ctx, s) {
		t.Fatal("new seat not alive")
	}
	// Its own session, so it survives the agent.
	if sid, err := getsid(s.PID); err != nil || sid != s.PID {
		t.Fatalf("daemon session = %d (%v), want its own (%d)", sid, err, s.PID)
	}
	// The seat round-trips through JSON (the agent's state file) and stays alive.
	b, _ := json.Marshal(s)
	var back seatruntime.Seat
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !r.Alive(ctx, &back) {
		t.Fatal("seat from JSON not alive")
	}

	if err := r.Destroy(ctx, s); err != nil {
		t.Fatal(err)
	}
	if r.Alive(ctx, s) {
		t.Fatal("destroyed seat alive")
	}
	if err := syscall.Kill(s.PID, 0); err == nil && !isZombie(s.PID) {
		t.Fatalf("daemon %d still running", s.PID)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Fatalf("seat dir left behind: %v", err)
	}
	if err := r.Destroy(ctx, s); err != nil {
		t.Fatalf("second destroy: %v", err)
	}
}

func TestAliveDetectsPIDReuseAndDeadDaemon(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, shortTempDir(t))
	ctx := context.Background()
	s := createSeat(t, r, "ws2", 1)

	tests := []struct {
		name string
		mut  func(*seatruntime.Seat)
		want bool
	}{
		{"as created", func(*seatruntime.Seat) {}, true},
		{"other start time", func(c *seatruntime.Seat) { c.Extra = mustJSON(extra{StartTime: 1, PGID: c.PID}) }, !hasProcFS()},
		{"other pid", func(c *seatruntime.Seat) { c.PID = os.Getpid() }, false},
		{"no pid", func(c *seatruntime.Seat) { c.PID = 0 }, false},
		{"wrong socket", func(c *seatruntime.Seat) { c.Address = filepath.Join(c.Dir, "nope.sock") }, false},
		{"tcp network", func(c *seatruntime.Seat) { c.Network = "tcp" }, false},
	}
	for _, tt := range tests {
		c := *s
		tt.mut(&c)
		if got := r.Alive(ctx, &c); got != tt.want {
			t.Errorf("%s: Alive = %v, want %v", tt.name, got, tt.want)
		}
	}
	if r.Alive(ctx, nil) {
		t.Error("Alive(nil) = true")
	}
}

func TestCreateAdoptsRunningDaemon(t *testing.T) {
	t.Parallel()
	base := shortTempDir(t)
	r1 := newRuntime(t, base)
	s1 := createSeat(t, r1, "ws3", 2)

	// A new runtime (as after an agent restart) asked for the same seat
	// adopts the running daemon instead of starting a second one.
	r2 := newRuntime(t, base)
	s2, err := r2.Create(context.Background(), seatruntime.Spec{WorkshopID: "ws3", Seat: 2})
	if err != nil {
		t.Fatal(err)
	}
	if s2.PID != s1.PID {
		t.Fatalf("second create started pid %d, want adopted %d", s2.PID, s1.PID)
	}
}

func TestCreateFailsWhenDaemonExits(t *testing.T) {
	t.Parallel()
	base := shortTempDir(t)
	r, err := New(Config{DaemonCommand: []string{"/bin/sh", "-c", "echo broken >&2; exit 3", "sh"}, BaseDir: base})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = r.Create(context.Background(), seatruntime.Spec{WorkshopID: "ws4", Seat: 1})
	if err == nil {
		t.Fatal("create with a failing daemon succeeded")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("failure took %v; should be noticed when the daemon exits", time.Since(start))
	}
	log, _ := os.ReadFile(filepath.Join(base, "ws4", "1", "daemon.log"))
	if string(log) != "broken\n" {
		t.Fatalf("daemon.log = %q", log)
	}
}

func TestNewAndCreateValidate(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{BaseDir: t.TempDir()}); err == nil {
		t.Error("New without a daemon command succeeded")
	}
	if _, err := New(Config{DaemonCommand: []string{"/nonexistent/daemon"}, BaseDir: t.TempDir()}); err == nil {
		t.Error("New with a missing daemon succeeded")
	}
	if _, err := New(Config{DaemonCommand: []string{daemonBin}}); err == nil {
		t.Error("New without a base dir succeeded")
	}
	r := newRuntime(t, shortTempDir(t))
	for _, spec := range []seatruntime.Spec{
		{WorkshopID: "", Seat: 1},
		{WorkshopID: "../x", Seat: 1},
		{WorkshopID: "a/b", Seat: 1},
		{WorkshopID: "ok", Seat: 0},
		{WorkshopID: "ok", Seat: -1},
	} {
		if _, err := r.Create(context.Background(), spec); err == nil {
			t.Errorf("Create(%+v) succeeded", spec)
		}
	}
	long := newRuntime(t, filepath.Join(shortTempDir(t), "a-very-long-directory-name-that-goes-on-and-on-and-on-and-on-and-on"))
	if _, err := long.Create(context.Background(), seatruntime.Spec{WorkshopID: "ws", Seat: 1}); err == nil {
		t.Error("Create with a socket path over the limit succeeded")
	}
}

func TestWithin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base, p string
		want    bool
	}{
		{"/a/b", "/a/b/c", true},
		{"/a/b", "/a/b/c/d", true},
		{"/a/b", "/a/b", false},
		{"/a/b", "/a", false},
		{"/a/b", "/a/bc", false},
		{"/a/b", "/a/b/../c", false},
	}
	for _, tt := range tests {
		if got := within(tt.base, tt.p); got != tt.want {
			t.Errorf("within(%q, %q) = %v, want %v", tt.base, tt.p, got, tt.want)
		}
	}
}

func getsid(pid int) (int, error) { return unix.Getsid(pid) }
