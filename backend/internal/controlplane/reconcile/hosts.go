package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/archive"
	"github.com/clarateach/backend/internal/controlplane/provision"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// Multi-host workshops. Host 1 is the seed's single host, driven by the
// steps of provision.go and watched by watch.go with the workshop's own
// agent token and certificate. A workshop bigger than one host
// (store.Workshop.Hosts) also has hosts 2..N, each with its own record
// (store.WorkshopVM with HostIndex), token and certificate. extraHosts
// brings them up in parallel with host 1 and with each other, and every
// watch pass of a running workshop looks at them again: a host that
// failed, was preempted or disappeared is repaired (EnsureHost starts or
// recreates it) while the other hosts serve, and only the seats placed on
// it (store.Workshop.HostOf) wait. A host past the workshop's need that
// holds no live seat (the workshop shrank) is drained: deleted.

// Extra host record states, beside the states of state.go.
const (
	vmFailed = "failed" // the provider refused or failed (quota); retried next pass
)

// extraHosts reconciles hosts 2.. of w. It returns how many of the hosts
// the workshop needs are running, and the hosts' errors joined.
func (r *Reconciler) extraHosts(ctx context.Context, w *store.Workshop) (int, error) {
	rows, err := r.cfg.Store.ListWorkshopHosts(ctx, w.ID)
	if err != nil {
		return 0, err
	}
	byIndex := map[int]*store.WorkshopVM{}
	for i := range rows {
		byIndex[rows[i].HostIndex] = &rows[i]
	}
	keep, err := r.hostsHeld(ctx, w)
	if err != nil {
		return 0, err
	}
	hs, multi := r.cfg.Provisioner.(provision.HostSet)
	if keep > 1 && !multi {
		return 0, fmt.Errorf("the %s provisioner runs one host per workshop; this workshop needs %d", r.cfg.Provisioner.Name(), keep)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		errs    []error
		running int
	)
	for i := 2; i <= keep; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := r.ensureExtra(ctx, w, i, byIndex[i])
			mu.Lock()
			defer mu.Unlock()
			if ok {
				running++
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("host %d: %w", i, err))
			}
		}()
	}
	wg.Wait()
	for _, row := range rows {
		if row.HostIndex > keep && row.HostIndex > 1 {
			if err := r.drainHost(ctx, hs, w, row.HostIndex); err != nil {
				errs = append(errs, fmt.Errorf("drain host %d: %w", row.HostIndex, err))
			}
		}
	}
	return running, errors.Join(errs...)
}

// hostsHeld is how many hosts w keeps: those its seats need, and any
// host past them that still holds a live seat (a shrunk workshop drains a
// host only once it is empty).
func (r *Reconciler) hostsHeld(ctx context.Context, w *store.Workshop) (int, error) {
	keep := w.Hosts()
	if w.SeatsPerHost <= 0 {
		return keep, nil
	}
	seats, err := r.cfg.Store.ListSeats(ctx, w.ID)
	if err != nil {
		return 0, err
	}
	for _, st := range seats {
		keep = max(keep, w.HostOf(st.Seat))
	}
	return keep, nil
}

