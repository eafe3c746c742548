package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Sandbox seats start clarateach-seat-init (cmd/seatinit) as their init
// when it is beside the workspace daemon: NewRuntime stages it with the
// daemon; without one, nothing is staged and the daemon binary plays the
// init.
func TestStageSeatInitFromBesideTheDaemon(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	daemon := filepath.Join(bin, DaemonBinaryName)
	if err := os.WriteFile(daemon, []byte("#!/bin/sh\n# daemon\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(t.TempDir(), "clarateach-seat-bin")
	if p, err := stageSeatInit(daemon, staged); err != nil || p != "" {
		t.Fatalf("no seat init beside the daemon: staged %q, %v", p, err)
	}
	body := []byte("#!/bin/sh\n# seat init\n")
	if err := os.WriteFile(filepath.Join(bin, SeatInitBinaryName), body, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := stageSeatInit(daemon, staged)
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(staged, SeatInitBinaryName) {
		t.Fatalf("staged at %q", p)
	}
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("staged seat init: %q, %v", got, err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("staged seat init mode: %v %v", fi, err)
	}
}
