package reconcile

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/provision"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// provision drives a workshop towards running through its steps:
//
//	create_host → wait_agent → create_seats → running
//
// Each step method adds its end to the change the next one begins with, so
// moving from one step to the next is one store call, made before the
// next step's slow part (the class view shows it running meanwhile).
// Steps already done in this attempt are not done again: a pass that
// resumes the wait for the agent (or a replica that resumes after a crash)
// only looks the host up again (it may have a new address). A failed step
// is recorded (fail) and returned as the error.
func (r *Reconciler) provision(ctx context.Context, w *store.Workshop) (bool, error) {
	// Hosts 2.. come up alongside host 1 (hosts.go); the pass ends when
	// both have done what they can.
	defer r.goExtraHosts(ctx, w)()
	vm, err := r.vm(ctx, w)
	if err != nil {
		return false, err
	}
	c := r.beginAttempt(vm)
	host, ep, err := r.createHost(ctx, c, w, vm)
	if err != nil {
		return false, err
	}
	agent := r.cfg.Dial(ep)
	if ready, err := r.waitAgent(ctx, c, w, vm, host, agent); !ready || err != nil {
		return false, err // an agent still booting is checked again next pass
	}
	digest, err := r.pullImage(ctx, c, w, vm, agent)
	if err != nil {
		return false, err
	}
	if err := r.prepareSeats(ctx, c, w, vm, agent, digest); err != nil {
		return false, err
	}
	return true, r.markRunning(ctx, c, w, vm, host)
}

// beginAttempt starts (or resumes) an attempt: the workshop is
// provisioning, and its agent token is chosen and saved before any host
// exists, so a host created by an interrupted attempt is reused with the
// same token. A host record whose steps all finished belongs to an
// earlier attempt and this one starts a fresh step list; one with a
// running step is an attempt interrupted (or still waiting), resumed.
func (r *Reconciler) beginAttempt(vm *store.WorkshopVM) *change {
	c := &change{}
	agentToken := authtoken.NewAgentToken()
	c.edit(func(w *store.Workshop) {
		if w.Status != store.StatusProvisioning {
			w.Status = store.StatusProvisioning
			w.StatusReason = ""
		}
		if w.AgentToken == "" {
			w.AgentToken = agentToken
		}
	})
	if len(vm.Steps) > 0 && !hasRunning(vm.Steps) {
		vm.Steps = nil
	}
	return c
}

// createHost is the create_host step: the provisioner's EnsureHost, which
// also finds the host again once the step is done. It leaves in c the
// step's end and the host's own agent token and certificate (from its
// metadata: the host may come from an earlier attempt), and returns the
// host and how to reach its agent.
func (r *Reconciler) createHost(ctx context.Context, c *change, w *store.Workshop, vm *store.WorkshopVM) (*provision.Host, agentclient.Endpoint, error) {
	hostDone := stepIs(vm.Steps, StepCreateHost, store.StepDone)
	failStep := StepCreateHost
	if hostDone {
		failStep = runningStep(vm.Steps, StepWaitAgent)
	} else {
		r.begin(c, vm, StepCreateHost)
	}
	if err := r.commit(ctx, w, c); err != nil {
		return nil, agentclient.Endpoint{}, err
	}
	sctx, cancel := context.WithTimeout(ctx, r.cfg.StepTimeout)
	first, last := w.HostSeats(1) // host 1 is sized for its own seats, not the workshop's
	host, err := r.cfg.Provisioner.EnsureHost(sctx, provision.Request{
		WorkshopID:   w.ID,
		Seats:        max(last-first+1, 1),
		AgentToken:   w.AgentToken,
		WorkspaceKey: authtoken.WorkshopKeyHex(r.cfg.WorkspaceSecret, w.ID),
		BackendURL:   r.cfg.BackendURL,
	})
	cancel()
	if err != nil {
		return nil, agentclient.Endpoint{}, r.fail(ctx, c, w, vm, failStep, err)
	}
	changed := vm.Name != host.Name || vm.Zone != host.Zone || vm.IP != host.IP || vm.Status != host.Status || vm.AgentURL != host.AgentURL
	vm.Name, vm.Zone, vm.IP, vm.Status, vm.AgentURL = host.Name, host.Zone, host.IP, host.Status, host.AgentURL
	if !hostDone {
		r.end(c, vm, StepCreateHost, nil)
	} else if changed {
		vm.UpdatedAt = r.cfg.Now()
		c.host = vm
	}
	ep := hostEndpoint(w, host)
	if ep.Token != w.AgentToken || ep.CertPEM != w.AgentCert {
		c.edit(func(w *store.Workshop) { w.AgentToken, w.AgentCert = ep.Token, ep.CertPEM })
	}
	return host, ep, nil
}

// hostEndpoint is how to reach host's agent: the host's own token when it
// has one (the local provisioner's shared agent), else the workshop's.
func hostEndpoint(w *store.Workshop, host *provision.Host) agentclient.Endpoint {
	agentToken := w.AgentToken
	if host.AgentToken != "" {
		agentToken = host.AgentToken
	}
	return agentclient.Endpoint{URL: host.AgentURL, Token: agentToken, CertPEM: host.AgentCert}
}

