//go:build linux

package sandbox

// Seats heal and are bounded: the learner cannot kill the seat's daemon
// (kill -9 -1), the init restarts a daemon that dies anyway, two runtimes on
// one host never share a uid, a seat cannot reach another seat's files or
// socket, and a host rewriting /etc/passwd does not change a seat's.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/seat/terminal"
)

// daemonPID is the pid (on the host) of the seat's daemon: the init's one
// child with a --listen flag (listed under whichever of the init's threads
// started it).
func daemonPID(t *testing.T, s *seatruntime.Seat) int {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", s.PID))
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", s.PID, task.Name()))
		for _, kid := range strings.Fields(string(b)) {
			// Orphans of the learner's (reparented to the init until it
			// reaps them) are not the daemon.
			if cmd, _ := os.ReadFile("/proc/" + kid + "/cmdline"); strings.Contains(string(cmd), "--listen") {
				kids = append(kids, kid)
			}
		}
	}
	if len(kids) != 1 {
		t.Fatalf("seat init children: %q", kids)
	}
	pid, _ := strconv.Atoi(kids[0])
	return pid
}

// waitHealthy polls the seat's daemon until it answers GET /health, for
// at most d.
func waitHealthy(t *testing.T, s *seatruntime.Seat, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		rctx, rcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := seatruntime.DaemonHealth(rctx, seatruntime.UnixClient(s.Address), "http://workspace")
		rcancel()
		if err == nil {
			return time.Since(start)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("daemon not answering after %v: %v (log: %s)", d, err, tailFile(filepath.Join(s.Dir, "seat.log"), 1024))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func newSession(t *testing.T, s *seatruntime.Seat) terminal.Info {
	t.Helper()
	body := strings.NewReader(`{"cols":80,"rows":24,"wait_output_ms":5000}`)
	resp, err := seatClient(s).Post("http://workspace/sessions", "application/json", body)
	if err != nil {
		t.Fatalf("POST /sessions: %v", err)
	}
	defer resp.Body.Close()
	var info terminal.Info
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&info) != nil {
		t.Fatalf("POST /sessions: %s", resp.Status)
	}
	return info
}

func dialSession(t *testing.T, s *seatruntime.Seat, id string) (*terminal.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return terminal.Dial(ctx, "ws://workspace/terminal", &terminal.DialOptions{Session: id, HTTPClient: seatClient(s)})
}

// TestLearnerKillAllKeepsTheSeat: `kill -9 -1` typed by the learner kills
// the learner's own processes only. The daemon (and the init) live on, the
// old session reads as exited, and a new session gets a shell at once.
func TestLearnerKillAllKeepsTheSeat(t *testing.T) {
	r := newRuntime(t, realDaemonConfig(t))
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-kill", Seat: 1})
	daemon := daemonPID(t, s)
	old := newSession(t, s)
	term, err := dialSession(t, s, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The shell's own kill builtin spares the shell; sh -c's does not.
	if out := seatExecReal(t, term, "kill -9 -1"); !strings.Contains(out, "RC=0") {
		t.Fatalf("kill -9 -1: %q", out)
	}
	if err := term.Send(ctx, []byte("sh -c 'kill -9 -1'\n")); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if code, err := term.WaitExit(ctx); err != nil || code != 128+9 {
		t.Fatalf("the learner's shell after kill -9 -1: code %d, %v", code, err)
	}
	took := waitHealthy(t, s, 2*time.Second)
	t.Logf("daemon answering %v after the shell died", took)
	if got := daemonPID(t, s); got != daemon {
		t.Errorf("daemon pid %d, was %d: the learner killed it", got, daemon)
	}
	// The old session is shown as exited; a new one has a prompt.
	if _, err := dialSession(t, s, old.ID); err == nil || !strings.Contains(err.Error(), "exited with code 137") {
		t.Errorf("reconnecting to the killed session: %v, want exited with code 137", err)
	}
	fresh := newSession(t, s)
	term2, err := dialSession(t, s, fresh.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer term2.Close()
	if err := term2.Send(ctx, []byte("echo alive-$((6*7)) $(id -u)\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := term2.ReadUntil(ctx, "alive-42 1000"); err != nil {
		t.Fatalf("new session: %v", err)
	}
	if d := time.Since(killed); d > 2*time.Second {
		t.Errorf("a fresh shell took %v after kill -9 -1", d)
	}
	// The shell (started through the seat launcher) is the learner
	// through and through, a login shell, with the real shell as $SHELL.
	if res := seatExecReal(t, term2, `grep -E '^(Uid|Gid|CapEff):' /proc/self/status | tr -s '\t' ' '; echo "$0 $SHELL"`); !strings.Contains(res,
		"Uid: 1000 1000 1000 1000\r\nGid: 1000 1000 1000 1000\r\nCapEff: 0000000000000000\r\n-bash /bin/bash\r\nRC=0") {
		t.Errorf("the learner's shell: %q", res)
	}
	// The learner can signal neither the daemon nor the init directly.
	for _, target := range []string{"$PPID", "1"} {
		res := seatExecReal(t, term2, "kill -9 "+target)
		if !strings.Contains(res, "RC=1") {
			t.Errorf("learner kill -9 %s: %q", target, res)
		}
	}
	if got := daemonPID(t, s); got != daemon {
		t.Errorf("daemon pid %d, was %d", got, daemon)
	}
}

// seatExecReal types a command into a terminal, then `echo "R""C=$?"`, and
// returns the output up to the end of the RC= line (the echoed input does
// not match it).
func seatExecReal(t *testing.T, c *terminal.Client, line string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Send(ctx, []byte(line+`; echo "R""C=$?"`+"\n")); err != nil {
		t.Fatal(err)
	}
	out, err := c.ReadUntil(ctx, "RC=")
	if err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(string(out[strings.LastIndex(string(out), "RC="):]), "\n") {
		more, err := c.ReadOutput(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, more...)
	}
	return string(out)
}

// TestDaemonRestartedByInit: a daemon that dies anyway (here SIGKILLed from
// the host, as the OOM killer would) is started again by the seat's init,
// on the same socket, with the learner's files intact.
func TestDaemonRestartedByInit(t *testing.T) {
	needRoot(t)
	r := newRuntime(t, testConfig(t))
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-restart", Seat: 1})
	seatSh(t, s, "echo kept > notes.txt")
	for i := 0; i < 3; i++ {
		daemon := daemonPID(t, s)
		if err := syscall.Kill(daemon, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		took := waitHealthy(t, s, 2*time.Second)
		t.Logf("daemon back %v after SIGKILL", took)
		if got := daemonPID(t, s); got == daemon {
			t.Fatalf("daemon pid unchanged (%d)", got)
		}
	}
	if !r.Alive(context.Background(), s) {
		t.Fatal("seat not alive after daemon restarts")
	}
	if got := seatSh(t, s, "cat notes.txt; id -u"); got != "kept\n1000" {
		t.Errorf("after restart: %q", got)
	}
}

// TestDaemonIdentity: the daemon's real and saved uid are not the
// learner's (so the learner cannot signal or trace it), its effective uid
// is (so the files it writes are the learner's), and it has no
// capabilities.
func TestDaemonIdentity(t *testing.T) {
	needRoot(t)
	r := newRuntime(t, testConfig(t))
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-ident", Seat: 1})
	ex := seatExtra(t, s)
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", daemonPID(t, s)))
	if err != nil {
		t.Fatal(err)
	}
	base := ex.UIDBase
	wantUID := fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d", base+daemonUID, base+learnerUID, base+daemonUID, base+learnerUID)
	for _, want := range []string{wantUID, "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000", "NoNewPrivs:\t1"} {
		if !strings.Contains(string(st), want+"\n") {
			t.Errorf("daemon status lacks %q:\n%s", want, st)
		}
	}
	// What the daemon runs for the learner is the learner through and
	// through.
	if got := seatSh(t, s, "grep -E '^(Uid|Gid|CapEff):' /proc/self/status | tr -s '\\t' ' '"); got != "Uid: 1000 1000 1000 1000\nGid: 1000 1000 1000 1000\nCapEff: 0000000000000000" {
		t.Errorf("learner process: %q", got)
	}
	if res := seatExec(t, s, "/bin/sh", "-c", "kill -9 $PPID"); res.Code == 0 {
		t.Error("the learner signalled the daemon")
	}
}

// TestUIDsAreHostWide: two runtimes on one host (two agents, make dev and
// an agent, a test and a server) never give two live seats the same uid,
// and a seat of one cannot read the other's learner files or connect to
// the other's daemon socket.
func TestUIDsAreHostWide(t *testing.T) {
	needRoot(t)
	r1 := newRuntime(t, visibleConfig(t))
	r2 := newRuntime(t, visibleConfig(t))
	var seats []*seatruntime.Seat
	for i := 1; i <= 3; i++ {
		seats = append(seats, createSeat(t, r1, seatruntime.Spec{WorkshopID: "ws-hw-a", Seat: i}))
		seats = append(seats, createSeat(t, r2, seatruntime.Spec{WorkshopID: "ws-hw-b", Seat: i}))
	}
	used := map[int]string{}
	for _, s := range seats {
		base := seatExtra(t, s).UIDBase
		if other, ok := used[base]; ok {
			t.Errorf("uid range %d used by %s and %s-%d", base, other, s.WorkshopID, s.Seat)
		}
		used[base] = fmt.Sprintf("%s-%d", s.WorkshopID, s.Seat)
	}
	a, b := seats[0], seats[1]
	secret := "s3cr3t-" + strconv.Itoa(os.Getpid()*7919)
	seatSh(t, a, "echo "+secret+" > secret.txt")
	if res := seatExec(t, b, "/bin/cat", filepath.Join(a.Dir, "home", "secret.txt")); res.Code == 0 || strings.Contains(res.Stdout, secret) {
		t.Errorf("seat %s read seat %s's file: %q", b.WorkshopID, a.WorkshopID, res.Stdout)
	}
	// The other seat's socket: the learner of b tries to connect.
	dial := seatExecEnv(t, b, []string{envUnixDial + "=" + a.Address}, seatDaemon)
	if strings.TrimSpace(dial.Stdout) == "connected" {
		t.Errorf("seat %s connected to seat %s's daemon socket", b.WorkshopID, a.WorkshopID)
	}
	if !strings.Contains(dial.Stdout, "permission denied") {
		t.Errorf("dial from the other seat: %q %q", dial.Stdout, dial.Stderr)
	}
	// The socket's directory: the seat root's, 0700.
	st, err := os.Stat(filepath.Dir(a.Address))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 || int(st.Sys().(*syscall.Stat_t).Uid) != seatExtra(t, a).UIDBase {
		t.Errorf("socket dir: mode %v owner %d", st.Mode().Perm(), st.Sys().(*syscall.Stat_t).Uid)
	}
}

// visibleConfig is testConfig with the base dir outside /tmp (which is
// private in seats), where other seats can see it, as they would see
// another agent's /var/lib/clarateach/seats.
func visibleConfig(t *testing.T) Config {
	cfg := testConfig(t)
	base, err := os.MkdirTemp("/var/tmp", "ctsb")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	cfg.BaseDir = base
	return cfg
}

// TestUIDLockHeldAcrossAgentExit: the uid range of a seat created by an
// agent that has exited is still taken (its init holds the lock).
func TestUIDLockHeldAcrossAgentExit(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	cfg.Logger = nil
	r := newRuntime(t, cfg)
	raw, _ := json.Marshal(cfg)
	cmd := exec.Command(testBin)
	cmd.Env = append(os.Environ(), envAgent+"="+string(raw))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("agent: %v", err)
	}
	var s seatruntime.Seat
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatal(err)
	}
	defer r.Destroy(context.Background(), &s)
	slot := seatExtra(t, &s).Slot
	if _, err := r.lockUIDs(slot); err != errUIDsTaken {
		t.Fatalf("lock of a live seat's range after its agent exited: %v", err)
	}
	if h := rangeLockers(t, r, slot); len(h) != 1 || h[0] != cmd.Process.Pid {
		t.Fatalf("lockers of the live seat's range: %v, want its agent %d", h, cmd.Process.Pid)
	}
	if err := r.Destroy(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	// The range is free again, unless another runtime on this host (a
	// test of another package, running alongside) has taken it since:
	// then /proc/locks names that runtime's process, not this seat's
	// agent, as the locker (a flock's holder is the process that took it).
	agent := cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for {
		lock, err := r.lockUIDs(slot)
		if err == nil {
			lock.Close()
			return
		}
		if !errors.Is(err, errUIDsTaken) {
			t.Fatalf("after Destroy: %v", err)
		}
		holders := rangeLockers(t, r, slot)
		for _, h := range holders {
			if h == agent {
				t.Fatalf("after Destroy: the uid range is still locked as the seat's agent (%d) locked it", agent)
			}
		}
		if len(holders) > 0 {
			t.Logf("after Destroy the range was taken by another runtime on this host (pid %v)", holders)
			return
		}
		if time.Now().After(deadline) { // taken and let go again and again
			t.Fatalf("after Destroy: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // another runtime's start in progress
	}
}

// rangeLockers are the pids /proc/locks gives for the flock on slot's uid
// range file: for a flock, the process that took it.
func rangeLockers(t *testing.T, r *Runtime, slot int) []int {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(r.cfg.UIDLockDir, strconv.Itoa(r.cfg.UIDBase+slot*idRange)), &st); err != nil {
		t.Fatal(err)
	}
	file := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, l := range strings.Split(string(b), "\n") {
		// "1: FLOCK  ADVISORY  WRITE 25725 fe:00:9773066 0 EOF"; a waiter's
		// line has "->" after the number.
		f := strings.Fields(l)
		if len(f) < 8 || f[1] != "FLOCK" || f[5] != file {
			continue
		}
		if pid, err := strconv.Atoi(f[4]); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

func seatExecEnv(t *testing.T, s *seatruntime.Seat, env []string, argv ...string) execResult {
	t.Helper()
	var res execResult
	seatPost(t, s, "/exec", execReq{Argv: argv, Env: env}, &res)
	return res
}

// unixDialMain connects to the unix socket at path and says what happened.
func unixDialMain(path string) int {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		fmt.Println(strings.ToLower(err.Error()))
		return 1
	}
	c.Close()
	fmt.Println("connected")
	return 0
}

// TestEtcSurvivesHostRewrite: the host replacing /etc/passwd (useradd
// writes a new file and renames it over the old one) leaves the seat's
// /etc/passwd as it was. Before, the seat's file was a bind mount on the
// host's, which the kernel detaches when the host renames over it. The
// seat runs on a RootFS built in a private mount namespace, so the host's
// own /etc is not touched.
func TestEtcSurvivesHostRewrite(t *testing.T) {
	if !inMountns(t) {
		return
	}
	rootfs := testRootFS(t)
	cfg := testConfig(t)
	cfg.RootFS = rootfs
	r := newRuntime(t, cfg)
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-etc", Seat: 1})
	check := func(when string) {
		t.Helper()
		if got := seatSh(t, s, "grep -c '^learner:x:1000:' /etc/passwd; grep -c host-only /etc/passwd || true; id -un"); got != "1\n0\nlearner" {
			t.Errorf("%s: seat sees %q", when, got)
		}
	}
	check("before")
	// useradd, as it does it.
	hostPasswd := filepath.Join(rootfs, "etc", "passwd")
	b, err := os.ReadFile(hostPasswd)
	if err != nil {
		t.Fatal(err)
	}
	tmp := hostPasswd + "+"
	if err := os.WriteFile(tmp, append(b, "host-only:x:4242:4242::/:/bin/sh\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, hostPasswd); err != nil {
		t.Fatal(err)
	}
	check("after the host renamed a new /etc/passwd into place")
	// Other /etc entries are the system's (read-only), and follow it.
	if err := os.WriteFile(filepath.Join(rootfs, "etc", "motd"), []byte("hello from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := seatSh(t, s, "cat /etc/motd"); got != "hello from the host" {
		t.Errorf("/etc/motd = %q", got)
	}
	if res := seatExec(t, s, "/bin/sh", "-c", "echo x > /etc/motd || echo x > /etc/passwd || echo x > /etc/new"); res.Code == 0 {
		t.Error("learner wrote in /etc")
	}
}

// inMountns re-runs the calling test in a private mount namespace (like
// inNetns), so that the mounts it makes vanish with it.
func inMountns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(envInMountns) == "1" {
		return true
	}
	needRoot(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare(1) not found")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "--", exe, "-test.run", "^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envInMountns+"=1")
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		t.Log(line)
	}
	if err != nil {
		t.Fatalf("in a mount namespace: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatal("the test did not pass inside the mount namespace")
	}
	return false
}

// testRootFS builds a root file system for seats: the host's /usr (bound;
// this process is in its own mount namespace), its top-level symlinks and
// a copy of /etc.
func testRootFS(t *testing.T) string {
	t.Helper()
	root, err := os.MkdirTemp("", "ctsb-rootfs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"usr", "proc", "sys", "dev", "tmp", "run", "home"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mount("/usr", filepath.Join(root, "usr"), "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(filepath.Join(root, "usr"), syscall.MNT_DETACH) })
	for _, l := range []string{"bin", "lib", "lib64", "sbin"} {
		target, err := os.Readlink("/" + l)
		if err != nil {
			t.Skipf("/%s is not a symlink (no merged /usr): %v", l, err)
		}
		if err := os.Symlink(target, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-a", "/etc", filepath.Join(root, "etc")).CombinedOutput(); err != nil {
		t.Fatalf("copy /etc: %v %s", err, out)
	}
	return root
}

// TestMaxSeatsWithOtherRuntimes: slot numbers are shared host-wide, so a
// runtime with MaxSeats 2 still gets its two seats while another runtime
// holds the lowest slots, and no third.
func TestMaxSeatsWithOtherRuntimes(t *testing.T) {
	needRoot(t)
	r1 := newRuntime(t, testConfig(t))
	for i := 1; i <= 2; i++ {
		createSeat(t, r1, seatruntime.Spec{WorkshopID: "ws-max-a", Seat: i})
	}
	cfg := testConfig(t)
	cfg.MaxSeats = 2
	r2 := newRuntime(t, cfg)
	for i := 1; i <= 2; i++ {
		createSeat(t, r2, seatruntime.Spec{WorkshopID: "ws-max-b", Seat: i})
	}
	if s, err := r2.Create(context.Background(), seatruntime.Spec{WorkshopID: "ws-max-b", Seat: 3}); !errors.Is(err, seatruntime.ErrCapacity) {
		if s != nil {
			_ = r2.Destroy(context.Background(), s)
		}
		t.Fatalf("third seat with MaxSeats 2: %v", err)
	}
}

// TestSlotFileOnlyForAHeldRange: a slot's file in .slots names its seat
// only once the slot's host-wide uid range is this runtime's. While another
// runtime on the host held slot 0's range, allocSlot made the file "0",
// found the range taken and removed the file again; a reader of .slots in
// between (TestCreateWaitsForAStartingWarmSeat's, in a make test run beside
// other packages' seats) took slot 0 for the seat's.
func TestSlotFileOnlyForAHeldRange(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	cfg.UIDLockDir = t.TempDir() // this test's own: slot 0's range is free unless the test takes it
	r := newRuntime(t, cfg)
	other, err := r.lockUIDs(0) // another runtime's seat holds slot 0's range
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	slots := filepath.Join(cfg.BaseDir, ".slots")
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, slots, unix.IN_CREATE); err != nil {
		t.Fatal(err)
	}
	n, lock, err := r.allocSlot("ws-a-1", false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { lock.Close(); r.releaseSlot(n, "ws-a-1") }()
	if n == 0 {
		t.Fatal("allocSlot gave slot 0, whose uid range another runtime holds")
	}
	var created []string
	buf := make([]byte, 4096)
	for {
		k, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= k; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			created = append(created, strings.TrimRight(string(name), "\x00"))
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
	if want := []string{strconv.Itoa(n)}; !slices.Equal(created, want) {
		t.Fatalf("files made in .slots: %q, want only %q (the slot taken)", created, want)
	}
}
