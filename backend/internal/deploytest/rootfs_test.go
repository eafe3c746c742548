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
echo "$IP_CLIENT|$IP_GATEWAY|$IP_PREFIX|$IP_HOSTNAME|$IP_DEVICE|$IP_DNS0|$IP_DNS1|$WORKSPACE_LISTEN|$DATA_DEVICE|$WORKSPACE_USER"
`
	cases := []struct{ cmdline, want string }{
		{"console=ttyS0 reboot=k panic=1 ip=192.168.100.11::192.168.100.1:255.255.255.0:seat-1:eth0:off:10.0.0.2:10.0.0.3",
			"192.168.100.11|192.168.100.1|24|seat-1|eth0|10.0.0.2|10.0.0.3|tcp:0.0.0.0:7681|/dev/vdb|learner"},
		{"ip=10.1.2.3::10.1.0.1:255.255.240.0::eth1:off clarateach.listen=tcp:0.0.0.0:9000 clarateach.data=none",
			"10.1.2.3|10.1.0.1|20||eth1|||tcp:0.0.0.0:9000|none|learner"},
		{"console=ttyS0", "|||||||tcp:0.0.0.0:7681|/dev/vdb|learner"},
		// Exactly what internal/host/seatruntime/firecracker passes for seat 1.
		{"console=ttyS0 reboot=k panic=1 pci=off ip=192.168.100.11::192.168.100.1:255.255.255.0:seat-1:eth0:off:1.1.1.1 init=/sbin/clarateach-init clarateach.workshop=ws1 clarateach.seat=1 clarateach.port=7000 clarateach.home=/dev/vdb",
			"192.168.100.11|192.168.100.1|24|seat-1|eth0|1.1.1.1||tcp:0.0.0.0:7000|/dev/vdb|learner"},
	}
	for _, c := range cases {
		r := runCmd(t, 10*time.Second, nil, repoRoot(t), sh, "-c", script, "sh", repoPath(t, "scripts/rootfs/clarateach-init"), c.cmdline)
		if r.code != 0 || strings.TrimSpace(r.stdout) != c.want {
			t.Errorf("cmdline %q:\n got %q (exit %d, %s)\nwant %q", c.cmdline, strings.TrimSpace(r.stdout), r.code, r.stderr, c.want)
		}
	}
}

// TestBuildRootfs builds a real guest image with debootstrap (minimal package
// list) and inspects it with debugfs, without mounting it. Takes a few
// minutes the first time; debootstrap's package cache is kept in
// $CLARATEACH_DEBOOTSTRAP_CACHE (default /var/cache/clarateach/debootstrap).
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
