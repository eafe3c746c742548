// Command clarateach is ClaraTeach in one binary: the control plane
// (`clarateach server`), the workshop host agent, the workspace daemon and
// the operators' commands.
package main

import (
	"os"

	"github.com/clarateach/backend/internal/cli"
	"github.com/clarateach/backend/internal/runtime/sandbox"
)

func main() {
	// A seat's init re-executes a binary with a marker; it never returns.
	sandbox.InitMain()
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
