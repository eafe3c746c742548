// Command clarateach is ClaraTeach in one binary: the control plane
// (`clarateach server`), the workshop host agent, the workspace daemon and
// the operators' commands.
package main

import (
	"fmt"
	"os"

	"github.com/clarateach/backend/internal/cli"
	"github.com/clarateach/backend/internal/fdlimit"
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox"
)

func main() {
	// A seat's init re-executes a binary with a marker; it never returns.
	sandbox.InitMain()
	// Go lifts the soft RLIMIT_NOFILE itself on Linux; this makes it
	// explicit (and works wherever it does not), so floods meet the
	// connection caps and the 503 shedding, not "too many open files".
	if _, err := fdlimit.Raise(); err != nil {
		fmt.Fprintln(os.Stderr, "warning:", err)
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
