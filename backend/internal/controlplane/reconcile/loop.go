package reconcile

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// Run loops until ctx ends: a pass every interval, and at once after a Kick.
// Work on each workshop runs in its own goroutine, so one slow cloud call
// never holds up the others.
func (r *Reconciler) Run(ctx context.Context, interval time.Duration) {
	r.work.Add(1)
	defer r.work.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	gcEvery := 30
	for pass := 0; ; pass++ {
		if err := r.dispatch(ctx, false); err != nil && ctx.Err() == nil {
			r.log.Warn("reconcile pass failed", "err", err)
		}
		if pass%gcEvery == 0 {
			if _, err := r.GC(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("garbage collection failed", "err", err)
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

// Wait returns once Run and the work on each workshop it started have
// returned: after Run's context ended, they stop at their next check of it
// (the server's shutdown waits for this, with a deadline).
func (r *Reconciler) Wait() { r.work.Wait() }

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
	r.work.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.work.Done()
		defer func() {
			if wg != nil {
				wg.Done()
			}
		}()
		for {
			if err := r.Workshop(ctx, id); err != nil && ctx.Err() == nil {
				r.log.Warn("reconcile workshop", "workshop", id, "err", err)
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
			r.log.Warn("reconcile lease taken by another replica; stopping", "lease", lease)
		case time.Since(renewed) < r.cfg.LeaseTTL:
			continue // transient; retry on the next tick
		default:
			if ctx.Err() == nil {
				r.log.Warn("reconcile lease could not be renewed; stopping", "lease", lease, "err", err)
			}
		}
		cancel()
		return
	}
}

// action is what one pass does to a workshop: the state machine's edges.
type action int

const (
	// actIdle: nothing to do now (at its desired state, scheduled later,
	// backing off, or out of automatic retries).
	actIdle action = iota
	// actExpire: past its end time; its desired state becomes stopped.
	actExpire
	// actWatch: running; health-check it and retry its pending revokes.
	actWatch
	// actProvision: towards running (provision.go).
	actProvision
	// actTeardown: towards stopped or deleted (teardown.go).
	actTeardown
)

// next is the state machine: from a workshop's desired state and status
// (and its schedule and retry bookkeeping) it picks what a pass does now,
// and for a teardown, the status it ends in.
func (r *Reconciler) next(w *store.Workshop, now time.Time) (action, store.Status) {
	switch w.DesiredState {
	case store.DesiredRunning:
		switch {
		case w.EndsAt != nil && !now.Before(*w.EndsAt):
			return actExpire, ""
		case w.Status == store.StatusRunning:
			return actWatch, ""
		case w.StartsAt != nil && w.Status == store.StatusCreated && now.Before(w.StartsAt.Add(-r.cfg.ProvisionAhead)) && w.Attempts == 0 && w.NextAttemptAt == nil:
			return actIdle, "" // provisioned ahead of the class, not earlier
		case w.NextAttemptAt != nil && now.Before(*w.NextAttemptAt):
			return actIdle, "" // backing off
		case w.Status == store.StatusError && w.Attempts >= r.cfg.MaxAttempts:
			return actIdle, "" // waits for the instructor's retry
		}
		return actProvision, ""
	case store.DesiredStopped, store.DesiredDeleted:
		final := store.StatusStopped
		if w.DesiredState == store.DesiredDeleted {
			final = store.StatusDeleted
		}
		switch {
		case w.Status == final || (w.Status == store.StatusCreated && final == store.StatusStopped):
			return actIdle, ""
		case w.Status == store.StatusError && w.NextAttemptAt != nil && now.Before(*w.NextAttemptAt):
			return actIdle, "" // a failed teardown backs off (but never gives up)
		}
		return actTeardown, final
	}
	return actIdle, ""
}

// step makes one transition. It reports whether it changed anything.
func (r *Reconciler) step(ctx context.Context, w *store.Workshop) (bool, error) {
	act, final := r.next(w, r.cfg.Now())
	switch act {
	case actExpire:
		return r.expire(ctx, w)
	case actWatch:
		r.applyPendingRevokes(ctx, w)
		return false, r.watch(ctx, w)
	case actProvision:
		return r.provision(ctx, w)
	case actTeardown:
		return r.teardown(ctx, w, final)
	}
	return false, nil
}

// expire ends a workshop that reached its end time: it is torn down now,
// whatever backoff a failed provisioning left.
func (r *Reconciler) expire(ctx context.Context, w *store.Workshop) (bool, error) {
	c := &change{}
	c.edit(func(w *store.Workshop) {
		w.DesiredState = store.DesiredStopped
		w.Attempts, w.NextAttemptAt = 0, nil
	})
	r.say(c, "info", "", "the workshop reached its end time; tearing it down")
	err := r.commit(ctx, w, c)
	return err == nil, err
}
