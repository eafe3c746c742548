//go:build linux

package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clarateach/backend/internal/host/procinfo"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatinit"
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatpid1"
)

func TestSeatKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ws   string
		seat int
		want string
	}{
		{"ws-1", 3, "ws-1-3"},
		{"abc_DEF.9", 0, "abc_DEF.9-0"},
		{"", 1, ""},
		{"../x", 1, ""},
		{"a..b", 1, ""},
		{"a/b", 1, ""},
		{".hidden", 1, ""},
		{"ws", -1, ""},
		{strings.Repeat("a", 65), 1, ""},
		{strings.Repeat("a", 64), 2, strings.Repeat("a", 64) + "-2"},
		{"-ws", 1, ""},
		{"w s", 1, ""},
		{"wé", 1, ""},
	} {
		got, err := seatKey(seatruntime.Spec{WorkshopID: tc.ws, Seat: tc.seat})
		if tc.want == "" {
			if err == nil {
				t.Errorf("seatKey(%q,%d) = %q, want an error", tc.ws, tc.seat, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("seatKey(%q,%d) = %q, %v; want %q", tc.ws, tc.seat, got, err, tc.want)
		}
	}
}

func TestSlotAddrs(t *testing.T) {
	t.Parallel()
	r := &Runtime{}
	var err error
	r.subnet, err = netip.ParsePrefix("10.222.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		slot       int
		host, seat string
	}{
		{0, "10.222.0.1/30", "10.222.0.2/30"},
		{1, "10.222.0.5/30", "10.222.0.6/30"},
		{64, "10.222.1.1/30", "10.222.1.2/30"},
		{16383, "10.222.255.253/30", "10.222.255.254/30"},
	} {
		h, s := r.slotAddrs(tc.slot)
		if h.String() != tc.host || s.String() != tc.seat {
			t.Errorf("slot %d: %s %s, want %s %s", tc.slot, h, s, tc.host, tc.seat)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without DaemonPath/BaseDir succeeded")
	}
	if os.Geteuid() == 0 {
		// An init binary that an unprivileged uid cannot reach is refused
		// up front, with the reason.
		dir := t.TempDir() // 0700
		bin := filepath.Join(dir, "d")
		if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := New(Config{DaemonPath: bin, BaseDir: filepath.Join(dir, "b")})
		if err == nil || !strings.Contains(err.Error(), "searchable") {
			t.Fatalf("New with a 0700 parent: %v", err)
		}
	}
}

func seatExtra(t *testing.T, s *seatruntime.Seat) *extra {
	t.Helper()
	ex, err := parseExtra(s)
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

func TestCreateAliveDestroy(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	r := newRuntime(t, cfg)
	s, err := r.Create(context.Background(), seatruntime.Spec{WorkshopID: "ws-basic", Seat: 3})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	ex := seatExtra(t, s)
	if s.Runtime != "sandbox" || s.Network != "unix" || s.PID <= 0 || s.Dir != filepath.Join(cfg.BaseDir, "ws-basic-3") {
		t.Fatalf("seat: %+v", s)
	}
	if !r.Alive(context.Background(), s) {
		t.Fatal("new seat is not alive")
	}
	if got := seatSh(t, s, "hostname"); got != "seat-3" {
		t.Errorf("hostname = %q", got)
	}
	if got := seatSh(t, s, "id -un; id -u; id -g; echo $HOME; pwd"); got != "learner\n1000\n1000\n/home/learner\n/home/learner" {
		t.Errorf("identity = %q", got)
	}
	// The learner's files are owned on the host by the seat's unprivileged
	// host uid.
	seatSh(t, s, "echo hello > notes.txt")
	st, err := os.Stat(seatHomePath(s, "notes.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := int(st.Sys().(*syscall.Stat_t).Uid); uid != ex.UIDBase+1000 || uid < 65536 {
		t.Errorf("file owner on host = %d, want %d", uid, ex.UIDBase+1000)
	}
	// The init is in its own session (it survives the agent's).
	if sid, _ := unix.Getsid(s.PID); sid != s.PID {
		t.Errorf("seat init session = %d, want its own (%d)", sid, s.PID)
	}

	// A seat whose pid was reused is not alive.
	bad := *s
	ex2 := *ex
	ex2.StartTime++
	bad.Extra, _ = json.Marshal(&ex2)
	if r.Alive(context.Background(), &bad) {
		t.Error("seat with a wrong start time is alive")
	}

	if err := r.Destroy(context.Background(), s); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if r.Alive(context.Background(), s) {
		t.Fatal("destroyed seat is alive")
	}
	if procinfo.Running(s.PID, ex.StartTime) {
		t.Error("seat init still running after Destroy")
	}
	for _, d := range ex.Cgroup.Dirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s left behind: %v", d, err)
		}
	}
	if _, err := os.Stat(s.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("seat dir left behind: %v", err)
	}
	waitNoLoops(t, s.Dir) // the home's loop device
	if _, err := os.Stat(filepath.Join(cfg.BaseDir, ".slots", strconv.Itoa(ex.Slot))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("slot not released: %v", err)
	}
	if err := r.Destroy(context.Background(), s); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

// seatOfExitedAgent has a separate "agent" process create a seat with cfg
// and exit, and returns a new runtime (a restarted agent) and that seat,
// alive; the seat is destroyed when the test ends.
func seatOfExitedAgent(t *testing.T, cfg Config) (*Runtime, *seatruntime.Seat) {
	t.Helper()
	cfg.Logger = nil
	r := newRuntime(t, cfg)
	raw, _ := json.Marshal(cfg)
	cmd := exec.Command(testBin)
	cmd.Env = append(os.Environ(), envAgent+"="+string(raw))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("agent: %v", err)
	}
	var s seatruntime.Seat
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("agent output %q: %v", out, err)
	}
	t.Cleanup(func() { _ = r.Destroy(context.Background(), &s) })
	if !r.Alive(context.Background(), &s) {
		t.Fatal("seat died with the agent that created it")
	}
	return r, &s
}

// TestSurvivesAgentExit creates a seat from a separate "agent" process that
// then exits; the seat must live on and be found, used and destroyed by a
// new runtime (a restarted agent).
func TestSurvivesAgentExit(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	r, s := seatOfExitedAgent(t, cfg)
	if got := seatSh(t, s, "echo still here"); got != "still here" {
		t.Fatalf("exec after agent exit: %q", got)
	}
	if err := r.Destroy(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if r.Alive(context.Background(), s) {
		t.Fatal("seat alive after Destroy")
	}
}

func TestLearnerIsUnprivileged(t *testing.T) {
	needRoot(t)
	r := newRuntime(t, testConfig(t))
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-priv", Seat: 1})
	if got := seatSh(t, s, "id -u"); got == "0" {
		t.Fatal("learner is root")
	}
	for _, p := range []string{"/etc/ctsb-probe", "/usr/ctsb-probe", "/ctsb-probe", "/var/ctsb-probe", "/run/clarateach/workspace",
		"/etc/hosts", "/etc/passwd", "/run/clarateach/etc/passwd", "/run/clarateach/etc/ctsb-probe"} {
		res := seatExec(t, s, "/bin/sh", "-c", "echo x >> "+p)
		if res.Code == 0 {
			t.Errorf("learner wrote %s", p)
		}
		if _, err := os.Stat(p); err == nil && strings.HasSuffix(p, "ctsb-probe") {
			os.Remove(p)
			t.Errorf("%s appeared on the host", p)
		}
	}
	// Private /tmp, writable.
	seatSh(t, s, "echo x > /tmp/ctsb-private")
	if _, err := os.Stat("/tmp/ctsb-private"); err == nil {
		os.Remove("/tmp/ctsb-private")
		t.Error("seat /tmp is the host's")
	}
	// No way back to root: no setuid, no mounting, no shadow file.
	for _, script := range []string{
		"cat /etc/shadow",
		"mount -t tmpfs x /tmp",
		"su -c true root </dev/null",
		"unshare -r true",
	} {
		if res := seatExec(t, s, "/bin/sh", "-c", script); res.Code == 0 {
			t.Errorf("%q succeeded in the seat: %s", script, res.Stdout)
		}
	}
	// The seat's own view: its init is pid 1; /dev is minimal.
	if got := seatSh(t, s, "tr '\\0' ' ' < /proc/1/cmdline"); !strings.Contains(got, "ws-priv-1") {
		t.Errorf("pid 1 = %q", got)
	}
	if got := seatSh(t, s, "ls /dev | tr '\\n' ' '"); strings.Contains(got, "sda") || strings.Contains(got, "vda") || strings.Contains(got, "mem ") {
		t.Errorf("/dev exposes host devices: %s", got)
	}
	seatSh(t, s, "echo ok > /dev/null && head -c 4 /dev/urandom | wc -c")
}

// TestOldRootGoneWhenReady: when Create returns, the host's root that the
// seat's mount namespace started with is detached, as the learner and as
// the host see it: pivot_root(".", ".") stacks the old root on the new
// one, so before the init's lazy unmount two mounts sit on "/".
func TestOldRootGoneWhenReady(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	r := newRuntime(t, cfg)
	for seat := 1; seat <= 3; seat++ {
		s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-oldroot", Seat: seat})
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", s.PID))
		if err != nil {
			t.Fatal(err)
		}
		if n := mountsOnRoot(string(b)); n != 1 {
			t.Errorf("seat %d at ready: %d mounts on / in the init's namespace, want 1:\n%s", seat, n, b)
		}
		if cfg.PID1Path != "" {
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", s.PID)); filepath.Base(exe) != filepath.Base(cfg.PID1Path) {
				t.Errorf("seat %d's init is %s, want the C init", seat, exe)
			}
		}
		if n := mountsOnRoot(seatSh(t, s, "cat /proc/self/mountinfo")); n != 1 {
			t.Errorf("seat %d: the learner sees %d mounts on /, want 1", seat, n)
		}
	}
}

// mountsOnRoot counts the lines of a mountinfo whose mount point is "/".
func mountsOnRoot(mountinfo string) int {
	n := 0
	for _, line := range strings.Split(mountinfo, "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == "/" {
			n++
		}
	}
	return n
}

