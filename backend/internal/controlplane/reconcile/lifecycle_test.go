package reconcile_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/gce/gcename"
	"github.com/clarateach/backend/internal/controlplane/provision/gcevm"
	"github.com/clarateach/backend/internal/controlplane/reconcile"
	"github.com/clarateach/backend/internal/controlplane/store"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{
		{0, 10 * time.Second}, {1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second},
		{4, 80 * time.Second}, {5, 160 * time.Second}, {6, 5 * time.Minute}, {7, 5 * time.Minute}, {100, 5 * time.Minute},
	} {
		if got := reconcile.Backoff(tc.n); got != tc.want {
			t.Errorf("Backoff(%d) = %s, want %s", tc.n, got, tc.want)
		}
	}
}

// TestLifecycle drives one workshop created → provisioning → running →
// stopping → stopped → running → deleted on the real gcp provisioner against
// the fake Compute server, with real agents on the fake VMs, and checks the
// step timings and events the instructor sees.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			st := openStore(t, engine)
			c := newCloud(t, nil)
			clk := newClock()
			// Creating the VM "takes" 45 s of fake time, the first time only.
			var created bool
			gp := &gatedProvisioner{Provisioner: c.prov, onCall: func() {
				if !created {
					created = true
					clk.Advance(45 * time.Second)
				}
			}}
			r, reg := c.newReconciler(st, clk, "replica-a", func(cfg *reconcile.Config) { cfg.Provisioner = gp })
			ctx := context.Background()
			w := newWorkshop(t, st, 2, nil)
			start := clk.Now()

			// Pass 1: the VM exists but its agent is still booting.
			c.breakWorkshop(w.ID, true)
			pass(t, r)
			got := wantStatus(t, st, w.ID, store.StatusProvisioning)
			if got.Step != reconcile.StepWaitAgent {
				t.Fatalf("step = %q, want %s", got.Step, reconcile.StepWaitAgent)
			}
			// A pass while it still boots changes nothing but the wait.
			clk.Advance(10 * time.Second)
			pass(t, r)
			wantStatus(t, st, w.ID, store.StatusProvisioning)

			// Pass 3: the agent answers 30 s after the wait began.
			clk.Advance(20 * time.Second)
			c.breakWorkshop(w.ID, false)
			pass(t, r)
			got = wantStatus(t, st, w.ID, store.StatusRunning)
			if got.Step != "" || got.StatusReason != "" || got.Attempts != 0 || got.NextAttemptAt != nil {
				t.Errorf("running workshop: step %q reason %q attempts %d next %v", got.Step, got.StatusReason, got.Attempts, got.NextAttemptAt)
			}
			in := c.vm(w.ID)
			if in == nil || in.Name != "clarateach-fc-ws-"+w.ID {
				t.Fatalf("VM = %v", c.vms())
			}
			if want := "https://" + natIP(in) + ":9090"; got.AgentURL != want {
				t.Errorf("agent URL = %q, want %q", got.AgentURL, want)
			}
			if got.AgentCert == "" || got.AgentCert != vmMeta(in)[gcevm.MetaAgentTLSCert] {
				t.Error("the workshop does not pin its VM's TLS certificate")
			}
			if s := c.seats(w.ID); !slices.Equal(s, []string{w.ID + "/1:running", w.ID + "/2:running"}) {
				t.Errorf("seats on the VM's agent = %v", s)
			}

			// Steps with their timings.
			vm, err := st.GetWorkshopVM(ctx, w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if vm.Name != in.Name || vm.Zone != zone || vm.IP != natIP(in) || vm.Status != "running" || vm.AgentURL != got.AgentURL {
				t.Errorf("workshop_vms = %+v", vm)
			}
			type step struct {
				name   reconcile.Step
				status store.StepStatus
				took   time.Duration
			}
			var steps []step
			for _, s := range vm.Steps {
				if s.FinishedAt == nil {
					t.Errorf("step %s has no finish time", s.Name)
					continue
				}
				steps = append(steps, step{s.Name, s.Status, s.FinishedAt.Sub(s.StartedAt)})
			}
			want := []step{
				{reconcile.StepCreateHost, "done", 45 * time.Second},
				{reconcile.StepWaitAgent, "done", 30 * time.Second},
				{reconcile.StepCreateSeats, "done", 0},
			}
			if !slices.Equal(steps, want) {
				t.Errorf("steps = %+v\nwant    %+v", steps, want)
			}
			if !vm.Steps[0].StartedAt.Equal(start) {
				t.Errorf("first step started at %s, want %s", vm.Steps[0].StartedAt, start)
			}
			evs := events(t, st, w.ID)
			for _, e := range []string{
				"info create_host: Creating the workshop machine…",
				"info create_host: Creating the workshop machine done in 45s",
				"info wait_agent: Waiting for the machine's agent done in 30s",
				"info create_seats: Preparing the seats done in 0s",
				"running: 2 seats ready in 1m15s",
			} {
				if !hasEvent(evs, e) {
					t.Errorf("no event %q in\n%q", e, evs)
				}
			}
			if n := countEvents(evs, "Creating the workshop machine…"); n != 1 {
				t.Errorf("%d 'creating' events for one creation, want 1:\n%q", n, evs)
			}
			if n := metric(t, reg, "clarateach_workshop_provision_seconds"); n != 1 {
				t.Errorf("provision histogram has %v samples, want 1", n)
			}
			if v := metric(t, reg, "clarateach_workshop_agent_up"); v != 1 {
				t.Errorf("agent_up = %v", v)
			}

			// A running workshop is watched and left alone.
			clk.Advance(time.Minute)
			pass(t, r)
			wantStatus(t, st, w.ID, store.StatusRunning)

			// Stop: the VM goes, its record too.
			update(t, st, w.ID, func(w *store.Workshop) { w.DesiredState = store.DesiredStopped })
			pass(t, r)
			got = wantStatus(t, st, w.ID, store.StatusStopped)
			if got.AgentURL != "" || got.Step != "" {
				t.Errorf("stopped workshop keeps agent URL %q step %q", got.AgentURL, got.Step)
			}
			if vms := c.vms(); len(vms) != 0 {
				t.Errorf("VMs after stop: %v", vms)
			}
			if _, err := st.GetWorkshopVM(ctx, w.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("workshop_vms after stop: %v", err)
			}
			evs = events(t, st, w.ID)
			for _, e := range []string{"info delete_host: Removing the workshop machine…", "Removing the workshop machine done in", "the workshop is stopped"} {
				if !hasEvent(evs, e) {
					t.Errorf("no event %q in\n%q", e, evs)
				}
			}
			pass(t, r) // stopped stays stopped
			wantStatus(t, st, w.ID, store.StatusStopped)

			// Start again, then delete.
			update(t, st, w.ID, func(w *store.Workshop) { w.DesiredState = store.DesiredRunning })
			pass(t, r)
			wantStatus(t, st, w.ID, store.StatusRunning)
			update(t, st, w.ID, func(w *store.Workshop) {
				w.DesiredState = store.DesiredDeleted
				now := clk.Now()
				w.DeletedAt = &now
			})
			pass(t, r)
			wantStatus(t, st, w.ID, store.StatusDeleted)
			if vms := c.vms(); len(vms) != 0 {
				t.Errorf("VMs after delete: %v", vms)
			}
			if n := c.inserts()[in.Name]; n != 2 {
				t.Errorf("%d inserts, want 2 (one per start)", n)
			}
			if v := metric(t, reg, "clarateach_reconcile_errors_total"); v != 0 {
				t.Errorf("errors_total = %v", v)
			}
		})
	}
}

