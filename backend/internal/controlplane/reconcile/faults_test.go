package reconcile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/gce/gcename"
	"github.com/clarateach/backend/internal/controlplane/gce/gcetest"
	"github.com/clarateach/backend/internal/controlplane/provision/gcevm"
	"github.com/clarateach/backend/internal/controlplane/reconcile"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// TestProvisionerErrors: a failing insert puts the workshop in error with
// GCP's own reason, retries with backoff up to MaxAttempts, then waits for
// the instructor's retry, which recovers once the cloud does. Nothing is
// left behind in the cloud meanwhile.
func TestProvisionerErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		inject func(f *gcetest.Compute)
		reason string
		heal   func(f *gcetest.Compute)
	}{
		{
			name: "quota exceeded on insert",
			inject: func(f *gcetest.Compute) {
				q := gcetest.QuotaExceeded("us-central1", 24)
				q.Times = -1
				f.Inject(q)
			},
			reason: "Creating the workshop machine: create VM clarateach-fc-ws-",
			heal:   func(f *gcetest.Compute) { f.ClearFaults() },
		},
		{
			// The provisioner reads the region's quota before asking
			// (TestMultiHostPartialQuota); here it cannot, so GCE's own
			// answer is what the workshop shows.
			name: "quota exceeded by the insert operation",
			inject: func(f *gcetest.Compute) {
				f.SetRegionQuota("us-central1", "CPUS", 2, 0)
				f.Inject(gcetest.Fault{Method: "regions.get", Times: -1, Code: 403, Reason: "forbidden", Message: "Required 'compute.regions.get' permission"})
			},
			reason: "QUOTA_EXCEEDED: Quota 'CPUS' exceeded.  Limit: 2.0 in region us-central1.",
			heal: func(f *gcetest.Compute) {
				f.ClearFaults()
				f.SetRegionQuota("us-central1", "CPUS", 96, 0)
			},
		},
		{
			name: "zone stockout",
			inject: func(f *gcetest.Compute) {
				s := gcetest.Stockout(zone)
				s.Times = -1
				f.Inject(s)
			},
			reason: "ZONE_RESOURCE_POOL_EXHAUSTED",
			heal:   func(f *gcetest.Compute) { f.ClearFaults() },
		},
	}
	for _, tc := range tests {
		for _, engine := range engines {
			t.Run(tc.name+"/"+engine, func(t *testing.T) {
				t.Parallel()
				st := openStore(t, engine)
				c := newCloud(t, nil)
				clk := newClock()
				r, reg := c.newReconciler(st, clk, "replica-a", nil) // MaxAttempts 3
				w := newWorkshop(t, st, 1, nil)
				name := gcename.InstancePrefix + w.ID
				tc.inject(c.fake)

				for attempt := 1; attempt <= 3; attempt++ {
					pass(t, r)
					got := wantStatus(t, st, w.ID, store.StatusError)
					if !strings.Contains(got.StatusReason, tc.reason) {
						t.Fatalf("reason %q does not contain %q", got.StatusReason, tc.reason)
					}
					if got.Attempts != attempt {
						t.Fatalf("attempts = %d, want %d", got.Attempts, attempt)
					}
					if want := clk.Now().Add(reconcile.Backoff(attempt)); got.NextAttemptAt == nil || !got.NextAttemptAt.Equal(want) {
						t.Fatalf("next attempt at %v, want %s", got.NextAttemptAt, want)
					}
					if n := c.inserts()[name]; n != attempt {
						t.Fatalf("%d inserts after attempt %d", n, attempt)
					}
					// Before the backoff has passed nothing is tried.
					clk.Advance(reconcile.Backoff(attempt) - time.Second)
					pass(t, r)
					if n := c.inserts()[name]; n != attempt {
						t.Fatalf("insert retried during the backoff (%d inserts)", n)
					}
					clk.Advance(time.Second)
					c.checkNoLeak(t, st, w.ID)
				}
				// No more automatic retries.
				clk.Advance(time.Hour)
				pass(t, r)
				got := wantStatus(t, st, w.ID, store.StatusError)
				if n := c.inserts()[name]; n != 3 {
					t.Fatalf("%d inserts after MaxAttempts, want 3", n)
				}
				if !hasEvent(events(t, st, w.ID), "(no more automatic retries; use Retry)") {
					t.Errorf("no 'use Retry' event: %q", events(t, st, w.ID))
				}
				if got.Step != reconcile.StepCreateHost {
					t.Errorf("failed step = %q", got.Step)
				}
				if v := metric(t, reg, "clarateach_reconcile_errors_total"); v != 3 {
					t.Errorf("errors_total = %v, want 3", v)
				}
				c.checkNoLeak(t, st, w.ID)

				// The instructor retries once the cloud has capacity.
				tc.heal(c.fake)
				retry(t, st, w.ID)
				pass(t, r)
				wantStatus(t, st, w.ID, store.StatusRunning)
				if n := c.inserts()[name]; n != 4 {
					t.Errorf("%d inserts, want 4", n)
				}
				if n := len(c.seats(w.ID)); n != 1 {
					t.Errorf("%d seats", n)
				}
				c.checkNoLeak(t, st, w.ID)
			})
		}
	}
}

