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
			if w != nil && w.DesiredState == store.DesiredRunning && s.Seat <= w.Seats {
				continue
			}
			if w != nil && w.DesiredState == store.DesiredStopped && s.Seat <= w.Seats {
				// A stopped workshop's seat: it ends, its home stays.
				r.log.Info("stopping a seat of a stopped workshop", "workshop", s.WorkshopID, "seat", s.Seat, "agent", url)
				if err := a.StopSeat(ctx, s.WorkshopID, s.Seat); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			r.log.Info("deleting orphaned seat", "workshop", s.WorkshopID, "seat", s.Seat, "agent", url)
			if err := a.DeleteSeat(ctx, s.WorkshopID, s.Seat); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
