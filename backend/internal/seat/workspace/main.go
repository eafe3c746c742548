package workspace

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// Main is the whole daemon command: it parses args (without the program
// name), runs until SIGINT/SIGTERM and returns the process exit code. Both
// cmd/workspace and the `clarateach workspace` subcommand call it.
func Main(args []string, stderr io.Writer) int {
	cfg, err := ParseArgs(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "workspace:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, cfg, log); err != nil {
		fmt.Fprintln(stderr, "workspace:", err)
		return 1
	}
	return 0
}
