package process

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// An agent started with SIGHUP ignored (under nohup) starts its seats'
// daemons so, and a daemon passed that on to every shell it started: a
// hang-up no longer ended them, and Destroy waited out its two-second grace
// for each seat before SIGKILL. The daemon now starts shells with the
// default action.
func TestShellsGetTheDefaultHangUp(t *testing.T) {
	// Not parallel: it changes this test process's SIGHUP, which the
	// daemons it starts inherit.
	signal.Ignore(syscall.SIGHUP)
	defer signal.Reset(syscall.SIGHUP)
	if !ignored(t, os.Getpid(), syscall.SIGHUP) {
		t.Fatal("SIGHUP is not ignored here, so the daemon would not start with it ignored: the test tests nothing")
	}
	r := newRuntime(t, shortTempDir(t))
	s := createSeat(t, r, "ws1", 5)

	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", s.Address)
	}}}
	resp, err := client.Post("http://workspace/sessions", "application/json", strings.NewReader(`{"wait_output_ms":3000}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /sessions: %s", resp.Status)
	}
	shells := descendants(s.PID)
	if len(shells) == 0 {
		t.Fatal("the session's shell is not below the daemon")
	}
	for _, pid := range shells {
		if ignored(t, pid, syscall.SIGHUP) {
			t.Errorf("process %d of the session ignores SIGHUP (inherited from the daemon)", pid)
		}
	}
}

// ignored reports whether process pid ignores sig (/proc/PID/status SigIgn).
func ignored(t *testing.T, pid int, sig syscall.Signal) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return mask&(1<<(uint(sig)-1)) != 0
		}
	}
	t.Fatalf("no SigIgn in /proc/%d/status", pid)
	return false
}
