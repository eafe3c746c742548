package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/seat/terminal"
)

// The second peer does a seat's whole job under bubblewrap: the same
// namespaces, read-only root and private home as bwrapArgs, and inside
// them our workspace daemon, which starts the login shell when the
// bench's terminal client attaches over its socket; the clock stops at
// the first output byte, as for our seats. Ours against it is what our
// sandbox (the agent, its API and proxy, the init, the cgroup and the
// disk-limited home) costs beside bubblewrap's namespaces for the same
// daemon. Ours against plain bubblewrap adds what the daemon costs.

// bwrapDaemonArgs runs daemon as the peer's program, listening on
// sockDir/ws.sock. The daemon is bound read-only and sockDir read-write,
// each at its own path (which may be under the peer's private /tmp).
func bwrapDaemonArgs(daemon, shell, sockDir string) []string {
	args := bwrapArgs(shell)
	args = args[:len(args)-3] // "--", shell, "-l"
	// One P from the runtime's start, as the sandbox starts a seat's
	// daemon (seatinit.ProcsMarker).
	return append(args, "--setenv", "GOMAXPROCS", "1", "--ro-bind", daemon, daemon, "--bind", sockDir, sockDir, "--",
		daemon, "--listen", "unix:"+filepath.Join(sockDir, "ws.sock"), "--root", "/home/learner", "--shell", shell)
}

// bwrapDaemonStart starts one daemon under bubblewrap and returns the
// time until its terminal's first output byte. Its process tree (bwrap,
// its pid 1, the daemon and the shell) is counted; the caller reads and
// closes the counters.
func bwrapDaemonStart(ctx context.Context, bwrap, daemon, shell, sockDir string) (bwrapShell, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := os.MkdirAll(sockDir, 0o755); err != nil {
		return bwrapShell{}, err
	}
	defer os.RemoveAll(sockDir)
	sock := filepath.Join(sockDir, "ws.sock")
	cmd := exec.CommandContext(ctx, bwrap, bwrapDaemonArgs(daemon, shell, sockDir)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	var sh bwrapShell
	t0 := time.Now()
	stat, exited, err := startCounted(cmd)
	if err != nil {
		return bwrapShell{}, err
	}
	sh.stat = stat
	// Killing bwrap ends its namespace: --die-with-parent takes its pid 1,
	// and with it the daemon and the shell.
	defer func() { _ = cmd.Process.Kill(); <-exited }()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	defer hc.CloseIdleConnections()
	if err := waitListening(ctx, sock, exited); err != nil {
		return sh, fmt.Errorf("%w %s", err, strings.TrimSpace(stderr.String()))
	}
	term, err := terminal.Dial(ctx, "http://seat/terminal", &terminal.DialOptions{Cols: 120, Rows: 40, HTTPClient: hc})
	if err != nil {
		return sh, err
	}
	defer term.Close()
	if _, err := term.ReadOutput(ctx); err != nil {
		return sh, fmt.Errorf("first output: %w", err)
	}
	sh.took = time.Since(t0)
	return sh, nil
}

// waitListening polls until something listens on the unix socket sock,
// the process ends (exited has a value) or ctx ends.
func waitListening(ctx context.Context, sock string, exited <-chan error) error {
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the daemon under bwrap ended before listening: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("the daemon under bwrap is not listening on %s: %w", sock, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// bwrapDaemonBurst starts n daemons under bubblewrap at once (after one
// first) and returns each one's time to its terminal's first output byte.
func bwrapDaemonBurst(ctx context.Context, bwrap, daemon, shell, dir string, n int) ([]time.Duration, error) {
	start := func(ctx context.Context, i int) (bwrapShell, error) {
		return bwrapDaemonStart(ctx, bwrap, daemon, shell, filepath.Join(dir, "bwd-"+strconv.Itoa(i)))
	}
	d, err := peerBurst(ctx, n, start, "bubblewrap + daemon",
		"the whole process tree: bwrap, its pid 1, our daemon and the shell")
	if err != nil {
		return nil, errors.Join(errors.New("bubblewrap + daemon"), err)
	}
	return d, nil
}
