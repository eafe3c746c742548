package reconcile_test

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// daemonBin is the workspace daemon, built once for the package's tests: the
// agent stand-ins on the fake cloud's VMs are real agents with the process
// runtime, so seats are real processes.
var daemonBin string

func TestMain(m *testing.M) {
	if os.Getenv("CLARATEACH_TEST_LOGS") == "" {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	dir, err := os.MkdirTemp("", "reconcile-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	daemonBin = filepath.Join(dir, "clarateach-workspace")
	cmd := exec.Command("go", "build", "-o", daemonBin, "../../cmd/workspace")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build cmd/workspace:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
