package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/provision"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// watch health-checks a running workshop's agent (at most every
// WatchEvery), and recovers a host that vanished, was preempted, or
// stopped answering.
//
// The check is the agent's list of seats (GET /vms), which a healthy
// agent's watch reads anyway (ensureSeats): an agent that answers it is
// up. Only when the list fails is the agent asked for its health as well,
// so that an agent that answers but cannot list its seats is not taken for
// down. Both of the agent's answers check every seat it runs (the seat's
// process and its daemon); asking for both on every watch doubled that
// work for nothing (bench/bigclass's README, 2026-12-06).
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

	defer r.goExtraHosts(ctx, w)()
	agent := r.cfg.Dial(endpoint(w))
	seats, herr := listSeats(ctx, agent, 10*time.Second)
	if herr != nil {
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, herr = agent.Health(hctx)
		cancel()
	}
	vm, err := r.vm(ctx, w)
	if err != nil {
		return err
	}
	if herr == nil {
		return r.healthy(ctx, w, vm, agent, seats)
	}
	r.noteAgentDown(w.ID)
	r.agentUp.WithLabelValues(w.ID).Set(0)
	return r.unhealthy(ctx, w, vm, herr)
}

// agentDown is the index of the running agent_down step, or -1. How long
// the agent has been down is kept in it (on Config.Now), not read from the
// record's UpdatedAt, which the store stamps with its own clock and every
// write moves.
func agentDown(vm *store.WorkshopVM) int {
	down := -1
	for i, s := range vm.Steps {
		if s.Name == StepAgentDown && s.Status == store.StepRunning {
			down = i
		}
	}
	return down
}

// healthy: the agent answered. Missing seats are created again, the
// homes saved when it is time, and a host that was down is marked up.
func (r *Reconciler) healthy(ctx context.Context, w *store.Workshop, vm *store.WorkshopVM, agent Agent, seats []agentclient.Seat) error {
	r.agentUp.WithLabelValues(w.ID).Set(1)
	if err := r.ensureSeats(ctx, agent, w, seats); err != nil {
		r.log.Warn("check the seats of a running workshop", "workshop", w.ID, "err", err)
	}
	r.periodicSave(ctx, agent, w)
	down := agentDown(vm)
	if vm.Status == vmRunning && down < 0 {
		return nil
	}
	c := &change{}
	vm.Status, vm.UpdatedAt = vmRunning, r.cfg.Now()
	if down >= 0 {
		vm.Steps = append(vm.Steps[:down:down], vm.Steps[down+1:]...)
	}
	c.host = vm
	if w.StatusReason != "" {
		c.edit(func(w *store.Workshop) { w.StatusReason = "" })
		r.say(c, "info", "", "the workshop machine answers again")
	}
	return r.commit(ctx, w, c)
}

