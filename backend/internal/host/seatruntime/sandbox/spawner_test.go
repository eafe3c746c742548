//go:build linux

package sandbox

import (
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/clarateach/backend/internal/host/procinfo"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatinit"
)

// TestSeatStartDoesNotCopyTheAgent: starting a seat must not fork the
// agent. Go forks a process that spawns with CLONE_NEWUSER (no vfork), so
// every page of the agent's memory became copy-on-write and the agent
// faulted on each one it wrote next: ~10 ms of its CPU per cold seat, more
// with a bigger heap. Through the seat spawner, writing 64 MiB of the
// agent's memory after a seat's start faults on none of it. The init is
// still the agent's own child, and a seat's root is its uid range's base.
func TestSeatStartDoesNotCopyTheAgent(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	cfg.DiskMB = -1
	r := newRuntime(t, cfg)
	var s *seatruntime.Seat
	if n, pages := faultsAfter(t, func() {
		s = createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-spawn", Seat: 1})
	}); n > pages/2 {
		t.Errorf("writing %d pages after a seat's start took %d page faults: the start copied the agent", pages, n)
	}
	if st, err := procinfo.Stat(s.PID); err != nil || st[1] != strconv.Itoa(os.Getpid()) {
		t.Errorf("the seat's init %d: stat %v (%v), want the agent %d as its parent", s.PID, st, err, os.Getpid())
	}
	base := strconv.Itoa(seatExtra(t, s).UIDBase)
	if got, want := seatSh(t, s, "id -u; cat /proc/self/uid_map /proc/self/gid_map | tr -s ' '"), "1000\n 0 "+base+" 65536\n 0 "+base+" 65536"; got != want {
		t.Errorf("the seat's ids: %q, want %q", got, want)
	}
	if st, err := os.Stat(filepath.Join(cfg.BaseDir, spawnerName)); err != nil || st.Mode().Perm() != 0o500 {
		t.Errorf("spawner: %v, %v", st, err)
	}
}

// faultsAfter writes 64 MiB of this process's memory, runs start, and
// counts the page faults of writing it all again: about one per page if
// start forked this process without vfork (every page copy-on-write).
func faultsAfter(t *testing.T, start func()) (faults, pages int) {
	t.Helper()
	const size = 64 << 20
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	write := func() {
		for i := 0; i < size; i += os.Getpagesize() {
			mem[i]++
		}
	}
	write()
	start()
	before := minorFaults(t)
	write()
	return minorFaults(t) - before, size / os.Getpagesize()
}

// minorFaults is this process's count of minor page faults so far.
func minorFaults(t *testing.T) int {
	t.Helper()
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return int(ru.Minflt)
}

// TestSeatSpawnerGivesUp: an init whose agent goes away before writing
// its id maps (the socket closes without the byte) runs nothing and
// exits 126, as the agent's child.
func TestSeatSpawnerGivesUp(t *testing.T) {
	needRoot(t)
	p := filepath.Join(t.TempDir(), "spawn")
	if err := os.WriteFile(p, seatinit.SpawnerELF(), 0o500); err != nil {
		t.Fatal(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "ours"), os.NewFile(uintptr(fds[1]), "theirs")
	defer ours.Close()
	marker := filepath.Join(t.TempDir(), "ran")
	cmd := exec.Command(p, "/bin/sh", "sh", "-c", "touch "+marker)
	cmd.Stdin = theirs
	if err := cmd.Run(); err != nil {
		t.Fatalf("spawner: %v", err)
	}
	theirs.Close()
	var b [4]byte
	if _, err := io.ReadFull(ours, b[:]); err != nil {
		t.Fatalf("read the init's pid: %v", err)
	}
	ours.Close()
	proc, err := os.FindProcess(int(binary.LittleEndian.Uint32(b[:])))
	if err != nil {
		t.Fatal(err)
	}
	st, err := proc.Wait()
	if err != nil || st.ExitCode() != 126 {
		t.Errorf("the init: %v, %v; want exit 126", st, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the init ran its program without its id maps")
	}
}

// TestSeatSpawnerNoexecBaseDir: on a base directory where nothing may be
// executed, seats start without the spawner (a fork of the agent, as
// before it) instead of not at all.
func TestSeatSpawnerNoexecBaseDir(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	cfg.DiskMB = -1
	if err := unix.Mount("tmpfs", cfg.BaseDir, "tmpfs", unix.MS_NOEXEC|unix.MS_NOSUID|unix.MS_NODEV, "mode=711,size=16m"); err != nil {
		t.Skipf("mount a noexec tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(cfg.BaseDir, unix.MNT_DETACH) })
	r := newRuntime(t, cfg)
	if r.spawner != "" {
		t.Errorf("spawner %s on a noexec base dir", r.spawner)
	}
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-noexec", Seat: 1})
	if got := seatSh(t, s, "id -u"); got != "1000" {
		t.Errorf("id -u in the seat: %q", got)
	}
}
