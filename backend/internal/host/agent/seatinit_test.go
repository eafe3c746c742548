package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatpid1"
)

// Sandbox seats start clarateach-seat-init (cmd/seatinit) as their init
// when it is beside the workspace daemon, and clarateach-seat-pid1
// (seatpid1, C) for the seats it serves: NewRuntime stages each with the
// daemon; without one, nothing is staged and the daemon binary plays the
// init (or the Go init every seat's).
func TestStageSeatInitFromBesideTheDaemon(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		stage func(daemon, dir string) (string, error)
	}{{SeatInitBinaryName, stageSeatInit}, {seatpid1.BinaryName, stageSeatPID1}} {
		t.Run(c.name, func(t *testing.T) { testStageBeside(t, c.name, c.stage) })
	}
}

// testStageBeside: name is staged by stage from beside the daemon, and
// nothing when it is not there.
func testStageBeside(t *testing.T, name string, stage func(daemon, dir string) (string, error)) {
	bin := t.TempDir()
	daemon := filepath.Join(bin, DaemonBinaryName)
	if err := os.WriteFile(daemon, []byte("#!/bin/sh\n# daemon\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(t.TempDir(), "clarateach-seat-bin")
	if p, err := stage(daemon, staged); err != nil || p != "" {
		t.Fatalf("no seat init beside the daemon: staged %q, %v", p, err)
	}
	body := []byte("#!/bin/sh\n# seat init\n")
	if err := os.WriteFile(filepath.Join(bin, name), body, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := stage(daemon, staged)
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(staged, name) {
		t.Fatalf("staged at %q", p)
	}
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("staged seat init: %q, %v", got, err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("staged seat init mode: %v %v", fi, err)
	}
}
