//go:build linux

package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/host/procinfo"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatinit"
)

// TestLearnerRoot: a seat with LearnerRoot on the test image gives the
// learner uid 0 and a writable /usr (their own layer), while the seat's
// init and daemon, its root socket, cgroup limits and the home's disk
// limit stay out of their reach; a default seat beside it stays uid 1000.
func TestLearnerRoot(t *testing.T) {
	cfg := realDaemonConfig(t)
	cfg.DiskMB = 64
	img := testImage(t)
	r := newRuntime(t, cfg)
	root := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-root", Seat: 1, Image: img, LearnerRoot: true})
	plain := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-root", Seat: 2, Image: img})

	if got := mustSh(t, root, "id -u; id -un; echo new > /usr/bin/learner-tool; cat /usr/bin/learner-tool; pwd"); got != "0\nroot\nnew\n/home/learner" {
		t.Errorf("root learner: %q, want uid 0 writing /usr in the home", got)
	}
	if got := mustSh(t, plain, "id -u; echo x > /usr/bin/x 2>/dev/null && echo wrote || echo refused"); got != "1000\nrefused" {
		t.Errorf("default seat: %q, want uid 1000 refused /usr", got)
	}
	if got := mustSh(t, plain, "test -e /usr/bin/learner-tool && echo seen || echo unseen"); got != "unseen" {
		t.Errorf("the default seat sees the root seat's /usr: %s", got)
	}
	checkRootLearnerCannotReachTheSeat(t, r, root)
}

func checkRootLearnerCannotReachTheSeat(t *testing.T, r *Runtime, s *seatruntime.Seat) {
	t.Helper()
	// No process of the seat's own is visible: pid 1 is the learner's
	// init, and no command line is the init's or the daemon's.
	if got := mustSh(t, s, "cat /proc/1/cmdline | tr '\\0' ' '; echo; cat /proc/[0-9]*/cmdline | tr '\\0' ' ' | grep -c -e '[-]-listen' -e 'seat[-]init' || true"); got != "learner-init \n0" {
		t.Errorf("processes the root learner sees: %q", got)
	}
	initPID := s.PID
	daemonPID := daemonPIDOf(t, initPID)
	// Signals: kill -9 -1 and at pid 1 end only the learner's own
	// processes; guessing the seat's pids finds nothing to signal.
	res := realSh(t, s, "kill -9 "+strconv.Itoa(initPID)+" "+strconv.Itoa(daemonPID)+" 2>&1; kill -TERM 1; kill -9 1; echo sent")
	t.Logf("signals: %q %q", res.Stdout, res.Stderr)
	realSh(t, s, "kill -9 -1")
	if got := mustSh(t, s, "id -u; cat /proc/1/cmdline | tr '\\0' ' '"); got != "0\nlearner-init" {
		t.Errorf("after kill -9 -1: %q", got)
	}
	if !alive(initPID) || !alive(daemonPID) || daemonPIDOf(t, initPID) != daemonPID {
		t.Errorf("the seat's init %d or daemon %d died", initPID, daemonPID)
	}
	// The root socket and the seat's host directory are not there.
	sock := seatinit.RootSockPath(s.Address)
	if got := mustSh(t, s, "ls "+sock+" "+filepath.Dir(sock)+" 2>&1 >/dev/null | wc -l; ls /run/clarateach/learner 2>/dev/null | wc -w"); got != "2\n0" {
		t.Errorf("root socket or learner namespace files reachable: %q", got)
	}
	// Limits: no cgroup file to write, no mount to undo.
	ex, err := parseExtra(s)
	if err != nil {
		t.Fatal(err)
	}
	script := "mkdir -p /tmp/cg; mount -t cgroup2 none /tmp/cg && echo mounted-cgroup; " +
		"umount /home/learner && echo unmounted-home; umount -l /home/learner && echo detached-home; " +
		"mount -o remount,rw,suid /home/learner && echo remounted-home; umount /proc && echo unmounted-proc; " +
		"umount -l /proc && echo detached-proc; rmdir /run/clarateach 2>/dev/null; mv /run/clarateach /run/x && echo moved-run; " +
		"rm -f /dev/ptmx && echo removed-ptmx; true"
	if got := mustSh(t, s, script); got != "moved-run" {
		t.Errorf("root learner lifted a limit: %q", got)
	}
	if res := realSh(t, s, "dd if=/dev/zero of=big bs=1M count=100"); res.ExitCode == 0 || !strings.Contains(res.Stderr, "No space left") {
		t.Errorf("100 MiB into a 64 MiB home: exit %d, %s", res.ExitCode, res.Stderr)
	}
	mustSh(t, s, "rm -f big")
	// A cgroup namespace of their own lets them mount cgroup2 over their
	// seat's cgroup, whose files stay the host's root's.
	before := cgroupLimits(t, ex.Cgroup)
	cg := "busybox unshare -C sh -c 'mkdir -p /tmp/cg && mount -t cgroup2 none /tmp/cg; " +
		"for f in memory.max memory.swap.max pids.max cpu.max; do echo 1 > /tmp/cg/$f && echo wrote $f; done; " +
		"mkdir /tmp/cg/sub && echo made-cgroup; echo 1 > /sys/fs/cgroup/memory.max && echo wrote-sys; true' 2>/dev/null"
	if res := realSh(t, s, cg+"; true"); res.Stdout != "" {
		t.Errorf("root learner changed cgroups: %q", res.Stdout)
	}
	if after := cgroupLimits(t, ex.Cgroup); after != before {
		t.Errorf("the seat's limits changed: %q, were %q", after, before)
	}
	// The daemon still serves new shells and the init's root scripts
	// still run, as the learner's root, after all that.
	if got := mustSh(t, s, "id -u; echo ok"); got != "0\nok" {
		t.Errorf("after the attempts: %q", got)
	}
	out, err := r.ExecRoot(context.Background(), s, seatruntime.ExecRequest{Script: "#!/bin/sh\nid -u; cat /proc/1/cmdline | tr '\\0' ' '\n"})
	if err != nil || strings.TrimSpace(out.Stdout) != "0\nlearner-init" {
		t.Errorf("root script: %+v %v", out, err)
	}
}

// daemonPIDOf is the host pid of the seat's daemon: the init's child
// serving the socket.
func daemonPIDOf(t *testing.T, initPID int) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, pid := range procinfo.Children()[initPID] {
			if cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); strings.Contains(string(cmd), "--listen") {
				return pid
			}
		}
	}
	t.Fatalf("no daemon under the seat's init %d", initPID)
	return 0
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil && !procinfo.IsZombie(pid) }

// cgroupLimits reads the seat's cgroup limit files, as the host sees them.
func cgroupLimits(t *testing.T, cg *seatCgroup) string {
	t.Helper()
	if cg == nil {
		t.Skip("no cgroups here")
	}
	var out []string
	for _, d := range cg.LimitDirs {
		for _, f := range []string{"memory.max", "pids.max", "cpu.max", "memory.limit_in_bytes", "pids.max"} {
			if b, err := os.ReadFile(filepath.Join(d, f)); err == nil {
				out = append(out, f+"="+strings.TrimSpace(string(b)))
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no limit files in %v", cg.LimitDirs)
	}
	return strings.Join(out, " ")
}
