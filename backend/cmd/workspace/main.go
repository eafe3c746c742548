// Command workspace is the ClaraTeach workspace daemon that runs inside every
// learner seat (terminal sessions and the confined file API).
//
//	workspace --listen unix:/path/to.sock|tcp:HOST:PORT --root DIR --shell /bin/bash
//
// It does not authenticate: only the agent in front of it may reach it.
//
// The same binary can be the sandbox runtime's seat init (where
// clarateach-seat-init, cmd/seatinit, is not beside it), and as the seat's
// daemon it takes its identity there: seatinit.Main returns at once in
// every other case (see internal/host/seatruntime/sandbox/README.md).
package main

import (
	"fmt"
	"os"

	"github.com/clarateach/backend/internal/fdlimit"
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatinit"
	"github.com/clarateach/backend/internal/seat/workspace"
)

func main() {
	seatinit.Main()
	// Go lifts the soft RLIMIT_NOFILE itself on Linux; this makes it
	// explicit (and works wherever it does not), so floods meet the
	// connection caps and the 503 shedding, not "too many open files".
	if _, err := fdlimit.Raise(); err != nil {
		fmt.Fprintln(os.Stderr, "warning:", err)
	}
	os.Exit(workspace.Main(os.Args[1:], os.Stderr))
}