// TestSeatCreationFails: an agent that refuses a seat fails the step with
// the agent's reason; the automatic retry reuses the same VM.
func TestSeatCreationFails(t *testing.T) {
	t.Parallel()
	st := openStore(t, "sqlite")
	c := newCloud(t, nil)
	clk := newClock()
	r, _ := c.newReconciler(st, clk, "replica-a", nil)
	w := newWorkshop(t, st, 3, nil)
	c.setHook(func(ws string, req *http.Request) error {
		if req.Method == http.MethodPost && req.URL.Path == "/vms/" {
			body, _ := io.ReadAll(req.Body)
			req.Body = io.NopCloser(bytes.NewReader(body))
			var cr struct {
				Seat int `json:"seat_id"`
			}
			_ = json.Unmarshal(body, &cr)
			if cr.Seat == 2 {
				return errors.New("no room for seat 2")
			}
		}
		return nil
	})
	pass(t, r)
	got := wantStatus(t, st, w.ID, store.StatusError)
	if !strings.Contains(got.StatusReason, "Preparing the seats: 1 of 3 seats failed: seat 2: agent: HTTP 503") ||
		!strings.Contains(got.StatusReason, "no room for seat 2") {
		t.Errorf("reason = %q", got.StatusReason)
	}
	c.setHook(nil)
	clk.Advance(reconcile.Backoff(1))
	pass(t, r)
	wantStatus(t, st, w.ID, store.StatusRunning)
	if n := len(c.seats(w.ID)); n != 3 {
		t.Errorf("%d seats, want 3", n)
	}
	if n := c.inserts()[gcename.InstancePrefix+w.ID]; n != 1 {
		t.Errorf("%d inserts, want 1 (the VM is reused)", n)
	}
	c.checkNoLeak(t, st, w.ID)
}

// TestAgentNeverHealthy: a VM whose agent never answers fails the workshop
// after HealthTimeout (not before), is removed, and the retry gets a fresh
// VM.
func TestAgentNeverHealthy(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			st := openStore(t, engine)
			c := newCloud(t, nil)
			clk := newClock()
			r, _ := c.newReconciler(st, clk, "replica-a", func(cfg *reconcile.Config) { cfg.HealthTimeout = 10 * time.Minute })
			w := newWorkshop(t, st, 2, nil)
			c.breakWorkshop(w.ID, true)

			pass(t, r)
			wantStatus(t, st, w.ID, store.StatusProvisioning)
			for i := 0; i < 4; i++ { // still within the timeout
				clk.Advance(2*time.Minute + 29*time.Second)
				pass(t, r)
				if got := wantStatus(t, st, w.ID, store.StatusProvisioning); got.Step != reconcile.StepWaitAgent {
					t.Fatalf("step = %q", got.Step)
				}
			}
			clk.Advance(5 * time.Second) // 10m1s since the wait began
			pass(t, r)
			got := wantStatus(t, st, w.ID, store.StatusError)
			if !strings.Contains(got.StatusReason, "Waiting for the machine's agent: the agent at https://203.0.113.") ||
				!strings.Contains(got.StatusReason, "did not answer within 10m0s") {
				t.Errorf("reason = %q", got.StatusReason)
			}
			// The broken VM is gone, so nothing bills while in error.
			c.checkNoLeak(t, st, w.ID)
			vm, err := st.GetWorkshopVM(context.Background(), w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if last := vm.Steps[len(vm.Steps)-1]; last.Name != reconcile.StepWaitAgent || last.Status != "failed" || last.Error == "" {
				t.Errorf("last step = %+v", last)
			}

			// The automatic retry creates a fresh VM, whose agent answers.
			c.breakWorkshop(w.ID, false)
			clk.Advance(reconcile.Backoff(1))
			pass(t, r)
			wantStatus(t, st, w.ID, store.StatusRunning)
			if n := c.inserts()[gcename.InstancePrefix+w.ID]; n != 2 {
				t.Errorf("%d inserts, want 2", n)
			}
			if n := len(c.seats(w.ID)); n != 2 {
				t.Errorf("%d seats", n)
			}
			vm, _ = st.GetWorkshopVM(context.Background(), w.ID)
			if len(vm.Steps) != 3 {
				t.Errorf("the retry's steps = %+v, want a fresh list of 3", vm.Steps)
			}
			c.checkNoLeak(t, st, w.ID)
		})
	}
}

