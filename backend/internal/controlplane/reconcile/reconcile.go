// Package reconcile drives every workshop towards its desired state:
//
//	created → provisioning → running → stopping → stopped   (or deleted)
//
// with failures going to error (a reason, and retries with backoff). Each
// workshop's work is claimed with a lease row in the database (renewed in
// the background while a long step runs), so several
// control-plane replicas never provision the same workshop twice, and every
// step is idempotent, so a replica killed mid-step is resumed by the next
// pass (its own after a restart, or another replica's once the lease
// expires) without orphaning or duplicating anything.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/archive"
	"github.com/clarateach/backend/internal/controlplane/provision"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/token"
)

// Agent is the part of the agent API the reconciler uses
// (*agentclient.Client implements it).
type Agent interface {
	Health(ctx context.Context) (*agentclient.Health, error)
	CreateSeat(ctx context.Context, workshopID string, seat int, opts agentclient.SeatOptions) (*agentclient.Seat, bool, error)
	ListSeats(ctx context.Context) ([]agentclient.Seat, error)
	DeleteSeat(ctx context.Context, workshopID string, seat int) error
	// StopSeat ends a seat and keeps its home on the host.
	StopSeat(ctx context.Context, workshopID string, seat int) error
	Disconnect(ctx context.Context, workshopID string, seat int, minGeneration int64) (*agentclient.DisconnectResult, error)
}

// Steps of provisioning and teardown, as shown to the instructor.
const (
	StepCreateHost  = "create_host"
	StepWaitAgent   = "wait_agent"
	StepCreateSeats = "create_seats"
	StepDeleteHost  = "delete_host"
	// StepAgentDown is running while a running workshop's agent fails its
	// health checks; its start is when it stopped answering.
	StepAgentDown = "agent_down"
)

// Config configures a Reconciler.
type Config struct {
	Store       store.Store
	Provisioner provision.Provisioner
	// Dial returns a client for an agent: pinned TLS when the endpoint
	// has a certificate, plain HTTP only to loopback; default
	// agentclient.Connect.
	Dial func(ep agentclient.Endpoint) Agent
	// Now is the clock; tests pass a fake one.
	Now func() time.Time
	// Holder names this replica in leases; default a random id.
	Holder string
	// WorkspaceSecret is WORKSPACE_TOKEN_SECRET; hosts get only the
	// per-workshop key derived from it.
	WorkspaceSecret []byte
	BackendURL      string
	Registry        prometheus.Registerer
	// Archiver saves learners' homes before teardown and periodically,
	// and restores them into new seats (homes.go); nil: off.
	Archiver *archive.Archiver

	LeaseTTL        time.Duration // default 2m
	HealthTimeout   time.Duration // how long a new host may take to answer; default 10m
	UnhealthyAfter  time.Duration // how long a running host may fail health checks before it is recreated; default 3m
	WatchEvery      time.Duration // health-check period of running workshops; default 15s
	MaxAttempts     int           // automatic retries before waiting for a manual retry; default 5
	ProvisionAhead  time.Duration // scheduled workshops are provisioned this long before starts_at; default 10m
	SeatConcurrency int           // concurrent seat creations; default 10
	StepTimeout     time.Duration // bound on one provider call; default 10m
}

// Reconciler is the control loop.
type Reconciler struct {
	cfg  Config
	kick chan string

	mu       sync.Mutex
	inflight map[string]bool
	again    map[string]bool // asked for again while in flight
	watched  map[string]time.Time
	// seatStates: each watched workshop's seats as its agent last
	// reported them (GET /vms), for the join path and the class view.
	seatStates map[string]map[int]agentclient.SeatState

	provisionSeconds prometheus.Histogram
	errorsTotal      prometheus.Counter
	orphaned         prometheus.Gauge
	agentUp          *prometheus.GaugeVec
}

// New returns a reconciler.
func New(cfg Config) *Reconciler {
	if cfg.Dial == nil {
		cfg.Dial = func(ep agentclient.Endpoint) Agent { return agentclient.Connect(ep, nil, 0) }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Holder == "" {
		cfg.Holder = "replica-" + token.Random(6)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.LeaseTTL, 2*time.Minute)
	def(&cfg.HealthTimeout, 10*time.Minute)
	def(&cfg.UnhealthyAfter, 3*time.Minute)
	def(&cfg.WatchEvery, 15*time.Second)
	def(&cfg.ProvisionAhead, 10*time.Minute)
	def(&cfg.StepTimeout, 10*time.Minute)
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.SeatConcurrency == 0 {
		cfg.SeatConcurrency = 10
	}
	r := &Reconciler{
		cfg:      cfg,
		kick:     make(chan string, 64),
		inflight: map[string]bool{},
		again:    map[string]bool{},
		watched:  map[string]time.Time{},

		seatStates: map[string]map[int]agentclient.SeatState{},
		provisionSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "clarateach_workshop_provision_seconds",
			Help:    "Time from the start of provisioning to a running workshop.",
			Buckets: []float64{0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600},
		}),
		errorsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarateach_reconcile_errors_total",
			Help: "Failed reconcile steps.",
		}),
		orphaned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clarateach_orphaned_vms",
			Help: "Hosts found by the last garbage collection that belong to no live workshop.",
		}),
		agentUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "clarateach_workshop_agent_up",
			Help: "1 when the running workshop's agent answered its last health check.",
		}, []string{"workshop"}),
	}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(r.provisionSeconds, r.errorsTotal, r.orphaned, r.agentUp)
	}
	return r
}

// Kick asks for a pass over one workshop soon.
func (r *Reconciler) Kick(workshopID string) {
	select {
	case r.kick <- workshopID:
	default:
	}
}

