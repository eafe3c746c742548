package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/store"
)

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
	holder := r.cfg.Holder + "/" + authtoken.Random(6)
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
			r.log.Warn("record failed revoke", "workshop", w.ID, "seat", p.Seat, "err", ferr)
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

func (r *Reconciler) revokeOnHost(ctx context.Context, w *store.Workshop, p store.PendingRevoke) error {
	ep, err := r.seatEndpoint(ctx, w, p.Seat)
	if err != nil {
		return err
	}
	a := r.cfg.Dial(ep)
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

// seatEndpoint is the agent of the host a seat is placed on
// (store.Workshop.HostOf): the workshop's own for host 1, else that host's
// record, which must be running (a revoke waits for its host).
func (r *Reconciler) seatEndpoint(ctx context.Context, w *store.Workshop, seat int) (agentclient.Endpoint, error) {
	n := w.HostOf(seat)
	if n <= 1 {
		return endpoint(w), nil
	}
	rows, err := r.cfg.Store.ListWorkshopHosts(ctx, w.ID)
	if err != nil {
		return agentclient.Endpoint{}, fmt.Errorf("seat %d: the workshop's hosts: %w", seat, err)
	}
	for _, vm := range rows {
		if vm.HostIndex == n && vm.Status == store.HostRunning && vm.AgentURL != "" {
			return vmEndpoint(vm), nil
		}
	}
	return agentclient.Endpoint{}, fmt.Errorf("seat %d is on host %d of the workshop, which is not running; the revoke is applied when it runs", seat, n)
}

// applyPendingRevokes retries the running workshop's unconfirmed revokes.
// Failures are recorded on each revoke (the class view shows them) and
// retried on the next pass; they never hold up the rest of the pass.
func (r *Reconciler) applyPendingRevokes(ctx context.Context, w *store.Workshop) {
	pending, err := r.cfg.Store.ListPendingRevokes(ctx, w.ID)
	if err != nil {
		r.log.Warn("list pending revokes", "workshop", w.ID, "err", err)
		return
	}
	for _, p := range pending {
		if err := r.ApplyRevoke(ctx, w, p); err != nil && ctx.Err() == nil && !errors.Is(err, ErrRevokeBusy) {
			r.errorsTotal.Inc()
			r.log.Warn("pending revoke failed; will retry", "workshop", w.ID, "seat", p.Seat, "err", err)
		}
	}
}
