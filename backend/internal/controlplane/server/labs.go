package server

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/api"
	"github.com/clarateach/backend/internal/controlplane/lab"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// Labs as code: instructors upload labs (a folder as .zip or .tar.gz, in
// ClaraTeach's format or imported from Killercoda or Instruqt), point a
// workshop at a lab version, and follow every learner's progress; learners
// see the steps, run a step's check in their seat, and raise a hand.

func toLabJSON(row *store.Lab, l *lab.Lab) api.Lab {
	out := api.Lab{
		ID: row.ID, Version: row.Version, Title: l.Title, Description: l.Description,
		DurationMinutes: int(l.Duration / time.Minute), Order: string(l.Order), Environment: l.Environment, LearnerRoot: l.LearnerRoot,
		Resources: api.LabResources{VCPUs: l.Resources.VCPUs, MemoryMB: l.Resources.MemoryMB, DiskMB: l.Resources.DiskMB}, Steps: make([]api.LabStep, len(l.Steps)), Files: len(l.Files), CreatedAt: row.CreatedAt,
		Warnings: l.Warnings,
	}
	for i, s := range l.Steps {
		out.Steps[i] = api.LabStep{ID: s.ID, Title: s.Title, Markdown: s.Markdown, HasCheck: s.Check != "", HasSolve: s.Solve != ""}
	}
	return out
}

func toProgressJSON(p store.Progress) api.StepProgress {
	return api.StepProgress{StepID: p.StepID, Status: p.Status, Attempts: p.Attempts, Message: p.Message, EnteredAt: p.EnteredAt, CheckedAt: p.CheckedAt, DoneAt: p.DoneAt}
}

func toHandJSON(h store.Hand) api.Hand {
	return api.Hand{ID: h.ID, RegistrationID: h.RegistrationID, Question: h.Question, RaisedAt: h.RaisedAt, PickedBy: h.PickedBy, PickedAt: h.PickedAt}
}

// ---- parsed labs, cached (versions never change) ----------------------------

type labCache struct {
	mu   sync.Mutex
	labs map[string]cachedLab // "id@version"
}

// cachedLab is a parsed lab version and its row, without the content (the
// export reads that from the store).
type cachedLab struct {
	row store.Lab
	lab *lab.Lab
}

const maxCachedLabs = 64

func labKey(id string, version int) string { return id + "@" + strconv.Itoa(version) }

// parsedLab loads and parses one stored lab version (0: the newest). A
// version already parsed is answered from memory, without reading its
// content again: versions never change, and the class stream asks every
// second. The row it returns has no content.
func (s *Server) parsedLab(ctx context.Context, id string, version int) (*store.Lab, *lab.Lab, error) {
	if version > 0 {
		s.labs.mu.Lock()
		c, ok := s.labs.labs[labKey(id, version)]
		s.labs.mu.Unlock()
		if ok {
			row := c.row
			return &row, c.lab, nil
		}
	}
	row, err := s.st.GetLab(ctx, id, version)
	if err != nil {
		return nil, nil, answer(err, apierror.NotFound("lab %s version %d not found", id, version))
	}
	key := labKey(row.ID, row.Version)
	s.labs.mu.Lock()
	c, ok := s.labs.labs[key]
	s.labs.mu.Unlock()
	if !ok {
		files, err := lab.ReadArchive(row.Content)
		if err != nil {
			return nil, nil, fmt.Errorf("stored lab %s: %w", key, err)
		}
		l, err := lab.Parse(files)
		if err != nil {
			return nil, nil, fmt.Errorf("stored lab %s: %w", key, err)
		}
		c = cachedLab{row: *row, lab: l}
		c.row.Content = nil
		s.labs.mu.Lock()
		if s.labs.labs == nil || len(s.labs.labs) >= maxCachedLabs {
			s.labs.labs = map[string]cachedLab{}
		}
		s.labs.labs[key] = c
		s.labs.mu.Unlock()
	}
	out := c.row
	return &out, c.lab, nil
}

// workshopLab is the lab the workshop follows; a workshop without one is
// 404 no_lab.
func (s *Server) workshopLab(ctx context.Context, workshopID string) (*store.Lab, *lab.Lab, error) {
	wl, err := s.st.GetWorkshopLab(ctx, workshopID)
	if err != nil {
		return nil, nil, answer(err, apierror.New(http.StatusNotFound, "no_lab", "this workshop has no lab"))
	}
	return s.parsedLab(ctx, wl.LabID, wl.Version)
}

