package reconcile_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/gce/gcename"
	"github.com/clarateach/backend/internal/controlplane/reconcile"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// hostSeats lists the seats on the live agent of one VM, by name.
func (c *cloud) hostSeats(name string) []int {
	c.t.Helper()
	in, ok := c.fake.Instance(project, zone, name)
	if !ok || in.Status != "RUNNING" {
		return nil
	}
	s, err := c.standinAt(natIP(in), "9090")
	if err != nil {
		c.t.Fatalf("agent of %s: %v", name, err)
	}
	list, err := agentclient.NewPinned(s.srv.URL, s.token, s.cert, nil).ListSeats(context.Background())
	if err != nil {
		c.t.Fatalf("list seats of %s: %v", name, err)
	}
	var out []int
	for _, st := range list {
		out = append(out, st.Seat)
	}
	sort.Ints(out)
	return out
}

func hostStatuses(t *testing.T, st store.Store, id string) []string {
	t.Helper()
	rows, err := st.ListWorkshopHosts(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range rows {
		out = append(out, fmt.Sprintf("%d:%s", h.HostIndex, h.Status))
	}
	return out
}

// A workshop of 5 seats at 2 per host runs on 3 VMs (the seed's name, -2,
// -3), each with its own token and certificate, each holding only its
// seats. When host 2 is lost and the region's CPU quota leaves no room to
// recreate it, the workshop keeps running on hosts 1 and 3, host 2's
// record and the events say why, and once quota is there the next pass
// repairs host 2 alone. Shrinking to 2 seats drains the empty hosts.
func TestMultiHost(t *testing.T) {
	t.Parallel()
	st := openStore(t, "sqlite")
	c := newCloud(t, nil)
	clk := newClock()
	r, _ := c.newReconciler(st, clk, "replica-a", nil)
	w := newWorkshop(t, st, 5, func(w *store.Workshop) { w.SeatsPerHost = 2 })
	name := gcename.InstancePrefix + w.ID

	pass(t, r)
	wantStatus(t, st, w.ID, store.StatusRunning)
	if got, want := c.vms(), []string{name, name + "-2", name + "-3"}; !slices.Equal(got, want) {
		t.Fatalf("VMs = %v, want %v", got, want)
	}
	if got := hostStatuses(t, st, w.ID); !slices.Equal(got, []string{"1:running", "2:running", "3:running"}) {
		t.Fatalf("hosts = %v", got)
	}
	for vm, want := range map[string][]int{name: {1, 2}, name + "-2": {3, 4}, name + "-3": {5}} {
		if got := c.hostSeats(vm); !slices.Equal(got, want) {
			t.Errorf("seats on %s = %v, want %v", vm, got, want)
		}
	}
	tokens := map[string]bool{}
	for _, in := range c.fake.Instances() {
		tokens[vmMeta(in)["agent-token"]] = true
	}
	if len(tokens) != 3 {
		t.Errorf("the 3 hosts have %d distinct agent tokens", len(tokens))
	}

	// Host 2 disappears, and the region has no CPU left for it.
	c.fake.DeleteInstance(project, zone, name+"-2")
	c.fake.SetRegionQuota("us-central1", "CPUS", 8, 0) // hosts 1 and 3 (n2-standard-4) use 4 each
	clk.Advance(time.Minute)
	pass(t, r)
	wantStatus(t, st, w.ID, store.StatusRunning)
	if got := hostStatuses(t, st, w.ID); !slices.Equal(got, []string{"1:running", "2:failed", "3:running"}) {
		t.Fatalf("hosts after losing host 2 without quota = %v", got)
	}
	if evs := events(t, st, w.ID); !hasEvent(evs, "host 2 (seats 3-4) is not ready") || !hasEvent(evs, "region CPU quota") {
		t.Errorf("no event names host 2 and the quota:\n%s", strings.Join(evs, "\n"))
	}
	if got := c.hostSeats(name); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("host 1 lost its seats: %v", got)
	}

	// Quota again: the next pass repairs host 2 only.
	c.fake.SetRegionQuota("us-central1", "CPUS", 100, 0)
	clk.Advance(time.Minute)
	pass(t, r)
	if got := hostStatuses(t, st, w.ID); !slices.Equal(got, []string{"1:running", "2:running", "3:running"}) {
		t.Fatalf("hosts after the repair = %v", got)
	}
	if got := c.hostSeats(name + "-2"); !slices.Equal(got, []int{3, 4}) {
		t.Errorf("seats on the repaired host 2 = %v", got)
	}
	if n := c.inserts(); n[name] != 1 || n[name+"-3"] != 1 {
		t.Errorf("hosts 1 and 3 were recreated: inserts %v", n)
	}

	// Shrink to 2 seats (no learner holds a seat): hosts 2 and 3 go.
	update(t, st, w.ID, func(w *store.Workshop) { w.Seats = 2 })
	clk.Advance(time.Minute)
	pass(t, r)
	if got := c.vms(); !slices.Equal(got, []string{name}) {
		t.Errorf("VMs after shrinking = %v, want only host 1", got)
	}
	if got := hostStatuses(t, st, w.ID); !slices.Equal(got, []string{"1:running"}) {
		t.Errorf("hosts after shrinking = %v", got)
	}

	// Deleting the workshop removes every host.
	update(t, st, w.ID, func(w *store.Workshop) { w.DesiredState = store.DesiredDeleted })
	pass(t, r)
	wantStatus(t, st, w.ID, store.StatusDeleted)
	if got := c.vms(); len(got) != 0 {
		t.Errorf("VMs after delete = %v", got)
	}
	_ = reconcile.StepCreateHost
}