// Run loops until ctx ends: a pass every interval, and at once after a Kick.
// Work on each workshop runs in its own goroutine, so one slow cloud call
// never holds up the others.
func (r *Reconciler) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	gcEvery := 30
	for pass := 0; ; pass++ {
		if err := r.dispatch(ctx, false); err != nil && ctx.Err() == nil {
			slog.Warn("reconcile pass failed", "err", err)
		}
		if pass%gcEvery == 0 {
			if _, err := r.GC(ctx); err != nil && ctx.Err() == nil {
				slog.Warn("garbage collection failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case id := <-r.kick:
			r.spawn(ctx, id, nil)
		}
	}
}

// RunOnce makes one full pass and waits for it (tests, /internal/reconcile).
func (r *Reconciler) RunOnce(ctx context.Context) error { return r.dispatch(ctx, true) }

func (r *Reconciler) dispatch(ctx context.Context, wait bool) error {
	list, err := r.cfg.Store.ListWorkshops(ctx, store.WorkshopFilter{NeedsWork: true, IncludeDeleted: true})
	if err != nil {
		return fmt.Errorf("list workshops: %w", err)
	}
	var wg sync.WaitGroup
	for _, w := range list {
		if wait {
			wg.Add(1)
			r.spawn(ctx, w.ID, &wg)
		} else {
			r.spawn(ctx, w.ID, nil)
		}
	}
	wg.Wait()
	return nil
}

func (r *Reconciler) spawn(ctx context.Context, id string, wg *sync.WaitGroup) {
	r.mu.Lock()
	if r.inflight[id] {
		// A pass is running for it: run another right after it, so a Kick
		// (e.g. Stop clicked during provisioning) is never lost.
		r.again[id] = true
		r.mu.Unlock()
		if wg != nil {
			wg.Done()
		}
		return
	}
	r.inflight[id] = true
	r.mu.Unlock()
	go func() {
		defer func() {
			if wg != nil {
				wg.Done()
			}
		}()
		for {
			if err := r.Workshop(ctx, id); err != nil && ctx.Err() == nil {
				slog.Warn("reconcile workshop", "workshop", id, "err", err)
			}
			r.mu.Lock()
			if r.again[id] && ctx.Err() == nil {
				delete(r.again, id)
				r.mu.Unlock()
				continue
			}
			delete(r.again, id)
			delete(r.inflight, id)
			r.mu.Unlock()
			return
		}
	}()
}

// Workshop reconciles one workshop under its lease. Several steps may run in
// one call (a local host is ready at once); a step that must wait (an agent
// still booting) returns and is checked again on the next pass.
func (r *Reconciler) Workshop(ctx context.Context, id string) error {
	lease := "workshop:" + id
	ok, err := r.cfg.Store.TryLease(ctx, lease, r.cfg.Holder, r.cfg.LeaseTTL)
	if err != nil {
		return fmt.Errorf("lease: %w", err)
	}
	if !ok {
		return nil // another replica is on it
	}
	// The lease is renewed in the background while a step runs (a cloud
	// call or 30 seat creations can outlast LeaseTTL); if it cannot be
	// renewed, or another replica holds it, the work is cancelled rather
	// than done twice.
	wctx, cancel := context.WithCancel(ctx)
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		r.keepLease(wctx, cancel, lease)
	}()
	defer func() {
		cancel()
		<-kept
		// Release even when ctx is ending, so a clean shutdown hands over at once.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		_ = r.cfg.Store.ReleaseLease(rctx, lease, r.cfg.Holder)
	}()
	for i := 0; i < 8; i++ { // bounded: each iteration makes progress or returns
		w, err := r.cfg.Store.GetWorkshop(wctx, id)
		if err != nil {
			return err
		}
		progressed, err := r.step(wctx, w)
		if err != nil || !progressed {
			return err
		}
		ok, err := r.cfg.Store.TryLease(wctx, lease, r.cfg.Holder, r.cfg.LeaseTTL)
		if err != nil {
			return err
		}
		if !ok {
			return nil // lost to another replica
		}
	}
	return nil
}

// keepLease renews the lease every LeaseTTL/3 until ctx ends. It cancels the
// work when another holder has the lease, or when renewing has failed for
// longer than the TTL (the lease may have expired and been taken). Leases
// live on the database's clock, so this uses real time, not Config.Now.
func (r *Reconciler) keepLease(ctx context.Context, cancel context.CancelFunc, lease string) {
	every := max(r.cfg.LeaseTTL/3, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	renewed := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := r.cfg.Store.TryLease(ctx, lease, r.cfg.Holder, r.cfg.LeaseTTL)
		switch {
		case err == nil && ok:
			renewed = time.Now()
			continue
		case err == nil:
			slog.Warn("reconcile lease taken by another replica; stopping", "lease", lease)
		case time.Since(renewed) < r.cfg.LeaseTTL:
			continue // transient; retry on the next tick
		default:
			if ctx.Err() == nil {
				slog.Warn("reconcile lease could not be renewed; stopping", "lease", lease, "err", err)
			}
		}
		cancel()
		return
	}
}

