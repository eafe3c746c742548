package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/controlplane/api"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// classState is one read of a workshop's class, with the JSON of each part
// so the next read can tell what changed.
type classState struct {
	workshop api.WorkshopDetail // without events, and without the viewer's access
	events   []api.Event
	seats    []api.SeatView
	regs     []api.Registration
	lab      *api.ClassLab

	workshopJSON, eventsJSON, labJSON []byte
	seatJSON                          map[int][]byte
	regJSON                           map[string][]byte
}

// readClass reads everything the class view shows of one workshop, once for
// all its viewers.
func (s *Server) readClass(ctx context.Context, id string) (*classState, error) {
	ws, err := s.st.GetWorkshop(ctx, id)
	if err != nil {
		return nil, err
	}
	regs, err := s.st.ListRegistrations(ctx, id)
	if err != nil {
		return nil, err
	}
	d, err := s.detailOf(ctx, ws, "")
	if err != nil {
		return nil, err
	}
	seats, err := s.seatViewsOf(ctx, ws, regs)
	if err != nil {
		return nil, err
	}
	lab, err := s.streamLab(ctx, ws, regs)
	if err != nil {
		return nil, err
	}
	events := d.Events
	d.Events = []api.Event{}
	return newClassState(*d, events, seats, apiRegistrations(regs), lab), nil
}

// streamLab is the stream's lab part; nil when the workshop has none.
func (s *Server) streamLab(ctx context.Context, ws *store.Workshop, regs []store.RegistrationView) (*api.ClassLab, error) {
	m, hands, _, err := s.matrix(ctx, ws, regs)
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

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

func newClassState(w api.WorkshopDetail, events []api.Event, seats []api.SeatView, regs []api.Registration, lab *api.ClassLab) *classState {
	if events == nil {
		events = []api.Event{}
	}
	if seats == nil {
		seats = []api.SeatView{}
	}
	if regs == nil {
		regs = []api.Registration{}
	}
	st := &classState{
		workshop: w, events: events, seats: seats, regs: regs, lab: lab,
		workshopJSON: mustJSON(w), eventsJSON: mustJSON(events),
		seatJSON: make(map[int][]byte, len(seats)), regJSON: make(map[string][]byte, len(regs)),
	}
	if lab != nil {
		st.labJSON = mustJSON(lab)
	}
	for _, v := range seats {
		st.seatJSON[v.Seat] = mustJSON(v)
	}
	for _, r := range regs {
		st.regJSON[r.ID] = mustJSON(r)
	}
	return st
}

// snapshot is the whole class, the data of a "workshop" event.
func (st *classState) snapshot() *api.ClassSnapshot {
	return &api.ClassSnapshot{Workshop: st.workshop, Seats: st.seats, Events: st.events, Registrations: st.regs, Lab: st.lab}
}

// diff is what changed from prev to st, or nil when nothing did.
func (st *classState) diff(prev *classState) *api.ClassDelta {
	d := &api.ClassDelta{}
	changed := false
	if !bytes.Equal(st.workshopJSON, prev.workshopJSON) {
		w := st.workshop
		d.Workshop, changed = &w, true
	}
	if !bytes.Equal(st.eventsJSON, prev.eventsJSON) {
		ev := st.events
		d.Events, changed = &ev, true
	}
	for _, v := range st.seats {
		if !bytes.Equal(st.seatJSON[v.Seat], prev.seatJSON[v.Seat]) {
			d.Seats, changed = append(d.Seats, v), true
		}
	}
	for _, v := range prev.seats {
		if _, ok := st.seatJSON[v.Seat]; !ok {
			d.SeatsRemoved, changed = append(d.SeatsRemoved, v.Seat), true
		}
	}
	for _, r := range st.regs {
		if !bytes.Equal(st.regJSON[r.ID], prev.regJSON[r.ID]) {
			d.Registrations, changed = append(d.Registrations, r), true
		}
	}
	for _, r := range prev.regs {
		if _, ok := st.regJSON[r.ID]; !ok {
			d.RegistrationsRemoved, changed = append(d.RegistrationsRemoved, r.ID), true
		}
	}
	switch {
	case st.lab == nil && prev.lab != nil:
		d.LabRemoved, changed = true, true
	case st.lab != nil && !bytes.Equal(st.labJSON, prev.labJSON):
		d.Lab, changed = st.lab, true
	}
	if !changed {
		return nil
	}
	return d
}
