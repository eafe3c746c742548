//go:build linux

package firecracker

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/host/seatruntime/firecracker/internal/nstest"
)

// fakeImageDisk is an image's shared ext4 disk as the image cache leaves
// it (read-only, in the cache), made here from a small tree.
func fakeImageDisk(t *testing.T, dir string) string {
	t.Helper()
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(filepath.Join(tree, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(tree, "etc", "os-release"), []byte("ID=image\n"), 0o644) //nolint:errcheck
	disk := filepath.Join(dir, "images", "sha256-1234", "rootfs.ext4")
	os.MkdirAll(filepath.Dir(disk), 0o700) //nolint:errcheck
	if out, err := exec.Command("mkfs.ext4", "-q", "-O", "^has_journal", "-d", tree, disk, "8M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	os.Chmod(disk, 0o444) //nolint:errcheck
	return disk
}

func allocated(t *testing.T, path string) (size, alloc int64) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Size, st.Blocks * 512
}

// TestSeatsOnImage: two seats on one image, created at once. Each boots the
// base image (the init and daemon) read-only, its home, its own system
// disk (sparse ext4: upper/, work/, the image's Env) read-write and the
// image's one shared disk read-only, with clarateach.system and
// clarateach.image on the kernel command line. A repair boots the same
// disks; Destroy removes the seat's disks and never the image's.
func TestSeatsOnImage(t *testing.T) {
	t.Parallel()
	if !nstest.Enter(t, "iptables", "iptables-restore", "mkfs.ext4", "debugfs", "dumpe2fs") {
		return
	}
	e := newEnv(t)
	ctx := context.Background()
	disk := fakeImageDisk(t, e.dir)
	imgSum := fileSum(t, disk)
	img := &seatruntime.Image{Digest: "sha256:1234", RootFS: "/unused", Disk: disk,
		Env: []string{"PATH=/opt/bin:/usr/bin:/bin", "LANG=C", "MULTI=a\nb"}}

	seats := make([]*seatruntime.Seat, 2)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range seats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seats[i], errs[i] = e.r.Create(ctx, seatruntime.Spec{WorkshopID: "ws1", Seat: i + 1, DiskMB: 256, Image: img})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("seat %d: %v", i+1, err)
		}
	}
	l, _ := e.r.layout("ws1", 1)
	g := guestDisks{system: true, image: disk}
	want := []string{
		`GET /`,
		`PUT /logger {"log_path":` + q(l.vmmLog) + `,"level":"Warning"}`,
		`PUT /machine-config {"vcpu_count":2,"mem_size_mib":512,"smt":false}`,
		`PUT /boot-source {"kernel_image_path":` + q(e.kernel) + `,"boot_args":` + q(e.r.BootArgs(l, false, g)) + `}`,
		`PUT /drives/rootfs {"drive_id":"rootfs","path_on_host":` + q(e.base) + `,"is_root_device":true,"is_read_only":true}`,
		`PUT /drives/home {"drive_id":"home","path_on_host":` + q(l.disk) + `,"is_root_device":false,"is_read_only":false}`,
		`PUT /drives/system {"drive_id":"system","path_on_host":` + q(l.system) + `,"is_root_device":false,"is_read_only":false}`,
		`PUT /drives/image {"drive_id":"image","path_on_host":` + q(disk) + `,"is_root_device":false,"is_read_only":true}`,
		`PUT /network-interfaces/eth0 {"iface_id":"eth0","host_dev_name":` + q(l.tap) + `,"guest_mac":"06:00:c0:a8:64:0b"}`,
		`PUT /actions {"action_type":"InstanceStart"}`,
	}
	if got := e.calls("ws1", 1); !slices.Equal(got, want) {
		t.Fatalf("seat 1 calls:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	if !strings.HasSuffix(e.r.BootArgs(l, false, g), " clarateach.home=/dev/vdb clarateach.system=/dev/vdc clarateach.image=/dev/vdd") {
		t.Errorf("boot args %q", e.r.BootArgs(l, false, g))
	}
	// Both seats boot the same image disk; nothing of it is copied.
	if got := e.calls("ws1", 2); !slices.Contains(got, want[7]) {
		t.Errorf("seat 2 does not boot the shared image disk: %q", got)
	}
	for i, s := range seats {
		ex := mustExtra(t, s)
		if s.Image != img.Digest || ex.Image != img.Digest || ex.ImageDisk != disk || ex.SystemDisk != filepath.Join(s.Dir, systemDiskName) {
			t.Errorf("seat %d: image %q, extra %+v", i+1, s.Image, ex)
		}
		var total int64
		filepath.Walk(s.Dir, func(_ string, fi os.FileInfo, _ error) error { //nolint:errcheck
			if fi != nil && fi.Mode().IsRegular() {
				total += fi.Sys().(*syscall.Stat_t).Blocks * 512
			}
			return nil
		})
		if total > 64<<20 {
			t.Errorf("seat %d's directory holds %d bytes", i+1, total)
		}
	}
	checkSystemDisk(t, l.system, 256, "PATH=/opt/bin:/usr/bin:/bin\nLANG=C\n")

	// A repair boots the same system disk (what the learner installed).
	writeAt(t, l.system, []byte("installed"), 100<<20)
	if err := (Process{PID: seats[0].PID, StartTime: mustExtra(t, seats[0]).StartTime}).kill(ctx); err != nil {
		t.Fatal(err)
	}
	fixed, err := e.r.Repair(ctx, seats[0])
	if err != nil {
		t.Fatal(err)
	}
	calls := e.calls("ws1", 1)
	if again := calls[len(want):]; !slices.Equal(again, want) {
		t.Fatalf("repair calls:\n got %s\nwant %s", strings.Join(again, "\n     "), strings.Join(want, "\n     "))
	}
	if string(readAt(t, l.system, 9, 100<<20)) != "installed" || fixed.Image != img.Digest {
		t.Error("the repair lost the system disk or the image")
	}

	for _, s := range []*seatruntime.Seat{fixed, seats[1]} {
		if err := e.r.Destroy(ctx, s); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
			t.Errorf("seat %d's directory after Destroy: %v", s.Seat, err)
		}
	}
	if fileSum(t, disk) != imgSum {
		t.Error("the image disk changed or went")
	}
	e.checkBaseIntact()
}

