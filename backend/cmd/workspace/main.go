// Command workspace is the ClaraTeach workspace daemon that runs inside every
// learner seat (terminal sessions and the confined file API).
//
//	workspace --listen unix:/path/to.sock|tcp:HOST:PORT --root DIR --shell /bin/bash
//
// It does not authenticate: only the agent in front of it may reach it.
package main

import (
	"os"

	"github.com/clarateach/backend/internal/workspace"
)

func main() { os.Exit(workspace.Main(os.Args[1:], os.Stderr)) }