// ---- instructors: labs ----------------------------------------------------------

// maxLabUpload bounds an uploaded lab archive (compressed).
const maxLabUpload = 20 << 20

// handleUploadLab stores an uploaded lab (.zip or .tar.gz body) as a new
// lab, or with ?lab_id= as the next version of one of the caller's labs.
// A lab that does not validate is 400 invalid_lab with every problem.
func (s *Server) handleUploadLab(w http.ResponseWriter, r *http.Request) error {
	u := userFrom(r.Context())
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLabUpload))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apierror.TooLarge("a lab upload is at most %d MiB", maxLabUpload>>20)
		}
		return apierror.BadRequest("read the upload: %v", err)
	}
	files, err := lab.ReadArchive(body)
	if err != nil {
		return apierror.New(http.StatusBadRequest, "invalid_lab", "the upload is not a lab archive: %v", err)
	}
	l, format, err := lab.Import(files)
	if err != nil {
		if ps := lab.Problems(err); len(ps) > 0 {
			out := make([]api.LabProblem, len(ps))
			for i, p := range ps {
				out[i] = api.LabProblem{File: p.File, Line: p.Line, Message: p.Msg}
			}
			return apierror.New(http.StatusBadRequest, "invalid_lab", "%s", err.Error()).WithDetails(map[string]any{"problems": out})
		}
		return apierror.New(http.StatusBadRequest, "invalid_lab", "%v", err)
	}
	canon, err := lab.Export(l)
	if err != nil {
		return err
	}
	content, err := canon.TarGz()
	if err != nil {
		return err
	}
	row := &store.Lab{ID: r.URL.Query().Get("lab_id"), OwnerID: u.ID, Title: l.Title, Content: content}
	if row.ID != "" {
		if prev, err := s.st.GetLab(r.Context(), row.ID, 0); err == nil && u.Role == store.RoleAdmin {
			row.OwnerID = prev.OwnerID // an admin adds a version to anyone's lab
		}
	}
	for attempt := 0; ; attempt++ {
		err = s.st.SaveLab(r.Context(), row)
		if !errors.Is(err, store.ErrConflict) || attempt == 4 {
			break
		}
	}
	if err != nil {
		return answer(err, apierror.NotFound("lab %s not found", row.ID))
	}
	out := toLabJSON(row, l)
	apierror.JSON(w, http.StatusCreated, map[string]any{"lab": out, "format": string(format)})
	return nil
}

// labFor loads a lab the caller may see: their own, or any for an admin.
func (s *Server) labFor(r *http.Request) (*store.Lab, *lab.Lab, error) {
	version := 0
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, nil, apierror.BadRequest("version must be a positive number")
		}
		version = n
	}
	row, l, err := s.parsedLab(r.Context(), r.PathValue("lid"), version)
	if err != nil {
		return nil, nil, err
	}
	if u := userFrom(r.Context()); row.OwnerID != u.ID && u.Role != store.RoleAdmin {
		return nil, nil, apierror.NotFound("lab %s not found", row.ID)
	}
	return row, l, nil
}

func (s *Server) handleListLabs(w http.ResponseWriter, r *http.Request) error {
	u := userFrom(r.Context())
	owner := u.ID
	if u.Role == store.RoleAdmin {
		owner = ""
	}
	rows, err := s.st.ListLabs(r.Context(), owner)
	if err != nil {
		return err
	}
	out := make([]api.LabSummary, len(rows))
	for i, l := range rows {
		out[i] = api.LabSummary{ID: l.ID, Version: l.Version, Title: l.Title, CreatedAt: l.CreatedAt}
	}
	apierror.JSON(w, http.StatusOK, map[string]any{"labs": out})
	return nil
}

func (s *Server) handleGetLab(w http.ResponseWriter, r *http.Request) error {
	row, l, err := s.labFor(r)
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, toLabJSON(row, l))
	return nil
}

// handleExportLab answers the lab version as a folder in a .tar.gz.
func (s *Server) handleExportLab(w http.ResponseWriter, r *http.Request) error {
	meta, _, err := s.labFor(r)
	if err != nil {
		return err
	}
	row, err := s.st.GetLab(r.Context(), meta.ID, meta.Version)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", fmt.Sprintf("lab-%s-v%d.tar.gz", row.ID, row.Version)))
	_, _ = w.Write(row.Content)
	return nil
}