// waitAgent is the wait_agent step: it reports whether the host's agent
// answers. One that has not answered within HealthTimeout fails the step.
func (r *Reconciler) waitAgent(ctx context.Context, c *change, w *store.Workshop, vm *store.WorkshopVM, host *provision.Host, agent Agent) (bool, error) {
	if stepIs(vm.Steps, StepWaitAgent, store.StepDone) {
		return true, nil
	}
	started := r.begin(c, vm, StepWaitAgent)
	if err := r.commit(ctx, w, c); err != nil {
		return false, err
	}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, herr := agent.Health(hctx)
	cancel()
	switch {
	case herr == nil:
		r.end(c, vm, StepWaitAgent, nil)
		return true, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	case r.cfg.Now().Sub(started) > r.cfg.HealthTimeout:
		return false, r.giveUpHost(ctx, c, w, vm, host, herr)
	}
	return false, nil
}

// giveUpHost fails wait_agent for a host whose agent never answered, and
// removes the host: the retry starts from a fresh one (retrying the same
// broken host cannot help), and nothing bills while the workshop waits in
// error.
func (r *Reconciler) giveUpHost(ctx context.Context, c *change, w *store.Workshop, vm *store.WorkshopVM, host *provision.Host, herr error) error {
	ferr := fmt.Errorf("the agent at %s did not answer within %s: %w", host.AgentURL, r.cfg.HealthTimeout, herr)
	dctx, cancel := context.WithTimeout(ctx, r.cfg.StepTimeout)
	derr := r.cfg.Provisioner.DeleteHost(dctx, w.ID)
	cancel()
	if derr != nil {
		ferr = fmt.Errorf("%w (removing the machine failed too: %v)", ferr, derr)
	} else {
		vm.Status, vm.IP, vm.AgentURL = vmDeleted, "", ""
	}
	return r.fail(ctx, c, w, vm, StepWaitAgent, ferr)
}

// prepareSeats is the create_seats step: every seat is created, then
// the learners' saved work restored into them.
func (r *Reconciler) prepareSeats(ctx context.Context, c *change, w *store.Workshop, vm *store.WorkshopVM, agent Agent, image string) error {
	r.begin(c, vm, StepCreateSeats)
	if err := r.commit(ctx, w, c); err != nil {
		return err
	}
	if err := r.createSeats(ctx, agent, w, image); err != nil {
		return r.fail(ctx, c, w, vm, StepCreateSeats, err)
	}
	if err := r.restoreHomes(ctx, agent, w); err != nil {
		return r.fail(ctx, c, w, vm, StepCreateSeats, err)
	}
	r.end(c, vm, StepCreateSeats, nil)
	return nil
}

// markRunning is the last transition: the workshop runs on host.
func (r *Reconciler) markRunning(ctx context.Context, c *change, w *store.Workshop, vm *store.WorkshopVM, host *provision.Host) error {
	started := vm.Steps[0].StartedAt
	vm.Status = vmRunning
	c.host = vm
	c.edit(func(w *store.Workshop) {
		w.Status = store.StatusRunning
		w.StatusReason = ""
		w.Step = ""
		w.AgentURL = host.AgentURL
		w.Attempts = 0
		w.NextAttemptAt = nil
	})
	took := r.cfg.Now().Sub(started)
	r.say(c, "info", "", fmt.Sprintf("running: %d seats ready in %s", w.Seats, took.Round(time.Millisecond)))
	if err := r.commit(ctx, w, c); err != nil {
		return err
	}
	r.provisionSeconds.Observe(took.Seconds())
	r.agentUp.WithLabelValues(w.ID).Set(1)
	return nil
}

// seatOptions are what the workshop asks of each of its seats: their disk
// size, the lab servers they may reach and whether the learner is root.
func seatOptions(w *store.Workshop) agentclient.SeatOptions {
	// Image: the workshop's image by reference (the agent runs the seat on
	// the image it pulled for it); provisioning passes the digest.
	return agentclient.SeatOptions{DiskMB: w.DiskMB, EgressAllow: strings.Fields(w.EgressAllow), Image: w.Environment,
		LearnerRoot: w.LearnerRoot}
}

// createSeats creates the seats of the first host (every seat of a
// single-host workshop) concurrently; the agent API is idempotent.
func (r *Reconciler) createSeats(ctx context.Context, agent Agent, w *store.Workshop, image string) error {
	first, last := w.HostSeats(1)
	seats := make([]int, 0, last-first+1)
	for n := first; n <= last; n++ {
		seats = append(seats, n)
	}
	return r.createSeatList(ctx, agent, w, seats, image)
}

// createSeatList creates the given seats concurrently.
func (r *Reconciler) createSeatList(ctx context.Context, agent Agent, w *store.Workshop, list []int, image string) error {
	opts := seatOptions(w)
	opts.Image = image
	sem := make(chan struct{}, r.cfg.SeatConcurrency)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, seat := range list {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			if _, _, err := agent.CreateSeat(sctx, w.ID, seat, opts); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("seat %d: %w", seat, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d seats failed: %w", len(errs), len(list), errs[0])
	}
	return nil
}