func countEvents(evs []string, sub string) int {
	n := 0
	for _, e := range evs {
		if strings.Contains(e, sub) {
			n++
		}
	}
	return n
}

// TestPerWorkshopVMAndToken: each workshop gets its own VM with its own
// agent token (never a shared one), its own workspace-token key, and its
// seats on its own agent.
func TestPerWorkshopVMAndToken(t *testing.T) {
	t.Parallel()
	st := openStore(t, "sqlite")
	c := newCloud(t, func(cfg *gcevm.Config) { cfg.UseSpot = true })
	clk := newClock()
	r, _ := c.newReconciler(st, clk, "replica-a", nil)
	a := newWorkshop(t, st, 1, nil)
	b := newWorkshop(t, st, 2, nil)
	pass(t, r)
	wantStatus(t, st, a.ID, store.StatusRunning)
	wantStatus(t, st, b.ID, store.StatusRunning)

	tokens := map[string]bool{}
	for _, w := range []*store.Workshop{a, b} {
		w = get(t, st, w.ID)
		in := c.vm(w.ID)
		if in == nil {
			t.Fatalf("no VM for %s: %v", w.ID, c.vms())
		}
		meta := map[string]string{}
		for k, v := range in.MetadataValues() {
			meta[k] = v
		}
		if meta[gcevm.MetaAgentToken] == "" || meta[gcevm.MetaAgentToken] != w.AgentToken {
			t.Errorf("%s: VM agent-token does not match the workshop's stored token", w.ID)
		}
		tokens[meta[gcevm.MetaAgentToken]] = true
		if want := authtoken.WorkshopKeyHex([]byte(secret), w.ID); meta[gcevm.MetaWorkspaceKey] != want {
			t.Errorf("%s: workspace-key = %q, want the derived key", w.ID, meta[gcevm.MetaWorkspaceKey])
		}
		if meta[gcevm.MetaWorkshopID] != w.ID || meta[gcevm.MetaSeats] != strconv.Itoa(w.Seats) || meta[gcevm.MetaBackendURL] != "https://api.clarateach.test" {
			t.Errorf("%s: metadata %v", w.ID, meta)
		}
		for k, v := range map[string]string{gcename.LabelOwner: gcename.LabelOwnerValue, gcename.LabelWorkshop: w.ID} {
			if in.Labels[k] != v {
				t.Errorf("%s: label %s = %q, want %q", w.ID, k, in.Labels[k], v)
			}
		}
		if in.Scheduling == nil || in.Scheduling.ProvisioningModel != "SPOT" {
			t.Errorf("%s: not a Spot VM: %+v", w.ID, in.Scheduling)
		}
		if n := len(c.seats(w.ID)); n != w.Seats {
			t.Errorf("%s: %d seats on its agent, want %d", w.ID, n, w.Seats)
		}
	}
	if len(tokens) != 2 {
		t.Errorf("two workshops share an agent token")
	}
	c.checkNoLeak(t, st, a.ID, b.ID)
}