// handleSetWorkshopLab points a workshop at a lab version (the newest when
// version is 0 or absent). Learners get the new guide on their next poll,
// and keep their progress on the steps it still has.
func (s *Server) handleSetWorkshopLab(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		LabID   string `json:"lab_id"`
		Version int    `json:"version"`
	}
	if err := apierror.Decode(w, r, &req, 4096); err != nil {
		return err
	}
	if req.LabID == "" || req.Version < 0 {
		return apierror.Invalid("lab_id is required, and version is 0 (the newest) or a version")
	}
	ws := workshopFrom(r.Context())
	row, l, err := s.labForWorkshop(r.Context(), ws, req.LabID, req.Version)
	if err != nil {
		return err
	}
	if err := s.st.SetWorkshopLab(r.Context(), ws.ID, row.ID, row.Version); err != nil {
		return err
	}
	_, took, err := s.takeLabSettings(r.Context(), ws.ID, l)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("lab set to %q version %d", l.Title, row.Version)
	if len(took) > 0 {
		msg += "; the workshop took " + strings.Join(took, ", ")
	}
	_ = s.st.AddEvent(r.Context(), &store.Event{WorkshopID: ws.ID, Level: "info", Message: msg})
	apierror.JSON(w, http.StatusOK, map[string]any{"lab_id": row.ID, "version": row.Version, "lab": toLabJSON(row, l)})
	return nil
}

// ---- instructors: progress, hands, broadcast, solve, reset --------------------

// matrix is the progress of every learner who is not revoked.
// regs are the workshop's registrations (the caller has them, or loads
// them); the open hands come back with the matrix, named from regs.
func (s *Server) matrix(ctx context.Context, ws *store.Workshop, regs []store.RegistrationView) (*api.ProgressMatrix, []api.Hand, *lab.Lab, error) {
	row, l, err := s.workshopLab(ctx, ws.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	rows, err := s.st.ListProgress(ctx, ws.ID, "")
	if err != nil {
		return nil, nil, nil, err
	}
	hands, err := s.st.ListHands(ctx, ws.ID, "")
	if err != nil {
		return nil, nil, nil, err
	}
	byReg := map[string][]store.Progress{}
	for _, p := range rows {
		byReg[p.RegistrationID] = append(byReg[p.RegistrationID], p)
	}
	raised := map[string]bool{}
	for _, h := range hands {
		raised[h.RegistrationID] = true
	}
	setups := map[string]*api.LabSetup{}
	if hasSetup(l) {
		list, err := s.st.ListLabSetups(ctx, ws.ID, row.ID, row.Version)
		if err != nil {
			return nil, nil, nil, err
		}
		for _, ls := range list {
			setups[ls.RegistrationID] = setupJSON(ls)
		}
	}
	now := s.now()
	lj := toLabJSON(row, l)
	out := &api.ProgressMatrix{Lab: lj, Learners: []api.LearnerProgress{}, At: now.UTC()}
	for _, reg := range regs {
		if reg.RevokedAt != nil {
			continue
		}
		lp := api.LearnerProgress{RegistrationID: reg.ID, Name: reg.Name, Email: reg.Email, JoinedAt: reg.CreatedAt, HandRaised: raised[reg.ID], Steps: map[string]api.StepProgress{}, Setup: setups[reg.ID]}
		if reg.Seat != nil {
			lp.Seat = *reg.Seat
		}
		for _, p := range byReg[reg.ID] {
			lp.Steps[p.StepID] = toProgressJSON(p)
			if p.Status == store.ProgressDone {
				lp.StepsDone++
			}
			if p.Status == store.ProgressFailing {
				lp.FailedChecks += p.Attempts
			}
		}
		lp.CurrentStep = currentStep(l, byReg[reg.ID])
		if cur, ok := lp.Steps[lp.CurrentStep]; ok && cur.Status != store.ProgressDone {
			lp.OnStepSeconds = int64(now.Sub(cur.EnteredAt) / time.Second)
		}
		out.Learners = append(out.Learners, lp)
	}
	return out, handViewsOf(hands, regs), l, nil
}

// currentStep is the step a learner is on: the last one entered that is not
// done, or the first step not done.
func currentStep(l *lab.Lab, rows []store.Progress) string {
	state := map[string]store.Progress{}
	for _, p := range rows {
		state[p.StepID] = p
	}
	var latest *store.Progress
	for i := range rows {
		p := rows[i]
		if p.Status != store.ProgressDone && (latest == nil || p.EnteredAt.After(latest.EnteredAt)) {
			latest = &p
		}
	}
	if latest != nil && l.StepIndex(latest.StepID) >= 0 {
		return latest.StepID
	}
	for _, s := range l.Steps {
		if state[s.ID].Status != store.ProgressDone {
			return s.ID
		}
	}
	if len(l.Steps) > 0 {
		return l.Steps[len(l.Steps)-1].ID
	}
	return ""
}

func (s *Server) handleProgress(w http.ResponseWriter, r *http.Request) error {
	ws := workshopFrom(r.Context())
	regs, err := s.st.ListRegistrations(r.Context(), ws.ID)
	if err != nil {
		return err
	}
	m, _, _, err := s.matrix(r.Context(), ws, regs)
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, m)
	return nil
}

