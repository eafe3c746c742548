package main

import (
	"context"
	"fmt"

	"github.com/clarateach/backend/bench/internal/benchdb"
)

// checkpoints is the PostgreSQL server's count of checkpoints (timed and
// requested: every DROP DATABASE on the server asks for one), or -1 when
// it cannot be read (SQLite).
func checkpoints(ctx context.Context, db *benchdb.DB) int64 {
	if db.Admin == nil {
		return -1
	}
	var n int64
	if err := db.Admin.QueryRow(ctx, `SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter`).Scan(&n); err != nil {
		return -1
	}
	return n
}

// checkpointLine says how many checkpoints the server counted during the
// storm (pg_stat_bgwriter counts one when it ends): one writes out every
// dirty buffer at once, and after it each page's next change logs a full
// page image, so a storm that meets one may have a longer tail.
func checkpointLine(before, after int64) string {
	if before < 0 || after < 0 {
		return ""
	}
	return fmt.Sprintf("  checkpoints      %8d during the storm (server-wide, pg_stat_bgwriter)\n", after-before)
}
