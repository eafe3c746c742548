//go:build linux

package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/host/procinfo"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/seat/terminal"
)

// waitWarm polls until r has n warm seats ready.
func waitWarm(t *testing.T, r *Runtime, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for r.WarmReady() != n {
		if time.Now().After(deadline) {
			t.Fatalf("warm seats ready = %d, want %d", r.WarmReady(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// warmPIDs are the init pids of the ready warm seats on disk, by directory.
func warmPIDs(t *testing.T, base string) map[int]string {
	t.Helper()
	out := map[int]string{}
	entries, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), warmPrefix) {
			continue
		}
		var s seatruntime.Seat
		b, err := os.ReadFile(filepath.Join(base, e.Name(), warmRecord))
		if errors.Is(err, os.ErrNotExist) {
			continue // still starting
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		out[s.PID] = e.Name()
	}
	return out
}

func warmConfig(t *testing.T, n int) Config {
	cfg := testConfig(t)
	cfg.WarmSeats = n
	cfg.WarmRefillDelay = -1
	return cfg
}

func newWarmRuntime(t *testing.T, cfg Config) *Runtime {
	r := newRuntime(t, cfg)
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

func TestWarmSeatIsClaimedAsTheSeat(t *testing.T) {
	needRoot(t)
	cfg := warmConfig(t, 2)
	r := newWarmRuntime(t, cfg)
	waitWarm(t, r, 2)
	warm := warmPIDs(t, cfg.BaseDir)
	if len(warm) != 2 {
		t.Fatalf("warm seats on disk: %v", warm)
	}

	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-warm", Seat: 7, VCPUs: 2, MemoryMB: 96, PidsMax: 80})
	if _, ok := warm[s.PID]; !ok {
		t.Fatalf("seat pid %d is not one of the warm seats %v: it was started from scratch", s.PID, warm)
	}
	if s.WorkshopID != "ws-warm" || s.Seat != 7 || s.VCPUs != 2 || s.MemoryMB != 96 ||
		s.Dir != filepath.Join(cfg.BaseDir, "ws-warm-7") || s.Address != filepath.Join(s.Dir, "sock", sockName) {
		t.Fatalf("claimed seat: %+v", s)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, warmRecord)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("warm record left in the claimed seat: %v", err)
	}
	if !r.Alive(context.Background(), s) {
		t.Fatal("claimed seat is not alive")
	}
	// It is named as the seat, inside too.
	if got := seatSh(t, s, "hostname; cat /etc/hostname; grep -c seat-7 /etc/hosts"); got != "seat-7\nseat-7\n1" {
		t.Errorf("hostname, /etc/hostname, /etc/hosts = %q", got)
	}
	// The slot belongs to the seat now: Destroy releases it.
	ex := seatExtra(t, s)
	slot := filepath.Join(cfg.BaseDir, ".slots", strconv.Itoa(ex.Slot))
	if b, _ := os.ReadFile(slot); string(b) != "ws-warm-7" || ex.Key != "ws-warm-7" {
		t.Errorf("slot owner %q, key %q", b, ex.Key)
	}
	// Its limits are the ones asked for, not the warm defaults.
	found := map[string]string{}
	for _, d := range ex.Cgroup.LimitDirs {
		for _, f := range []string{"memory.limit_in_bytes", "memory.max", "cpu.cfs_quota_us", "cpu.max", "pids.max"} {
			if b, err := os.ReadFile(filepath.Join(d, f)); err == nil {
				found[f] = strings.TrimSpace(string(b))
			}
		}
	}
	if ex.Cgroup.V2 {
		if found["memory.max"] != "100663296" || found["cpu.max"] != "200000 100000" || found["pids.max"] != "80" {
			t.Errorf("v2 limits: %v", found)
		}
	} else if found["memory.limit_in_bytes"] != "100663296" || found["cpu.cfs_quota_us"] != "200000" || found["pids.max"] != "80" {
		t.Errorf("v1 limits: %v", found)
	}
	// The learner's files land in the seat's home.
	seatSh(t, s, "echo hi > notes.txt")
	if b, err := os.ReadFile(seatHomePath(s, "notes.txt")); err != nil || string(b) != "hi\n" {
		t.Errorf("learner file on host: %q %v", b, err)
	}

	// The pool refills.
	waitWarm(t, r, 2)

	// A bigger seat than the warm default: the memory limit goes up.
	big := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-warm", Seat: 8, MemoryMB: 1024})
	if _, ok := warmPIDs(t, cfg.BaseDir)[big.PID]; ok {
		t.Fatal("claimed seat still listed as warm")
	}
	bex := seatExtra(t, big)
	for _, d := range bex.Cgroup.LimitDirs {
		for _, f := range []string{"memory.limit_in_bytes", "memory.max"} {
			if b, err := os.ReadFile(filepath.Join(d, f)); err == nil && strings.TrimSpace(string(b)) != strconv.Itoa(1024<<20) {
				t.Errorf("%s = %s, want 1 GiB", f, b)
			}
		}
	}

	if err := r.Destroy(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if procinfo.Running(s.PID, ex.StartTime) {
		t.Error("claimed seat still running after Destroy")
	}
	for _, p := range append([]string{s.Dir, slot}, ex.Cgroup.Dirs...) {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
}

func TestWarmSeatsAndCapacity(t *testing.T) {
	needRoot(t)
	cfg := warmConfig(t, 2)
	cfg.MaxSeats = 2
	r := newWarmRuntime(t, cfg)
	waitWarm(t, r, 2)
	warm := warmPIDs(t, cfg.BaseDir)
	a := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-cap", Seat: 1})
	b := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-cap", Seat: 2})
	for _, s := range []*seatruntime.Seat{a, b} {
		if _, ok := warm[s.PID]; !ok {
			t.Errorf("seat %d was not a warm seat", s.Seat)
		}
	}
	// The warm seats held the only two slots; now the seats do.
	if _, err := r.Create(context.Background(), seatruntime.Spec{WorkshopID: "ws-cap", Seat: 3}); !errors.Is(err, seatruntime.ErrCapacity) {
		t.Fatalf("third seat on a 2-seat host: %v", err)
	}
	if n := r.WarmReady(); n != 0 {
		t.Errorf("warm seats on a full host: %d", n)
	}
	// A freed slot goes back to the pool.
	if err := r.Destroy(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	waitWarm(t, r, 1)
}

func TestWarmSeatSkippedForAKeptHome(t *testing.T) {
	needRoot(t)
	cfg := warmConfig(t, 1)
	cfg.KeepDirs = true
	r := newWarmRuntime(t, cfg)
	waitWarm(t, r, 1)
	spec := seatruntime.Spec{WorkshopID: "ws-keep", Seat: 1}
	s, err := r.Create(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	seatSh(t, s, "echo kept > work.txt")
	if err := r.Destroy(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	waitWarm(t, r, 1)
	warm := warmPIDs(t, cfg.BaseDir)
	s2 := createSeat(t, r, spec)
	if _, ok := warm[s2.PID]; ok {
		t.Fatal("a warm seat was claimed over a kept home")
	}
	if got := seatSh(t, s2, "cat work.txt"); got != "kept" {
		t.Errorf("kept home: %q", got)
	}
	if n := r.WarmReady(); n != 1 {
		t.Errorf("warm seat not returned to the pool: %d ready", n)
	}
	t.Cleanup(func() { os.RemoveAll(s2.Dir) })
}

// TestLeftoverWarmSeatsAreRemoved: warm seats of an agent that went away
// can never be claimed (their inits' pipes died with it); the next runtime
// removes them, including one that never got to write its record.
func TestLeftoverWarmSeatsAreRemoved(t *testing.T) {
	needRoot(t)
	cfg := warmConfig(t, 2)
	r1 := newRuntime(t, cfg)
	waitWarm(t, r1, 2)
	// r1 "crashes": it stops refilling and forgets its seats.
	close(r1.pool.stop)
	<-r1.pool.done
	old := warmPIDs(t, cfg.BaseDir)
	for ws := r1.pool.take(0); ws != nil; ws = r1.pool.take(0) {
		ws.closePipes()
	}
	half := warmPrefix + "0123456789ab"
	if err := os.Mkdir(filepath.Join(cfg.BaseDir, half), 0o711); err != nil {
		t.Fatal(err)
	}
	halfSlot := filepath.Join(cfg.BaseDir, ".slots", "77")
	if err := os.WriteFile(halfSlot, []byte(half), 0o600); err != nil {
		t.Fatal(err)
	}

	cfg.WarmSeats = 0
	newRuntime(t, cfg)
	for pid, dir := range old {
		if err := syscall.Kill(pid, 0); err == nil && !processGone(pid) {
			t.Errorf("leftover warm seat %s (pid %d) still running", dir, pid)
		}
		if _, err := os.Stat(filepath.Join(cfg.BaseDir, dir)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("leftover warm seat dir %s: %v", dir, err)
		}
	}
	for _, p := range []string{filepath.Join(cfg.BaseDir, half), halfSlot} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
	if slots, _ := os.ReadDir(filepath.Join(cfg.BaseDir, ".slots")); len(slots) != 0 {
		t.Errorf("slots left: %v", slots)
	}
}

// processGone: killed inits are reaped by this test process (their parent)
// only when waited for; a zombie counts as gone.
func processGone(pid int) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var ws syscall.WaitStatus
		if p, _ := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); p == pid {
			return true
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(b), ") Z ") {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// TestCreateWaitsForAStartingWarmSeat: on a host whose only slot is held
// by a warm seat still starting, Create waits for that seat and gets it,
// instead of failing for want of a slot.
func TestCreateWaitsForAStartingWarmSeat(t *testing.T) {
	needRoot(t)
	cfg := warmConfig(t, 1)
	cfg.MaxSeats = 1
	cfg.DaemonEnv = append(cfg.DaemonEnv, envSlowStart+"=400") // the warm seat takes a while
	r := newWarmRuntime(t, cfg)
	// Wait until the warm seat being started holds the only slot. Slot
	// numbers are host-wide (a seat of another runtime on this host, such
	// as a parallel test package's, may hold slot 0's uid range), so the
	// slot is whichever file in .slots names the warm seat. A first attempt
	// that fails (a loaded host) is retried after 5 s, so the deadline
	// leaves room for a retry or two.
	slots := filepath.Join(cfg.BaseDir, ".slots")
	warmSlot := ""
	deadline := time.Now().Add(30 * time.Second)
	for warmSlot == "" {
		held, _ := os.ReadDir(slots)
		for _, e := range held {
			if b, _ := os.ReadFile(filepath.Join(slots, e.Name())); strings.HasPrefix(string(b), warmPrefix) {
				warmSlot = e.Name()
			}
		}
		if warmSlot == "" && time.Now().After(deadline) {
			t.Fatal("no warm seat took the slot")
		}
		time.Sleep(time.Millisecond)
	}
	if r.WarmReady() != 0 {
		t.Fatal("the warm seat was ready too soon for this test")
	}
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-wait", Seat: 1})
	if b, _ := os.ReadFile(filepath.Join(slots, warmSlot)); string(b) != "ws-wait-1" {
		t.Fatalf("slot %s owner %q: the seat is not the warm seat that held the slot", warmSlot, b)
	}
	if got := seatSh(t, s, "hostname"); got != "seat-1" {
		t.Errorf("hostname %q", got)
	}
}

// liveSessions lists the ids of the seat daemon's terminal sessions whose
// shell is still running.
func liveSessions(t *testing.T, s *seatruntime.Seat) []string {
	t.Helper()
	resp, err := seatClient(s).Get("http://workspace/sessions")
	if err != nil {
		t.Fatalf("GET /sessions: %v", err)
	}
	defer resp.Body.Close()
	var list struct {
		Sessions []terminal.Info `json:"sessions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatalf("GET /sessions: %v", err)
	}
	var ids []string
	for _, in := range list.Sessions {
		if !in.Exited {
			ids = append(ids, in.ID)
		}
	}
	return ids
}

// TestWarmSeatHandsOverItsShell: a warm seat has its learner's first shell
// running. Claimed as the seat number it was named for, that shell is
// handed over (ShellReady: the agent starts none) and it knows the seat's
// name. Claimed as another number, the pre-started shell, which would
// name the wrong seat, is ended and the seat says it has no shell yet.
func TestWarmSeatHandsOverItsShell(t *testing.T) {
	cfg := realDaemonConfig(t)
	cfg.WarmSeats, cfg.WarmRefillDelay = 2, -1
	r := newWarmRuntime(t, cfg)
	waitWarm(t, r, 2)
	pids := warmPIDs(t, cfg.BaseDir)

	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-shell", Seat: 2})
	if _, ok := pids[s.PID]; !ok {
		t.Fatalf("seat 2 was not a warm seat (pid %d, warm %v)", s.PID, pids)
	}
	if !s.ShellReady {
		t.Fatal("a warm seat claimed as its own number: ShellReady false")
	}
	live := liveSessions(t, s)
	if len(live) != 1 {
		t.Fatalf("live sessions %q, want the pre-started one", live)
	}
	term, err := dialSession(t, s, "") // what the learner's first connection gets
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if term.Hello.Session != live[0] {
		t.Errorf("attached to %s, the pre-started shell is %s", term.Hello.Session, live[0])
	}
	if out := seatExecReal(t, term, `echo "N=$HOSTNAME/$(hostname)/$(id -u)/$PWD"`); !strings.Contains(out, "N=seat-2/seat-2/1000//home/learner") {
		t.Errorf("the handed-over shell: %q", out)
	}

	// Seat 9: no warm seat has that name.
	waitWarm(t, r, 2)
	other := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-shell", Seat: 9})
	if other.ShellReady {
		t.Error("a warm seat claimed as another number handed over a shell named for that number")
	}
	if live := liveSessions(t, other); len(live) != 0 {
		t.Errorf("live sessions %q after a claim under another number, want none", live)
	}
	fresh := newSession(t, other)
	term9, err := dialSession(t, other, fresh.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer term9.Close()
	if out := seatExecReal(t, term9, `echo "N=$HOSTNAME/$(hostname)"`); !strings.Contains(out, "N=seat-9/seat-9") {
		t.Errorf("a new shell in seat 9: %q", out)
	}
}

// TestWarmSeatOldShellIsNotHandedOver: a pre-started shell older than
// warmShellMaxAge may have been reaped by the daemon as idle; the claim
// ends it and leaves the first shell to the agent rather than promise one.
func TestWarmSeatOldShellIsNotHandedOver(t *testing.T) {
	cfg := realDaemonConfig(t)
	cfg.WarmSeats, cfg.WarmRefillDelay = 1, -1
	old := warmShellMaxAge
	warmShellMaxAge = 0
	t.Cleanup(func() { warmShellMaxAge = old })
	r := newWarmRuntime(t, cfg)
	waitWarm(t, r, 1)
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-old", Seat: 1})
	if s.ShellReady {
		t.Error("a pre-started shell past its age was handed over")
	}
	if live := liveSessions(t, s); len(live) != 0 {
		t.Errorf("live sessions %q, want the old shell ended", live)
	}
}

// TestWaitingInitHoldsNoThreadPerWait: a ready seat's init waits for root
// scripts (its root socket) and a warm seat's init for its claim (the
// config pipe, fd 3) through Go's poller, not in a blocking accept4 or
// read that holds an OS thread each: every thread a seat's init starts is
// paid at every seat's start.
func TestWaitingInitHoldsNoThreadPerWait(t *testing.T) {
	needRoot(t)
	cfg := warmConfig(t, 1)
	r := newWarmRuntime(t, cfg)
	waitWarm(t, r, 1)
	pids := warmPIDs(t, cfg.BaseDir)
	if len(pids) != 1 {
		t.Fatalf("warm seats on disk: %v", pids)
	}
	for pid := range pids {
		// Sample the init's threads for a while: a goroutine blocked in a
		// system call shows there within microseconds of starting.
		end := time.Now().Add(500 * time.Millisecond)
		for time.Now().Before(end) {
			for tid, sc := range threadSyscalls(t, pid) {
				f := strings.Fields(sc)
				if len(f) < 2 {
					continue
				}
				nr, _ := strconv.Atoi(f[0])
				switch {
				case nr == syscall.SYS_ACCEPT4:
					t.Fatalf("init %d: thread %d blocked in accept4 (%s)", pid, tid, sc)
				case nr == syscall.SYS_READ && f[1] == "0x3":
					t.Fatalf("init %d: thread %d blocked in read of the config pipe (%s)", pid, tid, sc)
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// threadSyscalls reads /proc/PID/task/*/syscall: the system call each
// thread is in ("NR ARGS... SP PC", or "running").
func threadSyscalls(t *testing.T, pid int) map[int]string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/task", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	for _, e := range entries {
		tid, _ := strconv.Atoi(e.Name())
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "syscall"))
		if err == nil {
			out[tid] = strings.TrimSpace(string(b))
		}
	}
	return out
}

// A claim re-keys the warm seat's slot file in place: exactly the seat's
// key after, and never another seat's key on the way (".warm-17" cut to
// "bench.1"'s length would have read "bench.17" between the calls).
func TestRekeySlot(t *testing.T) {
	p := filepath.Join(t.TempDir(), "3")
	if err := os.WriteFile(p, []byte(".warm-17"), 0o600); err != nil {
		t.Fatal(err)
	}
	var before syscall.Stat_t
	if err := syscall.Stat(p, &before); err != nil {
		t.Fatal(err)
	}
	if err := rekeySlot(p, "bench.1"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "bench.1" {
		t.Fatalf("slot file holds %q, want %q", b, "bench.1")
	}
	var after syscall.Stat_t
	if err := syscall.Stat(p, &after); err != nil {
		t.Fatal(err)
	}
	if after.Ino != before.Ino || after.Mode&0o777 != 0o600 {
		t.Fatalf("slot file replaced or its mode changed: inode %d -> %d, mode %o", before.Ino, after.Ino, after.Mode&0o777)
	}
	if err := rekeySlot(p, "a-much-longer-workshop.30"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "a-much-longer-workshop.30" {
		t.Fatalf("slot file holds %q", b)
	}
}