func TestSeatsCannotSeeEachOther(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	r := newRuntime(t, cfg)
	a := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-iso", Seat: 1})
	b := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-iso", Seat: 2})
	secret := "s3cr3t-" + strconv.Itoa(os.Getpid()*7919) // not a literal in this binary
	seatSh(t, a, "echo "+secret+" > secret.txt")

	// Processes: b sees only its own (init, daemon, the shell it runs).
	procs := seatSh(t, b, "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done")
	if strings.Contains(procs, "ws-iso-1") || !strings.Contains(procs, "ws-iso-2") {
		t.Errorf("seat 2 process list:\n%s", procs)
	}
	if n := len(strings.Split(strings.TrimSpace(procs), "\n")); n > 6 {
		t.Errorf("seat 2 sees %d processes:\n%s", n, procs)
	}
	if got := seatSh(t, b, "ls /proc | grep -c '^[0-9]'"); got == "" {
		t.Error("no processes listed")
	}
	// Files: the seats' base dir is hidden, /home holds only the learner.
	for _, script := range []string{
		"cat " + filepath.Join(a.Dir, "home", "secret.txt"),
		"cat " + filepath.Join(a.Dir, homeImage),
		"ls " + filepath.Join(cfg.BaseDir, "ws-iso-1"),
		"grep -rq " + secret + " /home /tmp /run /dev/shm",
	} {
		if res := seatExec(t, b, "/bin/sh", "-c", script); res.Code == 0 {
			t.Errorf("seat 2 ran %q: %s", script, res.Stdout)
		}
	}
	if got := seatSh(t, b, "ls -A /home"); got != "learner" {
		t.Errorf("/home in seat 2 = %q", got)
	}
	if got := seatSh(t, b, "ls -A "+cfg.BaseDir+" | wc -l"); got != "0" {
		t.Errorf("base dir visible in seat 2: %s entries", got)
	}
	// IPC namespace: no shared SysV objects, UTS: own hostname.
	if got := seatSh(t, b, "hostname"); got != "seat-2" {
		t.Errorf("hostname = %q", got)
	}
}

