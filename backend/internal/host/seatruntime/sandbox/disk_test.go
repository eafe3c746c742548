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

	"github.com/clarateach/backend/internal/host/seatruntime"
)

// seatHomePath is where the host sees a file of the learner's home: in the
// seat's own mount namespace, through its init.
func seatHomePath(s *seatruntime.Seat, name string) string {
	return filepath.Join("/proc", strconv.Itoa(s.PID), "root", seatHome, name)
}

// loopsBackedBy lists the loop devices whose backing file is under dir.
func loopsBackedBy(dir string) []string {
	var out []string
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && strings.HasPrefix(string(b), dir+"/") {
			out = append(out, strings.TrimSpace(string(b)))
		}
	}
	return out
}

// allocatedBytes is the disk space a file really takes on the host.
func allocatedBytes(t *testing.T, p string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// fillHome writes up to mb MiB of zeros into the seat's home and returns
// the shell's exit code and error output.
func fillHome(t *testing.T, s *seatruntime.Seat, name string, mb int) execResult {
	t.Helper()
	return seatExec(t, s, "/bin/sh", "-c", "dd if=/dev/zero of="+name+" bs=1M count="+strconv.Itoa(mb)+" status=none")
}

func diskConfig(t *testing.T, mb int) Config {
	cfg := testConfig(t)
	cfg.DiskMB = mb
	return cfg
}

// TestDiskLimit: a learner writing 2 GiB+ into a seat limited to 64 MiB
// gets "No space left on device"; the host's disk holds no more than the
// limit for that seat, and the host and another seat still write.
func TestDiskLimit(t *testing.T) {
	needRoot(t)
	cfg := diskConfig(t, 64)
	r := newRuntime(t, cfg)
	a := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-disk", Seat: 1})
	b := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-disk", Seat: 2})
	if a.DiskMB != 64 {
		t.Errorf("seat disk_mb = %d, want 64", a.DiskMB)
	}
	if got := seatSh(t, a, "stat -f -c '%b %S' ."); got != "" {
		f := strings.Fields(got)
		blocks, _ := strconv.ParseInt(f[0], 10, 64)
		bs, _ := strconv.ParseInt(f[1], 10, 64)
		if size := blocks * bs; size > 64<<20 || size < 48<<20 {
			t.Errorf("home file system of %d bytes for a 64 MiB limit", size)
		}
	}

	// The home is its own ext4, nosuid and nodev.
	if m := seatSh(t, a, "grep ' /home/learner ' /proc/self/mounts"); !strings.Contains(m, " ext4 ") ||
		!strings.Contains(m, "nosuid") || !strings.Contains(m, "nodev") {
		t.Errorf("home mount: %q", m)
	}

	res := fillHome(t, a, "big", 2100)
	if res.Code == 0 || !strings.Contains(res.Stderr, "No space left on device") {
		t.Fatalf("writing 2100 MiB into a 64 MiB home: code %d, stderr %q", res.Code, res.Stderr)
	}
	if st, err := os.Stat(seatHomePath(a, "big")); err != nil || st.Size() > 64<<20 {
		t.Fatalf("the file that filled the home: %v, %v", st, err)
	}
	if n := allocatedBytes(t, filepath.Join(a.Dir, homeImage)); n > 66<<20 {
		t.Errorf("the seat takes %d bytes of the host's disk, over its 64 MiB limit", n)
	}
	// The host and the other seat are not affected.
	if err := os.WriteFile(filepath.Join(t.TempDir(), "host"), make([]byte, 1<<20), 0o600); err != nil {
		t.Errorf("host write: %v", err)
	}
	if res := fillHome(t, b, "mine", 8); res.Code != 0 {
		t.Errorf("the other seat cannot write: %q", res.Stderr)
	}
	// The full seat can write again once the learner deletes.
	seatSh(t, a, "rm big && echo ok > small")
}

// TestDiskInodeLimit: a learner creating files without end runs out of
// inodes in their own home, not the host's.
func TestDiskInodeLimit(t *testing.T) {
	needRoot(t)
	cfg := diskConfig(t, 64)
	cfg.DiskInodes = 4096 // the default for the seatruntime...
	r := newRuntime(t, cfg)
	// ...and a seat that asks for fewer.
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-inodes", Seat: 1, DiskInodes: 256})
	res := seatExec(t, s, "/bin/sh", "-c", "mkdir d && cd d && i=0; while [ $i -lt 5000 ]; do : > f$i || exit 1; i=$((i+1)); done")
	if res.Code == 0 || !strings.Contains(res.Stderr, "No space left on device") {
		t.Fatalf("creating 5000 files with 256 inodes: code %d, stderr %q", res.Code, res.Stderr)
	}
	if n, _ := strconv.Atoi(seatSh(t, s, "ls d | wc -l")); n > 256 || n < 200 {
		t.Errorf("%d files created with 256 inodes", n)
	}
	// Space is left: only inodes ran out.
	if res := fillHome(t, s, "data", 8); res.Code == 0 {
		t.Error("a new file was created with no inode left")
	}
	seatSh(t, s, "rm -r d && echo ok > after")
}

// TestDiskSizePerSeat: a seat's Spec sets its size; a warm seat of another
// size is not claimed for it, one of the same size is.
func TestDiskSizePerSeat(t *testing.T) {
	needRoot(t)
	cfg := warmConfig(t, 1)
	cfg.DiskMB = 64
	r := newWarmRuntime(t, cfg)
	waitWarm(t, r, 1)
	warm := warmPIDs(t, cfg.BaseDir)
	big := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-size", Seat: 1, DiskMB: 96})
	if _, ok := warm[big.PID]; ok {
		t.Error("a 64 MiB warm seat was claimed for a 96 MiB seat")
	}
	if got := seatSh(t, big, "dd if=/dev/zero of=f bs=1M count=80 status=none && echo ok"); got != "ok" {
		t.Errorf("80 MiB in a 96 MiB home: %q", got)
	}
	same := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-size", Seat: 2})
	if _, ok := warm[same.PID]; !ok {
		t.Error("the warm seat was not claimed for a seat of its size")
	}
	if res := fillHome(t, same, "f", 80); res.Code == 0 {
		t.Error("80 MiB fit into the claimed warm seat's 64 MiB home")
	}
	if ex := seatExtra(t, same); ex.Disk == nil || ex.Disk.MB != 64 {
		t.Errorf("claimed seat's disk: %+v", ex.Disk)
	}
}

// TestDiskLimitSurvivesAgentExit: a seat created by an agent that then
// exits keeps its home, its files and its limit; destroying it from a new
// runtime frees the loop device and the image.
func TestDiskLimitSurvivesAgentExit(t *testing.T) {
	needRoot(t)
	cfg := diskConfig(t, 64)
	r, s := seatOfExitedAgent(t, cfg)
	seatSh(t, s, "echo mine > notes.txt")
	if res := fillHome(t, s, "big", 200); res.Code == 0 || !strings.Contains(res.Stderr, "No space left on device") {
		t.Fatalf("after the agent's exit, 200 MiB into a 64 MiB home: code %d, %q", res.Code, res.Stderr)
	}
	if got := seatSh(t, s, "rm big; cat notes.txt"); got != "mine" {
		t.Errorf("learner's file: %q", got)
	}
	if len(loopsBackedBy(s.Dir)) != 1 {
		t.Errorf("loop devices of the seat: %v", loopsBackedBy(s.Dir))
	}
	if err := r.Destroy(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	waitNoLoops(t, s.Dir)
	if _, err := os.Stat(filepath.Join(s.Dir, homeImage)); err == nil {
		t.Error("home image left after Destroy")
	}
}

// waitNoLoops waits until no loop device is backed by a file under dir.
func waitNoLoops(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(loopsBackedBy(dir)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("loop devices still attached after Destroy: %v", loopsBackedBy(dir))
		}
		time.Sleep(10 * time.Millisecond) // the kernel tears the seat's mounts down on its own
	}
}

// TestNoDiskLimit: DiskMB < 0 keeps the home a directory on the host's
// disk (no image, no loop device).
func TestNoDiskLimit(t *testing.T) {
	needRoot(t)
	cfg := diskConfig(t, -1)
	r := newRuntime(t, cfg)
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-nodisk", Seat: 1, DiskMB: 64})
	seatSh(t, s, "echo x > f")
	if _, err := os.Stat(filepath.Join(s.Dir, "home", "f")); err != nil {
		t.Errorf("home is not the seat directory's: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, homeImage)); err == nil {
		t.Error("an image was made with no disk limit")
	}
}

// TestDiskKeptHomeOtherUIDs: a kept home image (KeepDirs) used again by a
// seat with other host uids is given to them throughout.
func TestDiskKeptHomeOtherUIDs(t *testing.T) {
	needRoot(t)
	cfg := diskConfig(t, 64)
	cfg.KeepDirs = true
	spec := seatruntime.Spec{WorkshopID: "ws-kept", Seat: 1}
	r1 := newRuntime(t, cfg)
	s1, err := r1.Create(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	seatSh(t, s1, "mkdir -p work/deep && echo kept > work/deep/f")
	if err := r1.Destroy(context.Background(), s1); err != nil {
		t.Fatal(err)
	}
	cfg.UIDBase += 7 * idRange // another agent's uid ranges
	r2 := newRuntime(t, cfg)
	s2 := createSeat(t, r2, spec)
	t.Cleanup(func() { os.RemoveAll(s2.Dir) })
	if got := seatSh(t, s2, "cat work/deep/f && echo more >> work/deep/f && stat -c %u work/deep/f"); got != "kept\n1000" {
		t.Errorf("kept home with other uids: %q", got)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(seatHomePath(s2, "work/deep/f"), &st); err != nil || int(st.Uid) != seatExtra(t, s2).UIDBase+learnerUID {
		t.Errorf("kept file owned by host uid %d (%v), want %d", st.Uid, err, seatExtra(t, s2).UIDBase+learnerUID)
	}
}

// TestDiskHomeKeptByStop: a stopped seat's home image is listed, taken up
// again by the next Create of the seat (files and limit), and removed by
// RemoveHome.
func TestDiskHomeKeptByStop(t *testing.T) {
	needRoot(t)
	r := newRuntime(t, diskConfig(t, 64))
	spec := seatruntime.Spec{WorkshopID: "ws-stop", Seat: 2}
	s, err := r.Create(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	seatSh(t, s, "echo kept > notes.txt")
	if err := r.Stop(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	homes, err := r.Homes()
	if err != nil || len(homes) != 1 || homes[0].WorkshopID != "ws-stop" || homes[0].Seat != 2 {
		t.Fatalf("homes after Stop: %+v %v", homes, err)
	}
	s2 := createSeat(t, r, spec)
	if got := seatSh(t, s2, "cat notes.txt"); got != "kept" {
		t.Errorf("home after Stop and Create: %q", got)
	}
	if res := fillHome(t, s2, "big", 100); res.Code == 0 {
		t.Error("100 MiB fit into the kept 64 MiB home")
	}
	if err := r.Stop(context.Background(), s2); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveHome(context.Background(), "ws-stop", 2); err != nil {
		t.Fatal(err)
	}
	waitNoLoops(t, s2.Dir)
	if homes, _ := r.Homes(); len(homes) != 0 {
		t.Errorf("homes after RemoveHome: %+v", homes)
	}
}

// TestCopyImageKeepsHoles: an image copy has the template's data and
// stays sparse (a reflink, or only the data extents copied). Set TMPDIR to
// try another file system (the test was run on ext4 and on xfs).
func TestCopyImageKeepsHoles(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "tpl.img"), filepath.Join(dir, "seat.img")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	const size = 512 << 20
	for _, off := range []int64{0, 100 << 20, size - 4096} {
		if _, err := f.WriteAt([]byte("data at "+strconv.FormatInt(off, 10)), off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := copyImage(src, dst); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(src)
	b, _ := os.ReadFile(dst)
	if len(b) != size || string(a) != string(b) {
		t.Fatalf("copy differs: %d bytes, want %d", len(b), size)
	}
	if n := allocatedBytes(t, dst); n > 4<<20 {
		t.Errorf("the copy of a sparse %d-byte file takes %d bytes", size, n)
	}
}

// TestDiskDeleteGivesSpaceBack: what a learner deletes in their home is
// given back to the host's disk while the seat runs (the home is mounted
// with discard: the loop device punches holes in the image), not only when
// the seat is destroyed.
func TestDiskDeleteGivesSpaceBack(t *testing.T) {
	needRoot(t)
	r := newRuntime(t, diskConfig(t, 128))
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-trim", Seat: 1})
	img := filepath.Join(s.Dir, homeImage)
	if m := seatSh(t, s, "grep ' /home/learner ' /proc/self/mounts"); !strings.Contains(m, "discard") {
		t.Errorf("home mount without discard: %q", m)
	}
	before := allocatedBytes(t, img)
	if res := fillHome(t, s, "big", 64); res.Code != 0 {
		t.Fatalf("write 64 MiB: %q", res.Stderr)
	}
	seatSh(t, s, "sync")
	full := allocatedBytes(t, img)
	if full < before+60<<20 {
		t.Fatalf("image holds %d bytes after writing 64 MiB (was %d)", full, before)
	}
	seatSh(t, s, "rm big && sync")
	deadline := time.Now().Add(15 * time.Second)
	for {
		n := allocatedBytes(t, img)
		if n < before+8<<20 {
			t.Logf("image: %d bytes fresh, %d with 64 MiB written, %d after the delete", before, full, n)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("image still holds %d bytes 15 s after the 64 MiB file was deleted (fresh: %d)", n, before)
		}
		time.Sleep(50 * time.Millisecond) // polling the host file's size: no event to wait on
	}
}
