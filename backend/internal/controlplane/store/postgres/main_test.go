package postgres_test

import (
	"os"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/store/storetest"
)

// TestMain lets storetest.NewPostgres reuse the schemas of tests that have
// ended (emptied) instead of migrating a new one per test.
func TestMain(m *testing.M) { os.Exit(storetest.Main(m.Run)) }
