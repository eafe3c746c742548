package workspace

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func execScript(t *testing.T, d *daemon, req ExecRequest) (int, ExecResult) {
	t.Helper()
	body, _ := json.Marshal(req)
	var res ExecResult
	st := d.do(t, "POST", "/exec", string(body), &res)
	return st, res
}

func TestExecRunsLabScripts(t *testing.T) {
	d := startDaemon(t, Config{})
	if err := os.WriteFile(filepath.Join(d.root, "hello.sh"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, res := execScript(t, d, ExecRequest{Script: "#!/bin/sh\ntest -f hello.sh && echo found it\npwd\n"})
	if st != 200 || res.ExitCode != 0 || res.Stdout != "found it\n"+d.root+"\n" || res.TimedOut {
		t.Fatalf("pass: %d %+v", st, res)
	}
	st, res = execScript(t, d, ExecRequest{Script: "#!/bin/bash\necho 'hello.txt is missing'\necho oops >&2\nexit 3\n"})
	if st != 200 || res.ExitCode != 3 || res.Stdout != "hello.txt is missing\n" || res.Stderr != "oops\n" {
		t.Fatalf("fail: %d %+v", st, res)
	}
	// Without a #! line the learner's shell runs it.
	st, res = execScript(t, d, ExecRequest{Script: "echo $((6*7))"})
	if st != 200 || res.Stdout != "42\n" {
		t.Fatalf("no shebang: %d %+v", st, res)
	}
	// Nothing is left behind in the seat's temporary directory.
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), "tmp.*")); len(left) > 0 {
		for _, f := range left {
			if b, _ := os.ReadFile(f); strings.Contains(string(b), "echo $((6*7))") {
				t.Fatalf("script file %s left behind", f)
			}
		}
	}
}

func TestExecDeadlineKillsEverything(t *testing.T) {
	d := startDaemon(t, Config{})
	pidFile := filepath.Join(d.root, "bg.pid")
	start := time.Now()
	st, res := execScript(t, d, ExecRequest{Script: "#!/bin/sh\nsleep 60 &\necho $! > bg.pid\necho started\nsleep 60\n", TimeoutMS: 2000})
	took := time.Since(start)
	if st != 200 || !res.TimedOut || res.ExitCode == 0 || res.Stdout != "started\n" {
		t.Fatalf("timeout: %d %+v", st, res)
	}
	// The deadline, plus at most WaitDelay for the pipes: never the
	// script's own 60 s.
	if took > 20*time.Second {
		t.Fatalf("a 2 s deadline took %v", took)
	}
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmtSscan(strings.TrimSpace(string(raw)), &pid); err != nil || pid <= 0 {
		t.Fatalf("pid %q", raw)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the script's background child %d outlived the deadline", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExecCapsOutputAndRefusesBadInput(t *testing.T) {
	d := startDaemon(t, Config{})
	st, res := execScript(t, d, ExecRequest{Script: "head -c 1000000 /dev/zero | tr '\\0' a"})
	if st != 200 || len(res.Stdout) != MaxExecOutput || !res.Truncated {
		t.Fatalf("cap: %d len %d truncated %v", st, len(res.Stdout), res.Truncated)
	}
	for name, req := range map[string]ExecRequest{
		"empty":       {Script: "  \n"},
		"too long":    {Script: strings.Repeat("#", MaxExecScript+1)},
		"bad timeout": {Script: "true", TimeoutMS: int(MaxExecTime.Milliseconds()) + 1},
		"negative":    {Script: "true", TimeoutMS: -1},
	} {
		if st, _ := execScript(t, d, req); st != 400 && st != 413 {
			t.Errorf("%s: status %d", name, st)
		}
	}
}

func fmtSscan(s string, v *int) (int, error) { return fmt.Sscan(s, v) }
