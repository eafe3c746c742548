// Package seatpid1 holds clarateach-seat-pid1, a sandbox seat's init
// written in C (c/seatpid1.c), and builds it. It serves the common seat
// (started from scratch, on the host's root or on an image, without a
// root learner) as the Go init (package seatinit) does, without
// paying a Go runtime's start in every seat; the sandbox runtime uses it
// for such seats when Config.PID1Path names it, and the Go init for every
// other seat and wherever the binary is missing.
//
// The source lives in a directory of its own because a Go package may
// not hold C files when cgo is off; it is embedded here so that tests and
// the bench can build it wherever the module is, with gcc.
package seatpid1

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"os/exec"
)

// BinaryName is the installed name, beside clarateach-seat-init.
const BinaryName = "clarateach-seat-pid1"

// Source is the program's C source.
//
//go:embed c/seatpid1.c
var Source []byte

// Build compiles Source into a static executable at out with the C
// compiler cc ("" for gcc).
func Build(ctx context.Context, cc, out string) error {
	if cc == "" {
		cc = "gcc"
	}
	cmd := exec.CommandContext(ctx, cc, "-static", "-O2", "-Wall", "-o", out, "-x", "c", "-")
	cmd.Stdin = bytes.NewReader(Source)
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %w: %s", BinaryName, err, o)
	}
	return nil
}
