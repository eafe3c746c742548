package server

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/api"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/egress"
)

const maxLabGuide = 256 << 10

// Seat disk sizes a workshop may ask for, in MiB.
const (
	defaultDiskMB = 2048
	minDiskMB     = 256
	maxDiskMB     = 64 << 10
)

// view is a workshop as the API shows it to the signed-in user.
func (s *Server) view(r *http.Request, w *store.Workshop) (api.Workshop, error) {
	used, err := s.st.SeatsUsed(r.Context(), w.ID)
	return apiWorkshop(w, used, s.access(r.Context(), w)), err
}

func (s *Server) detail(r *http.Request, w *store.Workshop) (*api.WorkshopDetail, error) {
	return s.detailOf(r.Context(), w, s.access(r.Context(), w))
}

// detailOf is a workshop's detail for a viewer with the given access.
func (s *Server) detailOf(ctx context.Context, w *store.Workshop, access string) (*api.WorkshopDetail, error) {
	used, err := s.st.SeatsUsed(ctx, w.ID)
	if err != nil {
		return nil, err
	}
	d := &api.WorkshopDetail{Workshop: apiWorkshop(w, used, access), Events: []api.Event{}}
	rows, err := s.st.ListWorkshopHosts(ctx, w.ID)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		if rows[i].HostIndex <= 1 {
			d.VM = apiHost(&rows[i])
		}
	}
	d.Hosts = apiWorkshopHosts(store.HostStates(w, rows, hostNamer(w)))
	ev, err := s.st.ListEvents(ctx, w.ID, 0, 200)
	if err != nil {
		return nil, err
	}
	d.Events = apiEvents(ev)
	return d, nil
}

type workshopRequest struct {
	Name     string     `json:"name"`
	Seats    int        `json:"seats"`
	StartsAt *time.Time `json:"starts_at"`
	EndsAt   *time.Time `json:"ends_at"`
	LabGuide string     `json:"lab_guide"`
	DiskMB   int        `json:"disk_mb"`
	// EgressAllow opens lab servers on private addresses to the seats.
	EgressAllow []string `json:"egress_allow"`
	// Environment is the OCI image the seats run on, with its pull secret.
	Environment     string              `json:"environment"`
	EnvironmentAuth *environmentAuthReq `json:"environment_auth"`
	// LearnerRoot makes the learner root inside their seat's own
	// namespaces (docs/ARCHITECTURE.md "Learner root").
	LearnerRoot bool `json:"learner_root"`
}

// maxEgressRules bounds a workshop's allowlist.
const maxEgressRules = 16

// egressAllow validates an allowlist and returns its stored form.
func egressAllow(in []string) (string, error) {
	if len(in) > maxEgressRules {
		return "", apierror.Invalid("egress_allow has %d rules; at most %d", len(in), maxEgressRules)
	}
	rules, err := egress.ParseRules(in)
	if err != nil {
		return "", apierror.Invalid("egress_allow: %v", err)
	}
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.String()
	}
	return strings.Join(out, " "), nil
}

func (s *Server) handleCreateWorkshop(w http.ResponseWriter, r *http.Request) error {
	var req workshopRequest
	if err := apierror.Decode(w, r, &req, workshopBodyLimit); err != nil {
		return err
	}
	name, err := cleanName(req.Name, "name")
	if err != nil {
		return err
	}
	if req.Seats < 1 || req.Seats > s.maxSeats() {
		return apierror.Invalid("seats must be between 1 and %d", s.maxSeats())
	}
	if len(req.LabGuide) > maxLabGuide {
		return apierror.TooLarge("lab_guide must be at most %d KiB", maxLabGuide>>10)
	}
	if req.DiskMB == 0 {
		req.DiskMB = defaultDiskMB
	}
	if req.DiskMB < minDiskMB || req.DiskMB > maxDiskMB {
		return apierror.Invalid("disk_mb must be between %d and %d (or omitted for %d)", minDiskMB, maxDiskMB, defaultDiskMB)
	}
	now := s.now()
	if err := checkSchedule(req.StartsAt, req.EndsAt, now); err != nil {
		return err
	}
	allow, err := egressAllow(req.EgressAllow)
	if err != nil {
		return err
	}
	env, envAuth, err := s.environment(req.Environment, req.EnvironmentAuth)
	if err != nil {
		return err
	}
	u := userFrom(r.Context())
	ws := &store.Workshop{
		OwnerID: u.ID, Name: name, Seats: req.Seats, LabGuide: req.LabGuide, DiskMB: req.DiskMB, EgressAllow: allow,
		Environment: env, EnvironmentAuth: envAuth, LearnerRoot: req.LearnerRoot,
		StartsAt: utc(req.StartsAt), EndsAt: utc(req.EndsAt),
		Status: store.StatusCreated, DesiredState: store.DesiredStopped,
		Provisioner: s.cfg.Provisioner,
		// Placement is fixed now: seat s will live on host ceil(s / this).
		SeatsPerHost: s.cfg.WorkshopSeatsPerHost(),
	}
	// A workshop with a schedule is provisioned ahead of its start.
	if ws.StartsAt != nil {
		ws.DesiredState = store.DesiredRunning
	}
	if err := s.createWithinQuota(r.Context(), u, ws, now); err != nil {
		return err
	}
	s.event(r, ws.ID, "info", "", "workshop created by "+u.Email)
	if ws.DesiredState == store.DesiredRunning {
		s.kick(ws.ID)
	}
	v, err := s.view(r, ws)
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusCreated, v)
	return nil
}

