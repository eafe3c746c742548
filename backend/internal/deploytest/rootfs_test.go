package deploytest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRootfsInitParsing sources the seat init in library mode and checks its
// kernel command line parsing (ip= and clarateach.* overrides).
func TestRootfsInitParsing(t *testing.T) {
	t.Parallel()
	sh := needTool(t, "dash")
	script := `CLARATEACH_INIT_LIB=1 CLARATEACH_INIT_CONF=/nonexistent . "$1"
load_config
parse_cmdline "$2"
echo "$IP_CLIENT|$IP_GATEWAY|$IP_PREFIX|$IP_HOSTNAME|$IP_DEVICE|$IP_DNS0|$IP_DNS1|$WORKSPACE_LISTEN|$DATA_DEVICE|$WORKSPACE_USER|$LEARNER_ROOT|$SYSTEM_DEVICE|$IMAGE_DEVICE"
`
	cases := []struct{ cmdline, want string }{
		{"console=ttyS0 reboot=k panic=1 ip=192.168.100.11::192.168.100.1:255.255.255.0:seat-1:eth0:off:10.0.0.2:10.0.0.3",
			"192.168.100.11|192.168.100.1|24|seat-1|eth0|10.0.0.2|10.0.0.3|tcp:0.0.0.0:7681|/dev/vdb|learner|0||"},
		{"ip=10.1.2.3::10.1.0.1:255.255.240.0::eth1:off clarateach.listen=tcp:0.0.0.0:9000 clarateach.data=none",
			"10.1.2.3|10.1.0.1|20||eth1|||tcp:0.0.0.0:9000|none|learner|0||"},
		{"console=ttyS0", "|||||||tcp:0.0.0.0:7681|/dev/vdb|learner|0||"},
		// Exactly what internal/host/seatruntime/firecracker passes for seat 1.
		{"console=ttyS0 reboot=k panic=1 pci=off ip=192.168.100.11::192.168.100.1:255.255.255.0:seat-1:eth0:off:1.1.1.1 init=/sbin/clarateach-init clarateach.workshop=ws1 clarateach.seat=1 clarateach.port=7000 clarateach.home=/dev/vdb",
			"192.168.100.11|192.168.100.1|24|seat-1|eth0|1.1.1.1||tcp:0.0.0.0:7000|/dev/vdb|learner|0||"},
		// A learner_root seat's (the runtime adds clarateach.learner_root=1).
		{"console=ttyS0 clarateach.port=7000 clarateach.home=/dev/vdb clarateach.learner_root=1",
			"|||||||tcp:0.0.0.0:7000|/dev/vdb|learner|1||"},
		// A seat on an image, and a root learner's writable root (the
		// firecracker runtime's clarateach.system and clarateach.image).
		{"console=ttyS0 clarateach.port=7000 clarateach.home=/dev/vdb clarateach.system=/dev/vdc clarateach.image=/dev/vdd",
			"|||||||tcp:0.0.0.0:7000|/dev/vdb|learner|0|/dev/vdc|/dev/vdd"},
		{"console=ttyS0 clarateach.port=7000 clarateach.home=/dev/vdb clarateach.learner_root=1 clarateach.system=/dev/vdc",
			"|||||||tcp:0.0.0.0:7000|/dev/vdb|learner|1|/dev/vdc|"},
	}
	for _, c := range cases {
		r := runCmd(t, 10*time.Second, nil, repoRoot(t), sh, "-c", script, "sh", repoPath(t, "scripts/rootfs/clarateach-init"), c.cmdline)
		if r.code != 0 || strings.TrimSpace(r.stdout) != c.want {
			t.Errorf("cmdline %q:\n got %q (exit %d, %s)\nwant %q", c.cmdline, strings.TrimSpace(r.stdout), r.code, r.stderr, c.want)
		}
	}
}