// TestRunningHostLost: a running workshop whose VM disappears, is
// preempted, or whose agent stops answering is detected by the watch, shown
// meanwhile, and recovered.
func TestRunningHostLost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		cfg         func(*gcevm.Config)
		fault       func(c *cloud, ws string)
		shown       string // status reason while recovering
		passes      int    // passes from the fault to running
		wantInserts int
		wantStarts  int
	}{
		{
			name:  "VM deleted behind our back",
			fault: func(c *cloud, ws string) { c.fake.DeleteInstance(project, zone, gcename.InstancePrefix+ws) },
			shown: "the workshop machine has disappeared", passes: 2, wantInserts: 2,
		},
		{
			name:  "Spot VM preempted (stopped)",
			cfg:   func(cfg *gcevm.Config) { cfg.UseSpot = true },
			fault: func(c *cloud, ws string) { c.fake.Preempt(project, zone, gcename.InstancePrefix+ws) },
			shown: "the workshop machine was stopped (TERMINATED; a Spot VM may have been preempted)", passes: 2,
			wantInserts: 1, wantStarts: 1, // the same VM, with its disk, is started again
		},
		{
			name:  "Spot VM preempted (deleted)",
			cfg:   func(cfg *gcevm.Config) { cfg.UseSpot = true; cfg.SpotTerminationAction = gcevm.TerminateDelete },
			fault: func(c *cloud, ws string) { c.fake.Preempt(project, zone, gcename.InstancePrefix+ws) },
			shown: "the workshop machine has disappeared", passes: 2, wantInserts: 2,
		},
		{
			name:  "agent stops answering on a running VM",
			fault: func(c *cloud, ws string) { c.breakAgent(ws) },
			shown: "the workshop machine's agent has not answered for 3m1s", passes: 3, wantInserts: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := openStore(t, "sqlite")
			c := newCloud(t, tc.cfg)
			clk := newClock()
			r, reg := c.newReconciler(st, clk, "replica-a", nil)
			w := newWorkshop(t, st, 2, nil)
			pass(t, r)
			wantStatus(t, st, w.ID, store.StatusRunning)
			pass(t, r) // watched: healthy
			before := c.vm(w.ID)

			tc.fault(c, w.ID)
			shown := false
			for i := 0; i < tc.passes; i++ {
				if i == 1 && tc.passes == 3 {
					// A first failed check only marks the agent unhealthy.
					got := wantStatus(t, st, w.ID, store.StatusRunning)
					if got.StatusReason != "the workshop machine's agent is not answering" {
						t.Errorf("reason while unhealthy = %q", got.StatusReason)
					}
					if v := metric(t, reg, "clarateach_workshop_agent_up"); v != 0 {
						t.Errorf("agent_up = %v while unhealthy", v)
					}
					clk.Advance(3*time.Minute + time.Second - 15*time.Second)
				}
				clk.Advance(15 * time.Second) // WatchEvery
				pass(t, r)
				if got := get(t, st, w.ID); got.Status == store.StatusProvisioning && got.StatusReason == tc.shown {
					shown = true
				}
			}
			if !shown {
				t.Errorf("the workshop never showed %q while recovering; events:\n%s", tc.shown, strings.Join(events(t, st, w.ID), "\n"))
			}
			wantStatus(t, st, w.ID, store.StatusRunning)
			if got := get(t, st, w.ID); got.StatusReason != "" {
				t.Errorf("reason after recovery = %q", got.StatusReason)
			}
			if n := c.inserts()[gcename.InstancePrefix+w.ID]; n != tc.wantInserts {
				t.Errorf("%d inserts, want %d", n, tc.wantInserts)
			}
			if n := c.fake.Calls("instances.start"); n != tc.wantStarts {
				t.Errorf("%d starts, want %d", n, tc.wantStarts)
			}
			after := c.vm(w.ID)
			if sameVM := after.ID == before.ID; sameVM != (tc.wantStarts > 0) {
				t.Errorf("VM id %d → %d", before.ID, after.ID)
			}
			if got := get(t, st, w.ID); got.AgentURL != "https://"+natIP(after)+":9090" {
				t.Errorf("agent URL %q, VM IP %s", got.AgentURL, natIP(after))
			}
			// The pin follows the host: a recreated VM's new certificate.
			if got := get(t, st, w.ID); got.AgentCert == "" || got.AgentCert != vmMeta(after)[gcevm.MetaAgentTLSCert] {
				t.Error("the workshop does not pin the certificate of its current VM")
			}
			if n := len(c.seats(w.ID)); n != 2 {
				t.Errorf("%d seats on the recovered agent, want 2", n)
			}
			c.checkNoLeak(t, st, w.ID)
		})
	}
}

