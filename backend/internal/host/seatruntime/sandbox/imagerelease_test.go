//go:build linux

package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clarateach/backend/internal/host/seatruntime"
)

// TestImageSeatReleasesItsDetachedMountsOutsideTheStartSlot: an image
// seat closes the detached mounts its overlay was made from (whose
// unmount waits for an RCU grace period) after its start slot went to the
// next seat, and its Create returns only once they are closed. With one
// start slot and those closes held, a seat on the host's root still
// starts; the image seat's Create waits for them.
func TestImageSeatReleasesItsDetachedMountsOutsideTheStartSlot(t *testing.T) {
	needRoot(t)
	cfg := realDaemonConfig(t)
	cfg.DiskMB = -1
	cfg.MaxParallelStarts = 1
	cfg.UIDBase = 1<<30 + 9300*idRange // see TestImageSeatsReuseMadeUserNamespaces
	img := testImage(t)
	r := newRuntime(t, cfg)
	release := make(chan struct{})
	var closing, closed atomic.Int32
	r.closeDetached = func(fd int) {
		closing.Add(1)
		<-release
		_ = unix.Close(fd)
		closed.Add(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	type result struct {
		seat *seatruntime.Seat
		err  error
	}
	imageDone := make(chan result, 1)
	go func() {
		s, err := r.Create(ctx, seatruntime.Spec{WorkshopID: "ws-release", Seat: 1, Image: img})
		imageDone <- result{s, err}
	}()
	waitFor(t, "the image seat's overlay made", func() bool { return closing.Load() > 0 })

	rootCtx, rootCancel := context.WithTimeout(ctx, 20*time.Second)
	defer rootCancel()
	root, err := r.Create(rootCtx, seatruntime.Spec{WorkshopID: "ws-release", Seat: 2})
	if err != nil {
		close(release)
		<-imageDone
		t.Fatalf("a seat on the host's root could not start while the image seat's detached mounts were being closed: %v", err)
	}
	defer r.Destroy(context.Background(), root)
	select {
	case res := <-imageDone:
		t.Fatalf("the image seat's Create returned (err %v) before its detached mounts were closed", res.err)
	default:
	}

	close(release)
	res := <-imageDone
	if res.err != nil {
		t.Fatal(res.err)
	}
	defer r.Destroy(context.Background(), res.seat)
	if n := closed.Load(); n != 2 {
		t.Errorf("%d detached mounts closed by the end of the image seat's start, want 2 (the image's clone, the system layer)", n)
	}
	if got := mustSh(t, res.seat, "cat /etc/os-release >/dev/null && echo ok"); got != "ok" {
		t.Errorf("the image seat's root: %q", got)
	}
}

// TestSystemLayerIsCloseOnExec: the system layer's mount fd a start holds
// (its own layer, or one made ahead) is not inherited by the processes
// started meanwhile, such as other seats' inits.
func TestSystemLayerIsCloseOnExec(t *testing.T) {
	r, _ := layerRuntime(t, 9400)
	img := testImage(t)
	r.WarmImage(img)
	waitFor(t, "system layers made ahead", func() bool { return r.SystemLayersReady() > 0 })
	o := seatOwner{root: r.cfg.UIDBase, learner: r.cfg.UIDBase + learnerUID, rootGID: r.cfg.UIDBase, learnerGID: r.cfg.UIDBase + learnerUID}
	for _, c := range []struct {
		name, digest string
		pooled       bool
	}{{"made in the start", "", false}, {"made ahead", img.Digest, true}} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(r.cfg.BaseDir, "cloexec-"+map[bool]string{false: "own", true: "pooled"}[c.pooled])
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			fd, pooled, err := r.systemLayer(dir, r.diskFor(0, 0), o, c.digest)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if pooled != c.pooled {
				t.Errorf("pooled = %v, want %v", pooled, c.pooled)
			}
			flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
			if err != nil {
				t.Fatal(err)
			}
			if flags&unix.FD_CLOEXEC == 0 {
				t.Error("the system layer's fd is inherited across exec")
			}
		})
	}
}
