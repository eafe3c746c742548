package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/controlplane/api"
	"github.com/clarateach/backend/internal/controlplane/lab"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// The learner's side of a lab: /api/workspaces/{ws}/{seat}/lab..., with the
// seat's workspace token (learner role, at the seat's current generation:
// a revoked or reissued token is refused like at the relay).

// labSeat is the learner behind a lab request.
type labSeat struct {
	ws   *store.Workshop
	seat int
	reg  string // registration id
}

func (s *Server) learnerLabSeat(r *http.Request) (*labSeat, error) {
	wsID, seat, err := seatOf(r)
	if err != nil {
		return nil, err
	}
	raw := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if raw == "" || raw == r.Header.Get("Authorization") {
		return nil, apierror.Unauthorized("a workspace token is required (Authorization: Bearer)")
	}
	claims, err := s.verifySeatToken(raw, wsID, seat)
	if err != nil {
		return nil, err
	}
	if claims.Role != "" && claims.Role != "learner" {
		return nil, apierror.Forbidden("lab progress belongs to the seat's learner")
	}
	st, err := s.seatAtGeneration(r.Context(), wsID, seat, claims.Gen)
	if err != nil {
		return nil, err
	}
	ws, err := s.st.GetWorkshop(r.Context(), wsID)
	if err != nil {
		return nil, err
	}
	return &labSeat{ws: ws, seat: seat, reg: st.RegistrationID}, nil
}

func (s *Server) learnerLab(ctx context.Context, ls *labSeat) (*api.LearnerLab, *lab.Lab, error) {
	row, l, err := s.workshopLab(ctx, ls.ws.ID)
	if err != nil {
		return nil, nil, err
	}
	rows, err := s.st.ListProgress(ctx, ls.ws.ID, ls.reg)
	if err != nil {
		return nil, nil, err
	}
	out := &api.LearnerLab{Lab: toLabJSON(row, l), Progress: map[string]api.StepProgress{}}
	out.Lab.Warnings = nil
	for _, p := range sortedSteps(l, rows) {
		out.Progress[p.StepID] = toProgressJSON(p)
	}
	out.CurrentStep = currentStep(l, rows)
	out.Unlocked = unlocked(l, out.Progress)
	if b, err := s.st.GetBroadcast(ctx, ls.ws.ID); err == nil {
		out.Broadcast = &api.Broadcast{Message: b.Message, At: b.At}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	hands, err := s.st.ListHands(ctx, ls.ws.ID, ls.reg)
	if err != nil {
		return nil, nil, err
	}
	if len(hands) > 0 {
		h := toHandJSON(hands[0])
		out.Hand = &h
	}
	if _, out.WatchedBy, out.Typing, err = s.watchersOf(ctx, ls.ws.ID, ls.seat); err != nil {
		return nil, nil, err
	}
	return out, l, nil
}

// unlocked lists the steps a learner may open.
func unlocked(l *lab.Lab, progress map[string]api.StepProgress) []string {
	out := []string{}
	for _, st := range l.Steps {
		out = append(out, st.ID)
		if l.Order != lab.OrderFree && progress[st.ID].Status != store.ProgressDone {
			break
		}
	}
	return out
}

func (s *Server) handleLearnerLab(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.learnerLabSeat(r)
	if err != nil {
		return err
	}
	out, _, err := s.learnerLab(r.Context(), ls)
	var ae *apierror.Error
	if errors.As(err, &ae) && ae.Code == "no_lab" {
		// Not an error for the learner's page, which asks every few
		// seconds: the workshop follows its plain guide.
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, out)
	return nil
}

// stepOf finds the requested step, refusing one that is still locked.
func (s *Server) stepOf(r *http.Request, w http.ResponseWriter, ls *labSeat) (lab.Step, *lab.Lab, error) {
	var req stepRequest
	if err := apierror.Decode(w, r, &req, 4096); err != nil {
		return lab.Step{}, nil, err
	}
	view, l, err := s.learnerLab(r.Context(), ls)
	if err != nil {
		return lab.Step{}, nil, err
	}
	step, ok := l.Step(req.StepID)
	if !ok {
		return lab.Step{}, nil, apierror.NotFound("the lab has no step %q", req.StepID)
	}
	for _, id := range view.Unlocked {
		if id == step.ID {
			return step, l, nil
		}
	}
	return lab.Step{}, nil, apierror.Conflict("step_locked", "finish the steps before %q first", step.Title)
}

// handleLearnerEnterStep records that the learner opened a step (the time
// on a step starts here).
func (s *Server) handleLearnerEnterStep(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.learnerLabSeat(r)
	if err != nil {
		return err
	}
	step, _, err := s.stepOf(r, w, ls)
	if err != nil {
		return err
	}
	p, stored, err := s.progressOf(r.Context(), ls.ws.ID, ls.reg, step.ID)
	if err != nil {
		return err
	}
	if !stored && step.Setup != "" {
		// The step's setup runs as the seat's root the first time the
		// learner enters the step; a failure is the step's message.
		if err := s.stepSetup(r.Context(), ls.ws, ls.seat, step); err != nil {
			p.Message = err.Error()
		}
	}
	if p.Attempts == 0 && p.Status == store.ProgressCurrent {
		p.EnteredAt = s.now()
		if err := s.st.SaveProgress(r.Context(), p); err != nil {
			return err
		}
	}
	apierror.JSON(w, http.StatusOK, toProgressJSON(*p))
	return nil
}

// handleLearnerCheck runs the step's check in the learner's seat.
func (s *Server) handleLearnerCheck(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.learnerLabSeat(r)
	if err != nil {
		return err
	}
	step, l, err := s.stepOf(r, w, ls)
	if err != nil {
		return err
	}
	// One check at a time per seat: a learner who clicks Check again and
	// again does not run the script many times over.
	key := ls.ws.ID + "/" + strconv.Itoa(ls.seat)
	if _, busy := s.checking.LoadOrStore(key, struct{}{}); busy {
		return apierror.TooManyRequests("a check is already running in this seat")
	}
	defer s.checking.Delete(key)
	out, err := s.runCheck(r.Context(), ls.ws, ls.reg, ls.seat, l, step)
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, out)
	return nil
}

// maxQuestion bounds a raised hand's question.
const maxQuestion = 200

func (s *Server) handleLearnerRaiseHand(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.learnerLabSeat(r)
	if err != nil {
		return err
	}
	var req struct {
		Question string `json:"question"`
	}
	if err := apierror.Decode(w, r, &req, 4096); err != nil {
		return err
	}
	q := strings.TrimSpace(req.Question)
	if utf8.RuneCountInString(q) > maxQuestion || strings.ContainsFunc(q, invisible) || strings.ContainsAny(q, "\n\r") {
		return apierror.Invalid("the question is one line of at most %d characters", maxQuestion)
	}
	h, err := s.st.RaiseHand(r.Context(), &store.Hand{WorkshopID: ls.ws.ID, RegistrationID: ls.reg, Question: q})
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, toHandJSON(*h))
	return nil
}

func (s *Server) handleLearnerLowerHand(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.learnerLabSeat(r)
	if err != nil {
		return err
	}
	hands, err := s.st.ListHands(r.Context(), ls.ws.ID, ls.reg)
	if err != nil {
		return err
	}
	for _, h := range hands {
		if err := s.st.CloseHand(r.Context(), ls.ws.ID, h.ID, s.now()); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
