//go:build linux

package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/host/procinfo"
	"github.com/clarateach/backend/internal/host/seatruntime"
)

// TestStopKeepsHome: Stop ends the seat and keeps its home; Homes lists it;
// the next Create of the seat gets it back; RemoveHome deletes it.
func TestStopKeepsHome(t *testing.T) {
	needRoot(t)
	r := newRuntime(t, testConfig(t))
	ctx := context.Background()
	spec := seatruntime.Spec{WorkshopID: "ws-home", Seat: 2}
	s, err := r.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	seatSh(t, s, "echo kept > work.txt")
	if err := r.Stop(ctx, s); err != nil {
		t.Fatal(err)
	}
	if r.Alive(ctx, s) {
		t.Fatal("a stopped seat is alive")
	}
	homes, err := r.Homes()
	if err != nil || len(homes) != 1 || homes[0] != (seatruntime.Home{WorkshopID: "ws-home", Seat: 2}) {
		t.Fatalf("Homes = %v, %v", homes, err)
	}
	s2 := createSeat(t, r, spec)
	if got := seatSh(t, s2, "cat work.txt"); got != "kept" {
		t.Fatalf("home after the new start: %q", got)
	}
	if err := r.Stop(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveHome(ctx, "ws-home", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.cfg.BaseDir, "ws-home-2")); !os.IsNotExist(err) {
		t.Fatalf("home after RemoveHome: %v", err)
	}
}

// TestSeatEndsWithoutItsAgent: with OrphanTimeout, a seat lives on while its
// runtime beats, and ends by itself once the runtime has been gone for
// longer than the timeout; its home stays.
func TestSeatEndsWithoutItsAgent(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	cfg.OrphanTimeout = 1500 * time.Millisecond
	cfg.HeartbeatEvery = 100 * time.Millisecond
	r := newRuntime(t, cfg)
	ctx := context.Background()
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-orphan", Seat: 1})
	seatSh(t, s, "echo kept > /home/learner/work.txt")

	// Beating: alive well past the timeout.
	deadline := time.Now().Add(2 * cfg.OrphanTimeout)
	for time.Now().Before(deadline) {
		if !procinfo.Running(s.PID, mustExtra(t, s).StartTime) {
			t.Fatal("the seat ended while its agent was alive")
		}
		time.Sleep(50 * time.Millisecond)
	}

	r.beat.stop() // the agent is gone
	gone := time.Now()
	for procinfo.Running(s.PID, mustExtra(t, s).StartTime) {
		if time.Since(gone) > cfg.OrphanTimeout+5*time.Second {
			t.Fatal("the seat did not end without its agent")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if took := time.Since(gone); took < cfg.OrphanTimeout-200*time.Millisecond {
		t.Errorf("the seat ended %s after its agent, before the timeout", took)
	}
	if r.Alive(ctx, s) {
		t.Error("an ended seat is alive")
	}
	// The home is kept: the seat's next start, once the agent beats again
	// (a new seat's init checks the heartbeat too), has the file.
	if err := r.Stop(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := r.startHeartbeat(); err != nil {
		t.Fatal(err)
	}
	s2 := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-orphan", Seat: 1})
	if got := seatSh(t, s2, "cat /home/learner/work.txt"); got != "kept" {
		t.Errorf("home after the seat ended: %q", got)
	}
}

func mustExtra(t *testing.T, s *seatruntime.Seat) *extra {
	t.Helper()
	ex, err := parseExtra(s)
	if err != nil {
		t.Fatal(err)
	}
	return ex
}
