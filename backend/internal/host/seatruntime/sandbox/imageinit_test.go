//go:build linux

package sandbox

import (
	"archive/tar"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clarateach/backend/internal/host/imagecache"
	"github.com/clarateach/backend/internal/host/imagecache/imagetest"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatpid1"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// etcImageFiles is a layer over the test image whose /etc puts the init's
// writes to the test: accounts of its own (some clashing with the seat's
// by name or id), group and hosts as symlinks to files elsewhere in the
// image, and /home and /run that are not directories.
var etcImageFiles = []imagetest.File{
	{Name: "etc/passwd", Body: "root:x:0:0:image root:/root:/bin/ash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n" +
		"imageuser:x:1000:1000::/home/imageuser:/bin/sh\nnobody:x:65534:65534::/:/bin/false\nclarateach:x:4242:4242::/:/bin/false\n"},
	{Name: "srv/group-target", Body: "root:x:0:\ndaemon:x:1:\nstaff:x:50:imageuser\nusers:x:1000:\n"},
	{Name: "etc/group", Type: tar.TypeSymlink, Linkname: "/srv/group-target"},
	{Name: "srv/hosts-target", Body: "image hosts\n"},
	{Name: "etc/hosts", Type: tar.TypeSymlink, Linkname: "../srv/hosts-target"},
	{Name: "home", Body: "not a directory\n"},
	{Name: "run", Type: tar.TypeSymlink, Linkname: "/"},
}

// The seat's /etc/passwd and /etc/group on that image: the image's
// accounts (its root's line too) less those whose name or id the seat's
// take, then the seat's.
const (
	wantImagePasswd = "root:x:0:0:image root:/root:/bin/ash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n" +
		"learner:x:1000:1000:Learner:/home/learner:/bin/sh\nclarateach:x:999:1000:workspace daemon:/nonexistent:/usr/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
	wantImageGroup = "root:x:0:\ndaemon:x:1:\nstaff:x:50:imageuser\ntty:x:5:\nlearner:x:1000:\nnogroup:x:65534:\n"
)

// TestImageSeatInit: a seat on an image started from scratch gets the C
// init (clarateach-seat-pid1) where the runtime has it, the Go init
// otherwise, and either builds the same seat: the overlay is the seat's
// root, the mount points an image lacks are made, /etc/passwd and
// /etc/group keep the image's accounts and gain the seat's, and no file
// is written through a symlink of the image.
func TestImageSeatInit(t *testing.T) {
	needRoot(t)
	for _, init := range []string{seatpid1.BinaryName, "clarateach-seat-init"} {
		t.Run(init, func(t *testing.T) {
			cfg := realDaemonConfig(t)
			if init != seatpid1.BinaryName {
				cfg.PID1Path = ""
			}
			cfg.DiskMB = -1
			testImageSeatInit(t, cfg, init)
		})
	}
}

func testImageSeatInit(t *testing.T, cfg Config, init string) {
	img := pullTestImage(t, imagetest.Image(t, imagetest.Layer(t, etcImageFiles)))
	r := newRuntime(t, cfg)
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-imginit", Seat: 3, Image: img})
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", s.PID)); err != nil || filepath.Base(exe) != init {
		t.Errorf("the image seat's init runs %q (%v), want %s", exe, err, init)
	}
	if got := mustSh(t, s, "cat /etc/passwd"); got+"\n" != wantImagePasswd {
		t.Errorf("/etc/passwd in the seat:\n%s\nwant:\n%s", got, wantImagePasswd)
	}
	if got := mustSh(t, s, "cat /etc/group"); got+"\n" != wantImageGroup {
		t.Errorf("/etc/group in the seat:\n%s\nwant:\n%s", got, wantImageGroup)
	}
	// The symlinks were replaced, not written through: their targets in
	// the seat, and the image cache's files, are the image's.
	if got := mustSh(t, s, "test -L /etc/group || test -L /etc/hosts || echo files; cat /srv/group-target /srv/hosts-target; grep -c seat-3 /etc/hosts; id -un; id -gn"); got != "files\n"+strings.TrimSpace(etcImageFiles[1].Body+etcImageFiles[3].Body)+"\n1\nlearner\nlearner" {
		t.Errorf("/etc in the seat = %q", got)
	}
	for _, f := range []int{1, 3} {
		if b, err := os.ReadFile(filepath.Join(img.RootFS, etcImageFiles[f].Name)); err != nil || string(b) != etcImageFiles[f].Body {
			t.Errorf("the image cache's %s: %q, %v", etcImageFiles[f].Name, b, err)
		}
	}
	// /home and /run are the seat's mounts, not the image's file and
	// symlink; / is the seat's overlay.
	if got := mustSh(t, s, "test -d /home/learner && test -x /run/clarateach/workspace && echo ok; grep -c ' / overlay ' /proc/self/mounts; grep -c ' /home tmpfs ' /proc/self/mounts"); got != "ok\n1\n1" {
		t.Errorf("mounts = %q", got)
	}
	// A root script runs as the seat's root in the image.
	res, err := r.ExecRoot(context.Background(), s, seatruntime.ExecRequest{Script: "id -u; cat /etc/os-release"})
	if err != nil || res.Stdout != "0\n"+imagetest.OSRelease {
		t.Errorf("root script in the image seat: %+v, %v", res, err)
	}
}

// pullTestImage pushes img to an in-process registry, pulls it into a
// cache and returns it as a seat's image.
func pullTestImage(t *testing.T, img v1.Image) *seatruntime.Image {
	t.Helper()
	host := imagetest.Registry(t)
	ref := imagetest.Push(t, host, "course/busybox:1", img)
	c, err := imagecache.New(imagecache.Config{Dir: filepath.Join(t.TempDir(), "images"), MinFreeBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	im, err := c.Pull(context.Background(), ref, imagecache.Auth{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &seatruntime.Image{Digest: im.Digest, RootFS: im.RootFS, Env: im.Config.Env}
}