// ensureExtra brings host i of w to running: the provider's host (made,
// started or found), its agent answering, its seats created and the
// learners' saved work restored. It reports whether the host runs. A
// failure is recorded on the host's record and in the workshop's events
// (once per new error), and returned; the next pass tries again.
func (r *Reconciler) ensureExtra(ctx context.Context, w *store.Workshop, i int, vm *store.WorkshopVM) (bool, error) {
	if vm == nil {
		now := r.cfg.Now()
		vm = &store.WorkshopVM{WorkshopID: w.ID, HostIndex: i, Name: vmPending, Status: vmPending, CreatedAt: now, UpdatedAt: now}
	}
	if vm.AgentToken == "" {
		vm.AgentToken = authtoken.NewAgentToken()
	}
	first, last := w.HostSeats(i)
	heard := vmEndpoint(*vm)
	stopped, seats := r.extraStopped(ctx, w, vm)
	sctx, cancel := context.WithTimeout(ctx, r.cfg.StepTimeout)
	host, err := r.cfg.Provisioner.EnsureHost(sctx, provision.Request{
		WorkshopID:   w.ID,
		Host:         i,
		Seats:        max(last-first+1, 1),
		AgentToken:   vm.AgentToken,
		WorkspaceKey: authtoken.WorkshopKeyHex(r.cfg.WorkspaceSecret, w.ID),
		BackendURL:   r.cfg.BackendURL,
	})
	cancel()
	if err != nil {
		return false, r.extraFailed(ctx, w, vm, vmFailed, err)
	}
	vm.Name, vm.Zone, vm.IP, vm.AgentURL = host.Name, host.Zone, host.IP, host.AgentURL
	if host.AgentToken != "" {
		vm.AgentToken = host.AgentToken
	}
	vm.AgentCert = host.AgentCert
	ep := vmEndpoint(*vm)
	agent := r.cfg.Dial(ep)
	if seats == nil || ep != heard {
		// Not heard from at this address, with this token and certificate,
		// in this pass: its health first.
		seats = nil
		hctx, hcancel := context.WithTimeout(ctx, 10*time.Second)
		_, herr := agent.Health(hctx)
		hcancel()
		if herr != nil {
			return false, r.extraFailed(ctx, w, vm, vmUnhealthy, fmt.Errorf("the agent at %s is not answering: %w", vm.AgentURL, herr))
		}
	}
	if err := r.extraSeats(ctx, agent, w, i, seats); err != nil {
		return false, r.extraFailed(ctx, w, vm, vmUnhealthy, err)
	}
	wasStatus := vm.Status
	vm.Status = vmRunning
	c := &change{host: vm}
	switch {
	case wasStatus != vmRunning:
		r.say(c, "info", "", fmt.Sprintf("host %d (%s) runs seats %d-%d", i, vm.Name, first, last))
	case stopped != "":
		r.say(c, "warn", "", fmt.Sprintf("host %d (seats %d-%d) was stopped (%s); it was started again (the other hosts kept serving)", i, first, last, stopped))
	}
	return true, r.commit(ctx, w, c)
}

// extraStopped is the provider's word for host i of w (TERMINATED: a
// preempted Spot VM; STOPPED: a local agent that stopped) when its record
// says it runs, its agent does not answer and the provider has it
// stopped; "" otherwise. EnsureHost starts such a host again without a
// word, so ensureExtra says it, as restartInPlace does for host 1. The
// provider is asked only when the agent is silent: a pass over running
// hosts costs no more calls to it than before.
//
// The agent is asked for its seats (GET /vms), which ensureExtra needs
// anyway: they are returned when it answered (nil otherwise), so that the
// pass does not ask it for its health and then its seats, two answers
// that each check every seat it runs. When the list fails, its health
// decides whether it is silent, as before.
func (r *Reconciler) extraStopped(ctx context.Context, w *store.Workshop, vm *store.WorkshopVM) (string, []agentclient.Seat) {
	hs, ok := r.cfg.Provisioner.(provision.HostSet)
	if !ok || vm.Status != vmRunning || vm.AgentURL == "" {
		return "", nil
	}
	agent := r.cfg.Dial(vmEndpoint(*vm))
	seats, herr := listSeats(ctx, agent, 3*time.Second)
	if herr == nil {
		return "", seats
	}
	hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, herr = agent.Health(hctx)
	cancel()
	if herr == nil {
		return "", nil
	}
	host, err := hs.GetHostN(ctx, w.ID, vm.HostIndex)
	if err != nil || host.State != provision.HostStopped {
		return "", nil
	}
	return host.Status, nil
}

