//go:build linux

package sandbox

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/host/seatruntime"
	"golang.org/x/sys/unix"
)

// loopDevicesBackedBy maps the loop devices whose backing file is under
// dir to that file.
func loopDevicesBackedBy(dir string) map[string]string {
	out := map[string]string{}
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && strings.HasPrefix(string(b), dir+"/") {
			out[filepath.Base(filepath.Dir(filepath.Dir(f)))] = strings.TrimSpace(string(b))
		}
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // the pool fills in the background
	}
}

// runtimeWithFullPool starts a runtime with 64 MiB seat homes and a pool
// of two blank homes, and waits until both are mounted. It returns the
// runtime and the pool's directory.
func runtimeWithFullPool(t *testing.T) (*Runtime, string) {
	t.Helper()
	needRoot(t)
	cfg := diskConfig(t, 64)
	cfg.MaxParallelStarts = 2 // a pool of two
	r := newRuntime(t, cfg)
	pool := filepath.Join(cfg.BaseDir, diskDir, poolDir)
	waitFor(t, "two blank homes", func() bool { return len(loopDevicesBackedBy(pool)) == 2 })
	return r, pool
}

// TestHomePool: a seat started from scratch gets a blank home the runtime
// mounted ahead of time (the same loop device, its image renamed into the
// seat's directory, owned by the learner), the pool fills again, and
// neither Destroy nor Close leaves a loop device or an image behind.
func TestHomePool(t *testing.T) {
	r, pool := runtimeWithFullPool(t)
	before := loopDevicesBackedBy(pool)

	s, err := r.Create(context.Background(), seatruntime.Spec{WorkshopID: "ws-pool", Seat: 1})
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(s.Dir, homeImage)
	mine := loopDevicesBackedBy(s.Dir)
	if len(mine) != 1 {
		t.Fatalf("loop devices of the seat: %v", mine)
	}
	for dev, file := range mine {
		if file != img {
			t.Errorf("the seat's loop device %s is backed by %s, want %s", dev, file, img)
		}
		if _, ok := before[dev]; !ok {
			t.Errorf("the seat's home is on %s, not on one of the pool's %v", dev, slices.Sorted(maps.Keys(before)))
		}
	}
	if got := seatSh(t, s, "stat -c %U . && echo hi > f && cat f"); got != "learner\nhi" {
		t.Errorf("the pooled home for the learner: %q", got)
	}
	if res := fillHome(t, s, "big", 100); res.Code == 0 || !strings.Contains(res.Stderr, "No space left on device") {
		t.Errorf("100 MiB into a pooled 64 MiB home: code %d, %q", res.Code, res.Stderr)
	}
	waitFor(t, "the pool to fill again", func() bool { return len(loopDevicesBackedBy(pool)) == 2 })

	if err := r.Destroy(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	waitNoLoops(t, s.Dir)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	waitNoLoops(t, pool)
	if left, _ := filepath.Glob(filepath.Join(pool, "*")); len(left) > 0 {
		t.Errorf("images left in the pool after Close: %v", left)
	}
}

// TestHomePoolOtherSize: a seat asking for another disk size than the
// pool's makes its own home, and leaves the pool's homes alone.
func TestHomePoolOtherSize(t *testing.T) {
	r, pool := runtimeWithFullPool(t)
	before := loopDevicesBackedBy(pool)
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-pool", Seat: 2, DiskMB: 32})
	if got := loopDevicesBackedBy(pool); !maps.Equal(got, before) {
		t.Errorf("pool's loop devices %v, before the seat %v", got, before)
	}
	if st, err := os.Stat(filepath.Join(s.Dir, homeImage)); err != nil || st.Size() != 32<<20 {
		t.Errorf("home image of a 32 MiB seat: %v, %v", st, err)
	}
}

// TestHomePoolAgentExit: an agent that exits without closing its runtime
// leaves no loop device of its pool (its mounts went with its file
// descriptors), and the next runtime removes its images.
func TestHomePoolAgentExit(t *testing.T) {
	needRoot(t)
	cfg := diskConfig(t, 64)
	r, s := seatOfExitedAgent(t, cfg)
	pool := filepath.Join(cfg.BaseDir, diskDir, poolDir)
	ours := strconv.Itoa(os.Getpid()) + "-"
	others := func() []string {
		var out []string
		for _, f := range loopDevicesBackedBy(pool) {
			if !strings.HasPrefix(filepath.Base(f), ours) {
				out = append(out, f)
			}
		}
		return out
	}
	waitFor(t, "the exited agent's blank homes to unmount", func() bool { return len(others()) == 0 })
	leftovers := func() (out []string) {
		names, _ := filepath.Glob(filepath.Join(pool, "*.img"))
		for _, n := range names {
			if !strings.HasPrefix(filepath.Base(n), ours) {
				out = append(out, n)
			}
		}
		return out
	}
	// One more of an agent that cannot be running (above any pid_max), and
	// one of a running agent (this test), which must stay.
	dead := filepath.Join(pool, "4194305-0.img")
	live := filepath.Join(pool, ours+"999.img")
	for _, f := range []string{dead, live} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r2 := newRuntime(t, cfg)
	if l := leftovers(); len(l) > 0 {
		t.Errorf("a new runtime kept the images of agents gone: %v", l)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a new runtime removed a running agent's image: %v", err)
	}
	os.Remove(live)
	if err := r2.Destroy(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	waitNoLoops(t, s.Dir)
}

// TestHomePoolOtherFileSystem: where a seat's directory is on another file
// system than the pool (the pooled image cannot be renamed into it), the
// seat makes its own home instead of failing to start.
func TestHomePoolOtherFileSystem(t *testing.T) {
	r, _ := runtimeWithFullPool(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	m, err := r.pooledHome(dir, *r.diskFor(0, 0), 1000, 1000)
	if m != nil || err != nil {
		t.Fatalf("pooled home for a directory on another file system: %v, %v; want none, so the seat makes its own", m, err)
	}
}
