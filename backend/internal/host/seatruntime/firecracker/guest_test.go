//go:build linux

package firecracker

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/host/imagecache"
	"github.com/clarateach/backend/internal/host/imagecache/imagetest"
)

// The guest side cannot boot here (no KVM, no Firecracker): these tests run
// the guest init's own overlay code (scripts/rootfs/clarateach-init,
// mount_overlay and run_daemon_once) on this host's kernel, in a private
// mount namespace, on the very disks the runtime and the image cache make
// (loop-mounted files standing in for /dev/vdc and /dev/vdd), with a
// stand-in daemon that reports where it runs.

// initScript is the guest init in the repository (go test runs in the
// package's directory).
func initScript(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "..", "..", "..", "scripts", "rootfs", "clarateach-init"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("guest init: %v", err)
	}
	return p
}

func needGuestTools(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mounts in a private mount namespace)")
	}
	for _, tool := range []string{"dash", "unshare", "mkfs.ext4", "debugfs", "chroot", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	if b, err := os.ReadFile("/proc/filesystems"); err != nil || !strings.Contains(string(b), "overlay") {
		if out, err := exec.Command("modprobe", "overlay").CombinedOutput(); err != nil {
			t.Skipf("needs overlayfs: %v %s", err, out)
		}
	}
}

// guestBoot is one boot of the guest init's overlay path.
type guestBoot struct {
	cmdline string // clarateach.* arguments
	base    string // BASE_ROOT: the base image's tree ("" for /)
	daemon  string // the stand-in daemon's script
}

// run sources the init in library mode in a new mount namespace, lets it
// mount the seat's root and run the daemon once, and returns the daemon's
// output.
func (g guestBoot) run(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	daemon := filepath.Join(dir, "daemon")
	if err := os.WriteFile(daemon, []byte("#!/bin/sh\n"+g.daemon), 0o755); err != nil {
		t.Fatal(err)
	}
	base := g.base
	if base == "" {
		base = "/"
	}
	// getent stands in for the base image's learner; /home is the home
	// disk's mount point in the guest, a tmpfs here, and /run (where the
	// init writes the DNS servers of ip=) a tmpfs as in the guest.
	script := `CLARATEACH_INIT_LIB=1 CLARATEACH_INIT_CONF=/nonexistent . "$1"
load_config
getent() { echo "learner:x:1000:1000::/home/learner:/bin/bash"; }
mount -t tmpfs home /home && mkdir -p /home/learner/workspace && chown -R 1000:1000 /home/learner || exit 9
mount -t tmpfs run /run && echo "nameserver 192.0.2.53" >/run/resolv.conf || exit 9
WORKSPACE_BIN=$3 OVERLAY_DIR=$4 BASE_ROOT=$5
parse_cmdline "$2"
mount_overlay || { echo "mount_overlay failed" >&2; exit 8; }
run_daemon_once
`
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-m", "--propagation", "private", "dash", "-c", script, "sh",
		initScript(t), g.cmdline, daemon, filepath.Join(dir, "overlay"), base)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("guest init (%s): %v\n%s", g.cmdline, err, out)
	}
	return string(out)
}

