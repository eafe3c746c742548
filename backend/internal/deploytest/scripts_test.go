package deploytest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ourScripts are the shell scripts this package covers.
var ourScripts = []string{
	"scripts/deploy-cloud-run.sh",
	"scripts/create-agent-snapshot.sh",
	"scripts/setup-agent-host.sh",
	"scripts/build-rootfs.sh",
	"scripts/lib/common.sh",
	"scripts/lib/host-firewall.sh",
	"scripts/test/nginx-check.sh",
	"scripts/test/promtool-test.sh",
	"scripts/rootfs/clarateach-init",
	"frontend/docker/10-clarateach-backend-url.envsh",
}

func TestShellcheck(t *testing.T) {
	t.Parallel()
	sc := needTool(t, "shellcheck")
	args := []string{"-x"}
	for _, s := range ourScripts {
		args = append(args, repoPath(t, s))
	}
	r := runCmd(t, 2*time.Minute, nil, repoPath(t, "scripts"), sc, args...)
	if r.code != 0 {
		t.Fatalf("shellcheck:\n%s%s", r.stdout, r.stderr)
	}
}

func TestScriptsStrictModeAndHelp(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"scripts/deploy-cloud-run.sh", "scripts/create-agent-snapshot.sh", "scripts/setup-agent-host.sh", "scripts/build-rootfs.sh", "scripts/lib/host-firewall.sh", "scripts/test/nginx-check.sh"} {
		t.Run(filepath.Base(s), func(t *testing.T) {
			t.Parallel()
			if !strings.Contains(readRepoFile(t, s), "set -euo pipefail") {
				t.Errorf("%s lacks set -euo pipefail", s)
			}
			fi, err := os.Stat(repoPath(t, s))
			if err != nil || fi.Mode()&0o111 == 0 {
				t.Errorf("%s is not executable", s)
			}
			r := runCmd(t, 30*time.Second, nil, repoRoot(t), repoPath(t, s), "--help")
			if r.code != 0 || !strings.Contains(strings.ToLower(r.stdout), "usage") {
				t.Errorf("%s --help: exit %d, stdout %q", s, r.code, r.stdout)
			}
			r = runCmd(t, 30*time.Second, nil, repoRoot(t), repoPath(t, s), "--no-such-option")
			if r.code == 0 {
				t.Errorf("%s accepted an unknown option", s)
			}
		})
	}
}

// The seed's deploy commands, flag for flag.
const (
	seedBackendDeploy  = `gcloud run deploy clarateach-backend --image=us-central1-docker.pkg.dev/clarateach/clarateach/backend:latest --region=us-central1 --allow-unauthenticated --port=8080 --memory=512Mi --set-env-vars=GCP_PROJECT=clarateach,GCP_ZONE=us-central1-b,FC_SNAPSHOT_NAME=clara2-snapshot-20260117-auth --set-secrets=DATABASE_URL=DATABASE_URL:latest,FC_AGENT_TOKEN=FC_AGENT_TOKEN:latest,WORKSPACE_TOKEN_SECRET=WORKSPACE_TOKEN_SECRET:latest,JWT_SECRET=JWT_SECRET:latest`
	seedFrontendDeploy = `gcloud run deploy clarateach-frontend --image=us-central1-docker.pkg.dev/clarateach/clarateach/frontend:latest --region=us-central1 --allow-unauthenticated --port=8080 --memory=256Mi`
	seedBackendBuild   = `docker build --platform linux/amd64 -t us-central1-docker.pkg.dev/clarateach/clarateach/backend:latest .`
	seedFrontendBuild  = `docker build --platform linux/amd64 -t us-central1-docker.pkg.dev/clarateach/clarateach/frontend:latest .`
)

func cleanEnv() []string {
	return []string{"GCP_PROJECT=", "GCP_ZONE=", "GCP_REGISTRY=", "FC_SNAPSHOT_NAME=", "REGION=", "TAG=", "BASE_VM=", "DRY_RUN="}
}

