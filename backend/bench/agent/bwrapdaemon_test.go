package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/testbin"
)

var daemonBin string

func TestMain(m *testing.M) {
	os.Exit(testbin.Run(m, testbin.Workspace(&daemonBin)))
}

// The second peer serves a real terminal: our daemon under bubblewrap
// answers with the shell's first output, and when the burst returns its
// processes go with bwrap (none is left holding the socket directory).
func TestBwrapDaemonPeerServesATerminal(t *testing.T) {
	bw := needBwrap(t)
	dir := t.TempDir()
	d, err := bwrapDaemonBurst(context.Background(), bw, daemonBin, "/bin/bash", dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range d {
		if x <= 0 {
			t.Errorf("peer %d: time %v", i, x)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := procsMentioning(dir)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left after the burst: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The peer is the same set of namespaces: the daemon is not pid 1 or the
// host's, its root is read-only and its home private (bwrapArgs'
// isolation, checked on the plain peer by TestBwrapPeerIsolation, is kept).
func TestBwrapDaemonArgsKeepTheIsolation(t *testing.T) {
	plain := strings.Join(bwrapArgs("/bin/bash")[:len(bwrapArgs("/bin/bash"))-3], " ")
	got := strings.Join(bwrapDaemonArgs("/x/clarateach-workspace", "/bin/bash", "/s"), " ")
	if !strings.HasPrefix(got, plain+" ") {
		t.Fatalf("the daemon peer's arguments do not start with the plain peer's:\n%s\n%s", got, plain)
	}
	if !strings.HasSuffix(got, "-- /x/clarateach-workspace --listen unix:/s/ws.sock --root /home/learner --shell /bin/bash") {
		t.Fatalf("the daemon peer runs something else: %s", got)
	}
}

// procsMentioning lists the command lines of processes that name s.
func procsMentioning(s string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || e.Name() == "self" {
			continue
		}
		if cl := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(cl, s) {
			out = append(out, e.Name()+": "+cl)
		}
	}
	return out
}
