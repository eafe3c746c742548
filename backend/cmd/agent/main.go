// Command agent is the ClaraTeach workshop host agent (the seed's
// `go build ./cmd/agent/`). It serves the seat API and the learner proxy on
// :9090; see `agent --help`, internal/cli/agentcmd (the command) and
// internal/host/agent (the agent).
//
// The version reported by GET /health is stamped at build time into
// internal/release.Version (see the Makefile).
package main

import (
	"fmt"
	"os"

	"github.com/clarateach/backend/internal/cli/agentcmd"
	"github.com/clarateach/backend/internal/fdlimit"
)

func main() {
	// Go lifts the soft RLIMIT_NOFILE itself on Linux; this makes it
	// explicit (and works wherever it does not), so floods meet the
	// connection caps and the 503 shedding, not "too many open files".
	if _, err := fdlimit.Raise(); err != nil {
		fmt.Fprintln(os.Stderr, "warning:", err)
	}
	os.Exit(agentcmd.Main(os.Args[1:], agentcmd.MainOptions{}))
}
