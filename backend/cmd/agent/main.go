// Command agent is the ClaraTeach workshop host agent (the seed's
// `go build ./cmd/agent/`). It serves the seat API and the learner proxy on
// :9090; see `agent --help` and internal/host/agent.
//
// Set the version reported by GET /health at build time:
//
//	go build -ldflags "-X main.version=1.2.3" ./cmd/agent/
package main

import (
	"fmt"
	"os"

	"github.com/clarateach/backend/internal/fdlimit"
	"github.com/clarateach/backend/internal/host/agent"
)

// version overrides agent.Version when set with -ldflags "-X main.version=...".
var version string

func main() {
	// Go lifts the soft RLIMIT_NOFILE itself on Linux; this makes it
	// explicit (and works wherever it does not), so floods meet the
	// connection caps and the 503 shedding, not "too many open files".
	if _, err := fdlimit.Raise(); err != nil {
		fmt.Fprintln(os.Stderr, "warning:", err)
	}
	if version != "" {
		agent.Version = version
	}
	os.Exit(agent.Main(os.Args[1:], agent.MainOptions{}))
}
