package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The seat init starts once per seat, so it must stay a small program: none
// of the packages that make the workspace daemon's binary large (and its
// start cost ~470 page faults against ~230) may be linked into it.
func TestSeatInitLinksNoHeavyPackages(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		deps[p] = true
	}
	for _, heavy := range []string{
		"net", "net/http", "crypto/tls", "crypto/x509", "log/slog", "archive/tar", "compress/gzip",
		"github.com/clarateach/backend/internal/host/seatruntime",
		"github.com/clarateach/backend/internal/host/seatruntime/sandbox",
		"github.com/clarateach/backend/internal/seat/workspace",
	} {
		if deps[heavy] {
			t.Errorf("the seat init links %s", heavy)
		}
	}
	if !deps["github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatinit"] {
		t.Error("the seat init does not link seatinit")
	}
}