// A host past the first that stops (a preempted Spot VM) is started again
// by the next pass, each time it stops, with its seats and without being
// recreated, and the workshop's events say so each time, as they do for
// host 1; the workshop keeps running on its other hosts.
func TestMultiHostStoppedHostIsStartedAgain(t *testing.T) {
	t.Parallel()
	st := openStore(t, "sqlite")
	c := newCloud(t, nil)
	clk := newClock()
	r, _ := c.newReconciler(st, clk, "replica-a", nil)
	w := newWorkshop(t, st, 5, func(w *store.Workshop) { w.SeatsPerHost = 2 })
	name := gcename.InstancePrefix + w.ID
	pass(t, r)
	if got := hostStatuses(t, st, w.ID); !slices.Equal(got, []string{"1:running", "2:running", "3:running"}) {
		t.Fatalf("hosts = %v", got)
	}
	for round := 1; round <= 2; round++ {
		if !c.fake.Preempt(project, zone, name+"-2") {
			t.Fatal("no host 2 to preempt")
		}
		clk.Advance(time.Minute)
		pass(t, r)
		wantStatus(t, st, w.ID, store.StatusRunning)
		if got := hostStatuses(t, st, w.ID); !slices.Equal(got, []string{"1:running", "2:running", "3:running"}) {
			t.Fatalf("stop %d: hosts after the pass = %v", round, got)
		}
		if got := c.hostSeats(name + "-2"); !slices.Equal(got, []int{3, 4}) {
			t.Fatalf("stop %d: seats on host 2 = %v", round, got)
		}
		evs := events(t, st, w.ID)
		n := 0
		for _, e := range evs {
			if strings.Contains(e, "host 2 (seats 3-4) was stopped (TERMINATED); it was started again") {
				n++
			}
		}
		if n != round {
			t.Fatalf("stop %d: %d events tell host 2 was started again, want %d:\n%s", round, n, round, strings.Join(evs, "\n"))
		}
	}
	if n := c.inserts(); n[name+"-2"] != 1 {
		t.Errorf("host 2 was recreated instead of started: inserts %v", n)
	}
}
