package server

import (
	"context"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// seatHost is ws as one of its seats sees it: the workshop with the agent
// (AgentURL, AgentToken, AgentCert) of the host the seat is placed on
// (store.Workshop.HostOf). Host 1's are the workshop's own; a seat on
// another host is 503 until that host runs, whatever the other hosts do.
func (s *Server) seatHost(ctx context.Context, ws *store.Workshop, seat int) (*store.Workshop, error) {
	n := ws.HostOf(seat)
	if n <= 1 {
		return ws, nil
	}
	rows, err := s.st.ListWorkshopHosts(ctx, ws.ID)
	if err != nil {
		return nil, err
	}
	for _, vm := range rows {
		if vm.HostIndex != n {
			continue
		}
		if vm.Status != store.HostRunning || vm.AgentURL == "" {
			return nil, apierror.Unavailable("seat %d is on host %d of the workshop, which is not ready yet (%s)", seat, n, vm.Status)
		}
		hv := *ws
		hv.AgentURL, hv.AgentToken, hv.AgentCert = vm.AgentURL, vm.AgentToken, vm.AgentCert
		return &hv, nil
	}
	return nil, apierror.Unavailable("seat %d is on host %d of the workshop, which is not created yet", seat, n)
}