func TestCgroupLimits(t *testing.T) {
	needRoot(t)
	r := newRuntime(t, testConfig(t))
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-cg", Seat: 1, VCPUs: 2, MemoryMB: 64, PidsMax: 100})
	if s.VCPUs != 2 || s.MemoryMB != 64 {
		t.Fatalf("seat sizes: %+v", s)
	}
	ex := seatExtra(t, s)
	if ex.Cgroup == nil || len(ex.Cgroup.LimitDirs) == 0 {
		t.Fatal("no cgroups")
	}
	found := map[string]string{}
	for _, d := range ex.Cgroup.LimitDirs {
		for _, f := range []string{"memory.limit_in_bytes", "memory.max", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.max", "pids.max"} {
			if b, err := os.ReadFile(filepath.Join(d, f)); err == nil {
				found[f] = strings.TrimSpace(string(b))
			}
		}
		// Every process of the seat is in its cgroups.
		if procs := cgroupProcs(d); len(procs) < 2 {
			t.Errorf("%s holds %v", d, procs)
		}
	}
	if ex.Cgroup.V2 {
		if found["memory.max"] != "67108864" || found["cpu.max"] != "200000 100000" || found["pids.max"] != "100" {
			t.Errorf("v2 limits: %v", found)
		}
	} else if found["memory.limit_in_bytes"] != "67108864" || found["cpu.cfs_quota_us"] != "200000" ||
		found["cpu.cfs_period_us"] != "100000" || found["pids.max"] != "100" {
		t.Errorf("v1 limits: %v", found)
	}

	// A process going over the memory limit is killed; the seat lives on.
	var small, big execResult
	seatPost(t, s, "/exec", execReq{Argv: []string{seatDaemon}, Env: []string{envAlloc + "=16"}}, &small)
	if small.Code != 0 || small.Signal != 0 {
		t.Fatalf("16 MiB in a 64 MiB seat: %+v", small)
	}
	seatPost(t, s, "/exec", execReq{Argv: []string{seatDaemon}, Env: []string{envAlloc + "=160"}}, &big)
	if big.Signal != int(syscall.SIGKILL) {
		t.Fatalf("160 MiB in a 64 MiB seat was not killed: %+v", big)
	}
	if !r.Alive(context.Background(), s) {
		t.Fatal("seat died with its memory hog")
	}
	// pids.max: a fork bomb stops at the limit.
	res := seatExec(t, s, "/bin/sh", "-c", "for i in $(seq 1 150); do sleep 60 >/dev/null 2>&1 & done; echo spawned")
	if res.Code == 0 && strings.Contains(res.Stdout, "spawned") {
		t.Errorf("150 processes under pids.max=100: %+v", res)
	}
	for _, d := range ex.Cgroup.LimitDirs {
		if n := len(cgroupProcs(d)); n > 100 {
			t.Errorf("%s holds %d processes", d, n)
		}
	}
}

