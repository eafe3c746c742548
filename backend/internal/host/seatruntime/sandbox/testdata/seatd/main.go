// Command seatd is the workspace daemon with the sandbox init hook, as
// cmd/workspace should be built: the tests use it to measure seats in their
// production configuration (the daemon binary doubling as the seat init).
package main

import (
	"os"

	"github.com/clarateach/backend/internal/host/seatruntime/sandbox"
	"github.com/clarateach/backend/internal/seat/workspace"
)

func main() {
	sandbox.InitMain()
	os.Exit(workspace.Main(os.Args[1:], os.Stderr))
}
