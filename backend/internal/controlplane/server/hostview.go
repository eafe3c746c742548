package server

import (
	"github.com/clarateach/backend/internal/controlplane/api"
	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/gce/gcename"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// hostNamer names a host of w that has no record yet: the GCE instance it
// will be (clarateach-fc-ws-<ID>, -2, -3, ...) on the gcp provisioner,
// "local" on the local one.
func hostNamer(w *store.Workshop) func(int) string {
	return func(n int) string {
		if w.Provisioner != config.ProvisionerGCP {
			return config.ProvisionerLocal
		}
		return gcename.HostName(w.ID, n)
	}
}

// apiWorkshopHosts converts the hosts' states (store.HostStates) for the
// API.
func apiWorkshopHosts(hs []store.HostState) []api.WorkshopHost {
	out := make([]api.WorkshopHost, 0, len(hs))
	for _, h := range hs {
		out = append(out, api.WorkshopHost{Number: h.Number, Name: h.Name, State: h.State, Reason: h.Reason,
			FirstSeat: h.FirstSeat, LastSeat: h.LastSeat, Seats: h.Seats(), Zone: h.Zone, IP: h.IP})
	}
	return out
}