// createWithinQuota creates ws for u: an instructor's workshop must fit the
// seat quota, and a scheduled one (desired running at once) the whole quota,
// checked atomically with the owner's other workshops.
func (s *Server) createWithinQuota(ctx context.Context, u *store.User, ws *store.Workshop, now time.Time) error {
	q, _, limited, err := s.quotaFor(ctx, u)
	if err != nil {
		return err
	}
	if limited {
		if err := checkSeatsQuota(ws.Seats, q); err != nil {
			return err
		}
	}
	return s.st.CreateWorkshopWithin(ctx, ws, func(usage store.Usage) error {
		if !limited || ws.DesiredState != store.DesiredRunning {
			return nil
		}
		return checkStart(ws, usage, q, now)
	})
}

func checkSchedule(start, end *time.Time, now time.Time) error {
	if end != nil && !end.After(now) {
		return apierror.Invalid("ends_at must be in the future")
	}
	if start != nil && end != nil && !end.After(*start) {
		return apierror.Invalid("ends_at must be after starts_at")
	}
	return nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

func (s *Server) handleListWorkshops(w http.ResponseWriter, r *http.Request) error {
	u := userFrom(r.Context())
	f := store.WorkshopFilter{OwnerID: u.ID}
	if u.Role == store.RoleAdmin && r.URL.Query().Get("all") != "false" {
		f.OwnerID = ""
	}
	list, err := s.st.ListWorkshops(r.Context(), f)
	if err != nil {
		return err
	}
	// Workshops shared with the user as a teaching assistant (admins who
	// list everything have them already).
	if f.OwnerID != "" {
		assisted, err := s.st.ListMemberWorkshops(r.Context(), u.ID)
		if err != nil {
			return err
		}
		list = append(list, assisted...)
	}
	out := make([]api.Workshop, 0, len(list))
	for i := range list {
		v, err := s.view(r, &list[i])
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	apierror.JSON(w, http.StatusOK, api.WorkshopList{Workshops: out})
	return nil
}

func (s *Server) handleGetWorkshop(w http.ResponseWriter, r *http.Request) error {
	d, err := s.detail(r, workshopFrom(r.Context()))
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, d)
	return nil
}

// setDesired records a new desired state and wakes the reconciler.
func (s *Server) setDesired(w http.ResponseWriter, r *http.Request, desired store.DesiredState, msg string) error {
	id := workshopFrom(r.Context()).ID
	now := s.now()
	q, limited, err := s.ownerQuota(r.Context(), workshopFrom(r.Context()))
	if err != nil {
		return err
	}
	ws, err := s.st.UpdateWorkshopWithin(r.Context(), id, func(ws *store.Workshop, others store.Usage) error {
		if ws.Status == store.StatusDeleted || ws.DesiredState == store.DesiredDeleted {
			if desired == store.DesiredDeleted {
				return nil
			}
			return apierror.Gone("this workshop has been deleted")
		}
		if desired == store.DesiredRunning && ws.EndsAt != nil && !ws.EndsAt.After(now) {
			// The time goes in details: the client shows it in its viewer's time zone.
			return apierror.Conflict("workshop_ended", "this workshop has ended; extend its end time first").
				WithDetails(map[string]any{"ends_at": ws.EndsAt.UTC().Format(time.RFC3339)})
		}
		// Quotas apply when a workshop becomes desired running, atomically
		// with the owner's other workshops; one already running stays so.
		if limited && desired == store.DesiredRunning && ws.DesiredState != store.DesiredRunning {
			if err := checkStart(ws, others, q, now); err != nil {
				return err
			}
		}
		ws.DesiredState = desired
		if desired == store.DesiredDeleted && ws.DeletedAt == nil {
			ws.DeletedAt = &now
		}
		// A new request deserves a fresh start of the retry backoff.
		ws.Attempts = 0
		ws.NextAttemptAt = nil
		return nil
	})
	if err != nil {
		return answer(err, apierror.NotFound("workshop not found"))
	}
	s.event(r, id, "info", "", msg+" by "+userFrom(r.Context()).Email)
	s.kick(id)
	v, err := s.view(r, ws)
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusAccepted, v)
	return nil
}