// TestRootfsInitDaemonUser runs the seat init's run_daemon_once with a
// stand-in daemon: without clarateach.learner_root=1 the daemon is started
// through setpriv as the learner; with it, as root (no setpriv) with the
// learner's home as HOME.
func TestRootfsInitDaemonUser(t *testing.T) {
	t.Parallel()
	sh := needTool(t, "dash")
	needRoot(t) // the daemon's uid is the test's own when setpriv is not used
	dir := t.TempDir()
	daemon := filepath.Join(dir, "daemon")
	if err := os.WriteFile(daemon, []byte("#!/bin/sh\necho \"daemon uid=$(id -u) user=$USER home=$HOME path=$PATH args=$*\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// setpriv and getent stand in for the guest's: setpriv says how it was
	// called and runs the command without changing user.
	script := `CLARATEACH_INIT_LIB=1 CLARATEACH_INIT_CONF=/nonexistent . "$1"
load_config
WORKSPACE_BIN=$3 WORKSPACE_ROOT=$4
setpriv() { echo "setpriv $1 $2"; while [ "${1#--}" != "$1" ]; do shift; done; "$@"; }
getent() { echo "learner:x:1000:1000::/home/learner:/bin/bash"; }
parse_cmdline "$2"
run_daemon_once
`
	run := func(cmdline string) string {
		r := runCmd(t, 10*time.Second, nil, repoRoot(t), sh, "-c", script, "sh", repoPath(t, "scripts/rootfs/clarateach-init"), cmdline, daemon, dir)
		if r.code != 0 {
			t.Fatalf("cmdline %q: exit %d: %s", cmdline, r.code, r.stderr)
		}
		return strings.TrimSpace(r.stdout)
	}
	args := "args=--listen tcp:0.0.0.0:7000 --root " + dir + " --shell /bin/bash"
	want := "setpriv --reuid=learner --regid=learner\ndaemon uid=0 user=learner home=/home/learner path=/usr/local/bin:/usr/bin:/bin " + args
	if got := run("clarateach.port=7000"); got != want {
		t.Errorf("unprivileged learner:\n got %q\nwant %q", got, want)
	}
	want = "daemon uid=0 user=root home=/home/learner path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin " + args
	if got := run("clarateach.port=7000 clarateach.learner_root=1"); got != want {
		t.Errorf("learner root:\n got %q\nwant %q", got, want)
	}
	// Only the value 1 turns it on.
	if got := run("clarateach.port=7000 clarateach.learner_root=0"); !strings.HasPrefix(got, "setpriv --reuid=learner") {
		t.Errorf("learner_root=0: %q", got)
	}
}

// TestBuildRootfs builds a real guest image with debootstrap (minimal package
// list) and inspects it with debugfs, without mounting it. Takes a few
// minutes the first time; debootstrap's package cache, and the script's
// debootstrap tarball of the package list (later runs install from it while
// the mirror's Release is the same), are kept in $CLARATEACH_DEBOOTSTRAP_CACHE
// (default /var/cache/clarateach/debootstrap).
// Set CLARATEACH_SKIP_ROOTFS=1 to skip it.
func TestBuildRootfs(t *testing.T) {
	t.Parallel()
	if testing.Short() || os.Getenv("CLARATEACH_SKIP_ROOTFS") == "1" {
		t.Skip("rootfs build skipped (-short or CLARATEACH_SKIP_ROOTFS=1)")
	}
	needRoot(t)
	needTool(t, "debootstrap")
	debugfs := needTool(t, "debugfs")
	needTool(t, "mkfs.ext4")
	needTool(t, "go")

	cache := os.Getenv("CLARATEACH_DEBOOTSTRAP_CACHE")
	if cache == "" {
		cache = "/var/cache/clarateach/debootstrap"
	}
	out := filepath.Join(t.TempDir(), "rootfs.ext4")
	r := runCmd(t, 9*time.Minute, []string{"TMPDIR=" + t.TempDir()}, repoRoot(t), repoPath(t, "scripts/build-rootfs.sh"),
		"--packages", "", "--size", "600M", "--output", out, "--cache-dir", cache)
	if r.code != 0 {
		t.Fatalf("build-rootfs.sh: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	dfs := func(req string) string {
		t.Helper()
		res := runCmd(t, time.Minute, nil, "", debugfs, "-R", req, out)
		if res.code != 0 {
			t.Fatalf("debugfs %s: %s", req, res.stderr)
		}
		return res.stdout
	}
	mode := regexp.MustCompile(`Type: (\S+)\s+Mode:\s+(\d+)`)
	owner := regexp.MustCompile(`User:\s+(\d+)\s+Group:\s+(\d+)`)
	stat := func(p string) (typ, perm, uid string) {
		t.Helper()
		s := dfs("stat " + p)
		m, o := mode.FindStringSubmatch(s), owner.FindStringSubmatch(s)
		if m == nil || o == nil {
			t.Fatalf("%s not in the image: %s", p, s)
		}
		return m[1], m[2], o[1]
	}
	for _, c := range []struct{ path, typ, perm, uid string }{
		{"/usr/local/bin/clarateach-workspace", "regular", "0755", "0"},
		{"/sbin/clarateach-init", "regular", "0755", "0"},
		{"/sbin/init", "symlink", "0777", "0"},
		{"/etc/clarateach/workspace.conf", "regular", "0644", "0"},
		{"/home/learner/workspace", "directory", "0755", "1000"},
		{"/usr/bin/setpriv", "regular", "0755", "0"},
		{"/usr/bin/ip", "regular", "0755", "0"},
		{"/bin/bash", "regular", "0755", "0"},
	} {
		typ, perm, uid := stat(c.path)
		if typ != c.typ || perm != c.perm || uid != c.uid {
			t.Errorf("%s: %s %s uid %s, want %s %s uid %s", c.path, typ, perm, uid, c.typ, c.perm, c.uid)
		}
	}
	// The daemon is the static Linux binary.
	if head := dfs("dump /usr/local/bin/clarateach-workspace /dev/stdout"); !strings.HasPrefix(head, "\x7fELF") {
		t.Error("clarateach-workspace is not an ELF binary")
	}
	if init := dfs("cat /sbin/clarateach-init"); init != readRepoFile(t, "scripts/rootfs/clarateach-init") {
		t.Error("/sbin/clarateach-init differs from scripts/rootfs/clarateach-init")
	}
	if l := dfs("stat /sbin/init"); !strings.Contains(l, `Fast link dest: "clarateach-init"`) {
		t.Errorf("/sbin/init should point to clarateach-init: %s", l)
	}
	passwd := dfs("cat /etc/passwd")
	if !regexp.MustCompile(`(?m)^learner:x:1000:1000:[^:]*:/home/learner:/bin/bash$`).MatchString(passwd) {
		t.Errorf("no unprivileged learner user in /etc/passwd:\n%s", passwd)
	}
	conf := dfs("cat /etc/clarateach/workspace.conf")
	for _, want := range []string{"WORKSPACE_BIN=/usr/local/bin/clarateach-workspace", "WORKSPACE_USER=learner",
		"WORKSPACE_LISTEN=tcp:0.0.0.0:7681", "WORKSPACE_ROOT=/home/learner/workspace", "RESTART_DELAY=1", "DATA_DEVICE=/dev/vdb"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).MatchString(conf) {
			t.Errorf("workspace.conf lacks %q:\n%s", want, conf)
		}
	}
	if rc := dfs("stat /etc/resolv.conf"); !strings.Contains(rc, `"/run/resolv.conf"`) {
		t.Errorf("/etc/resolv.conf should link to /run/resolv.conf: %s", rc)
	}
}