// handleProgressCSV answers attendance and progress as CSV: one row per
// learner, then the seconds spent on each step (entered to done, or to now).
func (s *Server) handleProgressCSV(w http.ResponseWriter, r *http.Request) error {
	ws := workshopFrom(r.Context())
	regs, err := s.st.ListRegistrations(r.Context(), ws.ID)
	if err != nil {
		return err
	}
	m, _, l, err := s.matrix(r.Context(), ws, regs)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "progress-"+ws.ID+".csv"))
	cw := csv.NewWriter(w)
	head := []string{"name", "email", "seat", "joined_at", "steps_done"}
	for _, st := range l.Steps {
		head = append(head, "seconds:"+st.ID)
	}
	_ = cw.Write(head)
	for _, lp := range m.Learners {
		rec := []string{csvSafe(lp.Name), csvSafe(lp.Email), strconv.Itoa(lp.Seat), lp.JoinedAt.UTC().Format(time.RFC3339), strconv.Itoa(lp.StepsDone)}
		for _, st := range l.Steps {
			p, ok := lp.Steps[st.ID]
			switch {
			case !ok:
				rec = append(rec, "")
			case p.DoneAt != nil:
				rec = append(rec, strconv.FormatInt(int64(p.DoneAt.Sub(p.EnteredAt)/time.Second), 10))
			default:
				rec = append(rec, strconv.FormatInt(int64(m.At.Sub(p.EnteredAt)/time.Second), 10))
			}
		}
		_ = cw.Write(rec)
	}
	cw.Flush()
	return nil
}

// csvSafe keeps a learner's name from being read as a formula by a
// spreadsheet (CSV injection).
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

func (s *Server) handleListHands(w http.ResponseWriter, r *http.Request) error {
	out, err := s.handViews(r.Context(), workshopFrom(r.Context()).ID)
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, map[string]any{"hands": out})
	return nil
}

// handViews are the workshop's open hands with their learners' names and
// seats.
func (s *Server) handViews(ctx context.Context, workshopID string) ([]api.Hand, error) {
	hands, err := s.st.ListHands(ctx, workshopID, "")
	if err != nil || len(hands) == 0 {
		return handViewsOf(hands, nil), err
	}
	regs, err := s.st.ListRegistrations(ctx, workshopID)
	if err != nil {
		return nil, err
	}
	return handViewsOf(hands, regs), nil
}

// handViewsOf names hands with their learners from regs.
func handViewsOf(hands []store.Hand, regs []store.RegistrationView) []api.Hand {
	byID := make(map[string]*store.RegistrationView, len(regs))
	for i := range regs {
		byID[regs[i].ID] = &regs[i]
	}
	out := make([]api.Hand, len(hands))
	for i, h := range hands {
		out[i] = toHandJSON(h)
		if reg, ok := byID[h.RegistrationID]; ok {
			out[i].LearnerName = reg.Name
			if reg.Seat != nil {
				out[i].Seat = *reg.Seat
			}
		}
	}
	return out
}

func (s *Server) handlePickHand(w http.ResponseWriter, r *http.Request) error {
	h, err := s.st.PickHand(r.Context(), workshopFrom(r.Context()).ID, r.PathValue("hid"), userFrom(r.Context()).ID, s.now())
	if err != nil {
		return answer(err, apierror.NotFound("no open hand %s", r.PathValue("hid")))
	}
	apierror.JSON(w, http.StatusOK, toHandJSON(*h))
	return nil
}

