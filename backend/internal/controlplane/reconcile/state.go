package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// The host record's own states (store.WorkshopVM.Status). While its host
// is being created the record holds the provider's word instead
// (provision.Host.Status), which the class view shows as is.
const (
	vmPending    = "pending"
	vmRunning    = "running"
	vmUnhealthy  = "unhealthy"
	vmRestarting = "restarting"
	vmRecreating = "recreating"
	vmDeleted    = "deleted"
)

// change is one step transition being put together: what it does to the
// workshop, its host record and its history. commit writes it with one
// store call (store.Transition), so they never disagree.
type change struct {
	workshop []func(*store.Workshop)
	host     *store.WorkshopVM
	dropHost bool
	events   []*store.Event
}

// edit adds a change to the workshop (applied to the row read locked).
func (c *change) edit(fn func(*store.Workshop)) { c.workshop = append(c.workshop, fn) }

func (c *change) empty() bool {
	return len(c.workshop) == 0 && c.host == nil && !c.dropHost && len(c.events) == 0
}

// say adds an event to c and returns it (a workshop edit may still
// complete its message).
func (r *Reconciler) say(c *change, level string, step Step, msg string) *store.Event {
	e := &store.Event{At: r.cfg.Now(), Level: level, Step: step, Message: msg}
	c.events = append(c.events, e)
	return e
}

// commit writes c in one transaction, updates *w to the workshop as
// written, and empties c for the next transition. An empty c writes
// nothing.
func (r *Reconciler) commit(ctx context.Context, w *store.Workshop, c *change) error {
	if c.empty() {
		return nil
	}
	t := store.Transition{Host: c.host, DeleteHost: c.dropHost, Events: c.events}
	if edits := c.workshop; len(edits) > 0 {
		t.Workshop = func(w *store.Workshop) error {
			for _, fn := range edits {
				fn(w)
			}
			return nil
		}
	}
	*c = change{}
	got, err := r.cfg.Store.Transition(ctx, w.ID, t)
	if err != nil {
		return err
	}
	*w = *got
	return nil
}

// event records a line of history that goes with no transition.
func (r *Reconciler) event(ctx context.Context, id, level string, step Step, msg string) {
	if err := r.cfg.Store.AddEvent(ctx, &store.Event{WorkshopID: id, At: r.cfg.Now(), Level: level, Step: step, Message: msg}); err != nil {
		r.log.Warn("record event", "workshop", id, "err", err)
	}
}

// vm returns the workshop's host record, or an empty one (not yet stored).
func (r *Reconciler) vm(ctx context.Context, w *store.Workshop) (*store.WorkshopVM, error) {
	vm, err := r.cfg.Store.GetWorkshopVM(ctx, w.ID)
	if errors.Is(err, store.ErrNotFound) {
		now := r.cfg.Now()
		return &store.WorkshopVM{WorkshopID: w.ID, Name: vmPending, Status: vmPending, CreatedAt: now, UpdatedAt: now}, nil
	}
	return vm, err
}

// begin adds the start of step name to c and returns when it started. A
// step already running keeps its start (a waiting step measures its whole
// duration) and adds nothing.
func (r *Reconciler) begin(c *change, vm *store.WorkshopVM, name Step) time.Time {
	for _, s := range vm.Steps {
		if s.Name == name && s.Status == store.StepRunning {
			return s.StartedAt
		}
	}
	now := r.cfg.Now()
	vm.Steps = append(vm.Steps, store.Step{Name: name, Status: store.StepRunning, StartedAt: now})
	vm.UpdatedAt = now
	c.host = vm
	c.edit(func(w *store.Workshop) { w.Step = name })
	r.say(c, "info", name, stepLabel(name)+"…")
	return now
}

// end adds the end of step name to c: done (with its timing in the
// history) or failed with stepErr.
func (r *Reconciler) end(c *change, vm *store.WorkshopVM, name Step, stepErr error) {
	now := r.cfg.Now()
	for i := range vm.Steps {
		s := &vm.Steps[i]
		if s.Name == name && s.Status == store.StepRunning {
			s.FinishedAt = &now
			s.Status = store.StepDone
			if stepErr != nil {
				s.Status, s.Error = store.StepFailed, stepErr.Error()
			} else {
				r.say(c, "info", name, fmt.Sprintf("%s done in %s", stepLabel(name), now.Sub(s.StartedAt).Round(time.Millisecond)))
			}
		}
	}
	vm.UpdatedAt = now
	c.host = vm
}

func stepLabel(step Step) string {
	switch step {
	case StepCreateHost:
		return "Creating the workshop machine"
	case StepWaitAgent:
		return "Waiting for the machine's agent"
	case StepPullImage:
		return "Pulling the environment image"
	case StepCreateSeats:
		return "Preparing the seats"
	case StepDeleteHost:
		return "Removing the workshop machine"
	case StepAgentDown:
		return "The machine's agent is not answering"
	}
	return string(step)
}

// fail records a failed step (with c, which may already hold part of the
// transition): status error with a reason and a backoff. vm nil: the
// failure is past the host record (it is gone).
func (r *Reconciler) fail(ctx context.Context, c *change, w *store.Workshop, vm *store.WorkshopVM, step Step, err error) error {
	r.errorsTotal.Inc()
	if vm != nil {
		r.end(c, vm, step, err)
	}
	now := r.cfg.Now()
	reason := fmt.Sprintf("%s: %v", stepLabel(step), err)
	e := r.say(c, "error", step, reason)
	c.edit(func(w *store.Workshop) {
		w.Status = store.StatusError
		w.StatusReason = reason
		w.Attempts++
		next := now.Add(Backoff(w.Attempts))
		w.NextAttemptAt = &next
		e.Message = reason + r.retryNote(step, w.Attempts)
	})
	return errors.Join(err, r.commit(ctx, w, c))
}

// retryNote tells the instructor what happens after failed attempt n.
func (r *Reconciler) retryNote(step Step, n int) string {
	switch {
	case step == StepDeleteHost:
		// Teardown never gives up: a machine left running costs money.
		return fmt.Sprintf(" (retry %d in %s)", n, Backoff(n))
	case n >= r.cfg.MaxAttempts:
		return " (no more automatic retries; use Retry)"
	}
	return fmt.Sprintf(" (retry %d of %d in %s)", n, r.cfg.MaxAttempts, Backoff(n))
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

// stepIs reports whether the step list has step name with status.
func stepIs(steps []store.Step, name Step, status store.StepStatus) bool {
	for _, s := range steps {
		if s.Name == name && s.Status == status {
			return true
		}
	}
	return false
}

// runningStep is the name of the running step, or def.
func runningStep(steps []store.Step, def Step) Step {
	for _, s := range steps {
		if s.Status == store.StepRunning {
			return s.Name
		}
	}
	return def
}

func hasRunning(steps []store.Step) bool {
	for _, s := range steps {
		if s.Status == store.StepRunning {
			return true
		}
	}
	return false
}

// endpoint is how to reach w's agent: its URL, token and pinned certificate.
func endpoint(w *store.Workshop) agentclient.Endpoint {
	return agentclient.Endpoint{URL: w.AgentURL, Token: w.AgentToken, CertPEM: w.AgentCert}
}

// vmEndpoint is where host vm's agent answers, and how it is trusted.
func vmEndpoint(vm store.WorkshopVM) agentclient.Endpoint {
	return agentclient.Endpoint{URL: vm.AgentURL, Token: vm.AgentToken, CertPEM: vm.AgentCert}
}