// step makes one transition. It reports whether it changed anything.
func (r *Reconciler) step(ctx context.Context, w *store.Workshop) (bool, error) {
	now := r.cfg.Now()
	switch w.DesiredState {
	case store.DesiredRunning:
		if w.EndsAt != nil && !now.Before(*w.EndsAt) {
			_, err := r.update(ctx, w.ID, func(w *store.Workshop) {
				w.DesiredState = store.DesiredStopped
				// Teardown starts now, whatever backoff a failed
				// provisioning left.
				w.Attempts, w.NextAttemptAt = 0, nil
			})
			r.event(ctx, w.ID, "info", "", "the workshop reached its end time; tearing it down")
			return err == nil, err
		}
		if w.Status == store.StatusRunning {
			r.applyPendingRevokes(ctx, w)
			return false, r.watch(ctx, w)
		}
		if w.StartsAt != nil && w.Status == store.StatusCreated && now.Before(w.StartsAt.Add(-r.cfg.ProvisionAhead)) && w.Attempts == 0 && w.NextAttemptAt == nil {
			return false, nil // provisioned ahead of the class, not earlier
		}
		if w.NextAttemptAt != nil && now.Before(*w.NextAttemptAt) {
			return false, nil // backing off
		}
		if w.Status == store.StatusError && w.Attempts >= r.cfg.MaxAttempts {
			return false, nil // waits for the instructor's retry
		}
		return r.provision(ctx, w)
	case store.DesiredStopped, store.DesiredDeleted:
		final := store.StatusStopped
		if w.DesiredState == store.DesiredDeleted {
			final = store.StatusDeleted
		}
		if w.Status == final || (w.Status == store.StatusCreated && final == store.StatusStopped) {
			return false, nil
		}
		if w.Status == store.StatusError && w.NextAttemptAt != nil && now.Before(*w.NextAttemptAt) {
			return false, nil // a failed teardown backs off (but never gives up)
		}
		return r.teardown(ctx, w, final)
	}
	return false, nil
}

func (r *Reconciler) update(ctx context.Context, id string, fn func(*store.Workshop)) (*store.Workshop, error) {
	return r.cfg.Store.UpdateWorkshop(ctx, id, func(w *store.Workshop) error {
		fn(w)
		w.UpdatedAt = r.cfg.Now()
		return nil
	})
}

func (r *Reconciler) event(ctx context.Context, id, level, step, msg string) {
	if err := r.cfg.Store.AddEvent(ctx, &store.Event{WorkshopID: id, At: r.cfg.Now(), Level: level, Step: step, Message: msg}); err != nil {
		slog.Warn("record event", "workshop", id, "err", err)
	}
}

// vm returns the workshop's host record, creating an empty one.
func (r *Reconciler) vm(ctx context.Context, w *store.Workshop) (*store.WorkshopVM, error) {
	vm, err := r.cfg.Store.GetWorkshopVM(ctx, w.ID)
	if errors.Is(err, store.ErrNotFound) {
		now := r.cfg.Now()
		return &store.WorkshopVM{WorkshopID: w.ID, Name: "pending", Status: "pending", CreatedAt: now, UpdatedAt: now}, nil
	}
	return vm, err
}

// beginStep marks a step running (keeping its start time when it already
// runs, so waiting steps measure their whole duration).
func (r *Reconciler) beginStep(ctx context.Context, w *store.Workshop, vm *store.WorkshopVM, name string) (*store.Step, error) {
	for i := range vm.Steps {
		if vm.Steps[i].Name == name && vm.Steps[i].Status == "running" {
			return &vm.Steps[i], nil
		}
	}
	now := r.cfg.Now()
	vm.Steps = append(vm.Steps, store.Step{Name: name, Status: "running", StartedAt: now})
	vm.UpdatedAt = now
	if err := r.cfg.Store.UpsertWorkshopVM(ctx, vm); err != nil {
		return nil, err
	}
	if _, err := r.update(ctx, w.ID, func(w *store.Workshop) { w.Step = name }); err != nil {
		return nil, err
	}
	r.event(ctx, w.ID, "info", name, stepLabel(name)+"…")
	return &vm.Steps[len(vm.Steps)-1], nil
}

func (r *Reconciler) endStep(ctx context.Context, w *store.Workshop, vm *store.WorkshopVM, name string, stepErr error) error {
	now := r.cfg.Now()
	for i := range vm.Steps {
		s := &vm.Steps[i]
		if s.Name == name && s.Status == "running" {
			s.FinishedAt = &now
			s.Status = "done"
			if stepErr != nil {
				s.Status, s.Error = "failed", stepErr.Error()
			} else {
				r.event(ctx, w.ID, "info", name, fmt.Sprintf("%s done in %s", stepLabel(name), now.Sub(s.StartedAt).Round(time.Millisecond)))
			}
		}
	}
	vm.UpdatedAt = now
	return r.cfg.Store.UpsertWorkshopVM(ctx, vm)
}

func stepLabel(step string) string {
	switch step {
	case StepCreateHost:
		return "Creating the workshop machine"
	case StepWaitAgent:
		return "Waiting for the machine's agent"
	case StepCreateSeats:
		return "Preparing the seats"
	case StepDeleteHost:
		return "Removing the workshop machine"
	case StepAgentDown:
		return "The machine's agent is not answering"
	}
	return step
}

// fail records a failed step: status error with a reason and a backoff.
func (r *Reconciler) fail(ctx context.Context, w *store.Workshop, vm *store.WorkshopVM, step string, err error) error {
	r.errorsTotal.Inc()
	if vm != nil {
		_ = r.endStep(ctx, w, vm, step, err)
	}
	now := r.cfg.Now()
	reason := fmt.Sprintf("%s: %v", stepLabel(step), err)
	var attempts int
	_, uerr := r.update(ctx, w.ID, func(w *store.Workshop) {
		w.Status = store.StatusError
		w.StatusReason = reason
		w.Attempts++
		attempts = w.Attempts
		next := now.Add(Backoff(w.Attempts))
		w.NextAttemptAt = &next
	})
	msg := reason
	if step == StepDeleteHost {
		// Teardown never gives up: a machine left running costs money.
		msg += fmt.Sprintf(" (retry %d in %s)", attempts, Backoff(attempts))
	} else if attempts >= r.cfg.MaxAttempts {
		msg += " (no more automatic retries; use Retry)"
	} else {
		msg += fmt.Sprintf(" (retry %d of %d in %s)", attempts, r.cfg.MaxAttempts, Backoff(attempts))
	}
	r.event(ctx, w.ID, "error", step, msg)
	return errors.Join(err, uerr)
}

