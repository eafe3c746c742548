package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/api"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// ended reports whether learners can no longer enter the workshop.
func (s *Server) ended(w *store.Workshop) error {
	if w.Status == store.StatusDeleted || w.DesiredState == store.DesiredDeleted {
		return apierror.Gone("this workshop has been deleted")
	}
	if w.EndsAt != nil && !w.EndsAt.After(s.now()) {
		// The time is in details, for the web app to show in the
		// learner's own time zone.
		return apierror.New(http.StatusGone, "workshop_ended", "this workshop has ended").
			WithDetails(map[string]any{"ends_at": w.EndsAt.UTC().Format(time.RFC3339)})
	}
	return nil
}

func (s *Server) handleLearnerRegister(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		WorkshopCode string `json:"workshop_code"`
		Name         string `json:"name"`
		Email        string `json:"email"`
	}
	if err := apierror.Decode(w, r, &req, authBodyLimit); err != nil {
		return err
	}
	code := authtoken.NormalizeCode(req.WorkshopCode)
	if code == "" {
		return apierror.Invalid("workshop_code is required")
	}
	name, err := cleanName(req.Name, "name")
	if err != nil {
		return err
	}
	email, err := normalizeEmail(req.Email)
	if err != nil {
		return err
	}
	// One round trip: the workshop by code and, if it is open to learners
	// now, the registration with its event (one transaction). A code of
	// another length was never issued: not looked up.
	var ws *store.Workshop
	var reg *store.Registration
	var created bool
	err = store.ErrNotFound
	if len(code) == authtoken.WorkshopCodeLen {
		now := s.now()
		ws, reg, created, err = s.st.RegisterByCode(r.Context(), code, &store.Registration{
			Name: name, Email: email, AccessCode: authtoken.Code(authtoken.AccessCodeLen),
		}, now, store.Event{At: now, Level: "info", Message: "learner " + email + " registered"})
	}
	if ws == nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if ws == nil {
		if err := s.wrongCode(w, r); err != nil {
			return err
		}
		return apierror.NotFound("no workshop has the code %s; check it with your instructor", code)
	}
	if err := s.ended(ws); err != nil {
		return err // nothing was written
	}
	if err == nil && reg == nil {
		return fmt.Errorf("register: workshop %s is open but nothing was registered", ws.ID)
	}
	// A registration refused for its email (already registered, revoked)
	// counts on the workshop's failure budget: probing which emails are
	// registered. A full workshop is not a guess.
	if err == nil && (reg.RevokedAt != nil || !created) {
		if err := s.failedRegistration(w, r, ws.ID); err != nil {
			return err
		}
	}
	switch {
	case err != nil:
		return answer(err, apierror.Conflict("workshop_full", "this workshop is full (%d seats)", ws.Seats))
	case reg.RevokedAt != nil:
		return apierror.Forbidden("your registration for this workshop was revoked by the instructor")
	case !created:
		// Never the existing access code: knowing an email must not be
		// enough to take over its seat.
		return apierror.Conflict("already_registered",
			"%s is already registered for this workshop: sign in with the access code you were given, or ask the instructor for a new one", email)
	}
	apierror.JSON(w, http.StatusCreated, api.Registered{AccessCode: reg.AccessCode, Workshop: api.WorkshopRef{ID: ws.ID, Name: ws.Name}})
	return nil
}

// learnerByCode finds the registration of an access code and its workshop
// (one read), or answers: a wrong code is slowed down like every guess
// (404), a revoked one is 403, an old 10-letter one is 410 code_expired.
func (s *Server) learnerByCode(w http.ResponseWriter, r *http.Request, code string) (*store.Registration, *store.Workshop, error) {
	if len(code) == authtoken.LegacyAccessCodeLen {
		// Never looked up, so the answer says nothing about whether the
		// code exists: a 10-letter code is too short to guard.
		return nil, nil, apierror.New(http.StatusGone, "code_expired",
			"access codes of 10 letters are no longer accepted: ask your instructor for a new code (your work is kept)")
	}
	var reg *store.Registration
	var ws *store.Workshop
	err := store.ErrNotFound // no other length was ever issued
	if len(code) == authtoken.AccessCodeLen {
		reg, ws, err = s.st.GetLearner(r.Context(), code)
	}
	if errors.Is(err, store.ErrNotFound) {
		if err := s.wrongCode(w, r); err != nil {
			return nil, nil, err
		}
		return nil, nil, apierror.NotFound("this access code is not valid")
	}
	if err != nil {
		return nil, nil, err
	}
	if reg.RevokedAt != nil {
		return nil, nil, apierror.Forbidden("your access to this workshop was revoked by the instructor")
	}
	return reg, ws, nil
}