// extraSeats creates host i's missing seats and restores their learners'
// saved work.
func (r *Reconciler) extraSeats(ctx context.Context, agent Agent, w *store.Workshop, i int, seats []agentclient.Seat) error {
	first, last := w.HostSeats(i)
	if seats == nil {
		var err error
		if seats, err = listSeats(ctx, agent, 10*time.Second); err != nil {
			return err
		}
	}
	have := map[int]bool{}
	for _, s := range seats {
		if s.WorkshopID == w.ID && s.Status != agentclient.StatusDead {
			have[s.Seat] = true
		}
	}
	var missing []int
	for n := first; n <= last; n++ {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := r.createSeatList(ctx, agent, w, missing, w.Environment); err != nil {
		return err
	}
	if r.cfg.Archiver == nil {
		return nil
	}
	if aa, ok := homesAgent(agent); ok {
		if _, err := r.cfg.Archiver.RestoreHost(ctx, aa, w, i); err != nil {
			return err
		}
	}
	return nil
}

// extraFailed records a host's failure: its record's status and, when
// the error is new, a warning event naming the host and its seats.
func (r *Reconciler) extraFailed(ctx context.Context, w *store.Workshop, vm *store.WorkshopVM, status string, err error) error {
	first, last := w.HostSeats(vm.HostIndex)
	c := &change{}
	if vm.Status != status || !hasStepError(vm.Steps, err.Error()) {
		r.say(c, "warn", "", fmt.Sprintf("host %d (seats %d-%d) is not ready: %v; the other hosts serve their seats", vm.HostIndex, first, last, err))
	}
	vm.Status = status
	vm.Steps = []store.Step{{Name: StepCreateHost, Status: store.StepFailed, StartedAt: r.cfg.Now(), Error: err.Error()}}
	c.host = vm
	if cerr := r.commit(ctx, w, c); cerr != nil {
		return errors.Join(err, cerr)
	}
	return err
}

func hasStepError(steps []store.Step, msg string) bool {
	for _, s := range steps {
		if s.Error == msg {
			return true
		}
	}
	return false
}

// drainHost removes host i of a shrunk workshop: it holds no live seat.
func (r *Reconciler) drainHost(ctx context.Context, hs provision.HostSet, w *store.Workshop, i int) error {
	if hs != nil {
		dctx, cancel := context.WithTimeout(ctx, r.cfg.StepTimeout)
		err := hs.DeleteHostN(dctx, w.ID, i)
		cancel()
		if err != nil {
			return err
		}
	}
	if err := r.cfg.Store.DeleteWorkshopHost(ctx, w.ID, i); err != nil {
		return err
	}
	r.event(ctx, w.ID, "info", "", fmt.Sprintf("host %d held no seat after the workshop shrank; it was removed", i))
	return nil
}

// goExtraHosts starts extraHosts for w (on a copy: host 1's steps change
// *w meanwhile) and returns the wait for it. A single-host workshop with
// no other host record costs one read.
func (r *Reconciler) goExtraHosts(ctx context.Context, w *store.Workshop) (wait func()) {
	wc := *w
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := r.extraHosts(ctx, &wc); err != nil {
			r.log.Warn("workshop hosts", "workshop", wc.ID, "err", err)
		}
	}()
	return func() { <-done }
}

// saveExtraHomes saves the homes of the learners on hosts 2.. (saveHomes
// does host 1's), adding to rep and err.
func (r *Reconciler) saveExtraHomes(ctx context.Context, w *store.Workshop, reason string, rep *archive.Report, err *error) {
	rows, lerr := r.cfg.Store.ListWorkshopHosts(ctx, w.ID)
	if lerr != nil {
		*err = errors.Join(*err, lerr)
		return
	}
	for _, vm := range rows {
		if vm.HostIndex <= 1 || vm.AgentURL == "" {
			continue
		}
		aa, ok := homesAgent(r.cfg.Dial(vmEndpoint(vm)))
		if !ok {
			continue
		}
		got, serr := r.cfg.Archiver.SaveHost(ctx, aa, w, vm.HostIndex, reason)
		rep.Saved, rep.Unchanged, rep.Failed, rep.Bytes = rep.Saved+got.Saved, rep.Unchanged+got.Unchanged, rep.Failed+got.Failed, rep.Bytes+got.Bytes
		*err = errors.Join(*err, serr)
	}
}

// restartInPlace starts the stopped first host of a running workshop again
// where it is: a local agent that stopped (the provisioner keeps homes and
// reports the host stopped). Unlike a lost cloud host, the workshop stays
// running meanwhile, so its other hosts keep serving; once the agent
// answers (at a new address if its old one was taken), the seats it lacks
// are created.
func (r *Reconciler) restartInPlace(ctx context.Context, w *store.Workshop, vm *store.WorkshopVM) error {
	sctx, cancel := context.WithTimeout(ctx, r.cfg.StepTimeout)
	host, err := r.cfg.Provisioner.EnsureHost(sctx, provision.Request{
		WorkshopID:   w.ID,
		Host:         1,
		Seats:        w.Seats,
		AgentToken:   w.AgentToken,
		WorkspaceKey: authtoken.WorkshopKeyHex(r.cfg.WorkspaceSecret, w.ID),
		BackendURL:   r.cfg.BackendURL,
	})
	cancel()
	if err != nil {
		return fmt.Errorf("start the stopped host 1 again: %w", err)
	}
	r.event(ctx, w.ID, "warn", "", "host 1's agent had stopped; it was started again (the other hosts kept serving)")
	if host.AgentURL != w.AgentURL {
		_, err := r.reregister(ctx, w, vm, host)
		return err
	}
	agent := r.cfg.Dial(hostEndpoint(w, host))
	hctx, hcancel := context.WithTimeout(ctx, 10*time.Second)
	_, herr := agent.Health(hctx)
	hcancel()
	if herr != nil {
		return nil // looked at again next pass
	}
	return r.healthy(ctx, w, vm, agent, nil)
}
