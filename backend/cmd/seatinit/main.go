// Command seatinit is clarateach-seat-init, the first process of every
// sandbox seat (internal/host/seatruntime/sandbox/README.md): it builds the
// seat from the inside, starts and supervises the workspace daemon, and
// serves the seat's root scripts. It is a binary of its own, next to
// clarateach-workspace, so that a seat's start pays for a small Go program
// (no net/http, no TLS) instead of a second start of the daemon; the agent
// uses it when it finds it beside the daemon, else the daemon binary plays
// the init.
package main

import (
	"fmt"
	"os"

	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatinit"
)

func main() {
	seatinit.Main() // a seat's init never returns
	fmt.Fprintln(os.Stderr, "clarateach-seat-init: only the sandbox seat runtime starts this program, as a seat's init")
	os.Exit(2)
}