func (s *Server) handleStartWorkshop(w http.ResponseWriter, r *http.Request) error {
	return s.setDesired(w, r, store.DesiredRunning, "start requested")
}

func (s *Server) handleStopWorkshop(w http.ResponseWriter, r *http.Request) error {
	return s.setDesired(w, r, store.DesiredStopped, "stop requested")
}

func (s *Server) handleDeleteWorkshop(w http.ResponseWriter, r *http.Request) error {
	return s.setDesired(w, r, store.DesiredDeleted, "delete requested")
}

func (s *Server) handleRetryWorkshop(w http.ResponseWriter, r *http.Request) error {
	ws := workshopFrom(r.Context())
	if ws.Status != store.StatusError {
		return apierror.Conflict("not_failed", "only a workshop in error can be retried (it is %s)", ws.Status)
	}
	return s.setDesired(w, r, ws.DesiredState, "retry requested")
}

// maxExtendMinutes bounds one extension by minutes (a day).
const maxExtendMinutes = 24 * 60

// handleExtendWorkshop moves a workshop's existing end time: to ends_at, or
// minutes later (counted from the end, or from now when the end has passed).
// A workshop with no end time runs until it is stopped; extending it is a
// 409 (open_ended) and leaves it open-ended.
func (s *Server) handleExtendWorkshop(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		EndsAt  *time.Time `json:"ends_at"`
		Minutes int        `json:"minutes"`
	}
	if err := apierror.Decode(w, r, &req, defaultBodyLimit); err != nil {
		return err
	}
	switch {
	case req.EndsAt == nil && req.Minutes == 0:
		return apierror.Invalid("give ends_at or minutes")
	case req.EndsAt != nil && req.Minutes != 0:
		return apierror.Invalid("give ends_at or minutes, not both")
	case req.Minutes < 0 || req.Minutes > maxExtendMinutes:
		return apierror.Invalid("minutes must be between 1 and %d", maxExtendMinutes)
	}
	now := s.now()
	q, limited, err := s.ownerQuota(r.Context(), workshopFrom(r.Context()))
	if err != nil {
		return err
	}
	ws, err := s.st.UpdateWorkshop(r.Context(), workshopFrom(r.Context()).ID, func(ws *store.Workshop) error {
		if ws.DesiredState == store.DesiredDeleted {
			return apierror.Gone("this workshop has been deleted")
		}
		if ws.EndsAt == nil {
			return apierror.Conflict("open_ended", "this workshop has no end time: it runs until it is stopped, so there is nothing to extend")
		}
		end := req.EndsAt
		if req.Minutes > 0 {
			base := *ws.EndsAt
			if base.Before(now) {
				base = now
			}
			t := base.Add(time.Duration(req.Minutes) * time.Minute)
			end = &t
		}
		if err := checkSchedule(ws.StartsAt, end, now); err != nil {
			return err
		}
		// A running workshop may not be extended past the hours quota (a
		// stopped one is checked when it starts).
		if limited && ws.DesiredState == store.DesiredRunning {
			begin := now
			if ws.StartsAt != nil && ws.StartsAt.After(now) {
				begin = *ws.StartsAt
			}
			if err := checkHours(end.Sub(begin), q); err != nil {
				return err
			}
		}
		ws.EndsAt = utc(end)
		return nil
	})
	if err != nil {
		return err
	}
	s.event(r, ws.ID, "info", "", "end time extended to "+ws.EndsAt.Format(time.RFC3339)+" by "+userFrom(r.Context()).Email)
	s.kick(ws.ID)
	v, err := s.view(r, ws)
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) handleListRegistrations(w http.ResponseWriter, r *http.Request) error {
	regs, err := s.st.ListRegistrations(r.Context(), workshopFrom(r.Context()).ID)
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, api.RegistrationList{Registrations: apiRegistrations(regs)})
	return nil
}

