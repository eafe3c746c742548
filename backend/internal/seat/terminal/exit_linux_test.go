package terminal

import (
	"runtime"
	"strings"
	"testing"
)

// TestShellWaitHoldsNoThread: while a shell runs, the goroutine that reaps
// it waits in the poller (on a pidfd), not in a waitid system call that
// holds an OS thread for the shell's whole life; its exit is still
// reported. Not parallel, so no other test's shell is starting or ending.
func TestShellWaitHoldsNoThread(t *testing.T) {
	m, _ := newTestManager(t, Config{})
	ctx := testCtx(t)
	s, err := m.Create(80, 24)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WaitOutput(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shell's reaper parked in the poller", func() bool {
		buf := make([]byte, 1<<20)
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, ").waitLoop(") && strings.Contains(g, "[IO wait") {
				return true
			}
		}
		return false
	})
	s.Kill()
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("the killed shell's exit was not reported")
	}
	if code, ok := m.ExitCode(s.ID()); !ok || code != 128+1 {
		t.Fatalf("exit code = %d, %v; want 129 (SIGHUP)", code, ok)
	}
}
