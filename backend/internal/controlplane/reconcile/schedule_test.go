package reconcile_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/gce/gcename"
	"github.com/clarateach/backend/internal/controlplane/gce/gcetest"
	"github.com/clarateach/backend/internal/controlplane/reconcile"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// TestTwoReplicas runs two reconcilers (two holders, each with its own
// Compute clients) on one PostgreSQL database, passing concurrently many
// times over several workshops: every workshop's VM is inserted exactly once
// and all end running.
func TestTwoReplicas(t *testing.T) {
	t.Parallel()
	st := openStore(t, "postgres")
	c := newCloud(t, nil)
	clk := newClock()
	a, _ := c.newReconciler(st, clk, "replica-a", nil)
	b, _ := c.newReconciler(st, clk, "replica-b", func(cfg *reconcile.Config) { cfg.Provisioner = c.newProvisioner(nil) })
	const n = 5
	var ids []string
	for i := 0; i < n; i++ {
		ids = append(ids, newWorkshop(t, st, 1, nil).ID)
	}
	allRunning := func() bool {
		for _, id := range ids {
			if get(t, st, id).Status != store.StatusRunning {
				return false
			}
		}
		return true
	}
	rounds := 0
	for deadline := time.Now().Add(20 * time.Second); rounds < 10 || !allRunning(); rounds++ {
		if time.Now().After(deadline) {
			t.Fatalf("not all running after %d rounds", rounds)
		}
		var wg sync.WaitGroup
		for _, r := range []*reconcile.Reconciler{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := r.RunOnce(context.Background()); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		clk.Advance(20 * time.Second) // watches run too
	}
	ins := c.inserts()
	if len(ins) != n {
		t.Errorf("inserted VMs = %v, want %d", ins, n)
	}
	for _, id := range ids {
		if got := ins[gcename.InstancePrefix+id]; got != 1 {
			t.Errorf("%s inserted %d times, want once", id, got)
		}
		if s := c.seats(id); len(s) != 1 {
			t.Errorf("%s: seats %v", id, s)
		}
	}
	c.checkNoLeak(t, st, ids...)
}

// TestSchedule: a workshop with starts_at is provisioned ProvisionAhead
// before it, not earlier, and torn down at ends_at unless extended.
func TestSchedule(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		for _, extend := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/extended=%v", engine, extend), func(t *testing.T) {
				t.Parallel()
				st := openStore(t, engine)
				c := newCloud(t, nil)
				clk := newClock()
				r, _ := c.newReconciler(st, clk, "replica-a", func(cfg *reconcile.Config) { cfg.ProvisionAhead = 10 * time.Minute })
				startsAt, endsAt := clk.Now().Add(time.Hour), clk.Now().Add(3*time.Hour)
				w := newWorkshop(t, st, 2, func(w *store.Workshop) { w.StartsAt, w.EndsAt = &startsAt, &endsAt })
				name := gcename.InstancePrefix + w.ID

				pass(t, r)
				wantStatus(t, st, w.ID, store.StatusCreated)
				clk.Advance(50*time.Minute - time.Second) // 10m01s before the start
				pass(t, r)
				wantStatus(t, st, w.ID, store.StatusCreated)
				if n := c.inserts()[name]; n != 0 {
					t.Fatalf("VM inserted %d times before starts_at - ProvisionAhead", n)
				}
				clk.Advance(time.Second)
				pass(t, r)
				wantStatus(t, st, w.ID, store.StatusRunning)

				if extend {
					later := endsAt.Add(time.Hour)
					update(t, st, w.ID, func(w *store.Workshop) { w.EndsAt = &later })
				}
				clk.Advance(endsAt.Sub(clk.Now()) - time.Second)
				pass(t, r)
				wantStatus(t, st, w.ID, store.StatusRunning)
				clk.Advance(time.Second) // ends_at
				pass(t, r)
				if extend {
					wantStatus(t, st, w.ID, store.StatusRunning)
					clk.Advance(time.Hour) // the new end
					pass(t, r)
				}
				got := wantStatus(t, st, w.ID, store.StatusStopped)
				if got.DesiredState != store.DesiredStopped {
					t.Errorf("desired state after the end = %s", got.DesiredState)
				}
				if !hasEvent(events(t, st, w.ID), "the workshop reached its end time; tearing it down") {
					t.Errorf("no end-time event: %q", events(t, st, w.ID))
				}
				c.checkNoLeak(t, st, w.ID)
				if n := c.inserts()[name]; n != 1 {
					t.Errorf("%d inserts, want 1", n)
				}
			})
		}
	}
}

