package main

import (
	"context"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/seat/terminal"
	"github.com/clarateach/backend/internal/seat/workspace"
)

// TestStaticBinaryStartsAndServes builds the daemon the way seats get it
// (CGO_ENABLED=0), checks it is static, starts it with a login bash and
// reports start-up time to the first prompt byte and idle memory.
func TestStaticBinaryStartsAndServes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	if _, err := os.Stat("/bin/bash"); err != nil {
		t.Skip("needs /bin/bash")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go tool")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "workspace")
	build := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("binary is dynamically linked (has PT_INTERP)")
		}
	}
	ef.Close()
	fi, _ := os.Stat(bin)

	root := filepath.Join(dir, "home")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "ws.sock")
	listen := "unix:" + sock
	start := time.Now()
	cmd := exec.Command(bin, "--listen", listen, "--root", root, "--shell", "/bin/bash")
	cmd.Env = append(os.Environ(), "HOME="+root)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	hc, base, err := workspace.HTTPClient(listen)
	if err != nil {
		t.Fatal(err)
	}
	defer hc.CloseIdleConnections()
	var h workspace.Health
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := hc.Get(base + "/health")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not healthy: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	ready := time.Since(start)
	if h.Status != "ok" || h.Sessions != 0 {
		t.Fatalf("health %+v", h)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t0 := time.Now()
	c, err := terminal.Dial(ctx, base+"/terminal", &terminal.DialOptions{HTTPClient: hc, Cols: 80, Rows: 24})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ReadOutput(ctx); err != nil {
		t.Fatal(err)
	}
	firstByte := time.Since(t0)
	if err := c.Send(ctx, []byte("echo login-$((6*7)) $0\n")); err != nil {
		t.Fatal(err)
	}
	out, err := c.ReadUntil(ctx, "login-42")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "login-42 -bash") {
		t.Errorf("not a login shell: %q", out)
	}

	daemonMem := memory(cmd.Process.Pid)
	var shellMem procMem
	kids := children(cmd.Process.Pid)
	if len(kids) != 1 {
		t.Errorf("daemon has %d child processes, want 1 shell", len(kids))
	}
	for _, pid := range kids {
		shellMem = shellMem.add(memory(pid))
	}
	t.Logf("binary %.1f MiB static; daemon healthy after %v; create session to first prompt byte %v", float64(fi.Size())/(1<<20), ready.Round(time.Microsecond), firstByte.Round(time.Microsecond))
	t.Logf("memory: daemon rss %d KiB, anon %d KiB; bash rss %d KiB, anon %d KiB; per-seat (rss of both) %d KiB, (anon of both, file pages shared between seats) %d KiB",
		daemonMem.rss, daemonMem.anon, shellMem.rss, shellMem.anon, daemonMem.rss+shellMem.rss, daemonMem.anon+shellMem.anon)

	// SIGTERM: clean exit, shells gone.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("daemon exit: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("daemon did not exit on SIGTERM")
	}
	for _, pid := range kids {
		if syscall.Kill(pid, 0) == nil {
			if st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); !strings.Contains(string(st), ") Z") {
				t.Errorf("shell %d still running after the daemon exited", pid)
			}
		}
	}
}

type procMem struct{ rss, anon int }

func (a procMem) add(b procMem) procMem { return procMem{a.rss + b.rss, a.anon + b.anon} }

// children lists the pids whose parent is pid.
func children(pid int) []int {
	var out []int
	des, _ := os.ReadDir("/proc")
	for _, de := range des {
		p, err := strconv.Atoi(de.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + de.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		rest := string(st[strings.LastIndexByte(string(st), ')')+1:])
		if f := strings.Fields(rest); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

// memory reads /proc/PID/smaps_rollup (KiB).
func memory(pid int) procMem {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return procMem{}
	}
	var m procMem
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "Rss:":
			m.rss = v
		case "Anonymous:":
			m.anon = v
		}
	}
	return m
}
