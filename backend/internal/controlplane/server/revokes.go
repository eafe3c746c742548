package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/controlplane/api"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// handleRevoke revokes a learner: the registration and its access code stop
// working, its seat is freed, and a pending revoke records the seat's new
// minimum token generation until the host confirms it. 204 when the host
// confirmed at once; 202 with revoke_pending when it has not (yet): the
// reconciler retries, and the class view shows the seat as revoke pending.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) error {
	ws := workshopFrom(r.Context())
	reg, err := s.registrationOf(r, ws)
	if err != nil {
		return err
	}
	p, err := s.st.RevokeRegistration(r.Context(), ws.ID, reg.ID)
	if err != nil {
		return err
	}
	s.event(r, ws.ID, "warn", "", "learner "+reg.Email+" revoked by "+userFrom(r.Context()).Email)
	if p == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if msg := s.applyRevoke(r, ws, *p); msg != "" {
		apierror.JSON(w, http.StatusAccepted, api.RevokePending{RevokePending: true, Seat: p.Seat, Error: msg})
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleReissue gives a learner a new access code, shown once to the
// instructor. The old code stops working at once; the learner keeps the
// seat and its files, but every workspace token issued before is refused
// and its connections are closed (by the relay at once, and by the host,
// with a pending revoke until it confirms).
func (s *Server) handleReissue(w http.ResponseWriter, r *http.Request) error {
	ws := workshopFrom(r.Context())
	reg, err := s.registrationOf(r, ws)
	if err != nil {
		return err
	}
	reg, p, err := s.st.ReissueAccessCode(r.Context(), ws.ID, reg.ID, "")
	if errors.Is(err, store.ErrRevoked) {
		err = apierror.Conflict("revoked", "this learner was revoked; a revoked registration gets no new code")
	}
	if err != nil {
		return err
	}
	s.event(r, ws.ID, "warn", "", "access code of "+reg.Email+" reissued by "+userFrom(r.Context()).Email)
	resp := api.Reissued{RegistrationID: reg.ID, Email: reg.Email, AccessCode: reg.AccessCode}
	if p != nil {
		resp.Seat = p.Seat
		if msg := s.applyRevoke(r, ws, *p); msg != "" {
			resp.RevokePending, resp.Error = true, msg
		}
	}
	apierror.JSON(w, http.StatusOK, resp)
	return nil
}

// registrationOf returns the registration {rid} of workshop ws (404 when it
// belongs to another workshop).
func (s *Server) registrationOf(r *http.Request, ws *store.Workshop) (*store.Registration, error) {
	reg, err := s.st.GetRegistration(r.Context(), r.PathValue("rid"))
	if err == nil && reg.WorkshopID != ws.ID {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, answer(err, apierror.NotFound("registration not found in this workshop"))
	}
	return reg, nil
}

// applyRevoke closes this replica's relay connections below the revoke's
// generation and carries the revoke to the host. It returns "" when the
// host confirmed it, else why not (the revoke stays pending, and the
// reconciler is woken to retry it).
func (s *Server) applyRevoke(r *http.Request, ws *store.Workshop, p store.PendingRevoke) string {
	s.live.closeBelow(ws.ID, p.Seat, p.MinGeneration)
	if s.rec == nil {
		return "no host connection is configured"
	}
	err := s.rec.ApplyRevoke(r.Context(), ws, p)
	if err == nil {
		return ""
	}
	s.event(r, ws.ID, "error", "", "seat "+strconv.Itoa(p.Seat)+": the revoke has not reached its host yet and will be retried: "+err.Error())
	s.kick(ws.ID)
	return err.Error()
}

// relayConns tracks the relay's open requests (terminal WebSockets, file
// transfers) per seat with their token's generation, so that a revoke or
// reissue closes the ones below the seat's new minimum at once.
type relayConns struct {
	mu sync.Mutex
	m  map[relaySeat]map[*relayConn]struct{}
}

type relaySeat struct {
	ws   string
	seat int
}

type relayConn struct {
	gen    int64
	cancel context.CancelFunc
}

func newRelayConns() *relayConns {
	return &relayConns{m: map[relaySeat]map[*relayConn]struct{}{}}
}

// track records a request; the returned function forgets it.
func (c *relayConns) track(ws string, seat int, gen int64, cancel context.CancelFunc) func() {
	k := relaySeat{ws, seat}
	rc := &relayConn{gen: gen, cancel: cancel}
	c.mu.Lock()
	if c.m[k] == nil {
		c.m[k] = map[*relayConn]struct{}{}
	}
	c.m[k][rc] = struct{}{}
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.m[k], rc)
		if len(c.m[k]) == 0 {
			delete(c.m, k)
		}
		c.mu.Unlock()
	}
}

// closeBelow cancels the seat's requests whose token generation is below
// minGen and returns how many.
func (c *relayConns) closeBelow(ws string, seat int, minGen int64) int {
	k := relaySeat{ws, seat}
	var cut []*relayConn
	c.mu.Lock()
	for rc := range c.m[k] {
		if rc.gen < minGen {
			cut = append(cut, rc)
		}
	}
	c.mu.Unlock()
	for _, rc := range cut {
		rc.cancel()
	}
	return len(cut)
}
