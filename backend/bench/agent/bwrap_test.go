package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func needBwrap(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("bwrap")
	if err != nil {
		t.Skip("bwrap not installed")
	}
	return p
}

// The peer really is isolated as a seat is: its own pid namespace, a
// read-only root and a writable private home.
func TestBwrapPeerIsolation(t *testing.T) {
	bw := needBwrap(t)
	args := append(bwrapArgs("/bin/sh")[:len(bwrapArgs("/bin/sh"))-1],
		"-c", `echo pid=$$; touch /ct-bwrap-probe 2>/dev/null && echo root-writable; touch "$HOME/x" && echo home-ok; hostname`)
	out, err := exec.Command(bw, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("bwrap: %v\n%s", err, out)
	}
	got := string(out)
	// bwrap's own init is pid 1 in the new namespace, the shell pid 2.
	if !strings.Contains(got, "pid=1\n") && !strings.Contains(got, "pid=2\n") {
		t.Errorf("not in its own pid namespace:\n%s", got)
	}
	for _, want := range []string{"home-ok\n", "seat\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "root-writable") {
		os.Remove("/ct-bwrap-probe")
		t.Errorf("the root is writable inside the peer:\n%s", got)
	}
}

func TestBwrapStartTimesAnAnsweringShell(t *testing.T) {
	bw := needBwrap(t)
	d, err := bwrapBurst(context.Background(), bw, "/bin/bash", 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range d {
		if x <= 0 {
			t.Errorf("shell %d: time %v", i, x)
		}
	}
}
