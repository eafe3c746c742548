package imagecache

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/clarateach/backend/internal/host/imagecache/imagetest"
)

// debugfs runs one debugfs request against a disk image, read-only.
func debugfs(t *testing.T, disk, req string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", req, disk).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs %q: %v: %s", req, err, out)
	}
	return string(out)
}

// TestExt4Disk: the firecracker form of an image — an ext4 disk built once
// per digest from the unpacked tree, inspected with debugfs: the image's
// files, owners and links are there, and the whiteout's file is not.
func TestExt4Disk(t *testing.T) {
	needRoot(t)
	for _, tool := range []string{"mkfs.ext4", "debugfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (e2fsprogs)", tool)
		}
	}
	c := newCache(t)
	ref := imagetest.Push(t, imagetest.Registry(t), "course/busybox:1", imagetest.Image(t))
	im, err := c.Pull(context.Background(), ref, Auth{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	disk, err := c.Ext4(im.Digest)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(disk)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := c.Ext4(im.Digest); err != nil || again != disk {
		t.Fatalf("second Ext4: %q %v", again, err)
	}
	if fi2, _ := os.Stat(disk); !fi2.ModTime().Equal(fi.ModTime()) {
		t.Error("the disk was built again")
	}
	if got := debugfs(t, disk, "cat /etc/os-release"); !strings.Contains(got, imagetest.OSRelease) {
		t.Errorf("os-release on the disk: %q", got)
	}
	if got := debugfs(t, disk, "cat /usr/bin/clara-tool"); !strings.Contains(got, imagetest.ToolOutput) {
		t.Errorf("clara-tool on the disk: %q", got)
	}
	if got := debugfs(t, disk, "stat /srv/owned"); !strings.Contains(got, "User:  1234") || !strings.Contains(got, "Group:  1234") {
		t.Errorf("owner of /srv/owned on the disk: %q", got)
	}
	if got := debugfs(t, disk, "stat /bin/sh"); !strings.Contains(got, `Fast link dest: "busybox"`) {
		t.Errorf("/bin/sh on the disk: %q", got)
	}
	if got := debugfs(t, disk, "stat /etc/removed-by-whiteout"); !strings.Contains(got, "File not found") {
		t.Errorf("the whiteout's file is on the disk: %q", got)
	}
	if _, err := c.Ext4("sha256:" + strings.Repeat("0", 64)); err == nil {
		t.Error("Ext4 of an image not in the cache succeeded")
	}
}
