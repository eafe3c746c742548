package cli

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestShutdownStepGivesUp: a step that never returns is abandoned at its
// deadline with a warning that names it; one that returns is logged as
// done.
func TestShutdownStepGivesUp(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	hang := make(chan struct{})
	defer close(hang)
	if shutdownStep(log, "close the database", 50*time.Millisecond, func(context.Context) { <-hang }) {
		t.Error("a step that never returns was reported finished")
	}
	if !shutdownStep(log, "write pending seat activity", time.Minute, func(context.Context) {}) {
		t.Error("a step that returned was reported unfinished")
	}
	out := buf.String()
	for _, want := range []string{
		`level=WARN msg="shutdown: close the database did not finish in time; exiting without it" deadline=50ms`,
		`level=INFO msg="shutdown: write pending seat activity" took=`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}