func TestDeployCloudRunDryRun(t *testing.T) {
	t.Parallel()
	r := runCmd(t, 30*time.Second, cleanEnv(), repoRoot(t), repoPath(t, "scripts/deploy-cloud-run.sh"), "--dry-run", "--snapshot", "clara2-snapshot-20260117-auth")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	has := func(want string) int {
		for i, l := range lines {
			if l == want || strings.HasPrefix(l, want+" ") {
				return i
			}
		}
		t.Errorf("dry run lacks\n  %s\ngot:\n%s", want, r.stdout)
		return -1
	}
	bb, bp, bd := has(seedBackendBuild), has("docker push us-central1-docker.pkg.dev/clarateach/clarateach/backend:latest"), has(seedBackendDeploy)
	fb, fd := has(seedFrontendBuild), has(seedFrontendDeploy)
	if !(bb < bp && bp < bd && bd < fb && fb < fd) {
		t.Errorf("order: build %d push %d deploy %d, frontend build %d deploy %d", bb, bp, bd, fb, fd)
	}
	if fd >= 0 && !strings.Contains(lines[fd], `--set-env-vars=BACKEND_URL="$BACKEND_URL"`) {
		t.Errorf("frontend deploy should pass BACKEND_URL: %s", lines[fd])
	}
	// The backend deploy line is exactly the seed's (nothing added).
	if bd >= 0 && lines[bd] != seedBackendDeploy {
		t.Errorf("backend deploy differs from the guide:\n got %s\nwant %s", lines[bd], seedBackendDeploy)
	}
	if r := runCmd(t, 30*time.Second, cleanEnv(), repoRoot(t), repoPath(t, "scripts/deploy-cloud-run.sh"), "--dry-run"); r.code == 0 || !strings.Contains(r.stderr, "FC_SNAPSHOT_NAME") {
		t.Errorf("without a snapshot: exit %d, stderr %q; want an error naming FC_SNAPSHOT_NAME", r.code, r.stderr)
	}
}