const idleAfter = 5 * time.Minute

func (s *Server) seatViews(r *http.Request, ws *store.Workshop) ([]api.SeatView, error) {
	regs, err := s.st.ListRegistrations(r.Context(), ws.ID)
	if err != nil {
		return nil, err
	}
	return s.seatViewsOf(r.Context(), ws, regs)
}

// seatViewsOf is every seat of the workshop as the class view shows it, with
// its learner from regs.
func (s *Server) seatViewsOf(ctx context.Context, ws *store.Workshop, regs []store.RegistrationView) ([]api.SeatView, error) {
	seats, err := s.st.ListSeats(ctx, ws.ID)
	if err != nil {
		return nil, err
	}
	byReg := map[string]store.RegistrationView{}
	for _, rg := range regs {
		byReg[rg.ID] = rg
	}
	out := make([]api.SeatView, ws.Seats)
	for i := range out {
		out[i] = api.SeatView{Seat: i + 1, Status: "empty"}
	}
	now := s.now()
	for _, st := range seats {
		if st.Seat < 1 || st.Seat > len(out) || st.Status == store.SeatRevoked {
			continue
		}
		v := &out[st.Seat-1]
		v.RegistrationID = st.RegistrationID
		v.LastActivity = st.LastActivity
		if rg, ok := byReg[st.RegistrationID]; ok {
			v.LearnerName, v.LearnerEmail = rg.Name, rg.Email
		}
		health, known := s.seatState(ws.ID, st.Seat)
		if known {
			v.RestartedAt = health.RestartedAt
		}
		switch {
		case ws.Status != store.StatusRunning:
			v.Status = "waiting"
		case known && health.Health == agentclient.HealthDown:
			v.Status = "down"
		case st.Status == store.SeatConnected && st.LastActivity != nil && now.Sub(*st.LastActivity) > idleAfter:
			v.Status = "idle"
		case st.Status == store.SeatConnected:
			v.Status = "connected"
		default:
			v.Status = "ready"
		}
	}
	pending, err := s.st.ListPendingRevokes(ctx, ws.ID)
	if err != nil {
		return nil, err
	}
	for _, p := range pending {
		if p.Seat >= 1 && p.Seat <= len(out) {
			out[p.Seat-1].RevokePending, out[p.Seat-1].RevokeError = true, p.LastError
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seat < out[j].Seat })
	return out, nil
}

func (s *Server) handleListSeats(w http.ResponseWriter, r *http.Request) error {
	views, err := s.seatViews(r, workshopFrom(r.Context()))
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, api.SeatList{Seats: views})
	return nil
}

// handleSeatToken gives the instructor a token to watch (ro) or take over
// (rw) a seat's terminal.
func (s *Server) handleSeatToken(w http.ResponseWriter, r *http.Request) error {
	ws := workshopFrom(r.Context())
	seat, err := strconv.Atoi(r.PathValue("seat"))
	if err != nil || seat < 1 || seat > ws.Seats {
		return apierror.Invalid("seat must be between 1 and %d", ws.Seats)
	}
	var req struct {
		Mode string `json:"mode"`
	}
	if r.ContentLength != 0 {
		if err := apierror.Decode(w, r, &req, defaultBodyLimit); err != nil {
			return err
		}
	}
	role := "viewer"
	switch req.Mode {
	case "", "ro":
	case "rw":
		role = "instructor"
	default:
		return apierror.Invalid(`mode must be "ro" or "rw"`)
	}
	if ws.Status != store.StatusRunning {
		return apierror.Conflict("not_running", "the workshop is %s, not running", ws.Status)
	}
	// The workshop's current generation: at or above every revoke so far.
	gen, err := s.st.TokenGeneration(r.Context(), ws.ID)
	if err != nil {
		return err
	}
	u := userFrom(r.Context())
	by := u.Name
	if by == "" {
		by = u.Email
	}
	tok, exp, err := authtoken.IssueBy(authtoken.WorkshopKey(s.wsKey, ws.ID), ws.ID, seat, role, gen, by, s.cfg.WorkspaceTTL, s.now())
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, api.WorkspaceAccess{Token: tok, ExpiresAt: exp, Endpoints: endpoints(ws.ID, seat)})
	return nil
}

func (s *Server) event(r *http.Request, workshopID, level string, step store.StepName, msg string) {
	_ = s.st.AddEvent(r.Context(), &store.Event{WorkshopID: workshopID, At: s.now(), Level: level, Step: step, Message: msg})
}