// Backoff is the wait before automatic retry n (1-based): 10 s doubling to
// at most 5 min.
func Backoff(n int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < n && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

func (r *Reconciler) provision(ctx context.Context, w *store.Workshop) (bool, error) {
	// The agent token is chosen and saved before any host exists, so a
	// host created by an interrupted attempt is reused with the same token.
	w, err := r.update(ctx, w.ID, func(w *store.Workshop) {
		if w.Status != store.StatusProvisioning {
			w.Status = store.StatusProvisioning
			w.StatusReason = ""
		}
		if w.AgentToken == "" {
			w.AgentToken = token.NewAgentToken()
		}
	})
	if err != nil {
		return false, err
	}
	vm, err := r.vm(ctx, w)
	if err != nil {
		return false, err
	}
	if len(vm.Steps) > 0 && !hasRunning(vm.Steps) {
		// A new attempt starts a fresh step list. (A list with a running
		// step is an attempt that was interrupted or still waits: it is
		// resumed.)
		vm.Steps = nil
	}

	// Steps already done in this attempt are not recorded again: a pass
	// that resumes the wait for the agent (or a replica that resumes after
	// a crash) only looks the host up again (it may have a new address).
	hostDone := stepIs(vm.Steps, StepCreateHost, "done")
	failStep := StepCreateHost
	if hostDone {
		failStep = runningStep(vm.Steps, StepWaitAgent)
	} else if _, err := r.beginStep(ctx, w, vm, StepCreateHost); err != nil {
		return false, err
	}
	sctx, cancel := context.WithTimeout(ctx, r.cfg.StepTimeout)
	host, err := r.cfg.Provisioner.EnsureHost(sctx, provision.Request{
		WorkshopID:   w.ID,
		Seats:        w.Seats,
		AgentToken:   w.AgentToken,
		WorkspaceKey: token.WorkshopKeyHex(r.cfg.WorkspaceSecret, w.ID),
		BackendURL:   r.cfg.BackendURL,
	})
	cancel()
	if err != nil {
		return false, r.fail(ctx, w, vm, failStep, err)
	}
	changed := vm.Name != host.Name || vm.Zone != host.Zone || vm.IP != host.IP || vm.Status != host.Status || vm.AgentURL != host.AgentURL
	vm.Name, vm.Zone, vm.IP, vm.Status, vm.AgentURL = host.Name, host.Zone, host.IP, host.Status, host.AgentURL
	if !hostDone {
		if err := r.endStep(ctx, w, vm, StepCreateHost, nil); err != nil {
			return false, err
		}
	} else if changed {
		vm.UpdatedAt = r.cfg.Now()
		if err := r.cfg.Store.UpsertWorkshopVM(ctx, vm); err != nil {
			return false, err
		}
	}
	// The host's own token and certificate (from its metadata) are the
	// ones to use: the host may come from an earlier attempt.
	agentToken := w.AgentToken
	if host.AgentToken != "" {
		agentToken = host.AgentToken
	}
	if agentToken != w.AgentToken || host.AgentCert != w.AgentCert {
		if w, err = r.update(ctx, w.ID, func(w *store.Workshop) { w.AgentToken, w.AgentCert = agentToken, host.AgentCert }); err != nil {
			return false, err
		}
	}
	agent := r.cfg.Dial(agentclient.Endpoint{URL: host.AgentURL, Token: agentToken, CertPEM: host.AgentCert})

	if !stepIs(vm.Steps, StepWaitAgent, "done") {
		st, err := r.beginStep(ctx, w, vm, StepWaitAgent)
		if err != nil {
			return false, err
		}
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, herr := agent.Health(hctx)
		cancel()
		if herr != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			if r.cfg.Now().Sub(st.StartedAt) > r.cfg.HealthTimeout {
				// A host whose agent never answered is removed: the retry
				// starts from a fresh one (retrying the same broken host
				// cannot help), and nothing bills while the workshop waits
				// in error.
				ferr := fmt.Errorf("the agent at %s did not answer within %s: %w", host.AgentURL, r.cfg.HealthTimeout, herr)
				dctx, cancel := context.WithTimeout(ctx, r.cfg.StepTimeout)
				derr := r.cfg.Provisioner.DeleteHost(dctx, w.ID)
				cancel()
				if derr != nil {
					ferr = fmt.Errorf("%w (removing the machine failed too: %v)", ferr, derr)
				} else {
					vm.Status, vm.IP, vm.AgentURL = "deleted", "", ""
				}
				return false, r.fail(ctx, w, vm, StepWaitAgent, ferr)
			}
			return false, nil // still booting; checked again next pass
		}
		if err := r.endStep(ctx, w, vm, StepWaitAgent, nil); err != nil {
			return false, err
		}
	}

	if _, err := r.beginStep(ctx, w, vm, StepCreateSeats); err != nil {
		return false, err
	}
	if err := r.createSeats(ctx, agent, w); err != nil {
		return false, r.fail(ctx, w, vm, StepCreateSeats, err)
	}
	if err := r.restoreHomes(ctx, agent, w); err != nil {
		return false, r.fail(ctx, w, vm, StepCreateSeats, err)
	}
	if err := r.endStep(ctx, w, vm, StepCreateSeats, nil); err != nil {
		return false, err
	}
	started := vm.Steps[0].StartedAt
	vm.Status = "running"
	if err := r.cfg.Store.UpsertWorkshopVM(ctx, vm); err != nil {
		return false, err
	}
	_, err = r.update(ctx, w.ID, func(w *store.Workshop) {
		w.Status = store.StatusRunning
		w.StatusReason = ""
		w.Step = ""
		w.AgentURL = host.AgentURL
		w.Attempts = 0
		w.NextAttemptAt = nil
	})
	if err != nil {
		return false, err
	}
	took := r.cfg.Now().Sub(started)
	r.provisionSeconds.Observe(took.Seconds())
	r.agentUp.WithLabelValues(w.ID).Set(1)
	r.event(ctx, w.ID, "info", "", fmt.Sprintf("running: %d seats ready in %s", w.Seats, took.Round(time.Millisecond)))
	return true, nil
}

