// Package seatbins builds, for a bench, what make build puts in bin/ for
// the seats: the static workspace daemon and, beside it where the agent
// looks for them, the seat inits clarateach-seat-init (Go) and
// clarateach-seat-pid1 (C, with gcc). The agent and images benches stage
// their seats' binaries with it.
package seatbins

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatpid1"
)

// DaemonName is the workspace daemon's file name, as make build names it.
const DaemonName = "clarateach-workspace"

// Options leaves seat inits out, for runs that compare without them.
type Options struct {
	// NoSeatInit: no clarateach-seat-init, so the daemon binary is also
	// each seat's init (as before cmd/seatinit).
	NoSeatInit bool
	// NoPID1: no clarateach-seat-pid1, so every seat's init is the Go one.
	NoPID1 bool
}

// Binaries is what Build staged.
type Binaries struct {
	// Daemon is the workspace daemon's path.
	Daemon string
	// Inits says which init the seats get, for a bench's "seat inits:"
	// line.
	Inits string
	// PID1Err is why clarateach-seat-pid1 could not be built (no gcc, no
	// static libc): nil when it was built or left out by Options. Without
	// it every seat gets the Go init, as on such a host.
	PID1Err error
}

// Build builds the binaries into dir. It fails when a Go build fails; a
// failed build of the C init is reported in PID1Err instead, so that each
// bench decides whether it can do without it.
func Build(ctx context.Context, dir string, o Options) (Binaries, error) {
	b := Binaries{Daemon: filepath.Join(dir, DaemonName)}
	// Static, as the Makefile builds them for production, so each seat's
	// init and daemon start without the dynamic loader.
	if err := goBuild(ctx, b.Daemon, "github.com/clarateach/backend/cmd/workspace"); err != nil {
		return Binaries{}, fmt.Errorf("build workspace daemon (run from backend/): %w", err)
	}
	if !o.NoSeatInit {
		if err := goBuild(ctx, filepath.Join(dir, agent.SeatInitBinaryName), "github.com/clarateach/backend/cmd/seatinit"); err != nil {
			return Binaries{}, fmt.Errorf("build seat init (run from backend/): %w", err)
		}
	}
	goInit := agent.SeatInitBinaryName
	if o.NoSeatInit {
		goInit = DaemonName + " (the daemon binary)"
	}
	if o.NoPID1 {
		b.Inits = goInit + " for every seat"
		return b, nil
	}
	if err := seatpid1.Build(ctx, "", filepath.Join(dir, seatpid1.BinaryName)); err != nil {
		b.PID1Err = err
		b.Inits = fmt.Sprintf("%s for every seat (%v)", goInit, err)
		return b, nil
	}
	b.Inits = seatpid1.BinaryName + " (C) for the seats it serves, " + goInit + " for the others"
	return b, nil
}

// goBuild builds the package pkg of this module with cgo off into out.
func goBuild(ctx context.Context, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}