// checkSystemDisk inspects a seat's system disk: sparse, ext4 labelled
// clarateach-sys, with the overlay's empty upper/ and work/ and the
// image's Env.
func checkSystemDisk(t *testing.T, path string, mb int64, env string) {
	t.Helper()
	if size, alloc := allocated(t, path); size != mb<<20 || alloc > 48<<20 {
		t.Errorf("system disk: size %d, allocated %d; want %d MiB apparent and little allocated", size, alloc, mb)
	}
	if out, err := exec.Command("dumpe2fs", "-h", path).CombinedOutput(); err != nil || !strings.Contains(string(out), "Filesystem volume name:   clarateach-sys") {
		t.Errorf("system disk superblock: %v\n%s", err, out)
	}
	ls := dfs(t, path, "ls -l /")
	for _, d := range []string{"upper", "work", "clarateach"} {
		if !strings.Contains(ls, " "+d+"\n") && !strings.HasSuffix(strings.TrimSpace(ls), " "+d) {
			t.Errorf("system disk has no /%s:\n%s", d, ls)
		}
	}
	for _, d := range []string{"/upper", "/work"} {
		// ls -p: one "/inode/mode/uid/gid/name/size/" line an entry.
		for _, line := range strings.Split(dfs(t, path, "ls -p "+d), "\n") {
			if f := strings.Split(line, "/"); len(f) > 5 && f[5] != "." && f[5] != ".." {
				t.Errorf("%s is not empty: %q", d, line)
			}
		}
	}
	if got := dfs(t, path, "cat /"+systemEnv); !strings.Contains(got, env) || strings.Contains(got, "MULTI") {
		t.Errorf("env on the system disk: %q, want %q", got, env)
	}
}

// TestImageSeatRefused: an image without an ext4 disk, or whose disk is
// gone, is refused before anything is made.
func TestImageSeatRefused(t *testing.T) {
	t.Parallel()
	if !nstest.Enter(t, "iptables", "iptables-restore", "mkfs.ext4") {
		return
	}
	e := newEnv(t)
	for _, img := range []*seatruntime.Image{
		{Digest: "sha256:1", RootFS: "/tree"},
		{Digest: "sha256:2", RootFS: "/tree", Disk: filepath.Join(e.dir, "missing.ext4")},
	} {
		if _, err := e.r.Create(context.Background(), seatruntime.Spec{WorkshopID: "ws1", Seat: 1, Image: img}); err == nil {
			t.Errorf("seat on %+v created", img)
		}
		if ents, _ := os.ReadDir(e.cfg.StateDir); len(ents) != 0 {
			t.Errorf("left in the state directory: %v", ents)
		}
	}
}
