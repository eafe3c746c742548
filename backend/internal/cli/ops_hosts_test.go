package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// `hosts list` shows each host of a 90-seat workshop at 30 per host: the
// two that run (name, seats, learners on them, zone, IP) and the third,
// refused for the region's CPU quota, with the reason; by ID or join
// code, as a table or JSON.
func TestHostsList(t *testing.T) {
	fx := setup(t, localMode)
	ctx := context.Background()
	now := time.Now().UTC()
	w := &store.Workshop{ID: "w-big", OwnerID: fx.owner, Name: "Big class", Code: "BIGCLS", Seats: 90, SeatsPerHost: 30,
		Provisioner: "gcp", Status: store.StatusRunning, DesiredState: store.DesiredRunning, CreatedAt: now, UpdatedAt: now}
	if err := fx.st.CreateWorkshop(ctx, w); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.st.UpdateWorkshop(ctx, w.ID, func(w *store.Workshop) error {
		w.Status, w.DesiredState = store.StatusRunning, store.DesiredRunning
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"a@example.com", "b@example.com"} {
		reg, _, err := fx.st.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: email, Email: email})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fx.st.AssignSeat(ctx, reg.ID); err != nil {
			t.Fatal(err)
		}
	}
	quota := "create VM clarateach-fc-ws-w-big-3: region CPU quota: the host needs 16 vCPUs (n2-standard-16) but us-central1 has 32 of its 32 CPUS in use or being created"
	for _, vm := range []*store.WorkshopVM{
		{WorkshopID: w.ID, HostIndex: 1, Name: "clarateach-fc-ws-w-big", Zone: "us-central1-b", IP: "10.0.0.1", Status: store.HostRunning},
		{WorkshopID: w.ID, HostIndex: 2, Name: "clarateach-fc-ws-w-big-2", Zone: "us-central1-b", IP: "10.0.0.2", Status: store.HostRunning},
		{WorkshopID: w.ID, HostIndex: 3, Name: "pending", Status: "failed",
			Steps: []store.Step{{Name: "create_host", Status: store.StepFailed, StartedAt: now, Error: quota}}},
	} {
		if err := fx.st.UpsertWorkshopVM(ctx, vm); err != nil {
			t.Fatal(err)
		}
	}

	out := mustRun(t, "hosts", "list", "w-big")
	for key, want := range map[string]string{
		"1": "1 clarateach-fc-ws-w-big ready 1-30 2 us-central1-b 10.0.0.1",
		"2": "2 clarateach-fc-ws-w-big-2 ready 31-60 0 us-central1-b 10.0.0.2",
		"3": "3 clarateach-fc-ws-w-big-3 failed 61-90 0 - - create VM",
	} {
		if got := strings.Join(rowOf(out, key), " "); !strings.HasPrefix(got, want) {
			t.Errorf("host %s: %q, want %q...\n%s", key, got, want, out)
		}
	}
	if !strings.Contains(out, "region CPU quota") || !strings.HasPrefix(out, "HOST") {
		t.Errorf("table:\n%s", out)
	}

	got := decode[struct {
		Workshop     string    `json:"workshop"`
		SeatsPerHost int       `json:"seats_per_host"`
		Hosts        []hostRow `json:"hosts"`
	}](t, mustRun(t, "hosts", "list", "BIGCLS", "--json"))
	if got.Workshop != "w-big" || got.SeatsPerHost != 30 || len(got.Hosts) != 3 || got.Hosts[2].State != "failed" ||
		got.Hosts[2].Reason != quota || got.Hosts[0].SeatsUsed != 2 || got.Hosts[2].Seats != 30 {
		t.Errorf("--json by join code: %+v", got)
	}

	if _, errOut, code := run(t, "hosts", "list", "--help"); code != 0 || !strings.Contains(errOut, "Usage: clarateach hosts list WORKSHOP") {
		t.Errorf("--help: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := run(t, "hosts", "list"); code != 1 || !strings.Contains(errOut, "missing WORKSHOP") {
		t.Errorf("no workshop: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := run(t, "hosts", "list", "nope"); code != 1 || !strings.Contains(errOut, `no workshop has the ID or join code "nope"`) {
		t.Errorf("unknown workshop: exit %d\n%s", code, errOut)
	}
}