// TestGarbageCollection: VMs labelled as ClaraTeach hosts with no live
// workshop are deleted and counted in clarateach_orphaned_vms; other VMs are
// left alone; seats on a live agent that belong to no live workshop seat are
// deleted.
func TestGarbageCollection(t *testing.T) {
	t.Parallel()
	st := openStore(t, "sqlite")
	c := newCloud(t, nil)
	clk := newClock()
	r, reg := c.newReconciler(st, clk, "replica-a", nil)
	ctx := context.Background()

	live := newWorkshop(t, st, 1, nil)
	stopped := newWorkshop(t, st, 1, func(w *store.Workshop) { w.DesiredState, w.Status = store.DesiredStopped, store.StatusStopped })
	deleted := newWorkshop(t, st, 1, func(w *store.Workshop) { w.DesiredState, w.Status = store.DesiredDeleted, store.StatusDeleted })
	pass(t, r)
	wantStatus(t, st, live.ID, store.StatusRunning)

	hostVM := func(ws string) *gcetest.Instance {
		return &gcetest.Instance{
			Name:   gcename.InstancePrefix + ws,
			Labels: map[string]string{gcename.LabelOwner: gcename.LabelOwnerValue, gcename.LabelWorkshop: ws},
		}
	}
	c.fake.AddInstance(project, zone, hostVM(stopped.ID))
	c.fake.AddInstance(project, zone, hostVM(deleted.ID))
	c.fake.AddInstance(project, zone, hostVM("nosuchworkshop"))
	c.fake.AddInstance(project, zone, &gcetest.Instance{Name: "someone-elses-vm"})

	// Seats on the live workshop's agent: its own, one beyond its seat
	// count, and one of a workshop that no longer exists.
	w := get(t, st, live.ID)
	ac := agentclient.Connect(agentclient.Endpoint{URL: w.AgentURL, Token: w.AgentToken, CertPEM: w.AgentCert}, c.tr, 0)
	for _, s := range []struct {
		ws   string
		seat int
	}{{live.ID, 2}, {"ghostworkshop", 1}} {
		if _, _, err := ac.CreateSeat(ctx, s.ws, s.seat, agentclient.SeatOptions{}); err != nil {
			t.Fatalf("create seat %s/%d: %v", s.ws, s.seat, err)
		}
	}

	n, err := r.GC(ctx)
	if err != nil {
		t.Fatalf("GC: %v", err)
	}
	if n != 3 {
		t.Errorf("GC found %d orphans, want 3", n)
	}
	if v := metric(t, reg, "clarateach_orphaned_vms"); v != 3 {
		t.Errorf("clarateach_orphaned_vms = %v, want 3", v)
	}
	vms := c.vms()
	sort.Strings(vms)
	if want := []string{gcename.InstancePrefix + live.ID, "someone-elses-vm"}; fmt.Sprint(vms) != fmt.Sprint(want) {
		t.Errorf("VMs after GC = %v, want %v", vms, want)
	}
	if s := c.seats(live.ID); fmt.Sprint(s) != fmt.Sprint([]string{live.ID + "/1:running"}) {
		t.Errorf("seats after GC = %v, want only %s/1", s, live.ID)
	}
	wantStatus(t, st, live.ID, store.StatusRunning)

	// Nothing left to collect.
	n, err = r.GC(ctx)
	if err != nil || n != 0 {
		t.Errorf("second GC = %d, %v", n, err)
	}
	if v := metric(t, reg, "clarateach_orphaned_vms"); v != 0 {
		t.Errorf("clarateach_orphaned_vms = %v after a clean GC", v)
	}
}

// TestRunLoop: the background loop makes a pass at once, and a Kick makes
// another without waiting for the interval.
func TestRunLoop(t *testing.T) {
	t.Parallel()
	st := openStore(t, "sqlite")
	c := newCloud(t, nil)
	clk := newClock()
	r, _ := c.newReconciler(st, clk, "replica-a", nil)
	w := newWorkshop(t, st, 1, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx, time.Hour)
	}()
	defer func() {
		cancel()
		<-done
	}()
	eventually(t, 10*time.Second, "the first pass to start the workshop", func() bool {
		return get(t, st, w.ID).Status == store.StatusRunning
	})
	update(t, st, w.ID, func(w *store.Workshop) { w.DesiredState = store.DesiredStopped })
	r.Kick(w.ID)
	eventually(t, 10*time.Second, "the kicked pass to stop it", func() bool {
		return get(t, st, w.ID).Status == store.StatusStopped
	})
	c.checkNoLeak(t, st, w.ID)
}