func TestCreateValidation(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	cfg.MaxSeats = 1
	r := newRuntime(t, cfg)
	if _, err := r.Create(context.Background(), seatruntime.Spec{WorkshopID: "../../etc", Seat: 1}); err == nil {
		t.Fatal("bad workshop id accepted")
	}
	if _, err := r.Create(context.Background(), seatruntime.Spec{WorkshopID: "ws-tiny", Seat: 1, DiskMB: 1}); err == nil {
		t.Fatal("a 1 MiB disk was accepted")
	}
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-cap", Seat: 1})
	// The same seat again (an agent that lost its state) is refused and
	// leaves the running one alone.
	cfg2 := cfg
	cfg2.MaxSeats = 0
	r2 := newRuntime(t, cfg2)
	if _, err := r2.Create(context.Background(), seatruntime.Spec{WorkshopID: "ws-cap", Seat: 1}); err == nil {
		t.Fatal("a second seat with the same name was created")
	}
	if !r.Alive(context.Background(), s) {
		t.Fatal("running seat broken by a duplicate Create")
	}
	if _, err := r.Create(context.Background(), seatruntime.Spec{WorkshopID: "ws-cap", Seat: 2}); !errors.Is(err, seatruntime.ErrCapacity) {
		t.Fatalf("second seat with MaxSeats=1: %v", err)
	}
}

// testBuild is one binary built for the tests, once, next to testBin.
type testBuild struct {
	once sync.Once
	path string
	err  error
}

var seatdBuild, seatInitBuild, pid1Build testBuild

// build builds pkg as static as the Makefile builds it for production (no
// dynamic loader at every seat's init and daemon start).
func (b *testBuild) build(t testing.TB, pkg, name string) string {
	t.Helper()
	needRoot(t)
	b.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			b.err = err
			return
		}
		out := filepath.Join(filepath.Dir(testBin), name)
		cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if o, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("%v: %s", err, o)
			return
		}
		b.path = out
	})
	if b.err != nil {
		t.Skipf("cannot build %s: %v", pkg, b.err)
	}
	return b.path
}

