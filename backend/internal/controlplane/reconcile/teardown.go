package reconcile

import (
	"context"

	"github.com/clarateach/backend/internal/controlplane/archive"
	"github.com/clarateach/backend/internal/controlplane/provision"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// teardown drives a workshop to final (stopped or deleted) through the
// step delete_host: a stopped workshop's learners' work is saved first, a
// deleted one's archives are purged after its host is gone.
func (r *Reconciler) teardown(ctx context.Context, w *store.Workshop, final store.Status) (bool, error) {
	r.mu.Lock()
	delete(r.seatStates, w.ID)
	r.mu.Unlock()
	vm, err := r.vm(ctx, w)
	if err != nil {
		return false, err
	}
	c := &change{}
	c.edit(func(w *store.Workshop) { w.Status = store.StatusStopping })
	r.begin(c, vm, StepDeleteHost)
	if err := r.commit(ctx, w, c); err != nil {
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
		return false, r.fail(ctx, c, w, vm, StepDeleteHost, err)
	}
	// Close the step (its timing goes to the events) and drop the record.
	r.end(c, vm, StepDeleteHost, nil)
	c.host, c.dropHost = nil, true
	if err := r.commit(ctx, w, c); err != nil {
		return false, err
	}
	r.agentUp.DeleteLabelValues(w.ID)
	if final == store.StatusDeleted {
		if err := r.purgeHomes(ctx, w); err != nil {
			return false, r.fail(ctx, c, w, nil, StepDeleteHost, err)
		}
	}
	c.edit(func(w *store.Workshop) {
		w.Status = final
		w.Step = ""
		w.StatusReason = ""
		w.AgentURL, w.AgentCert = "", ""
		w.Attempts = 0
		w.NextAttemptAt = nil
	})
	r.say(c, "info", "", "the workshop is "+string(final)+"; its machine is gone")
	if err := r.commit(ctx, w, c); err != nil {
		return false, err
	}
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