// TestRestartMidStep kills the control plane in the middle of each step (it
// writes nothing more and never releases its lease) and starts a new one,
// with another holder name, on the same database: once the lease expires it
// finishes the work, with no VM leaked or inserted twice.
func TestRestartMidStep(t *testing.T) {
	t.Parallel()
	const ttl = 300 * time.Millisecond
	type env struct {
		c   *cloud
		gp  *gatedProvisioner
		ws  string
		mid func() // waits until the old replica is mid-step
		fix func() // after the kill: the cloud/agent behaves again
	}
	tests := []struct {
		name     string
		teardown bool
		arrange  func(t *testing.T, e *env)
	}{
		{
			name: "create_host, before the insert",
			arrange: func(t *testing.T, e *env) {
				e.gp.entered, e.gp.release = make(chan string, 1), make(chan struct{})
				e.mid = func() { <-e.gp.entered }
			},
		},
		{
			name: "create_host, insert operation running",
			arrange: func(t *testing.T, e *env) {
				release := e.c.fake.HoldOperations()
				e.mid = func() {
					eventually(t, 10*time.Second, "the insert's wait", func() bool { return e.c.fake.Calls("zoneOperations.wait") > 0 })
				}
				e.fix = func() {
					release()
					e.c.fake.CompleteOperations() // GCE finishes the insert on its own
				}
			},
		},
		{
			name: "wait_agent",
			arrange: func(t *testing.T, e *env) {
				in := make(chan struct{}, 1)
				e.c.setHook(func(ws string, r *http.Request) error {
					if r.URL.Path == "/health" {
						select {
						case in <- struct{}{}:
						default:
						}
						<-r.Context().Done()
						return r.Context().Err()
					}
					return nil
				})
				e.mid = func() { <-in }
				e.fix = func() { e.c.setHook(nil) }
			},
		},
		{
			name: "create_seats, one seat made",
			arrange: func(t *testing.T, e *env) {
				var n atomic.Int32
				in := make(chan struct{}, 1)
				e.c.setHook(func(ws string, r *http.Request) error {
					if r.Method == http.MethodPost && r.URL.Path == "/vms/" && n.Add(1) > 1 {
						select {
						case in <- struct{}{}:
						default:
						}
						<-r.Context().Done()
						return r.Context().Err()
					}
					return nil
				})
				e.mid = func() {
					<-in
					eventually(t, 10*time.Second, "seat 1 or 2 on the agent", func() bool { return len(e.c.seats(e.ws)) == 1 })
				}
				e.fix = func() { e.c.setHook(nil) }
			},
		},
		{
			name:     "delete_host, delete operation running",
			teardown: true,
			arrange: func(t *testing.T, e *env) {
				release := e.c.fake.HoldOperations()
				e.mid = func() {
					eventually(t, 10*time.Second, "the delete", func() bool { return e.c.fake.Calls("instances.delete") > 0 })
				}
				e.fix = release
			},
		},
	}
	for _, tc := range tests {
		for _, engine := range engines {
			t.Run(tc.name+"/"+engine, func(t *testing.T) {
				t.Parallel()
				st := openStore(t, engine)
				c := newCloud(t, nil)
				clk := newClock()
				w := newWorkshop(t, st, 2, nil)
				name := gcename.InstancePrefix + w.ID
				want := store.StatusRunning
				if tc.teardown {
					r0, _ := c.newReconciler(st, clk, "replica-0", nil)
					pass(t, r0)
					wantStatus(t, st, w.ID, store.StatusRunning)
					update(t, st, w.ID, func(w *store.Workshop) { w.DesiredState = store.DesiredStopped })
					want = store.StatusStopped
				}
				e := &env{c: c, gp: &gatedProvisioner{Provisioner: c.prov}, ws: w.ID}
				tc.arrange(t, e)

				ks := &killableStore{Store: st}
				a, _ := c.newReconciler(ks, clk, "replica-a", func(cfg *reconcile.Config) { cfg.LeaseTTL = ttl; cfg.Provisioner = e.gp })
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- a.RunOnce(ctx) }()
				e.mid()
				ks.kill()
				cancel()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Fatal("the killed replica's pass did not end")
				}
				if e.fix != nil {
					e.fix()
				}
				if got := get(t, st, w.ID); got.Status == want {
					t.Fatalf("the workshop reached %s before the restart: the kill came too late", want)
				}

				b, _ := c.newReconciler(st, clk, "replica-b", func(cfg *reconcile.Config) { cfg.LeaseTTL = ttl })
				started := time.Now()
				eventually(t, 15*time.Second, "the new replica to finish", func() bool {
					if err := b.RunOnce(context.Background()); err != nil {
						t.Fatal(err)
					}
					return get(t, st, w.ID).Status == want
				})
				if waited := time.Since(started); waited < ttl/2 {
					t.Errorf("the new replica took over after %s, before the old lease (%s) expired", waited, ttl)
				}
				if n := c.inserts()[name]; n != 1 {
					t.Errorf("%d inserts of %s, want exactly 1", n, name)
				}
				if want == store.StatusRunning {
					if s := c.seats(w.ID); len(s) != 2 {
						t.Errorf("seats = %v, want 2", s)
					}
					vm, err := st.GetWorkshopVM(context.Background(), w.ID)
					if err != nil {
						t.Fatal(err)
					}
					for _, s := range vm.Steps {
						if s.Status != "done" {
							t.Errorf("step %s is %s after recovery", s.Name, s.Status)
						}
					}
				}
				c.checkNoLeak(t, st, w.ID)
			})
		}
	}
}