// dfs runs one read-only debugfs request on a disk image.
func dfs(t *testing.T, disk, req string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", req, disk).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs %q: %v: %s", req, err, out)
	}
	return string(out)
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// imageDisk pulls the busybox test image into a cache and builds its ext4
// disk, as the agent does for a microVM host.
func imageDisk(t *testing.T) (*imagecache.Image, string) {
	t.Helper()
	c, err := imagecache.New(imagecache.Config{Dir: filepath.Join(t.TempDir(), "images"), MinFreeBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ref := imagetest.Push(t, imagetest.Registry(t), "course/busybox:1", imagetest.Image(t))
	im, err := c.Pull(context.Background(), ref, imagecache.Auth{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	disk, err := c.Ext4(im.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return im, disk
}

// TestGuestInitImageOverlay: a seat on an image. The init mounts the
// image's disk read-only under the seat's system disk and runs the daemon
// chrooted in the overlay: the image's files and Env, the learner's uid
// (or root with learner_root), the home from the home disk, writes outside
// the home landing in the system disk's upper/ and never in the image's
// disk, and kept across a second boot (a repair) of the same disks.
func TestGuestInitImageOverlay(t *testing.T) {
	needGuestTools(t)
	im, disk := imageDisk(t)
	imgSum := fileSum(t, disk)
	sys := filepath.Join(t.TempDir(), systemDiskName)
	env := append([]string{"HOME=/image-home"}, im.Config.Env...)
	if err := makeSystemDisk(context.Background(), sys, seatDisk{mb: 64}, env); err != nil {
		t.Fatal(err)
	}
	report := `echo "uid=$(id -u) shell=$SHELL home=$HOME path=$PATH clara=$CLARA_IMAGE args=$*"
cat /etc/os-release
clara-tool
grep -c . /etc/passwd
touch /usr/local/bin/installed 2>/dev/null && echo wrote-usr || echo no-usr
echo learner-file >"$HOME/workspace-file" && echo wrote-home
ls /usr/local/bin
`
	args := "clarateach.port=7000 clarateach.home=/dev/vdb clarateach.system=" + sys + " clarateach.image=" + disk
	out := guestBoot{cmdline: args, daemon: report}.run(t)
	for _, want := range []string{
		"uid=1000 shell=/bin/sh home=/home/learner path=/usr/local/bin:/usr/bin:/bin clara=test args=--listen tcp:0.0.0.0:7000 --root /home/learner/workspace --shell /bin/sh",
		imagetest.OSRelease, imagetest.ToolOutput, "no-usr", "wrote-home",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("unprivileged learner on the image: no %q in\n%s", want, out)
		}
	}
	// The image has uid 1000 (imageuser): its passwd is kept as it is.
	if !strings.Contains(out, "\n2\n") {
		t.Errorf("the image's passwd changed: %s", out)
	}

	out = guestBoot{cmdline: args + " clarateach.learner_root=1", daemon: report}.run(t)
	if !strings.Contains(out, "uid=0 shell=/bin/sh home=/home/learner") || !strings.Contains(out, "wrote-usr") {
		t.Errorf("root learner on the image:\n%s", out)
	}
	// A second boot of the same disks (a repair): the installed file is there.
	out = guestBoot{cmdline: args, daemon: report}.run(t)
	if !strings.Contains(out, "installed") {
		t.Errorf("after a second boot the learner's install is gone:\n%s", out)
	}
	if got := dfs(t, sys, "stat /upper/usr/local/bin/installed"); !strings.Contains(got, "Type: regular") {
		t.Errorf("the install is not in the system disk's upper layer: %s", got)
	}
	if got := dfs(t, disk, "stat /usr/local/bin/installed"); !strings.Contains(got, "File not found") {
		t.Errorf("the install reached the image's disk: %s", got)
	}
	if fileSum(t, disk) != imgSum {
		t.Error("the image's disk changed")
	}
	if got := dfs(t, sys, "cat /upper/etc/resolv.conf"); !strings.Contains(got, "nameserver 192.0.2.53") {
		t.Errorf("the guest's DNS server is not in the seat's root: %s", got)
	}
}

// TestGuestInitRootOverlay: a root learner on the host's root (no image):
// the base root is the lower layer, so apt-get's kind of write (under /usr,
// /var/lib) works and lands in the system disk, the base tree untouched.
func TestGuestInitRootOverlay(t *testing.T) {
	needGuestTools(t)
	bb, err := os.ReadFile(imagetest.Busybox)
	if err != nil {
		t.Skipf("needs a static busybox: %v", err)
	}
	base := t.TempDir()
	for _, d := range []string{"bin", "etc", "usr/bin", "var/lib/dpkg", "home"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(base, "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range imagetest.Applets {
		if err := os.Symlink("busybox", filepath.Join(base, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{
		"os-release": "ID=clarateach-base\n",
		"passwd":     "root:x:0:0::/root:/bin/sh\nlearner:x:1000:1000::/home/learner:/bin/bash\n",
	} {
		if err := os.WriteFile(filepath.Join(base, "etc", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sys := filepath.Join(t.TempDir(), systemDiskName)
	if err := makeSystemDisk(context.Background(), sys, seatDisk{mb: 64}, nil); err != nil {
		t.Fatal(err)
	}
	report := `echo "uid=$(id -u) path=$PATH"
cat /etc/os-release
mkdir -p /var/lib/dpkg/info && echo pkg >/var/lib/dpkg/info/tool.list && echo tool >/usr/bin/tool && echo installed
`
	out := guestBoot{cmdline: "clarateach.port=7000 clarateach.learner_root=1 clarateach.system=" + sys, base: base, daemon: report}.run(t)
	for _, want := range []string{"uid=0 path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "ID=clarateach-base", "installed"} {
		if !strings.Contains(out, want) {
			t.Errorf("root learner on the base root: no %q in\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "usr", "bin", "tool")); err == nil {
		t.Error("the write reached the base root")
	}
	if got := dfs(t, sys, "cat /upper/usr/bin/tool"); !strings.Contains(got, "tool") {
		t.Errorf("the write is not in the system disk: %s", got)
	}
}

// TestGuestInitRealDaemon: the real workspace daemon (a static build of
// cmd/workspace, as the base image has it) started by the init in an
// image's overlay root, in a mount and network namespace of its own:
// it answers /health, and a script it runs (POST /exec, as a lab's check
// does) runs as the learner in the image, with the image's Env.
func TestGuestInitRealDaemon(t *testing.T) {
	needGuestTools(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("needs curl")
	}
	_, disk := imageDisk(t)
	dir := t.TempDir()
	daemon := filepath.Join(dir, "clarateach-workspace")
	build := exec.Command("go", "build", "-o", daemon, "github.com/clarateach/backend/cmd/workspace")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the daemon: %v\n%s", err, out)
	}
	sys := filepath.Join(dir, systemDiskName)
	if err := makeSystemDisk(context.Background(), sys, seatDisk{mb: 64}, []string{"PATH=/usr/local/bin:/usr/bin:/bin", "CLARA_IMAGE=test"}); err != nil {
		t.Fatal(err)
	}
	script := `CLARATEACH_INIT_LIB=1 CLARATEACH_INIT_CONF=/nonexistent . "$1"
load_config
getent() { echo "learner:x:1000:1000::/home/learner:/bin/bash"; }
ip link set lo up || exit 9
mount -t tmpfs home /home && mkdir -p /home/learner/workspace && chown -R 1000:1000 /home/learner || exit 9
mount -t tmpfs run /run || exit 9
WORKSPACE_BIN=$3 OVERLAY_DIR=$4
parse_cmdline "$2"
mount_overlay || { echo "mount_overlay failed" >&2; exit 8; }
run_daemon_once >/dev/null 2>&1 &
i=0
until curl -sf http://127.0.0.1:7000/health >/dev/null; do
    i=$((i + 1))
    [ "$i" -lt 600 ] || { echo "the daemon never answered" >&2; exit 7; }
    sleep 0.1
done
curl -sf -X POST -H 'Content-Type: application/json' \
    -d '{"script":"id -u; cat /etc/os-release; clara-tool; echo \"$CLARA_IMAGE $HOME\""}' http://127.0.0.1:7000/exec
`
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := "clarateach.listen=tcp:127.0.0.1:7000 clarateach.system=" + sys + " clarateach.image=" + disk
	// A pid namespace too: when the script (its pid 1) ends, the daemon
	// and its supervisor end with it.
	cmd := exec.CommandContext(ctx, "unshare", "-m", "-n", "-p", "-f", "--propagation", "private", "dash", "-c", script, "sh",
		initScript(t), args, daemon, filepath.Join(dir, "overlay"))
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("guest init with the real daemon: %v\n%s", err, out)
	}
	var res struct {
		ExitCode int    `json:"exit_code"`
		Stdout   string `json:"stdout"`
		Stderr   string `json:"stderr"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("exec answer: %v\n%s", err, out)
	}
	want := "1000\n" + imagetest.OSRelease + imagetest.ToolOutput + "\ntest /home/learner\n"
	if res.ExitCode != 0 || res.Stdout != want {
		t.Errorf("script in the seat: exit %d\nstdout %q\nwant   %q\nstderr %q", res.ExitCode, res.Stdout, want, res.Stderr)
	}
}
