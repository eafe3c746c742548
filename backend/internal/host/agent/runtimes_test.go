package agent

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStageDaemonKeepsParentModes(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	if err := os.Chmod(parent, 0o770|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "daemon")
	if err := os.WriteFile(src, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	dst, err := stageDaemon(src, filepath.Join(parent, "clarateach-seat-bin"))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(parent)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o771 {
		t.Fatalf("parent mode became %v, want sticky 0771", fi.Mode())
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("staged daemon: %v %v", fi.Mode(), err)
	}
	// Staging the same binary again keeps the copy.
	again, err := stageDaemon(src, filepath.Join(parent, "clarateach-seat-bin"))
	if err != nil || again != dst {
		t.Fatalf("restage: %q %v", again, err)
	}
}

func TestNewRuntimeRefusesUnknown(t *testing.T) {
	t.Parallel()
	if _, err := NewRuntime("docker", RuntimeOptions{}); err == nil {
		t.Fatal("unknown runtime accepted")
	}
}
