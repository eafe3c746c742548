// Package testbin builds the project's commands for tests that need the
// real binaries (the workspace daemon that seats run, the agent that a
// restart test kills), once per test package, in TestMain.
package testbin

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatpid1"
)

// Binary is one command to build: Pkg (an import path) is built to a file
// called Name, whose path is stored in *Path before the tests run.
type Binary struct {
	Path *string
	Name string
	Pkg  string
	// Build, when set, builds the binary at out instead of go build of
	// Pkg (a program that is not Go, e.g. SeatPID1's).
	Build func(out string) error
}

// SeatPID1 is clarateach-seat-pid1, the sandbox seats' init written in C
// (package seatpid1), built with gcc: put it beside Workspace's binary
// and the agent uses it, as make build's bin/ has it.
func SeatPID1(path *string) Binary {
	return Binary{Path: path, Name: seatpid1.BinaryName, Build: func(out string) error {
		return seatpid1.Build(context.Background(), "", out)
	}}
}

// Workspace is the workspace daemon, the binary every seat runs.
func Workspace(path *string) Binary {
	return Binary{Path: path, Name: "clarateach-workspace", Pkg: "github.com/clarateach/backend/cmd/workspace"}
}

// Run builds bins (static, CGO_ENABLED=0) into one temporary directory (mode 0755, so sandbox
// seats' unprivileged uids can reach them), runs the tests, removes the
// directory and returns the exit code for os.Exit.
func Run(m *testing.M, bins ...Binary) int {
	dir, err := os.MkdirTemp("", "clarateach-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testbin:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "testbin:", err)
		return 1
	}
	for _, b := range bins {
		*b.Path = filepath.Join(dir, b.Name)
		if b.Build != nil {
			if err := b.Build(*b.Path); err != nil {
				fmt.Fprintf(os.Stderr, "testbin: %v\n", err)
				return 1
			}
			continue
		}
		cmd := exec.Command("go", "build", "-o", *b.Path, b.Pkg)
		// Static, as the Makefile builds them: a seat on an OCI image
		// runs the daemon with the image's libraries, not the host's.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "testbin: build %s: %v\n", b.Pkg, err)
			return 1
		}
	}
	return m.Run()
}
