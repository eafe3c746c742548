package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/clarateach/backend/internal/controlplane/archive"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// The reconciler's hook points for learners' homes (package archive does
// the work; nil Config.Archiver turns them all off):
//
//	saveHomes     before a host or seat is destroyed (teardown, reset)
//	restoreHomes  after the seats are created, before the workshop is running
//	periodicSave  while a healthy workshop runs
//	purgeHomes    after a deleted workshop's teardown
//	expireHomes   in GC

// homesAgent is the agent as the archiver sees it (every Dial of
// production returns an *agentclient.Client, which is one).
func homesAgent(a Agent) (archive.Agent, bool) {
	aa, ok := a.(archive.Agent)
	return aa, ok
}

// homesCtx bounds one save or restore of homes by HomesTimeout.
func (r *Reconciler) homesCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.cfg.HomesTimeout)
}

// homesErr says so when err came from hctx's deadline.
func (r *Reconciler) homesErr(hctx context.Context, err error) error {
	if err != nil && errors.Is(hctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("gave up after %s: %w", r.cfg.HomesTimeout, err)
	}
	return err
}

// saveHomes archives every seated learner's home before teardown, within
// HomesTimeout. A failure is recorded, not fatal: the latest periodic
// archive remains.
func (r *Reconciler) saveHomes(ctx context.Context, w *store.Workshop, reason string) {
	if r.cfg.Archiver == nil || w.AgentURL == "" {
		return
	}
	aa, ok := homesAgent(r.cfg.Dial(endpoint(w)))
	if !ok {
		return
	}
	hctx, cancel := r.homesCtx(ctx)
	defer cancel()
	t0 := time.Now()
	r.log.Info("saving the learners' work", "workshop", w.ID, "reason", reason, "deadline", r.cfg.HomesTimeout)
	rep, err := r.cfg.Archiver.SaveAll(hctx, aa, w, reason)
	r.saveExtraHomes(hctx, w, reason, &rep, &err)
	r.log.Info("saved the learners' work", "workshop", w.ID, "report", rep.String(), "took", time.Since(t0).Round(time.Millisecond), "err", err)
	if err = r.homesErr(hctx, err); err != nil {
		r.event(ctx, w.ID, "warn", "", fmt.Sprintf("saving the learners' work: %s: %v (their last saved copy is kept)", rep, err))
		return
	}
	if rep.Saved+rep.Unchanged > 0 {
		r.event(ctx, w.ID, "info", "", "saved the learners' work: "+rep.String())
	}
}

// restoreHomes puts each learner's latest archive into their new, empty
// seat. It fails the step when a restore fails, so the workshop does not
// report ready with a learner's work missing.
func (r *Reconciler) restoreHomes(ctx context.Context, agent Agent, w *store.Workshop) error {
	if r.cfg.Archiver == nil {
		return nil
	}
	aa, ok := homesAgent(agent)
	if !ok {
		return nil
	}
	hctx, cancel := r.homesCtx(ctx)
	defer cancel()
	n, err := r.cfg.Archiver.RestoreAll(hctx, aa, w)
	if n > 0 {
		r.event(ctx, w.ID, "info", StepCreateSeats, "restored "+strconv.Itoa(n)+" learners' work from their latest archive")
	}
	if err = r.homesErr(hctx, err); err != nil {
		return fmt.Errorf("restoring the learners' work: %w", err)
	}
	return nil
}

// restoreSeat puts the latest archive of the learner who holds seat into
// it, after the seat was found missing and started again.
func (r *Reconciler) restoreSeat(ctx context.Context, agent Agent, w *store.Workshop, seat int) {
	if r.cfg.Archiver == nil {
		return
	}
	aa, ok := homesAgent(agent)
	if !ok {
		return
	}
	hctx, cancel := r.homesCtx(ctx)
	defer cancel()
	restored, err := r.cfg.Archiver.RestoreSeat(hctx, aa, w, seat)
	err = r.homesErr(hctx, err)
	switch {
	case err != nil:
		r.event(ctx, w.ID, "warn", "", fmt.Sprintf("seat %d: restoring the learner's saved work: %v", seat, err))
	case restored:
		r.event(ctx, w.ID, "info", "", fmt.Sprintf("seat %d: the learner's work was restored from their latest archive", seat))
	}
}

// periodicSave archives a running workshop's homes every Archiver.Every.
func (r *Reconciler) periodicSave(ctx context.Context, agent Agent, w *store.Workshop) {
	if r.cfg.Archiver == nil {
		return
	}
	aa, ok := homesAgent(agent)
	if !ok {
		return
	}
	hctx, cancel := r.homesCtx(ctx)
	defer cancel()
	ran, rep, err := r.cfg.Archiver.Periodic(hctx, aa, w)
	err = r.homesErr(hctx, err)
	switch {
	case err != nil:
		r.event(ctx, w.ID, "warn", "", fmt.Sprintf("periodic save of the learners' work: %s: %v", rep, err))
	case ran && rep.Saved > 0:
		r.log.Info("periodic archive", "workshop", w.ID, "report", rep.String())
	}
}

// saveSeat archives one seat's home before it is reset for another
// learner.
func (r *Reconciler) saveSeat(ctx context.Context, agent Agent, w *store.Workshop, seat int, registrationID string) error {
	if r.cfg.Archiver == nil || registrationID == "" {
		return nil
	}
	aa, ok := homesAgent(agent)
	if !ok {
		return nil
	}
	hctx, cancel := r.homesCtx(ctx)
	defer cancel()
	_, err := r.cfg.Archiver.SaveSeat(hctx, aa, w, seat, registrationID, archive.ReasonReset)
	return r.homesErr(hctx, err)
}

// purgeHomes deletes a deleted workshop's archives.
func (r *Reconciler) purgeHomes(ctx context.Context, w *store.Workshop) error {
	if r.cfg.Archiver == nil {
		return nil
	}
	n, err := r.cfg.Archiver.PurgeWorkshop(ctx, w.ID)
	if err != nil {
		return fmt.Errorf("purge the learners' archives: %w", err)
	}
	if n > 0 {
		r.event(ctx, w.ID, "info", "", "deleted "+strconv.Itoa(n)+" archives of the learners' work")
	}
	return nil
}

// expireHomes removes archives past their retention.
func (r *Reconciler) expireHomes(ctx context.Context) error {
	if r.cfg.Archiver == nil {
		return nil
	}
	n, err := r.cfg.Archiver.Expire(ctx)
	if n > 0 {
		r.log.Info("expired archives", "removed", n)
	}
	return err
}
