// Command seatd is the workspace daemon with the seat hook, as cmd/workspace
// is built: the tests use it, with cmd/seatinit as the seats' init, to
// measure seats in their production configuration.
package main

import (
	"os"

	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatinit"
	"github.com/clarateach/backend/internal/seat/workspace"
)

func main() {
	seatinit.Main()
	os.Exit(workspace.Main(os.Args[1:], os.Stderr))
}
