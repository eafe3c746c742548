// Package testbin builds the project's commands for tests that need the
// real binaries (the workspace daemon that seats run, the agent that a
// restart test kills), once per test package, in TestMain.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Binary is one command to build: Pkg (an import path) is built to a file
// called Name, whose path is stored in *Path before the tests run.
type Binary struct {
	Path *string
	Name string
	Pkg  string
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
