package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
)

// relayHealth is what the relay last saw of each seat: a 502 from the
// agent (the seat's daemon did not answer) or no agent at all is down, an
// answer is up. It is newer than the reconciler's view between two
// watches, and costs the join path nothing.
type relayHealth struct {
	mu sync.Mutex
	m  map[string]agentclient.SeatState
}

const maxRelayHealth = 100_000

func seatStateKey(workshopID string, seat int) string { return workshopID + "/" + strconv.Itoa(seat) }

// note records the seat's health and says whether it differs from what was
// noted before (the class view shows it).
func (h *relayHealth) note(workshopID string, seat int, down bool, now time.Time) (changed bool) {
	st := agentclient.SeatState{Health: agentclient.HealthOK, CheckedAt: now}
	if down {
		st.Health = agentclient.HealthDown
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil || len(h.m) >= maxRelayHealth {
		h.m = map[string]agentclient.SeatState{}
	}
	k := seatStateKey(workshopID, seat)
	old, known := h.m[k]
	h.m[k] = st
	return !known || old.Health != st.Health
}

func (h *relayHealth) get(workshopID string, seat int) (agentclient.SeatState, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.m[seatStateKey(workshopID, seat)]
	return st, ok
}

// noteRelayStatus records what an agent's answer says about the seat.
func (s *Server) noteRelayStatus(workshopID string, seat, status int) {
	changed := false
	switch {
	case status == http.StatusBadGateway || status == http.StatusGatewayTimeout:
		changed = s.relayHealth.note(workshopID, seat, true, s.now())
	case status < 400:
		changed = s.relayHealth.note(workshopID, seat, false, s.now())
	}
	if changed {
		s.feeds.nudge(workshopID) // the store does not see seat health
	}
}

// seatState merges the reconciler's view of the seat with the relay's
// (the newer health wins; restarted_at only comes from the agent).
func (s *Server) seatState(workshopID string, seat int) (agentclient.SeatState, bool) {
	var st agentclient.SeatState
	known := false
	if s.rec != nil {
		st, known = s.rec.SeatState(workshopID, seat)
	}
	if rl, ok := s.relayHealth.get(workshopID, seat); ok && (!known || rl.CheckedAt.After(st.CheckedAt)) {
		st.Health, st.CheckedAt, known = rl.Health, rl.CheckedAt, true
	}
	return st, known
}
