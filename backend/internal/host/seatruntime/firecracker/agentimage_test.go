//go:build linux

package firecracker_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/imagecache"
	"github.com/clarateach/backend/internal/host/imagecache/imagetest"
	"github.com/clarateach/backend/internal/host/seatruntime/firecracker"
	"github.com/clarateach/backend/internal/host/seatruntime/firecracker/internal/nstest"
)

// countMkfs puts a mkfs.ext4 on PATH that logs its arguments to the
// returned file, then runs the real one: how many image disks (label
// clarateach-img) were built.
func countMkfs(t *testing.T) func() int {
	t.Helper()
	real, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Skip("needs mkfs.ext4")
	}
	dir := t.TempDir()
	logf := filepath.Join(dir, "mkfs.log")
	shim := "#!/bin/sh\necho \"$*\" >>" + logf + "\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "mkfs.ext4"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	return func() int {
		b, _ := os.ReadFile(logf)
		return strings.Count(string(b), "clarateach-img")
	}
}

// pulled pulls ref through the agent's API and waits for the end.
func pulled(t *testing.T, c *agentclient.Client, ref string) *agentclient.ImagePull {
	t.Helper()
	ctx := context.Background()
	if _, err := c.PullImage(ctx, agentclient.PullImageRequest{Ref: ref}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := c.PullStatus(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != "pulling" {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("pull of %s still running", ref)
		}
		time.Sleep(20 * time.Millisecond) // polling the agent with a deadline
	}
}

func sumOf(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestAgentSeatsOnImage: a microVM host runs seats on an image (no more
// 501 images_unsupported). The pull builds the image's ext4 disk before it
// reports done; seats created at once on it boot that one disk; an image
// cached before (no disk yet) gets it built exactly once however many seats
// ask at once; deleting the seats leaves the image's disk as it was.
func TestAgentSeatsOnImage(t *testing.T) {
	if !nstest.Enter(t, "iptables", "iptables-restore", "mkfs.ext4") {
		return
	}
	if _, err := os.Stat(imagetest.Busybox); err != nil {
		t.Skip("needs a static busybox (apt-get install busybox-static)")
	}
	builds := countMkfs(t)
	dir := t.TempDir()
	rt := standInRuntime(t, dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	state := filepath.Join(dir, "agent")
	cache, err := agent.ImageCache(firecracker.Name, state, quiet)
	if err != nil || cache == nil {
		t.Fatalf("a firecracker host has no image cache: %v", err)
	}
	a, err := agent.New(agent.Config{Listen: "127.0.0.1:0", Token: "tok", StateDir: state,
		Runtime: rt, Images: cache, SeatCheckInterval: -1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	c := agentclient.New(srv.URL, "tok", nil)
	ctx := context.Background()
	guestAddrsOnLoopback(t, 1, 2, 3, 4)

	reg := imagetest.Registry(t)
	st := pulled(t, c, imagetest.Push(t, reg, "course/busybox:1", imagetest.Image(t)))
	if st.State != "done" {
		t.Fatalf("pull: %+v", st)
	}
	im, err := cache.Get(st.Digest)
	if err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(im.Dir, imagecache.Ext4Name)
	if _, err := os.Stat(disk); err != nil || builds() != 1 {
		t.Fatalf("after the pull: image disk %v, %d builds", err, builds())
	}
	sum := sumOf(t, disk)

	// A second image, pulled before this host built disks: its disk is
	// made by the first seats that ask, once.
	other := pulled(t, c, imagetest.Push(t, reg, "course/other:1", imagetest.Image(t, imagetest.Layer(t, []imagetest.File{{Name: "etc/other", Body: "x"}}))))
	otherIm, err := cache.Get(other.Digest)
	if err != nil {
		t.Fatal(err)
	}
	otherDisk := filepath.Join(otherIm.Dir, imagecache.Ext4Name)
	if err := os.Remove(otherDisk); err != nil {
		t.Fatal(err)
	}

	want := map[int]string{1: st.Digest, 2: st.Digest, 3: other.Digest, 4: other.Digest}
	var wg sync.WaitGroup
	for n, digest := range want {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _, err := c.CreateSeat(ctx, "wsimg", n, agentclient.SeatOptions{Image: digest})
			if err != nil || s.Image != digest {
				t.Errorf("seat %d on %s: %+v %v", n, digest, s, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if builds() != 3 {
		t.Errorf("image disks built %d times, want 3 (one per pull, one for the image cached before)", builds())
	}
	for n, digest := range want {
		ex := seatExtra(t, rt, n)
		wantDisk := disk
		if digest == other.Digest {
			wantDisk = otherDisk
		}
		if ex.Image != digest || ex.ImageDisk != wantDisk || ex.SystemDisk == "" {
			t.Errorf("seat %d: %+v", n, ex)
		}
	}
	list, err := c.ListImages(ctx)
	if err != nil || len(list) != 2 || list[0].SeatsUsed != 2 || list[1].SeatsUsed != 2 {
		t.Errorf("images: %+v %v", list, err)
	}
	for n := range want {
		if err := c.DeleteSeat(ctx, "wsimg", n); err != nil {
			t.Fatal(err)
		}
	}
	if sumOf(t, disk) != sum {
		t.Error("the image disk changed")
	}
	if seats, _ := rt.Seats(); len(seats) != 0 {
		t.Errorf("seats left after delete: %d", len(seats))
	}
}

// seatExtra reads a seat's firecracker record.
func seatExtra(t *testing.T, rt *firecracker.Runtime, n int) *firecracker.Extra {
	t.Helper()
	seats, err := rt.Seats()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range seats {
		if s.Seat == n {
			var ex firecracker.Extra
			if err := json.Unmarshal(s.Extra, &ex); err != nil {
				t.Fatal(err)
			}
			return &ex
		}
	}
	t.Fatalf("no seat %d", n)
	return nil
}