// buildSeatd builds testdata/seatd (the real workspace daemon with the
// seat hook).
func buildSeatd(t testing.TB) string {
	return seatdBuild.build(t, "./testdata/seatd", "seatd")
}

// buildSeatInit builds cmd/seatinit, clarateach-seat-init.
func buildSeatInit(t testing.TB) string {
	return seatInitBuild.build(t, "github.com/clarateach/backend/cmd/seatinit", "clarateach-seat-init")
}

// buildPID1 builds clarateach-seat-pid1 (package seatpid1, C) with gcc.
func buildPID1(t testing.TB) string {
	t.Helper()
	needRoot(t)
	pid1Build.once.Do(func() {
		out := filepath.Join(filepath.Dir(testBin), seatpid1.BinaryName)
		if pid1Build.err = seatpid1.Build(context.Background(), "", out); pid1Build.err == nil {
			pid1Build.path = out
		}
	})
	if pid1Build.err != nil {
		t.Fatalf("%v", pid1Build.err)
	}
	return pid1Build.path
}

// realDaemonConfig: the production setup, the workspace daemon binary,
// clarateach-seat-pid1 as the init of the seats it serves and
// clarateach-seat-init as every other seat's init.
func realDaemonConfig(t testing.TB) Config {
	cfg := testConfig(t)
	cfg.DaemonPath, cfg.InitPath, cfg.DaemonEnv = buildSeatd(t), buildSeatInit(t), nil
	cfg.PID1Path = buildPID1(t)
	return cfg
}

// TestRealDaemon runs the real workspace daemon in a seat and talks to it,
// with each of the two inits.
func TestRealDaemon(t *testing.T) {
	for _, init := range []string{seatpid1.BinaryName, "clarateach-seat-init"} {
		t.Run(init, func(t *testing.T) {
			cfg := realDaemonConfig(t)
			if init != seatpid1.BinaryName {
				cfg.PID1Path = ""
			}
			testRealDaemon(t, cfg, init)
		})
	}
}

func testRealDaemon(t *testing.T, cfg Config, init string) {
	r := newRuntime(t, cfg)
	start := time.Now()
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-real", Seat: 1})
	t.Logf("seat with the real daemon ready in %v", time.Since(start))
	if !r.Alive(context.Background(), s) {
		t.Fatal("real daemon seat not alive (GET /health)")
	}
	for _, d := range seatExtra(t, s).Cgroup.LimitDirs {
		for _, f := range []string{"memory.usage_in_bytes", "memory.current"} {
			if b, err := os.ReadFile(filepath.Join(d, f)); err == nil {
				n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				t.Logf("idle seat memory (init + daemon, cgroup %s): %.1f MiB", f, float64(n)/(1<<20))
			}
		}
	}
	// A file written through the daemon's API lands in the learner's home.
	req, _ := http.NewRequest(http.MethodPut, "http://seat/files/content?path=hello.txt", strings.NewReader("hi"))
	resp, err := seatClient(s).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT file: %s", resp.Status)
	}
	st, err := os.Stat(seatHomePath(s, "hello.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := int(st.Sys().(*syscall.Stat_t).Uid); uid != seatExtra(t, s).UIDBase+learnerUID {
		t.Errorf("file written by the daemon is owned by host uid %d", uid)
	}
	// The seat's pid 1 is the init asked for, not a second start of the
	// daemon binary, and it serves the seat's root scripts.
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", s.PID)); err != nil || filepath.Base(exe) != init {
		t.Errorf("the seat's init runs %q (%v), want %s", exe, err, init)
	}
	res, err := r.ExecRoot(context.Background(), s, seatruntime.ExecRequest{Script: "id -u; echo err >&2; exit 3"})
	if err != nil || strings.TrimSpace(res.Stdout) != "0" || strings.TrimSpace(res.Stderr) != "err" || res.ExitCode != 3 {
		t.Errorf("root script through the seat init: %+v, %v", res, err)
	}
	res, err = r.ExecRoot(context.Background(), s, seatruntime.ExecRequest{Script: "sleep 5", TimeoutMS: 200})
	if err != nil || !res.TimedOut || res.ExitCode != 137 {
		t.Errorf("root script past its time: %+v, %v", res, err)
	}
}

