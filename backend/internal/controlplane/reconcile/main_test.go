package reconcile_test

import (
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/store/storetest"
	"github.com/clarateach/backend/internal/testbin"
)

// daemonBin is the workspace daemon, built once for the package's tests: the
// agent stand-ins on the fake cloud's VMs are real agents with the process
// runtime, so seats are real processes.
var daemonBin string

func TestMain(m *testing.M) {
	if os.Getenv("CLARATEACH_TEST_LOGS") == "" {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	// storetest.Main: the PostgreSQL tests reuse ended tests' schemas, emptied.
	os.Exit(storetest.Main(func() int { return testbin.Run(m, testbin.Workspace(&daemonBin)) }))
}
