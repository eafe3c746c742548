// Package cli is the `clarateach` command: one binary whose subcommands run
// the control plane, the workshop host agent, the workspace daemon, and the
// operators' tasks.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/clarateach/backend/internal/cli/agentcmd"
	"github.com/clarateach/backend/internal/release"
	"github.com/clarateach/backend/internal/seat/workspace"
)

const usage = `clarateach — live, hands-on coding workshops

Usage: clarateach <command> [flags]

Commands:
  server                 run the control plane (API, web app, reconciler)
  agent                  run a workshop host agent
  workspace              run the workspace daemon (inside a seat)
  migrate                apply pending database migrations
  admin create-user      create an instructor or admin account
  admin users            accounts with their quotas and usage
  admin quota set|reset  change an instructor's quota (running workshops, seats, hours)
  version                print the version

Run 'clarateach <command> --help' for a command's flags.
Configuration comes from flags, the environment and a .env file; see backend/.env.example.
`

// Main runs the command line and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage+opsUsage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "server", "serve":
		err = runServer(ctx, rest, stdout, stderr)
	case "agent":
		self, _ := os.Executable()
		return agentcmd.Main(rest, agentcmd.MainOptions{DaemonCommand: []string{self, "workspace"}, Stderr: stderr})
	case "workspace":
		return workspace.Main(rest, stderr)
	case "migrate":
		err = runMigrate(ctx, rest, stdout, stderr)
	case "admin":
		err = runAdmin(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "clarateach", release.Version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage+opsUsage)
	default:
		var handled bool
		handled, err = runOps(ctx, cmd, rest, stdout, stderr)
		if !handled {
			fmt.Fprintf(stderr, "clarateach: unknown command %q\n\n%s", cmd, usage+opsUsage)
			return 2
		}
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "clarateach "+cmd+":", err)
		return 1
	}
	return 0
}