// stepIs reports whether the step list has step name with status.
func stepIs(steps []store.Step, name, status string) bool {
	for _, s := range steps {
		if s.Name == name && s.Status == status {
			return true
		}
	}
	return false
}

// runningStep is the name of the running step, or def.
func runningStep(steps []store.Step, def string) string {
	for _, s := range steps {
		if s.Status == "running" {
			return s.Name
		}
	}
	return def
}

func hasRunning(steps []store.Step) bool {
	for _, s := range steps {
		if s.Status == "running" {
			return true
		}
	}
	return false
}

// seatOptions are what the workshop asks of each of its seats: their disk
// size and the lab servers they may reach.
func seatOptions(w *store.Workshop) agentclient.SeatOptions {
	return agentclient.SeatOptions{DiskMB: w.DiskMB, EgressAllow: strings.Fields(w.EgressAllow)}
}

// createSeats creates every seat concurrently; the agent API is idempotent.
func (r *Reconciler) createSeats(ctx context.Context, agent Agent, w *store.Workshop) error {
	sem := make(chan struct{}, r.cfg.SeatConcurrency)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for seat := 1; seat <= w.Seats; seat++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			if _, _, err := agent.CreateSeat(sctx, w.ID, seat, seatOptions(w)); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("seat %d: %w", seat, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d seats failed: %w", len(errs), w.Seats, errs[0])
	}
	return nil
}

// watch health-checks a running workshop's agent, and recovers a host that
// vanished, was preempted, or stopped answering.
func (r *Reconciler) watch(ctx context.Context, w *store.Workshop) error {
	now := r.cfg.Now()
	r.mu.Lock()
	last, seen := r.watched[w.ID]
	if seen && now.Sub(last) < r.cfg.WatchEvery {
		r.mu.Unlock()
		return nil
	}
	r.watched[w.ID] = now
	r.mu.Unlock()

	agent := r.cfg.Dial(endpoint(w))
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, herr := agent.Health(hctx)
	cancel()
	vm, err := r.vm(ctx, w)
	if err != nil {
		return err
	}
	// How long the agent has been down is kept in a running agent_down step
	// (on Config.Now), not read from the record's UpdatedAt, which the store
	// stamps with its own clock and every write moves.
	down := -1
	for i, s := range vm.Steps {
		if s.Name == StepAgentDown && s.Status == "running" {
			down = i
		}
	}
	if herr != nil {
		r.noteAgentDown(w.ID)
	}
	if herr == nil {
		r.agentUp.WithLabelValues(w.ID).Set(1)
		if err := r.ensureSeats(ctx, agent, w); err != nil {
			slog.Warn("check the seats of a running workshop", "workshop", w.ID, "err", err)
		}
		r.periodicSave(ctx, agent, w)
		if vm.Status != "running" || down >= 0 {
			vm.Status, vm.UpdatedAt = "running", now
			if down >= 0 {
				vm.Steps = append(vm.Steps[:down:down], vm.Steps[down+1:]...)
			}
			if w.StatusReason != "" {
				_, _ = r.update(ctx, w.ID, func(w *store.Workshop) { w.StatusReason = "" })
				r.event(ctx, w.ID, "info", "", "the workshop machine answers again")
			}
			return r.cfg.Store.UpsertWorkshopVM(ctx, vm)
		}
		return nil
	}
	r.agentUp.WithLabelValues(w.ID).Set(0)
	host, gerr := r.cfg.Provisioner.GetHost(ctx, w.ID)
	if gerr == nil && host.AgentURL != "" && host.AgentURL != w.AgentURL {
		moved, err := r.reregister(ctx, w, vm, host)
		if moved || err != nil {
			return err
		}
	}
	_, keepsHomes := r.cfg.Provisioner.(provision.HomeKeeper)
	lost := ""
	restart := false // the host is stopped but still there: start it again
	switch {
	case errors.Is(gerr, provision.ErrNotFound) && keepsHomes:
		// The local agent does not answer: nothing is deleted; it is
		// waited for like an unreachable agent.
	case errors.Is(gerr, provision.ErrNotFound):
		lost = "the workshop machine has disappeared"
	case gerr != nil:
		return fmt.Errorf("get host: %w", gerr)
	case host.Status == "TERMINATED" || host.Status == "STOPPED":
		lost = "the workshop machine was stopped (" + host.Status + "; a Spot VM may have been preempted)"
		restart = true
	case host.Status == "SUSPENDED":
		lost = "the workshop machine was suspended"
	}
	if lost == "" {
		if down < 0 {
			vm.Status, vm.UpdatedAt = "unhealthy", now
			vm.Steps = append(vm.Steps, store.Step{Name: StepAgentDown, Status: "running", StartedAt: now})
			_, _ = r.update(ctx, w.ID, func(w *store.Workshop) { w.StatusReason = "the workshop machine's agent is not answering" })
			r.event(ctx, w.ID, "warn", StepAgentDown, "the workshop machine's agent is not answering: "+herr.Error())
			return r.cfg.Store.UpsertWorkshopVM(ctx, vm)
		}
		since := vm.Steps[down].StartedAt
		if now.Sub(since) < r.cfg.UnhealthyAfter || keepsHomes {
			// A host that keeps the learners' homes is never recreated for
			// being unreachable: its agent is waited for (or found again
			// at a new address, above).
			return nil
		}
		lost = "the workshop machine's agent has not answered for " + now.Sub(since).Round(time.Second).String()
	}
	// Recover. A stopped host (a preempted Spot VM) is kept: its disk holds
	// the learners' files and the agent's state, and provisioning again
	// starts it (EnsureHost). Anything else is removed and recreated.
	vm.Status = "recreating"
	if restart {
		vm.Status = "restarting"
		r.event(ctx, w.ID, "warn", "", lost+"; starting it again")
	} else {
		r.event(ctx, w.ID, "warn", "", lost+"; recreating it")
		if err := r.cfg.Provisioner.DeleteHost(ctx, w.ID); err != nil {
			return fmt.Errorf("delete lost host: %w", err)
		}
	}
	vm.Steps, vm.UpdatedAt = nil, now
	if err := r.cfg.Store.UpsertWorkshopVM(ctx, vm); err != nil {
		return err
	}
	_, err = r.update(ctx, w.ID, func(w *store.Workshop) {
		w.Status = store.StatusProvisioning
		w.StatusReason = lost
		w.AgentURL, w.AgentCert = "", ""
	})
	return err
}

