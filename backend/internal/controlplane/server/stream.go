package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/controlplane/api"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// classSnapshot is one "workshop" event: api.ClassSnapshot and, when the
// workshop has a lab, its live part.
type classSnapshot struct {
	api.ClassSnapshot
	Lab *api.ClassLab `json:"lab,omitempty"`
}

// streamLab is the snapshot's lab part; nil when the workshop has none.
func (s *Server) streamLab(r *http.Request, ws *store.Workshop, regs []store.RegistrationView) (*api.ClassLab, error) {
	m, hands, _, err := s.matrix(r.Context(), ws, regs)
	if err != nil {
		var ae *apierror.Error
		if errors.As(err, &ae) && ae.Code == "no_lab" {
			return nil, nil
		}
		return nil, err
	}
	for i := range m.Learners {
		m.Learners[i].OnStepSeconds = 0
	}
	return &api.ClassLab{Lab: m.Lab, Learners: m.Learners, Hands: hands}, nil
}

// handleStream sends the class view live snapshots as Server-Sent Events:
// an event named "workshop" with an api.ClassSnapshot (workshop, seats, events,
// registrations, lab) at once and whenever anything changed (checked every
// second), and a comment every 20 s so proxies keep the connection open.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) error {
	rc := http.NewResponseController(w)
	id := workshopFrom(r.Context()).ID
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last []byte
	lastWrite := time.Now()
	for {
		ws, err := s.st.GetWorkshop(r.Context(), id)
		if err != nil {
			return nil
		}
		d, err := s.detail(r, ws)
		if err != nil {
			return nil
		}
		seats, err := s.seatViews(r, ws)
		if err != nil {
			return nil
		}
		regs, err := s.st.ListRegistrations(r.Context(), id)
		if err != nil {
			return nil
		}
		lab, err := s.streamLab(r, ws, regs)
		if err != nil {
			return nil
		}
		b, _ := json.Marshal(classSnapshot{ClassSnapshot: api.ClassSnapshot{Workshop: *d, Seats: seats, Events: d.Events, Registrations: apiRegistrations(regs)}, Lab: lab})
		if !bytes.Equal(b, last) {
			if _, err := fmt.Fprintf(w, "event: workshop\ndata: %s\n\n", b); err != nil {
				return nil
			}
			last, lastWrite = b, time.Now()
			if err := rc.Flush(); err != nil {
				return nil
			}
		} else if time.Since(lastWrite) > 20*time.Second {
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			lastWrite = time.Now()
			_ = rc.Flush()
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-tick.C:
		}
	}
}
