package server_test

import (
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/store/storetest"
)

func TestMain(m *testing.M) {
	if os.Getenv("CLARATEACH_TEST_LOGS") == "" {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	// storetest.Main: the PostgreSQL tests reuse ended tests' schemas, emptied.
	os.Exit(storetest.Main(m.Run))
}