func (s *Server) handleCloseHand(w http.ResponseWriter, r *http.Request) error {
	if err := s.st.CloseHand(r.Context(), workshopFrom(r.Context()).ID, r.PathValue("hid"), s.now()); err != nil {
		return answer(err, apierror.NotFound("no open hand %s", r.PathValue("hid")))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// maxBroadcast bounds a broadcast message.
const maxBroadcast = 500

func (s *Server) handleBroadcast(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Message string `json:"message"`
	}
	if err := apierror.Decode(w, r, &req, 4096); err != nil {
		return err
	}
	msg := strings.TrimSpace(req.Message)
	if utf8.RuneCountInString(msg) > maxBroadcast || strings.ContainsFunc(msg, invisible) {
		return apierror.Invalid("message is at most %d characters, without control or invisible characters", maxBroadcast)
	}
	ws := workshopFrom(r.Context())
	b := &store.Broadcast{WorkshopID: ws.ID, Message: msg, At: s.now()}
	if err := s.st.SetBroadcast(r.Context(), b); err != nil {
		return err
	}
	if msg == "" {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	_ = s.st.AddEvent(r.Context(), &store.Event{WorkshopID: ws.ID, Level: "info", Message: "broadcast: " + msg})
	apierror.JSON(w, http.StatusOK, api.Broadcast{Message: b.Message, At: store.UTC(b.At)})
	return nil
}

// learnerOf resolves {rid} to a registration of the workshop with a seat.
func (s *Server) learnerOf(r *http.Request) (*store.RegistrationView, error) {
	ws := workshopFrom(r.Context())
	regs, err := s.st.ListRegistrations(r.Context(), ws.ID)
	if err != nil {
		return nil, err
	}
	for i := range regs {
		if regs[i].ID == r.PathValue("rid") && regs[i].RevokedAt == nil {
			return &regs[i], nil
		}
	}
	return nil, apierror.NotFound("no learner %s in this workshop", r.PathValue("rid"))
}

type stepRequest struct {
	StepID string `json:"step_id"`
}

// handleSolve runs a step's solve script in the learner's seat, then its
// check, and records the result like a learner's check.
func (s *Server) handleSolve(w http.ResponseWriter, r *http.Request) error {
	var req stepRequest
	if err := apierror.Decode(w, r, &req, 4096); err != nil {
		return err
	}
	ws := workshopFrom(r.Context())
	reg, err := s.learnerOf(r)
	if err != nil {
		return err
	}
	if reg.Seat == nil {
		return apierror.Conflict("no_seat", "this learner has not joined yet")
	}
	_, l, err := s.workshopLab(r.Context(), ws.ID)
	if err != nil {
		return err
	}
	step, ok := l.Step(req.StepID)
	if !ok {
		return apierror.NotFound("the lab has no step %q", req.StepID)
	}
	if step.Solve == "" {
		return apierror.Conflict("no_solve", "step %q has no solve script", step.ID)
	}
	res, err := s.execInSeat(r.Context(), ws, *reg.Seat, step.Solve, 2*time.Minute)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 || res.TimedOut {
		return apierror.New(http.StatusBadGateway, "solve_failed", "the solve script failed (exit %d): %s", res.ExitCode, firstLines(res.Stderr+res.Stdout, 3))
	}
	out, err := s.runCheck(r.Context(), ws, reg.ID, *reg.Seat, l, step)
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, out)
	return nil
}

// handleResetStep forgets a learner's progress on a step; a step with a
// setup script gets it run again in the learner's seat (as on first entry),
// and the step's clock starts again.
func (s *Server) handleResetStep(w http.ResponseWriter, r *http.Request) error {
	var req stepRequest
	if err := apierror.Decode(w, r, &req, 4096); err != nil {
		return err
	}
	ws := workshopFrom(r.Context())
	reg, err := s.learnerOf(r)
	if err != nil {
		return err
	}
	if err := s.st.DeleteProgress(r.Context(), reg.ID, req.StepID); err != nil {
		return err
	}
	if _, l, err := s.workshopLab(r.Context(), ws.ID); err == nil && reg.Seat != nil {
		if step, ok := l.Step(req.StepID); ok && step.Setup != "" {
			p := &store.Progress{WorkshopID: ws.ID, RegistrationID: reg.ID, StepID: step.ID, Status: store.ProgressCurrent, EnteredAt: s.now()}
			if err := s.stepSetup(r.Context(), ws, *reg.Seat, step); err != nil {
				p.Message = err.Error()
			}
			if err := s.st.SaveProgress(r.Context(), p); err != nil {
				return err
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- checks -----------------------------------------------------------------------

// agentOf is a client for the agent of the host that seat of the
// workshop is on, over the same pinned transport as the relay.
func (s *Server) agentOf(ctx context.Context, ws *store.Workshop, seat int) (*agentclient.Client, error) {
	if ws.Status != store.StatusRunning || ws.AgentURL == "" {
		return nil, apierror.Unavailable("the workshop is %s; its machines are not ready", ws.Status)
	}
	ws, err := s.seatHost(ctx, ws, seat)
	if err != nil {
		return nil, err
	}
	rt, err := s.relayTransport(ws)
	if err != nil {
		return nil, err
	}
	return agentclient.New(ws.AgentURL, ws.AgentToken, &http.Client{Transport: rt}), nil
}

func (s *Server) execInSeat(ctx context.Context, ws *store.Workshop, seat int, script string, timeout time.Duration) (*agentclient.ExecResult, error) {
	ac, err := s.agentOf(ctx, ws, seat)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout+10*time.Second)
	defer cancel()
	res, err := ac.Exec(ctx, ws.ID, seat, agentclient.ExecRequest{Script: script, TimeoutMS: int(timeout / time.Millisecond)})
	if err != nil {
		return nil, apierror.New(http.StatusBadGateway, "seat_unreachable", "the learner's machine did not run the script: %v", err)
	}
	return res, nil
}

// maxCheckMessage bounds the message a check shows.
const maxCheckMessage = 1000

// runCheck runs a step's check in the seat and records the result.
func (s *Server) runCheck(ctx context.Context, ws *store.Workshop, regID string, seat int, l *lab.Lab, step lab.Step) (*api.CheckResult, error) {
	p, stored, err := s.progressOf(ctx, ws.ID, regID, step.ID)
	if err != nil {
		return nil, err
	}
	if !stored && step.Setup != "" {
		// Checked before it was entered: the step's setup runs first (a
		// failure is in the workshop's events; the check tells the rest).
		_ = s.stepSetup(ctx, ws, seat, step)
	}
	now := s.now()
	out := &api.CheckResult{}
	if step.Check == "" {
		out.Passed, out.Message = true, "Done."
	} else {
		res, err := s.execInSeat(ctx, ws, seat, step.Check, step.CheckTimeout)
		if err != nil {
			return nil, err
		}
		out.Passed = res.ExitCode == 0 && !res.TimedOut
		out.TimedOut = res.TimedOut
		out.Message = checkMessage(res, step.CheckTimeout)
	}
	p.Attempts++
	p.Message = out.Message
	p.CheckedAt = &now
	if out.Passed {
		p.Status = store.ProgressDone
		if p.DoneAt == nil {
			p.DoneAt = &now
		}
	} else if p.Status != store.ProgressDone {
		p.Status = store.ProgressFailing
	}
	if err := s.st.SaveProgress(ctx, p); err != nil {
		return nil, err
	}
	out.Progress = toProgressJSON(*p)
	return out, nil
}

// checkMessage is what the learner sees: the check's standard output, or a
// sentence when it printed nothing.
func checkMessage(res *agentclient.ExecResult, timeout time.Duration) string {
	msg := strings.TrimSpace(res.Stdout)
	switch {
	case res.TimedOut:
		msg = strings.TrimSpace(fmt.Sprintf("The check did not finish within %s. %s", timeout, msg))
	case msg == "" && res.ExitCode == 0:
		msg = "Well done: this step is complete."
	case msg == "":
		msg = "Not done yet."
	}
	if len(msg) > maxCheckMessage {
		msg = msg[:maxCheckMessage] + "…"
	}
	return strings.ToValidUTF8(msg, "")
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	out := strings.Join(lines, " / ")
	if len(out) > 300 {
		out = out[:300] + "…"
	}
	return out
}

// progressOf is the learner's row for a step (stored true), or a fresh one
// entered now.
func (s *Server) progressOf(ctx context.Context, wsID, regID, stepID string) (*store.Progress, bool, error) {
	rows, err := s.st.ListProgress(ctx, wsID, regID)
	if err != nil {
		return nil, false, err
	}
	for i := range rows {
		if rows[i].StepID == stepID {
			return &rows[i], true, nil
		}
	}
	return &store.Progress{WorkshopID: wsID, RegistrationID: regID, StepID: stepID, Status: store.ProgressCurrent, EnteredAt: s.now()}, false, nil
}

// sortedSteps returns progress rows in the lab's step order.
func sortedSteps(l *lab.Lab, rows []store.Progress) []store.Progress {
	sort.SliceStable(rows, func(i, j int) bool { return l.StepIndex(rows[i].StepID) < l.StepIndex(rows[j].StepID) })
	return rows
}
