package main

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// TestPhases: the sandbox's "seat created" records (queued, then the time
// since the start at the end of each step) become time per step, whose
// p50 over the burst's seats take prints; other records are ignored.
func TestPhases(t *testing.T) {
	p := &phases{}
	log := slog.New(p).With("runtime", "sandbox")
	ms := time.Millisecond
	for _, rootfs := range []time.Duration{10 * ms, 30 * ms, 20 * ms} {
		log.Debug("seat created", "seat", "ws-1", "pid", 42, "queued", 5*ms, "cgroups", 2*ms, "rootfs", 2*ms+rootfs, "ready", 2*ms+rootfs+100*ms)
	}
	log.Debug("warm seat claimed", "took", time.Second)
	log.Info("something else", "queued", time.Hour)
	want := "step p50 (time in each step): queued 5ms cgroups 2ms rootfs 20ms ready 100ms"
	if got := p.take(); got != want {
		t.Errorf("take:\n got %q\nwant %q", got, want)
	}
	if got := p.take(); got != "" {
		t.Errorf("second take %q, want nothing", got)
	}
	if !p.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("debug records are not collected")
	}
}
