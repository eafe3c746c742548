package reconcile_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/gce/gcename"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// hostSeatPID is the PID of a seat on the live agent of one VM, by name.
func (c *cloud) hostSeatPID(name string, seat int) int {
	c.t.Helper()
	in, ok := c.fake.Instance(project, zone, name)
	if !ok {
		c.t.Fatalf("no VM %s", name)
	}
	s, err := c.standinAt(natIP(in), "9090")
	if err != nil {
		c.t.Fatalf("agent of %s: %v", name, err)
	}
	got, err := agentclient.NewPinned(s.srv.URL, s.token, s.cert, nil).GetSeat(context.Background(), s.ws, seat)
	if err != nil {
		c.t.Fatalf("seat %d on %s: %v", seat, name, err)
	}
	return got.PID
}

// A learner revoked on host 2 of a multi-host workshop: the revoke (old
// tokens refused, the seat reset for its next learner) goes to host 2's
// agent, which holds the seat, and host 1 is left alone. It went to host
// 1, which has no seat 3, so the revoke never took effect.
func TestRevokeOnSecondHost(t *testing.T) {
	t.Parallel()
	st := openStore(t, "sqlite")
	c := newCloud(t, nil)
	clk := newClock()
	r, _ := c.newReconciler(st, clk, "replica-a", nil)
	w := newWorkshop(t, st, 4, func(w *store.Workshop) { w.SeatsPerHost = 2 })
	name := gcename.InstancePrefix + w.ID
	pass(t, r)
	wantStatus(t, st, w.ID, store.StatusRunning)
	ctx := context.Background()

	var reg *store.Registration
	seat := 0
	for i := 1; i <= 3; i++ {
		reg, seat = seatLearner(t, st, w.ID, fmt.Sprintf("learner%d@example.com", i))
	}
	if seat != 3 {
		t.Fatalf("the third learner has seat %d, want 3", seat)
	}
	before := c.hostSeatPID(name+"-2", 3)

	p, err := st.RevokeRegistration(ctx, w.ID, reg.ID)
	if err != nil || p == nil {
		t.Fatalf("revoke: %v, %v", p, err)
	}
	ws, err := st.GetWorkshop(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ApplyRevoke(ctx, ws, *p); err != nil {
		t.Fatalf("apply the revoke of seat 3 (host 2): %v", err)
	}
	if pending, err := st.ListPendingRevokes(ctx, w.ID); err != nil || len(pending) != 0 {
		t.Fatalf("pending revokes after applying = %+v, %v", pending, err)
	}
	if after := c.hostSeatPID(name+"-2", 3); after == before {
		t.Errorf("seat 3 on host 2 was not reset (same process %d)", after)
	}
	if got := c.hostSeats(name); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("seats on host 1 = %v, want [1 2]", got)
	}
}

// Garbage collection covers every host of a multi-host workshop and knows
// which host each seat belongs on: a seat on the wrong host (as the old
// revoke left on host 1) is deleted, and so is one on host 2, which the
// collector once never listed.
func TestGCSeatsOnEveryHost(t *testing.T) {
	t.Parallel()
	st := openStore(t, "sqlite")
	c := newCloud(t, nil)
	r, _ := c.newReconciler(st, newClock(), "replica-a", nil)
	w := newWorkshop(t, st, 4, func(w *store.Workshop) { w.SeatsPerHost = 2 })
	name := gcename.InstancePrefix + w.ID
	pass(t, r)
	wantStatus(t, st, w.ID, store.StatusRunning)
	if h1, h2 := c.hostSeats(name), c.hostSeats(name+"-2"); !slices.Equal(h1, []int{1, 2}) || !slices.Equal(h2, []int{3, 4}) {
		t.Fatalf("seats before: host 1 %v, host 2 %v", h1, h2)
	}
	ctx := context.Background()
	for vm, seat := range map[string]int{name: 3, name + "-2": 1} {
		in, _ := c.fake.Instance(project, zone, vm)
		s, err := c.standinAt(natIP(in), "9090")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := agentclient.NewPinned(s.srv.URL, s.token, s.cert, nil).CreateSeat(ctx, w.ID, seat, agentclient.SeatOptions{}); err != nil {
			t.Fatalf("stray seat %d on %s: %v", seat, vm, err)
		}
	}
	if _, err := r.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.hostSeats(name); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("seats on host 1 after GC = %v, want [1 2]", got)
	}
	if got := c.hostSeats(name + "-2"); !slices.Equal(got, []int{3, 4}) {
		t.Errorf("seats on host 2 after GC = %v, want [3 4]", got)
	}
}