// unhealthy: the agent did not answer. A host found at a new address is
// followed there; a host gone, stopped or suspended is recovered; an
// agent that stays silent longer than UnhealthyAfter gets its host
// recreated (except where the host keeps the learners' homes).
func (r *Reconciler) unhealthy(ctx context.Context, w *store.Workshop, vm *store.WorkshopVM, herr error) error {
	now := r.cfg.Now()
	host, gerr := r.cfg.Provisioner.GetHost(ctx, w.ID)
	if gerr == nil && host.AgentURL != "" && host.AgentURL != w.AgentURL {
		moved, err := r.reregister(ctx, w, vm, host)
		if moved || err != nil {
			return err
		}
	}
	_, keepsHomes := r.cfg.Provisioner.(provision.HomeKeeper)
	if gerr == nil && keepsHomes && host.State == provision.HostStopped {
		return r.restartInPlace(ctx, w, vm)
	}
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
	case host.State == provision.HostStopped:
		lost = "the workshop machine was stopped (" + host.Status + "; a Spot VM may have been preempted)"
		restart = true
	case host.State == provision.HostSuspended:
		lost = "the workshop machine was suspended"
	}
	if lost == "" {
		down := agentDown(vm)
		if down < 0 {
			c := &change{}
			vm.Status, vm.UpdatedAt = vmUnhealthy, now
			vm.Steps = append(vm.Steps, store.Step{Name: StepAgentDown, Status: store.StepRunning, StartedAt: now})
			c.host = vm
			c.edit(func(w *store.Workshop) { w.StatusReason = "the workshop machine's agent is not answering" })
			r.say(c, "warn", StepAgentDown, "the workshop machine's agent is not answering: "+herr.Error())
			return r.commit(ctx, w, c)
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
	return r.recover(ctx, w, vm, lost, restart)
}

// recover sends a running workshop whose host was lost back to
// provisioning. A stopped host (a preempted Spot VM) is kept: its disk
// holds the learners' files and the agent's state, and provisioning again
// starts it (EnsureHost). Anything else is removed and recreated.
func (r *Reconciler) recover(ctx context.Context, w *store.Workshop, vm *store.WorkshopVM, lost string, restart bool) error {
	c := &change{}
	vm.Status = vmRecreating
	if restart {
		vm.Status = vmRestarting
		r.say(c, "warn", "", lost+"; starting it again")
	} else {
		r.say(c, "warn", "", lost+"; recreating it")
		if err := r.cfg.Provisioner.DeleteHost(ctx, w.ID); err != nil {
			// Told anyway: the next pass tries again.
			r.event(ctx, w.ID, "warn", "", lost+"; recreating it")
			return fmt.Errorf("delete lost host: %w", err)
		}
	}
	vm.Steps, vm.UpdatedAt = nil, r.cfg.Now()
	c.host = vm
	c.edit(func(w *store.Workshop) {
		w.Status = store.StatusProvisioning
		w.StatusReason = lost
		w.AgentURL, w.AgentCert = "", ""
	})
	return r.commit(ctx, w, c)
}

// reregister points a running workshop at its host's agent's new address
// (a restarted control plane's local agent whose old port was taken) once
// the agent answers there. It reports whether it did.
func (r *Reconciler) reregister(ctx context.Context, w *store.Workshop, vm *store.WorkshopVM, host *provision.Host) (bool, error) {
	agentToken := hostEndpoint(w, host).Token
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, herr := r.cfg.Dial(agentclient.Endpoint{URL: host.AgentURL, Token: agentToken, CertPEM: host.AgentCert}).Health(hctx)
	cancel()
	if herr != nil {
		return false, nil
	}
	c := &change{}
	c.edit(func(w *store.Workshop) {
		w.AgentURL, w.AgentToken, w.AgentCert, w.StatusReason = host.AgentURL, agentToken, host.AgentCert, ""
	})
	vm.AgentURL, vm.Status, vm.UpdatedAt = host.AgentURL, vmRunning, r.cfg.Now()
	vm.Steps = slices.DeleteFunc(vm.Steps, func(s store.Step) bool { return s.Name == StepAgentDown && s.Status == store.StepRunning })
	c.host = vm
	r.say(c, "info", "", "the workshop machine's agent answers at its new address "+host.AgentURL)
	if err := r.commit(ctx, w, c); err != nil {
		return false, err
	}
	r.agentUp.WithLabelValues(w.ID).Set(1)
	return true, nil
}

// ensureSeats creates the seats of a running workshop that its agent does
// not have or reports dead (a seat the agent still has is never touched;
// one created again gets its kept home back).
func (r *Reconciler) ensureSeats(ctx context.Context, agent Agent, w *store.Workshop, seats []agentclient.Seat) error {
	if seats == nil {
		var err error
		if seats, err = listSeats(ctx, agent, 10*time.Second); err != nil {
			return err
		}
	}
	r.noteSeats(w.ID, seats)
	have := map[int]bool{}
	for _, s := range seats {
		if s.WorkshopID == w.ID && s.Status != agentclient.StatusDead {
			have[s.Seat] = true
		}
	}
	var errs []error
	first, last := w.HostSeats(1)
	for n := first; n <= last; n++ {
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
		m[s.Seat] = st
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
	r.seatStates[workshopID][s.Seat] = st
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

// listSeats is the agent's seats (GET /vms) within timeout, never nil
// when err is nil.
func listSeats(ctx context.Context, agent Agent, timeout time.Duration) ([]agentclient.Seat, error) {
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	seats, err := agent.ListSeats(lctx)
	if err == nil && seats == nil {
		seats = []agentclient.Seat{}
	}
	return seats, err
}