// TestConcurrentCreateRealDaemon: 30 seats at once in the production setup.
func TestConcurrentCreateRealDaemon(t *testing.T) {
	cfg := realDaemonConfig(t)
	cfg.MaxParallelStarts, _ = strconv.Atoi(os.Getenv("CTSB_TEST_PARALLEL")) // 0: the default
	r := newRuntime(t, cfg)
	createConcurrently(t, r, 30)
}

// BenchmarkCreateRealDaemon measures Create of one seat at a time in the
// production setup and reports where the CPU goes: the agent's side
// (this process), the seat's init and its daemon up to ready.
func BenchmarkCreateRealDaemon(b *testing.B) {
	r := newRuntime(b, realDaemonConfig(b))
	var agentCPU, initCPU, daemonCPU time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a0 := selfCPU()
		s, err := r.Create(context.Background(), seatruntime.Spec{WorkshopID: "ws-bench", Seat: i})
		if err != nil {
			b.Fatal(err)
		}
		agentCPU += selfCPU() - a0
		b.StopTimer()
		initCPU += procCPU(s.PID)
		if kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", s.PID, s.PID)); err == nil {
			for _, f := range strings.Fields(string(kids)) {
				pid, _ := strconv.Atoi(f)
				daemonCPU += procCPU(pid)
			}
		}
		if err := r.Destroy(context.Background(), s); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	n := float64(b.N) * float64(time.Millisecond)
	b.ReportMetric(float64(agentCPU)/n, "agent-cpu-ms/op")
	b.ReportMetric(float64(initCPU)/n, "init-cpu-ms/op")
	b.ReportMetric(float64(daemonCPU)/n, "daemon-cpu-ms/op")
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the CPU time of all live threads of pid (schedstat, ns).
func procCPU(pid int) time.Duration {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			sum += time.Duration(ns)
		}
	}
	return sum
}

// TestSeatBinaryStartsCheaply: the seat binaries (the real daemon and the
// seat init, as built for production) start in every seat, so the
// initialisation of our packages in them must stay small. A
// package-level regexp.MustCompile made one package's ~860 allocations and
// ~10 ms of CPU per start on a loaded 2-core host (the sandbox package's
// once, the logging package's later).
func TestSeatBinaryStartsCheaply(t *testing.T) {
	for _, bin := range []string{buildSeatd(t), buildSeatInit(t)} {
		t.Run(filepath.Base(bin), func(t *testing.T) { startsCheaply(t, bin) })
	}
}

func startsCheaply(t *testing.T, bin string) {
	cmd := exec.Command(bin, "--help")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 2) { // the seat init's "not started as a seat's init"
		t.Fatalf("%v: %s", err, out)
	}
	const ours = "init github.com/clarateach/"
	seen := 0
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, ours) {
			continue
		}
		seen++
		// init <pkg> @T ms, C ms clock, B bytes, A allocs
		f := strings.Fields(line)
		allocs, err := strconv.Atoi(f[len(f)-2])
		if err != nil {
			t.Fatalf("cannot read %q", line)
		}
		if allocs > 50 {
			t.Errorf("package %s makes %d allocations at start-up, want a few: %s", f[1], allocs, line)
		}
	}
	if seen == 0 && !strings.Contains(string(out), "init runtime @") {
		t.Fatalf("no init trace from %s: %s", bin, out)
	}
}

// TestSeatLauncher: the launcher execs its first argument with the rest as
// argv (argv[0] included) and the environment unchanged, and says 127 when
// it cannot. (TestDaemonIdentity and TestLearnerKillAllKeepsTheSeat show
// it making a seat's shells the learner's.)
func TestSeatLauncher(t *testing.T) {
	elf := seatinit.LauncherELF()
	if elf == nil {
		t.Skipf("no seat launcher for %s: the daemon binary plays it", runtime.GOARCH)
	}
	p := filepath.Join(t.TempDir(), "launcher")
	if err := os.WriteFile(p, elf, 0o555); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p, "/bin/sh", "-sh", "-c", `echo "$0|$1|$FOO"`, "zero", "one")
	cmd.Env = []string{"FOO=bar"}
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "zero|one|bar\n" {
		t.Errorf("launcher /bin/sh ...: %q, %v", out, err)
	}
	err = exec.Command(p, "/nonexistent/prog", "prog").Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 127 {
		t.Errorf("launcher of a missing program: %v, want exit 127", err)
	}
}