// reregister points a running workshop at its host's agent's new address
// (a restarted control plane's local agent whose old port was taken) once
// the agent answers there. It reports whether it did.
func (r *Reconciler) reregister(ctx context.Context, w *store.Workshop, vm *store.WorkshopVM, host *provision.Host) (bool, error) {
	agentToken := w.AgentToken
	if host.AgentToken != "" {
		agentToken = host.AgentToken
	}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, herr := r.cfg.Dial(agentclient.Endpoint{URL: host.AgentURL, Token: agentToken, CertPEM: host.AgentCert}).Health(hctx)
	cancel()
	if herr != nil {
		return false, nil
	}
	if _, err := r.update(ctx, w.ID, func(w *store.Workshop) {
		w.AgentURL, w.AgentToken, w.AgentCert, w.StatusReason = host.AgentURL, agentToken, host.AgentCert, ""
	}); err != nil {
		return false, err
	}
	vm.AgentURL, vm.Status, vm.UpdatedAt = host.AgentURL, "running", r.cfg.Now()
	vm.Steps = slices.DeleteFunc(vm.Steps, func(s store.Step) bool { return s.Name == StepAgentDown && s.Status == "running" })
	if err := r.cfg.Store.UpsertWorkshopVM(ctx, vm); err != nil {
		return false, err
	}
	r.agentUp.WithLabelValues(w.ID).Set(1)
	r.event(ctx, w.ID, "info", "", "the workshop machine's agent answers at its new address "+host.AgentURL)
	return true, nil
}

// ensureSeats creates the seats of a running workshop that its agent does
// not have or reports dead (a seat the agent still has is never touched;
// one created again gets its kept home back).
func (r *Reconciler) ensureSeats(ctx context.Context, agent Agent, w *store.Workshop) error {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	seats, err := agent.ListSeats(lctx)
	cancel()
	if err != nil {
		return err
	}
	r.noteSeats(w.ID, seats)
	have := map[int]bool{}
	for _, s := range seats {
		if s.WorkshopID == w.ID && s.Status != agentclient.StatusDead {
			have[s.Seat.Seat] = true
		}
	}
	var errs []error
	for n := 1; n <= w.Seats; n++ {
		if have[n] {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		seat, _, err := agent.CreateSeat(sctx, w.ID, n, seatOptions(w))
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("seat %d: %w", n, err))
			continue
		}
		r.noteSeat(w.ID, seat)
		r.event(ctx, w.ID, "warn", "", fmt.Sprintf("seat %d was missing on the workshop machine; it was started again", n))
		r.restoreSeat(ctx, agent, w, n)
	}
	return errors.Join(errs...)
}

// noteSeats records the health of the workshop's seats as its agent
// reports them.
func (r *Reconciler) noteSeats(workshopID string, seats []agentclient.Seat) {
	now := r.cfg.Now()
	m := map[int]agentclient.SeatState{}
	for _, s := range seats {
		if s.WorkshopID != workshopID {
			continue
		}
		st := agentclient.SeatState{Health: agentclient.HealthOK, RestartedAt: s.RestartedAt, CheckedAt: now}
		if s.Status == agentclient.StatusDead || s.Health == agentclient.HealthDown {
			st.Health = agentclient.HealthDown
		}
		m[s.Seat.Seat] = st
	}
	r.mu.Lock()
	r.seatStates[workshopID] = m
	r.mu.Unlock()
}

// noteSeat records one seat the agent just created (or restarted).
func (r *Reconciler) noteSeat(workshopID string, s *agentclient.Seat) {
	if s == nil {
		return
	}
	st := agentclient.SeatState{Health: agentclient.HealthOK, RestartedAt: s.RestartedAt, CheckedAt: r.cfg.Now()}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seatStates[workshopID] == nil {
		r.seatStates[workshopID] = map[int]agentclient.SeatState{}
	}
	r.seatStates[workshopID][s.Seat.Seat] = st
}

// noteAgentDown marks every known seat of the workshop down: its agent
// does not answer.
func (r *Reconciler) noteAgentDown(workshopID string) {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for n, st := range r.seatStates[workshopID] {
		st.Health, st.CheckedAt = agentclient.HealthDown, now
		r.seatStates[workshopID][n] = st
	}
}

// SeatState is what the reconciler last learned of a seat's health from
// its workshop's agent (false: nothing yet, e.g. another replica watches
// the workshop).
func (r *Reconciler) SeatState(workshopID string, seat int) (agentclient.SeatState, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.seatStates[workshopID][seat]
	return st, ok
}