// fakeTools puts logging stand-ins for gcloud and docker first in PATH. Each
// call appends "name args..." to the log; gcloud answers `run services
// describe` with a URL and fails `snapshots create` when FAKE_SNAPSHOT_FAIL=1.
func fakeTools(t *testing.T) (env []string, logFile string) {
	t.Helper()
	dir := t.TempDir()
	logFile = filepath.Join(dir, "calls.log")
	script := `#!/bin/sh
echo "$(basename "$0") $*" >>"` + logFile + `"
case "$*" in
  "run services describe"*) echo "https://clarateach-backend-123.us-central1.run.app" ;;
  "compute snapshots create"*) [ "${FAKE_SNAPSHOT_FAIL:-0}" = 1 ] && { echo "ERROR: quota" >&2; exit 1; } ;;
esac
exit 0
`
	for _, n := range []string{"gcloud", "docker"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return append(cleanEnv(), "PATH="+dir+":"+os.Getenv("PATH")), logFile
}

func readLog(t *testing.T, p string) []string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func TestDeployCloudRunRuns(t *testing.T) {
	t.Parallel()
	env, logFile := fakeTools(t)
	r := runCmd(t, 30*time.Second, env, repoRoot(t), repoPath(t, "scripts/deploy-cloud-run.sh"), "--snapshot", "clara2-snapshot-20260117-auth", "--project", "clarateach")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	calls := readLog(t, logFile)
	want := []string{
		seedBackendBuild,
		"docker push us-central1-docker.pkg.dev/clarateach/clarateach/backend:latest",
		seedBackendDeploy,
		seedFrontendBuild,
		"docker push us-central1-docker.pkg.dev/clarateach/clarateach/frontend:latest",
		"gcloud run services describe clarateach-backend --region=us-central1 --format=value(status.url)",
		seedFrontendDeploy + " --set-env-vars=BACKEND_URL=https://clarateach-backend-123.us-central1.run.app",
	}
	if len(calls) < len(want) {
		t.Fatalf("calls:\n%s", strings.Join(calls, "\n"))
	}
	for i, w := range want {
		if calls[i] != w {
			t.Errorf("call %d:\n got %s\nwant %s", i, calls[i], w)
		}
	}
}

func TestCreateAgentSnapshot(t *testing.T) {
	t.Parallel()
	nameRE := regexp.MustCompile(`(?m)^FC_SNAPSHOT_NAME=(clarateach-snapshot-\d{8}-\d{6})$`)
	t.Run("ok", func(t *testing.T) {
		t.Parallel()
		env, logFile := fakeTools(t)
		r := runCmd(t, 30*time.Second, env, repoRoot(t), repoPath(t, "scripts/create-agent-snapshot.sh"), "--vm", "clara2")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		m := nameRE.FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("stdout %q lacks FC_SNAPSHOT_NAME=clarateach-snapshot-YYYYMMDD-HHMMSS", r.stdout)
		}
		calls := readLog(t, logFile)
		want := []string{
			"gcloud compute instances stop clara2 --zone=us-central1-b",
			"gcloud compute snapshots create " + m[1] + " --source-disk=clara2 --source-disk-zone=us-central1-b --labels=clarateach=agent-image --description=ClaraTeach workshop host image from clara2",
			"gcloud compute instances start clara2 --zone=us-central1-b",
		}
		if strings.Join(calls, "\n") != strings.Join(want, "\n") {
			t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("snapshot fails, VM restarted", func(t *testing.T) {
		t.Parallel()
		env, logFile := fakeTools(t)
		env = append(env, "FAKE_SNAPSHOT_FAIL=1")
		r := runCmd(t, 30*time.Second, env, repoRoot(t), repoPath(t, "scripts/create-agent-snapshot.sh"), "--vm", "clara2", "--zone", "europe-west1-b")
		if r.code == 0 || strings.Contains(r.stdout, "FC_SNAPSHOT_NAME=") {
			t.Fatalf("exit %d, stdout %q: want a failure and no name", r.code, r.stdout)
		}
		calls := readLog(t, logFile)
		if last := calls[len(calls)-1]; last != "gcloud compute instances start clara2 --zone=europe-west1-b" {
			t.Errorf("the VM was not restarted after the failed snapshot; calls:\n%s", strings.Join(calls, "\n"))
		}
	})
	t.Run("needs a VM", func(t *testing.T) {
		t.Parallel()
		env, _ := fakeTools(t)
		r := runCmd(t, 30*time.Second, env, repoRoot(t), repoPath(t, "scripts/create-agent-snapshot.sh"))
		if r.code == 0 || !strings.Contains(r.stderr, "--vm") {
			t.Errorf("exit %d stderr %q", r.code, r.stderr)
		}
	})
}

// fakeFirecrackerRelease writes a release archive laid out like the real one.
func fakeFirecrackerRelease(t *testing.T, dir, version string) (path, sum string) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	rel := "release-" + version + "-x86_64/"
	for _, f := range []string{"firecracker", "jailer"} {
		body := []byte("#!/bin/sh\necho " + f + " " + version + "\n")
		if err := tw.WriteHeader(&tar.Header{Name: rel + f + "-" + version + "-x86_64", Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	gz.Close()
	path = filepath.Join(dir, "firecracker-"+version+"-x86_64.tgz")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(buf.Bytes())
	return path, hex.EncodeToString(s[:])
}

func TestSetupAgentHostIdempotent(t *testing.T) {
	t.Parallel()
	in := t.TempDir()
	root := t.TempDir()
	tgz, sum := fakeFirecrackerRelease(t, in, "v1.17.0")
	files := map[string]string{"agent": "agent v1", "vmlinux": "kernel", "rootfs.ext4": "rootfs"}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(in, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := repoPath(t, "scripts/setup-agent-host.sh")
	args := []string{"--root", root, "--agent", filepath.Join(in, "agent"), "--kernel", filepath.Join(in, "vmlinux"),
		"--rootfs", filepath.Join(in, "rootfs.ext4"), "--firecracker-tarball", tgz, "--firecracker-sha256", sum}
	run := func(extra ...string) result {
		t.Helper()
		r := runCmd(t, time.Minute, []string{"DRY_RUN="}, repoRoot(t), script, append(append([]string{}, args...), extra...)...)
		if r.code != 0 {
			t.Fatalf("setup-agent-host.sh: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		return r
	}

	first := run()
	if strings.Contains(first.stdout, "no changes") {
		t.Fatalf("first run made no changes: %s", first.stdout)
	}
	for p, mode := range map[string]os.FileMode{
		"usr/local/bin/firecracker":                                           0o755,
		"usr/local/bin/jailer":                                                0o755,
		"usr/local/bin/agent":                                                 0o755,
		"var/lib/clarateach/images/vmlinux":                                   0o644,
		"var/lib/clarateach/images/rootfs.ext4":                               0o644,
		"etc/systemd/system/clarateach-agent.service":                         0o644,
		"etc/systemd/system/clarateach-host.service":                          0o644,
		"usr/local/lib/clarateach/host-firewall.sh":                           0o755,
		"etc/sysctl.d/60-clarateach.conf":                                     0o644,
		"etc/modules-load.d/clarateach.conf":                                  0o644,
		"etc/systemd/system/multi-user.target.wants/clarateach-agent.service": 0,
	} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Errorf("not installed: %s", p)
			continue
		}
		if mode != 0 && fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), mode)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/sysctl.d/60-clarateach.conf")); !strings.Contains(string(b), "net.ipv4.ip_forward = 1") {
		t.Errorf("sysctl file lacks ip_forward: %s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "usr/local/bin/firecracker")); !strings.Contains(string(b), "firecracker v1.17.0") {
		t.Errorf("firecracker binary not from the archive: %q", b)
	}

	// Twice: nothing changes, nothing is rewritten.
	before := snapshotTree(t, root)
	second := run()
	if !strings.HasSuffix(strings.TrimSpace(second.stdout), "setup-agent-host: no changes") {
		t.Errorf("second run: %s%s", second.stdout, second.stderr)
	}
	if after := snapshotTree(t, root); after != before {
		t.Errorf("second run changed the tree:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// A new agent is one change; --dry-run reports it without making it.
	if err := os.WriteFile(filepath.Join(in, "agent"), []byte("agent v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	dry := run("--dry-run")
	if !strings.Contains(dry.stdout, "1 change(s) would be made") {
		t.Errorf("dry run: %s%s", dry.stdout, dry.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "usr/local/bin/agent")); string(b) != "agent v1" {
		t.Errorf("dry run changed the agent: %q", b)
	}
	if third := run(); !strings.Contains(third.stdout, "1 change(s)") {
		t.Errorf("agent update: %s%s", third.stdout, third.stderr)
	}

	// A wrong checksum is refused and installs nothing.
	root2 := t.TempDir()
	bad := strings.Repeat("0", 64)
	r := runCmd(t, time.Minute, nil, repoRoot(t), script, "--root", root2, "--agent", filepath.Join(in, "agent"), "--kernel", filepath.Join(in, "vmlinux"),
		"--rootfs", filepath.Join(in, "rootfs.ext4"), "--firecracker-tarball", tgz, "--firecracker-sha256", bad)
	if r.code == 0 || !strings.Contains(r.stderr, "checksum mismatch") {
		t.Errorf("bad checksum: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(root2, "usr/local/bin/firecracker")); err == nil {
		t.Error("firecracker installed despite a checksum mismatch")
	}
	// The first run needs the agent, kernel and rootfs.
	r = runCmd(t, time.Minute, nil, repoRoot(t), script, "--root", t.TempDir(), "--firecracker-tarball", tgz, "--firecracker-sha256", sum)
	if r.code == 0 || !strings.Contains(r.stderr, "--kernel") {
		t.Errorf("missing kernel: exit %d, stderr %q", r.code, r.stderr)
	}
}

// snapshotTree lists every path with its mode, size, mtime and link target.
func snapshotTree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			link, _ = os.Readlink(p)
		}
		b.WriteString(rel + " " + fi.Mode().String() + " " + fi.ModTime().String() + " " + link + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
