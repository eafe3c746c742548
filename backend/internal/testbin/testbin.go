// Package testbin builds the project's commands for tests that need the
// real binaries (the workspace daemon that seats run, the agent that a
// restart test kills), once per test package, in TestMain.
//
// With $CLARATEACH_TESTBIN_DIR set (scripts/test-all.sh sets it to a
// directory of its run), each command is built once for all the test
// packages of that run instead: the first package to need it builds it
// there under a lock, the others wait for that build and copy the result.
// A directory of one run only ever sees one source tree, so nothing in it is
// stale; without the variable each package builds its own, as before.
package testbin

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatpid1"
)

// SharedDirEnv names the directory where one test run's binaries are shared.
const SharedDirEnv = "CLARATEACH_TESTBIN_DIR"

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
	shared := os.Getenv(SharedDirEnv)
	for _, b := range bins {
		*b.Path = filepath.Join(dir, b.Name)
		mk := b.Build
		key := "build-" + b.Name
		if mk == nil {
			mk = func(out string) error { return build(b.Pkg, out) }
			key = strings.ReplaceAll(strings.TrimPrefix(b.Pkg, "github.com/clarateach/backend/"), "/", "_")
		}
		if shared != "" {
			err = buildShared(filepath.Join(shared, key), mk, *b.Path)
		} else {
			err = mk(*b.Path)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "testbin: build %s: %v\n", b.Name, err)
			return 1
		}
	}
	return m.Run()
}

// build builds pkg to out.
func build(pkg, out string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	// Static, as the Makefile builds them: a seat on an OCI image
	// runs the daemon with the image's libraries, not the host's.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// buildShared copies the run's shared build at bin to out, building it
// there with mk first when no other test package has. An flock on a file
// beside bin serialises the builds of one binary across the test binaries
// running at once; a finished build is renamed into place, so a file at its
// final name is always whole.
func buildShared(bin string, mk func(out string) error, out string) error {
	lock, err := os.OpenFile(bin+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		tmp := bin + ".tmp"
		if err := mk(tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, bin); err != nil {
			return err
		}
	}
	return copyFile(bin, out)
}

// copyFile copies src to dst, mode 0755: each test package gets a file of
// its own (a test may replace or remove it).
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	o, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return err
	}
	return o.Close()
}
