package cli

import (
	"context"
	"io"
)

// opsUsage lists the operators' commands (shown in the main usage).
const opsUsage = ""

// runOps runs the operators' commands (workshops, vms, gc, snapshots,
// health, quota). It reports false when cmd is not one of them.
func runOps(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) (bool, error) {
	return false, nil
}
