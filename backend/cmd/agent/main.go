// Command agent is the ClaraTeach workshop host agent (the seed's
// `go build ./cmd/agent/`). It serves the seat API and the learner proxy on
// :9090; see `agent --help` and internal/host/agent.
//
// The version reported by GET /health is stamped at build time into
// internal/buildinfo.Version (see the Makefile).
package main

import (
	"fmt"
	"os"

	"github.com/clarateach/backend/internal/fdlimit"
	"github.com/clarateach/backend/internal/host/agent"
)

func main() {
	// Go lifts the soft RLIMIT_NOFILE itself on Linux; this makes it
	// explicit (and works wherever it does not), so floods meet the
	// connection caps and the 503 shedding, not "too many open files".
	if _, err := fdlimit.Raise(); err != nil {
		fmt.Fprintln(os.Stderr, "warning:", err)
	}
	os.Exit(agent.Main(os.Args[1:], agent.MainOptions{}))
}