func (r *Reconciler) teardown(ctx context.Context, w *store.Workshop, final string) (bool, error) {
	r.mu.Lock()
	delete(r.seatStates, w.ID)
	r.mu.Unlock()
	w, err := r.update(ctx, w.ID, func(w *store.Workshop) { w.Status = store.StatusStopping })
	if err != nil {
		return false, err
	}
	vm, err := r.vm(ctx, w)
	if err != nil {
		return false, err
	}
	if _, err := r.beginStep(ctx, w, vm, StepDeleteHost); err != nil {
		return false, err
	}
	if final == store.StatusStopped {
		reason := archive.ReasonStop
		if w.EndsAt != nil && !r.cfg.Now().Before(*w.EndsAt) {
			reason = archive.ReasonEnd
		}
		r.saveHomes(ctx, w, reason)
	}
	sctx, cancel := context.WithTimeout(ctx, r.cfg.StepTimeout)
	err = r.releaseHost(sctx, w.ID, final == store.StatusDeleted)
	cancel()
	if err != nil {
		return false, r.fail(ctx, w, vm, StepDeleteHost, err)
	}
	// Close the step (its timing goes to the events), then drop the record.
	if err := r.endStep(ctx, w, vm, StepDeleteHost, nil); err != nil {
		return false, err
	}
	if err := r.cfg.Store.DeleteWorkshopVM(ctx, w.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	r.agentUp.DeleteLabelValues(w.ID)
	if final == store.StatusDeleted {
		if err := r.purgeHomes(ctx, w); err != nil {
			return false, r.fail(ctx, w, nil, StepDeleteHost, err)
		}
	}
	_, err = r.update(ctx, w.ID, func(w *store.Workshop) {
		w.Status = final
		w.Step = ""
		w.StatusReason = ""
		w.AgentURL, w.AgentCert = "", ""
		w.Attempts = 0
		w.NextAttemptAt = nil
	})
	if err != nil {
		return false, err
	}
	r.event(ctx, w.ID, "info", "", "the workshop is "+final+"; its machine is gone")
	return true, nil
}

// releaseHost is the last step of a teardown: a stopped workshop's seats
// end and, where the provisioner keeps homes (local), their homes stay for
// the next start; a deleted workshop's host goes with everything on it.
// Anything that must happen to the learners' work before it (an archive)
// runs before this step.
func (r *Reconciler) releaseHost(ctx context.Context, workshopID string, purge bool) error {
	if hk, ok := r.cfg.Provisioner.(provision.HomeKeeper); ok && !purge {
		return hk.StopHost(ctx, workshopID)
	}
	return r.cfg.Provisioner.DeleteHost(ctx, workshopID)
}

// GC deletes hosts that belong to no live workshop and seats on live hosts
// that belong to no live workshop seat. It returns how many hosts it found
// orphaned.
func (r *Reconciler) GC(ctx context.Context) (int, error) {
	hosts, err := r.cfg.Provisioner.ListHosts(ctx)
	if err != nil {
		return 0, fmt.Errorf("list hosts: %w", err)
	}
	orphans := 0
	var errs []error
	for _, h := range hosts {
		w, err := r.cfg.Store.GetWorkshop(ctx, h.WorkshopID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		if w != nil && (w.DesiredState == store.DesiredRunning || w.Status == store.StatusStopping) {
			continue
		}
		if hk, ok := r.cfg.Provisioner.(provision.HomeKeeper); ok && w != nil && w.DesiredState == store.DesiredStopped {
			// A stopped workshop keeps its learners' homes until it is
			// deleted; only seats still running end.
			if h.Status == "RUNNING" {
				slog.Warn("stopping the seats of a stopped workshop", "host", h.Name, "workshop", h.WorkshopID)
				if err := hk.StopHost(ctx, h.WorkshopID); err != nil {
					errs = append(errs, fmt.Errorf("stop the seats of %s: %w", h.WorkshopID, err))
				}
			}
			continue
		}
		orphans++
		slog.Warn("deleting orphaned host", "host", h.Name, "workshop", h.WorkshopID)
		if err := r.cfg.Provisioner.DeleteHost(ctx, h.WorkshopID); err != nil {
			errs = append(errs, fmt.Errorf("delete orphaned host %s: %w", h.Name, err))
		}
	}
	r.orphaned.Set(float64(orphans))
	errs = append(errs, r.gcSeats(ctx), r.expireHomes(ctx))
	return orphans, errors.Join(errs...)
}

func (r *Reconciler) gcSeats(ctx context.Context) error {
	running, err := r.cfg.Store.ListWorkshops(ctx, store.WorkshopFilter{})
	if err != nil {
		return err
	}
	byID := map[string]*store.Workshop{}
	agents := map[string]agentclient.Endpoint{} // url -> endpoint
	for i := range running {
		w := &running[i]
		byID[w.ID] = w
		if w.Status == store.StatusRunning && w.AgentURL != "" {
			agents[w.AgentURL] = endpoint(w)
		}
	}
	var errs []error
	for url, ep := range agents {
		a := r.cfg.Dial(ep)
		seats, err := a.ListSeats(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("list seats on %s: %w", url, err))
			continue
		}
		for _, s := range seats {
			w := byID[s.WorkshopID]
			if w != nil && w.DesiredState == store.DesiredRunning && s.Seat.Seat <= w.Seats {
				continue
			}
			if w != nil && w.DesiredState == store.DesiredStopped && s.Seat.Seat <= w.Seats {
				// A stopped workshop's seat: it ends, its home stays.
				slog.Info("stopping a seat of a stopped workshop", "workshop", s.WorkshopID, "seat", s.Seat.Seat, "agent", url)
				if err := a.StopSeat(ctx, s.WorkshopID, s.Seat.Seat); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			slog.Info("deleting orphaned seat", "workshop", s.WorkshopID, "seat", s.Seat.Seat, "agent", url)
			if err := a.DeleteSeat(ctx, s.WorkshopID, s.Seat.Seat); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// revokeTimeout bounds one attempt at a pending revoke on the host.
const revokeTimeout = 30 * time.Second

// ErrRevokeBusy: another replica or request is applying the same revoke.
var ErrRevokeBusy = errors.New("the revoke is being applied by another request")

// stillPending reports whether p is still recorded as pending with its
// generation.
func (r *Reconciler) stillPending(ctx context.Context, p store.PendingRevoke) (bool, error) {
	list, err := r.cfg.Store.ListPendingRevokes(ctx, p.WorkshopID)
	if err != nil {
		return false, fmt.Errorf("seat %d: %w", p.Seat, err)
	}
	for _, q := range list {
		if q.Seat == p.Seat && q.MinGeneration == p.MinGeneration {
			return true, nil
		}
	}
	return false, nil
}

// ApplyRevoke carries a pending revoke or reissue to the workshop's host
// (server.Seats): the agent refuses the seat's tokens below
// p.MinGeneration and closes their connections and, for a revoke (Reset),
// the seat gets a fresh workspace for its next learner. Once the agent has
// confirmed everything, the pending record is removed; a failure is
// recorded on it and the reconciler tries again on its next pass.
func (r *Reconciler) ApplyRevoke(ctx context.Context, w *store.Workshop, p store.PendingRevoke) error {
	if w.Status != store.StatusRunning || w.AgentURL == "" {
		return fmt.Errorf("seat %d: the workshop is %s; the revoke is applied when its machine runs", p.Seat, w.Status)
	}
	// One applier at a time per seat (the API's immediate attempt and the
	// reconciler's retries): a reset applied twice could wipe the files of
	// the seat's next learner.
	lease := "revoke:" + w.ID + "/" + strconv.Itoa(p.Seat)
	holder := r.cfg.Holder + "/" + token.Random(6)
	ok, err := r.cfg.Store.TryLease(ctx, lease, holder, 2*revokeTimeout)
	if err != nil {
		return fmt.Errorf("seat %d: revoke lease: %w", p.Seat, err)
	}
	if !ok {
		return fmt.Errorf("seat %d: %w", p.Seat, ErrRevokeBusy)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = r.cfg.Store.ReleaseLease(rctx, lease, holder)
	}()
	if pending, err := r.stillPending(ctx, p); err != nil || !pending {
		return err // nil: another applier has confirmed it meanwhile
	}
	actx, cancel := context.WithTimeout(ctx, revokeTimeout)
	defer cancel()
	err = r.revokeOnHost(actx, w, p)
	if err != nil {
		if ferr := r.cfg.Store.FailRevoke(ctx, w.ID, p.Seat, p.MinGeneration, err.Error()); ferr != nil {
			slog.Warn("record failed revoke", "workshop", w.ID, "seat", p.Seat, "err", ferr)
		}
		return err
	}
	if err := r.cfg.Store.ConfirmRevoke(ctx, w.ID, p.Seat, p.MinGeneration); err != nil {
		return fmt.Errorf("seat %d: confirm revoke: %w", p.Seat, err)
	}
	msg := "seat " + strconv.Itoa(p.Seat) + ": its host refuses the old access's tokens"
	if p.Reset {
		msg = "seat " + strconv.Itoa(p.Seat) + " was reset for its next learner"
	}
	if p.Attempts > 0 {
		msg += fmt.Sprintf(" (after %d failed attempts)", p.Attempts)
	}
	r.event(ctx, w.ID, "info", "", msg)
	return nil
}

// endpoint is how to reach w's agent: its URL, token and pinned certificate.
func endpoint(w *store.Workshop) agentclient.Endpoint {
	return agentclient.Endpoint{URL: w.AgentURL, Token: w.AgentToken, CertPEM: w.AgentCert}
}

func (r *Reconciler) revokeOnHost(ctx context.Context, w *store.Workshop, p store.PendingRevoke) error {
	a := r.cfg.Dial(endpoint(w))
	if _, err := a.Disconnect(ctx, w.ID, p.Seat, p.MinGeneration); err != nil {
		return fmt.Errorf("disconnect seat %d: %w", p.Seat, err)
	}
	if !p.Reset {
		return nil
	}
	if err := r.saveSeat(ctx, a, w, p.Seat, p.RegistrationID); err != nil {
		// The home is kept (no reset) rather than lost; retried.
		return fmt.Errorf("save seat %d before its reset (the seat was not reset): %w", p.Seat, err)
	}
	if err := a.DeleteSeat(ctx, w.ID, p.Seat); err != nil {
		return fmt.Errorf("reset seat %d: %w", p.Seat, err)
	}
	if _, _, err := a.CreateSeat(ctx, w.ID, p.Seat, seatOptions(w)); err != nil {
		return fmt.Errorf("recreate seat %d: %w", p.Seat, err)
	}
	return nil
}

// applyPendingRevokes retries the running workshop's unconfirmed revokes.
// Failures are recorded on each revoke (the class view shows them) and
// retried on the next pass; they never hold up the rest of the pass.
func (r *Reconciler) applyPendingRevokes(ctx context.Context, w *store.Workshop) {
	pending, err := r.cfg.Store.ListPendingRevokes(ctx, w.ID)
	if err != nil {
		slog.Warn("list pending revokes", "workshop", w.ID, "err", err)
		return
	}
	for _, p := range pending {
		if err := r.ApplyRevoke(ctx, w, p); err != nil && ctx.Err() == nil && !errors.Is(err, ErrRevokeBusy) {
			r.errorsTotal.Inc()
			slog.Warn("pending revoke failed; will retry", "workshop", w.ID, "seat", p.Seat, "err", err)
		}
	}
}
