//go:build linux

package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/host/seatruntime"
)

// layerRuntime starts a runtime with 64 MiB seat disks and room for two
// seats (a pool of two system layers), whose image-seat uid ranges no
// other test reaches, and returns it with the layer pool's directory.
// A leftover layer image of an agent that cannot be running (above any
// pid_max) is put in that directory first.
func layerRuntime(t *testing.T, uidSlot int) (*Runtime, string) {
	t.Helper()
	needRoot(t)
	cfg := realDaemonConfig(t)
	cfg.DiskMB, cfg.MaxSeats = 64, 2
	cfg.UIDBase = 1<<30 + uidSlot*idRange // see TestImageSeatsReuseMadeUserNamespaces
	dir := filepath.Join(cfg.BaseDir, diskDir, layerDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(dir, "4194305-0.img")
	if err := os.WriteFile(dead, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRuntime(t, cfg)
	if _, err := os.Stat(dead); err == nil {
		t.Errorf("a new runtime kept the system layer of an agent gone: %s", dead)
	}
	return r, dir
}

// readyLayers is the pool's ready layers: image file -> digest.
func readyLayers(r *Runtime) map[string]string {
	r.layers.mu.Lock()
	defer r.layers.mu.Unlock()
	out := map[string]string{}
	for _, l := range r.layers.ready {
		out[l.img] = l.digest
	}
	return out
}

// markLayers writes a file, /pool-marker, into the upper layer of each
// ready layer, holding the layer's name, and returns the names: a seat on
// a pooled layer sees its marker at its root.
func markLayers(t *testing.T, r *Runtime) []string {
	t.Helper()
	r.layers.mu.Lock()
	defer r.layers.mu.Unlock()
	var names []string
	for _, l := range r.layers.ready {
		name := filepath.Base(l.img)
		if err := os.WriteFile("/proc/self/fd/"+strconv.Itoa(int(l.mount.Fd()))+"/upper/pool-marker", []byte(name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

// layerFiles lists the image files in the pool's directory.
func layerFiles(dir string) []string {
	names, _ := filepath.Glob(filepath.Join(dir, "*.img"))
	return names
}

// TestSystemLayerPool: once the agent has pulled an image (WarmImage), the
// runtime mounts system layers for its seats ahead of time, and a seat on
// that image takes one (the same loop device, its image renamed into the
// seat's directory) instead of making its layer in its start: each seat
// its own, with the seat's disk limit, owned by the seat. The pool fills
// again, and neither Destroy nor Close leaves a loop device or an image.
func TestSystemLayerPool(t *testing.T) {
	r, dir := layerRuntime(t, 9100)
	if n := len(loopDevicesBackedBy(dir)); n != 0 || r.SystemLayersReady() != 0 {
		t.Fatalf("system layers made before any image: %d mounted, %d ready", n, r.SystemLayersReady())
	}
	img := testImage(t)
	r.WarmImage(img)
	full := func() bool { return r.SystemLayersReady() == 2 && len(loopDevicesBackedBy(dir)) == 2 }
	waitFor(t, "two system layers", full)
	for f, d := range readyLayers(r) {
		if d != img.Digest {
			t.Errorf("layer %s made for %s, want %s", f, d, img.Digest)
		}
	}

	var seats []*seatruntime.Seat
	seen := map[string]bool{}
	for n := 1; n <= 2; n++ {
		// The pool is full: its filler makes nothing until a seat takes one.
		waitFor(t, "a full pool", full)
		marked := markLayers(t, r)
		s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-layer", Seat: n, Image: img})
		seats = append(seats, s)
		got := mustSh(t, s, "cat /pool-marker 2>/dev/null || echo none")
		if !slices.Contains(marked, got) {
			t.Errorf("seat %d's root shows marker %q, not one of the pool's layers %v: its layer was made in its start", n, got, marked)
		}
		if seen[got] {
			t.Errorf("seat %d has the system layer of another seat (%s)", n, got)
		}
		seen[got] = true
	}
	a, b := seats[0], seats[1]
	mustSh(t, a, "echo mine > /var/tmp/f")
	if got := mustSh(t, b, "test -e /var/tmp/f && echo seen || echo unseen"); got != "unseen" {
		t.Errorf("seat 2 sees seat 1's file: %s", got)
	}
	if got := mustSh(t, a, "stat -c '%u' /var/tmp/f /"); got != "1000\n0" {
		t.Errorf("owners in the pooled layer: %q", got)
	}
	res := realSh(t, a, "dd if=/dev/zero of=/var/tmp/big bs=1M count=100")
	if res.ExitCode == 0 || !strings.Contains(res.Stderr, "No space left") {
		t.Errorf("100 MiB into a 64 MiB seat's pooled layer: exit %d, %s", res.ExitCode, res.Stderr)
	}
	waitFor(t, "the pool to fill again", func() bool { return r.SystemLayersReady() == 2 })

	for _, s := range seats {
		if err := r.Destroy(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		waitNoLoops(t, s.Dir)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	waitNoLoops(t, dir)
	if left := layerFiles(dir); len(left) > 0 {
		t.Errorf("system layers left after Close: %v", left)
	}
}

// TestSystemLayerPoolFollowsTheImage: the pool's layers are bound to the
// image they were made for. A seat on another image makes its own and
// leaves them alone; when the agent warms another image, the layers of
// the first are deleted and the pool fills for the new one; when the
// image leaves the host's cache (ForgetImage), the pool holds none.
func TestSystemLayerPoolFollowsTheImage(t *testing.T) {
	r, dir := layerRuntime(t, 9200)
	a := testImage(t)
	b := &seatruntime.Image{Digest: "sha256:" + strings.Repeat("b", 64), RootFS: a.RootFS, Env: a.Env}
	r.WarmImage(a)
	waitFor(t, "two layers for image a", func() bool { return r.SystemLayersReady() == 2 })
	ofA := readyLayers(r)

	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-other", Seat: 1, Image: b})
	if got := readyLayers(r); !maps.Equal(got, ofA) {
		t.Errorf("a seat on another image took a layer: ready %v, was %v", got, ofA)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, systemImage)); err != nil {
		t.Errorf("the seat on another image has no layer of its own: %v", err)
	}

	r.WarmImage(b)
	for f := range ofA {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("layer %s of image a kept after the agent warmed image b", f)
		}
	}
	waitFor(t, "two layers for image b", func() bool {
		got := readyLayers(r)
		return len(got) == 2 && !slices.ContainsFunc(slices.Collect(maps.Values(got)), func(d string) bool { return d != b.Digest })
	})

	r.ForgetImage(a.Digest) // not the pool's: nothing changes
	if n := r.SystemLayersReady(); n != 2 {
		t.Errorf("forgetting another image left %d layers, want 2", n)
	}
	r.ForgetImage(b.Digest)
	if n := r.SystemLayersReady(); n != 0 {
		t.Errorf("%d layers ready after their image was forgotten", n)
	}
	if d := r.layers.wanted(); d != "" {
		t.Errorf("the pool still makes layers for %q after its image was forgotten", d)
	}
	waitFor(t, "the forgotten image's layers to unmount", func() bool { return len(loopDevicesBackedBy(dir)) == 0 })
	if left := layerFiles(dir); len(left) > 0 {
		t.Errorf("layers of a forgotten image left: %v", left)
	}
}

// layerAgent is what layerAgentMain is given.
type layerAgent struct {
	Config Config
	Image  seatruntime.Image
	Want   int
}

// layerAgentMain is a short-lived agent: it warms an image, waits until
// Want system layers are made ahead for it, prints their image files as
// JSON and exits without closing its runtime.
func layerAgentMain(arg string) int {
	var a layerAgent
	if err := json.Unmarshal([]byte(arg), &a); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	r, err := New(a.Config)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	r.WarmImage(&a.Image)
	for deadline := time.Now().Add(30 * time.Second); r.SystemLayersReady() < a.Want; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "%d of %d system layers made\n", r.SystemLayersReady(), a.Want)
			return 1
		}
	}
	_ = json.NewEncoder(os.Stdout).Encode(slices.Sorted(maps.Keys(readyLayers(r))))
	return 0
}

// TestSystemLayerPoolAgentExit: an agent that exits without closing its
// runtime leaves no loop device of its system layers (their mounts went
// with its file descriptors), and the next runtime removes their images.
func TestSystemLayerPoolAgentExit(t *testing.T) {
	needRoot(t)
	cfg := diskConfig(t, 64)
	cfg.MaxSeats, cfg.Logger = 2, nil
	raw, _ := json.Marshal(layerAgent{Config: cfg, Want: 2,
		Image: seatruntime.Image{Digest: "sha256:" + strings.Repeat("c", 64), RootFS: t.TempDir()}})
	cmd := exec.Command(testBin)
	cmd.Env = append(os.Environ(), envLayerAgent+"="+string(raw))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("agent: %v", err)
	}
	var files []string
	if err := json.Unmarshal(out, &files); err != nil || len(files) != 2 {
		t.Fatalf("agent output %q: %v", out, err)
	}
	dir := filepath.Join(cfg.BaseDir, diskDir, layerDir)
	waitFor(t, "the exited agent's system layers to unmount", func() bool { return len(loopDevicesBackedBy(dir)) == 0 })
	for _, f := range files {
		if filepath.Dir(f) != dir {
			t.Errorf("layer %s is not in %s", f, dir)
		}
		if _, err := os.Stat(f); err != nil {
			t.Errorf("layer %s of the exited agent: %v (the next runtime removes it)", f, err)
		}
	}
	newRuntime(t, cfg)
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("a new runtime kept the system layer %s of an agent gone", f)
		}
	}
}
