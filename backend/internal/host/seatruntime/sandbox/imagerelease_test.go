//go:build linux

package sandbox

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

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
