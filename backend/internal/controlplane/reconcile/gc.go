package reconcile

import (
	"context"
	"errors"
	"fmt"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/provision"
	"github.com/clarateach/backend/internal/controlplane/store"
)

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
			if h.State == provision.HostRunning {
				r.log.Warn("stopping the seats of a stopped workshop", "host", h.Name, "workshop", h.WorkshopID)
				if err := hk.StopHost(ctx, h.WorkshopID); err != nil {
					errs = append(errs, fmt.Errorf("stop the seats of %s: %w", h.WorkshopID, err))
				}
			}
			continue
		}
		orphans++
		r.log.Warn("deleting orphaned host", "host", h.Name, "workshop", h.WorkshopID)
		if err := r.cfg.Provisioner.DeleteHost(ctx, h.WorkshopID); err != nil {
			errs = append(errs, fmt.Errorf("delete orphaned host %s: %w", h.Name, err))
		}
	}
	r.orphaned.Set(float64(orphans))
	errs = append(errs, r.gcSeats(ctx), r.expireHomes(ctx))
	return orphans, errors.Join(errs...)
}

// gcSeats ends the seats no running workshop wants, on the agent of every
// running host (host 1 and, for multi-host workshops, hosts 2..): seats of
// unknown or deleted workshops, seats past a workshop's size, and seats on
// a host other than the one their number maps to (Workshop.HostOf). A
// stopped workshop's seats are stopped, their homes kept.
func (r *Reconciler) gcSeats(ctx context.Context) error {
	running, err := r.cfg.Store.ListWorkshops(ctx, store.WorkshopFilter{})
	if err != nil {
		return err
	}
	byID := map[string]*store.Workshop{}
	agents := map[string]agentclient.Endpoint{} // url -> endpoint
	hostURLs := map[string]map[int]string{}     // workshop -> host index -> agent url
	for i := range running {
		w := &running[i]
		byID[w.ID] = w
		if w.Status != store.StatusRunning || w.AgentURL == "" {
			continue
		}
		agents[w.AgentURL] = endpoint(w)
		hostURLs[w.ID] = map[int]string{1: w.AgentURL}
		if w.Hosts() <= 1 {
			continue
		}
		rows, err := r.cfg.Store.ListWorkshopHosts(ctx, w.ID)
		if err != nil {
			return fmt.Errorf("the hosts of workshop %s: %w", w.ID, err)
		}
		for _, vm := range rows {
			if vm.HostIndex > 1 && vm.AgentURL != "" {
				hostURLs[w.ID][vm.HostIndex] = vm.AgentURL
				if vm.Status == store.HostRunning {
					agents[vm.AgentURL] = vmEndpoint(vm)
				}
			}
		}
	}
	var errs []error
	for url, ep := range agents {
		errs = append(errs, r.gcAgentSeats(ctx, url, r.cfg.Dial(ep), byID, hostURLs))
	}
	return errors.Join(errs...)
}

// gcAgentSeats is gcSeats on the agent at url.
func (r *Reconciler) gcAgentSeats(ctx context.Context, url string, a Agent, byID map[string]*store.Workshop, hostURLs map[string]map[int]string) error {
	seats, err := a.ListSeats(ctx)
	if err != nil {
		return fmt.Errorf("list seats on %s: %w", url, err)
	}
	var errs []error
	for _, s := range seats {
		w := byID[s.WorkshopID]
		// The seat's own host's agent; "" when not known yet (then the
		// seat is not judged misplaced).
		placed := true
		if w != nil {
			home := hostURLs[w.ID][w.HostOf(s.Seat)]
			placed = home == "" || home == url
		}
		if w != nil && w.DesiredState == store.DesiredRunning && s.Seat <= w.Seats && placed {
			continue
		}
		if w != nil && w.DesiredState == store.DesiredStopped && s.Seat <= w.Seats && placed {
			// A stopped workshop's seat: it ends, its home stays.
			r.log.Info("stopping a seat of a stopped workshop", "workshop", s.WorkshopID, "seat", s.Seat, "agent", url)
			if err := a.StopSeat(ctx, s.WorkshopID, s.Seat); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		r.log.Info("deleting orphaned seat", "workshop", s.WorkshopID, "seat", s.Seat, "agent", url, "misplaced", !placed)
		if err := a.DeleteSeat(ctx, s.WorkshopID, s.Seat); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
