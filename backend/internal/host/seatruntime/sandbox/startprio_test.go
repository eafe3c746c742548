//go:build linux

package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/clarateach/backend/internal/host/seatruntime"
)

// readWeight reads a seat's CPU weight file.
func readWeight(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStartPriorityOrder checks the weights a burst of starts gets: each
// seat below the one started before it, never below a running seat's, the
// running seat's back after it settles, and a later arrival weighed from
// the oldest seat still starting.
func TestStartPriorityOrder(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		dir := t.TempDir()
		cs := &cgroupSet{v2: v2, hiers: []hierarchy{{mount: dir, ctrls: []string{"cpu"}, parent: dir}}}
		p := newStartPrio(cs)
		file := cs.weightFile
		keys := make([]string, 40)
		for i := range keys {
			keys[i] = "ws-" + strconv.Itoa(i)
			if err := os.Mkdir(filepath.Join(dir, keys[i]), 0o755); err != nil {
				t.Fatal(err)
			}
			p.enter(keys[i])
		}
		normal := int(p.normal)
		prev := readWeight(t, file(keys[0]))
		if prev != int(p.top) {
			t.Fatalf("v2=%v: first seat's weight %d, want %v", v2, prev, p.top)
		}
		for _, k := range keys[1:6] {
			w := readWeight(t, file(k))
			if w >= prev || w <= normal {
				t.Fatalf("v2=%v: %s weight %d after %d: want below it and above a running seat's %d", v2, k, w, prev, normal)
			}
			prev = w
		}
		if w := readWeight(t, file(keys[39])); w != normal {
			t.Fatalf("v2=%v: 40th seat's weight %d, want the floor %d", v2, w, normal)
		}
		// The first 30 finish; the next arrival is weighed from the
		// oldest seat still starting, and stays below it.
		for _, k := range keys[:30] {
			p.leave(k, nil, true)
		}
		if w := readWeight(t, file(keys[0])); w != normal {
			t.Fatalf("v2=%v: settled seat's weight %d, want %d", v2, w, normal)
		}
		late := "ws-late"
		if err := os.Mkdir(filepath.Join(dir, late), 0o755); err != nil {
			t.Fatal(err)
		}
		p.enter(late)
		oldest, lw := readWeight(t, file(keys[30])), readWeight(t, file(late))
		if oldest != int(p.top) || lw <= normal || lw >= readWeight(t, file(keys[39])) {
			t.Fatalf("v2=%v: after a rebase the oldest starting seat has %d (want %v), the late one %d (want between %d and the 40th's %d)",
				v2, oldest, p.top, lw, normal, readWeight(t, file(keys[39])))
		}
		// A stale timer (another start of the same seat) changes nothing.
		stale := uint64(0)
		p.leave(keys[31], &stale, true)
		if w := readWeight(t, file(keys[31])); w == normal {
			t.Fatalf("v2=%v: a stale leave reset the weight", v2)
		}
	}
}

// TestSeatsStartingAreWeightedOldestFirst: with the real runtime, a seat
// started before another has the larger CPU weight until it settles, and
// both are above a running seat's.
func TestSeatsStartingAreWeightedOldestFirst(t *testing.T) {
	needRoot(t)
	r := newRuntime(t, testConfig(t))
	if r.cgroups == nil {
		t.Skip("no cgroups")
	}
	ctx := context.Background()
	a := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-prio", Seat: 1})
	b := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-prio", Seat: 2})
	fa, fb := r.cgroups.weightFile("ws-prio-1"), r.cgroups.weightFile("ws-prio-2")
	wa, wb := readWeight(t, fa), readWeight(t, fb)
	normal := int(r.prio.normal)
	if wa <= wb || wb <= normal {
		t.Fatalf("weights: first seat %d, second %d, a running seat's %d: want first > second > running", wa, wb, normal)
	}
	r.Settle(a)
	if w := readWeight(t, fa); w != normal {
		t.Fatalf("settled seat's weight %d, want %d", w, normal)
	}
	if w := readWeight(t, fb); w != wb {
		t.Fatalf("the other seat's weight changed to %d by the first one's settling", w)
	}
	_ = r.Destroy(ctx, b)
	if _, ok := r.prio.live["ws-prio-2"]; ok {
		t.Fatal("a destroyed seat is still weighted as starting")
	}
}
