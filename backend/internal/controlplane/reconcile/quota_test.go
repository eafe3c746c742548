package reconcile_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/gce/gcename"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// A workshop of 30 seats at 10 per host needs 3 hosts of n2-standard-4;
// the region's CPUS quota is 8, enough for 2. The provisioner reads the
// quota before asking: hosts 1 and 2 are created and serve their seats,
// host 3 is never inserted and its record says why (failed, "region CPU
// quota"), as the hosts' states the API and the class view show do; the
// workshop runs. Once the quota is raised, the next pass creates host 3.
func TestMultiHostPartialQuota(t *testing.T) {
	t.Parallel()
	st := openStore(t, "sqlite")
	c := newCloud(t, nil)
	c.fake.SetRegionQuota("us-central1", "CPUS", 8, 0)
	clk := newClock()
	r, _ := c.newReconciler(st, clk, "replica-a", nil)
	w := newWorkshop(t, st, 30, func(w *store.Workshop) { w.SeatsPerHost = 10 })
	name := gcename.InstancePrefix + w.ID

	pass(t, r)
	wantStatus(t, st, w.ID, store.StatusRunning)
	if got := c.vms(); !slices.Equal(got, []string{name, name + "-2"}) {
		t.Fatalf("VMs = %v, want hosts 1 and 2 only", got)
	}
	for _, in := range c.fake.InsertRequests() {
		if in.Name == name+"-3" {
			t.Fatal("host 3 was asked for beyond the region's CPU quota")
		}
	}
	got := hostStateLines(t, st, w.ID)
	if len(got) != 3 || got[0] != "1 ready 1-10" || got[1] != "2 ready 11-20" ||
		!strings.HasPrefix(got[2], "3 failed 21-30 create VM "+name+"-3: region CPU quota: the host needs 4 vCPUs (n2-standard-4) but us-central1 has 8 of its 8 CPUS") {
		t.Fatalf("host states:\n%s", strings.Join(got, "\n"))
	}

	c.fake.SetRegionQuota("us-central1", "CPUS", 12, 0)
	clk.Advance(time.Minute)
	pass(t, r)
	if got := hostStateLines(t, st, w.ID); len(got) != 3 || got[2] != "3 ready 21-30" {
		t.Fatalf("host states after the quota was raised:\n%s", strings.Join(got, "\n"))
	}
}

// hostStateLines are the workshop's hosts as store.HostStates (what the API
// and the class view show) gives them: "number state first-last reason".
func hostStateLines(t *testing.T, st store.Store, id string) []string {
	t.Helper()
	ctx := context.Background()
	w, err := st.GetWorkshop(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := st.ListWorkshopHosts(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range store.HostStates(w, rows, nil) {
		out = append(out, strings.TrimSpace(fmt.Sprintf("%d %s %d-%d %s", h.Number, h.State, h.FirstSeat, h.LastSeat, h.Reason)))
	}
	return out
}