// joinByCode is learnerByCode's answers and then the seat, in one round
// trip: the registration of an access code, its workshop and, when the
// registration is not revoked and the workshop is open, the seat (whether
// it waits for a reset, and whether the learner's work was restored into
// it). Its error is an answer, or JoinSeat's (full, revoked).
func (s *Server) joinByCode(w http.ResponseWriter, r *http.Request, code string) (*store.Registration, *store.Workshop, *store.SeatJoin, error) {
	if len(code) == authtoken.LegacyAccessCodeLen {
		_, _, err := s.learnerByCode(w, r, code)
		return nil, nil, nil, err
	}
	err := store.ErrNotFound // no other length was ever issued
	var reg *store.Registration
	var ws *store.Workshop
	var joined *store.SeatJoin
	if len(code) == authtoken.AccessCodeLen {
		reg, ws, joined, err = s.st.JoinByCode(r.Context(), code, s.now())
	}
	if errors.Is(err, store.ErrNotFound) && reg == nil {
		if err := s.wrongCode(w, r); err != nil {
			return nil, nil, nil, err
		}
		return nil, nil, nil, apierror.NotFound("this access code is not valid")
	}
	if reg != nil && reg.RevokedAt != nil {
		return nil, nil, nil, apierror.Forbidden("your access to this workshop was revoked by the instructor")
	}
	if ws != nil {
		if err := s.ended(ws); err != nil {
			return nil, nil, nil, err // nothing was written
		}
	}
	if err == nil && joined == nil {
		return nil, nil, nil, fmt.Errorf("join: workshop %s is open but gave no seat", ws.ID)
	}
	return reg, ws, joined, err
}

func endpoints(workshopID string, seat int) api.Endpoints {
	base := "/api/workspaces/" + workshopID + "/" + strconv.Itoa(seat)
	return api.Endpoints{Terminal: base + "/terminal", Files: base + "/files", Sessions: base + "/sessions"}
}

func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		AccessCode string `json:"access_code"`
	}
	if err := apierror.Decode(w, r, &req, authBodyLimit); err != nil {
		return err
	}
	code := authtoken.NormalizeCode(req.AccessCode)
	if code == "" {
		return apierror.Invalid("access_code is required")
	}
	reg, ws, joined, err := s.joinByCode(w, r, code)
	if err != nil {
		return answer(err, apierror.Conflict("workshop_full", "every seat of this workshop is taken"),
			apierror.Forbidden("your access to this workshop was revoked by the instructor"))
	}
	seat := joined.Seat
	resp := api.Join{
		Status: "pending",
		Workshop: api.JoinWorkshop{ID: ws.ID, Name: ws.Name, Status: string(ws.Status), Step: string(ws.Step), LabGuide: ws.LabGuide,
			StartsAt: ws.StartsAt, EndsAt: ws.EndsAt},
		Learner:      api.Learner{Name: reg.Name, Email: reg.Email},
		Seat:         seat.Seat,
		RestoredFrom: joined.RestoredFrom,
	}
	if stoppedByInstructor(ws) {
		resp.Status, resp.StoppedByInstructor = "stopped", true
	}
	if seatReady(ws, joined) && s.seatHostReady(r.Context(), ws, seat.Seat) {
		if st, ok := s.seatState(ws.ID, seat.Seat); ok {
			resp.MachineStatus, resp.RestartedAt = st.Health, st.RestartedAt
			if st.Health == agentclient.HealthDown {
				apierror.JSON(w, http.StatusOK, resp) // pending: the page asks again
				return nil
			}
		}
		tok, exp, err := authtoken.Issue(authtoken.WorkshopKey(s.wsKey, ws.ID), ws.ID, seat.Seat, "learner", seat.Generation, s.cfg.WorkspaceTTL, s.now())
		if err != nil {
			return err
		}
		ep := endpoints(ws.ID, seat.Seat)
		resp.Status, resp.Token, resp.ExpiresAt, resp.Endpoints = "ready", tok, &exp, &ep
	}
	apierror.JSON(w, http.StatusOK, resp)
	return nil
}

// stoppedByInstructor reports whether a workshop that ran was stopped (and
// not started again): it wants to be stopped and is stopping or stopped.
// A workshop that was never started is created, not stopped.
func stoppedByInstructor(ws *store.Workshop) bool {
	if ws.DesiredState != store.DesiredStopped {
		return false
	}
	switch ws.Status {
	case store.StatusRunning, store.StatusStopping, store.StatusStopped:
		return true
	}
	return false
}

// seatHostReady reports whether the host the seat is placed on runs (a
// learner on a host still starting waits; the other hosts' learners do
// not wait for it).
func (s *Server) seatHostReady(ctx context.Context, ws *store.Workshop, seat int) bool {
	_, err := s.seatHost(ctx, ws, seat)
	return err == nil
}

// seatReady reports whether a learner may get a workspace token for the
// seat joined: the workshop runs (and no stop is asked for), and the seat
// is not waiting for the reset of a revoked learner's workspace (until the
// host confirms it, the seat may still hold that learner's files; the
// learner waits as for a starting workshop).
func seatReady(ws *store.Workshop, joined *store.SeatJoin) bool {
	if ws.Status != store.StatusRunning || ws.AgentURL == "" || ws.DesiredState != store.DesiredRunning {
		return false
	}
	return !joined.ResetPending
}