// TestLeaseKeptDuringLongStep: a step that outlasts LeaseTTL keeps its lease
// (renewed in the background), so a second replica never starts the same
// work; it takes over only after the first one is gone.
func TestLeaseKeptDuringLongStep(t *testing.T) {
	t.Parallel()
	// A second, not less: the renewal (every ttl/3, a store write) must get
	// the CPU within a lifetime, and at make test's load (six test binaries
	// and the compiles beside them on 2 CPUs) 150 ms was missed once.
	const ttl = time.Second
	st := openStore(t, "sqlite")
	c := newCloud(t, nil)
	clk := newClock()
	w := newWorkshop(t, st, 1, nil)
	gpA := &gatedProvisioner{Provisioner: c.prov, entered: make(chan string, 1), release: make(chan struct{})}
	gpB := &gatedProvisioner{Provisioner: c.newProvisioner(nil)}
	a, _ := c.newReconciler(st, clk, "replica-a", func(cfg *reconcile.Config) { cfg.LeaseTTL = ttl; cfg.Provisioner = gpA })
	b, _ := c.newReconciler(st, clk, "replica-b", func(cfg *reconcile.Config) { cfg.LeaseTTL = ttl; cfg.Provisioner = gpB })

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.RunOnce(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	<-gpA.entered
	// Replica B tries for several lease lifetimes while A's step runs.
	deadline := time.Now().Add(5 * ttl)
	for time.Now().Before(deadline) {
		pass(t, b)
		if gpB.count() != 0 {
			t.Fatalf("replica B started provisioning while A held the workshop")
		}
	}
	close(gpA.release)
	wg.Wait()
	wantStatus(t, st, w.ID, store.StatusRunning)
	if n := c.inserts()[gcename.InstancePrefix+w.ID]; n != 1 {
		t.Errorf("%d inserts, want 1", n)
	}
	c.checkNoLeak(t, st, w.ID)
}

// TestTeardownFails: a failing delete puts the workshop in error with the
// reason, is retried with backoff (not on every pass), and never gives up
// (a machine left running costs money), until the VM is gone.
func TestTeardownFails(t *testing.T) {
	t.Parallel()
	st := openStore(t, "sqlite")
	c := newCloud(t, nil)
	clk := newClock()
	r, _ := c.newReconciler(st, clk, "replica-a", func(cfg *reconcile.Config) { cfg.MaxAttempts = 2 })
	w := newWorkshop(t, st, 1, nil)
	pass(t, r)
	wantStatus(t, st, w.ID, store.StatusRunning)

	c.fake.Inject(gcetest.Fault{Method: "instances.delete", Times: 3, Code: http.StatusServiceUnavailable,
		Reason: "backendError", Message: "Internal error. Please try again or contact Google Support."})
	update(t, st, w.ID, func(w *store.Workshop) { w.DesiredState = store.DesiredStopped })
	for attempt := 1; attempt <= 3; attempt++ {
		pass(t, r)
		got := wantStatus(t, st, w.ID, store.StatusError)
		if !strings.Contains(got.StatusReason, "Removing the workshop machine: ") || !strings.Contains(got.StatusReason, "Internal error") {
			t.Fatalf("reason = %q", got.StatusReason)
		}
		if n := c.fake.Calls("instances.delete"); n != attempt {
			t.Fatalf("%d delete calls after attempt %d", n, attempt)
		}
		pass(t, r) // within the backoff: no new attempt
		if n := c.fake.Calls("instances.delete"); n != attempt {
			t.Fatalf("delete retried during the backoff (%d calls)", n)
		}
		clk.Advance(reconcile.Backoff(attempt))
	}
	if evs := events(t, st, w.ID); hasEvent(evs, "no more automatic retries") {
		t.Errorf("teardown gave up: %q", evs)
	}
	pass(t, r) // past MaxAttempts, teardown still retries
	wantStatus(t, st, w.ID, store.StatusStopped)
	c.checkNoLeak(t, st, w.ID)
}

// TestEndTimeAfterFailures: a workshop that failed to provision (backing
// off) is torn down as soon as its end time comes, not after its backoff.
func TestEndTimeAfterFailures(t *testing.T) {
	t.Parallel()
	st := openStore(t, "sqlite")
	c := newCloud(t, nil)
	clk := newClock()
	r, _ := c.newReconciler(st, clk, "replica-a", nil)
	ends := clk.Now().Add(5 * time.Second)
	w := newWorkshop(t, st, 1, func(w *store.Workshop) { w.EndsAt = &ends })
	// Fail the seats so the workshop is in error with a VM and a backoff.
	c.setHook(func(ws string, r *http.Request) error {
		if r.Method == http.MethodPost {
			return errors.New("disk full")
		}
		return nil
	})
	pass(t, r)
	wantStatus(t, st, w.ID, store.StatusError)
	if c.vm(w.ID) == nil {
		t.Fatal("no VM after the seat failure")
	}
	clk.Advance(5 * time.Second) // ends_at, still within the 10 s backoff
	pass(t, r)
	wantStatus(t, st, w.ID, store.StatusStopped)
	c.checkNoLeak(t, st, w.ID)
}
