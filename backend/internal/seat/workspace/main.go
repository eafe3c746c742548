package workspace

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"

	"github.com/clarateach/backend/internal/logging"
)

// Main is the whole daemon command: it parses args (without the program
// name), runs until SIGINT/SIGTERM and returns the process exit code. Both
// cmd/workspace and the `clarateach workspace` subcommand call it.
func Main(args []string, stderr io.Writer) int {
	runtime.GOMAXPROCS(Procs(os.Getenv("GOMAXPROCS")))
	cfg, err := ParseArgs(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "workspace:", err)
		return 2
	}
	level, _ := logging.ParseLevel(cfg.LogLevel) // checked by ParseArgs
	log := logging.New(stderr, level)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, cfg, log); err != nil {
		fmt.Fprintln(stderr, "workspace:", err)
		return 1
	}
	return 0
}

// Procs is the daemon's GOMAXPROCS: the environment's GOMAXPROCS when it
// sets one, else 1. A seat's daemon serves one learner, and its terminal
// output is a stream of 4 KiB PTY reads, each waking a goroutine: with more
// than one P, every wake-up also woke an idle P's thread to look for work,
// and on a 2-CPU VM those thread switches doubled the daemon's CPU per MB
// of output (7.3-8.0 ms/MB against 3.1-3.6 ms/MB with one P, the bare PTY
// reader's own cost; bench/agent README). Blocking system calls (file I/O)
// still run on threads of their own.
func Procs(env string) int {
	if n, err := strconv.Atoi(env); err == nil && n > 0 {
		return n
	}
	return 1
}
