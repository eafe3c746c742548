package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/api"
	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// signupMode is SIGNUP; an unset mode is closed.
func (s *Server) signupMode() string {
	if s.cfg.Signup == "" {
		return config.SignupClosed
	}
	return s.cfg.Signup
}

// handleSignupInfo tells the web app how accounts are made here.
func (s *Server) handleSignupInfo(w http.ResponseWriter, r *http.Request) error {
	apierror.JSON(w, http.StatusOK, api.SignupInfo{Mode: s.signupMode()})
	return nil
}

// hashInvite is how invite tokens are stored: only their SHA-256.
func hashInvite(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// adminOnly requires an admin session (after auth).
func (s *Server) adminOnly(next apierror.HandlerFunc) apierror.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if u := userFrom(r.Context()); u == nil || u.Role != store.RoleAdmin {
			return apierror.Forbidden("only an administrator can do this")
		}
		return next(w, r)
	}
}

// ---- quotas ----------------------------------------------------------------

// defaultQuota is the configured default (DefaultQuota when the config does
// not set one: WorkshopHours is at least 1 in every loaded config).
func (s *Server) defaultQuota() store.Quota {
	q := s.cfg.Quota
	if q.WorkshopHours < 1 {
		q = config.DefaultQuota
	}
	return store.Quota{RunningWorkshops: q.RunningWorkshops, Seats: q.Seats, WorkshopHours: q.WorkshopHours}
}

// quotaFor is the user's quota and whether it is their own (not the
// default). Admins have none: ok is false.
func (s *Server) quotaFor(ctx context.Context, u *store.User) (q store.Quota, custom, ok bool, err error) {
	if u.Role == store.RoleAdmin {
		return store.Quota{}, false, false, nil
	}
	own, err := s.st.GetQuota(ctx, u.ID)
	switch {
	case err == nil:
		return *own, true, true, nil
	case errors.Is(err, store.ErrNotFound):
		return s.defaultQuota(), false, true, nil
	default:
		return store.Quota{}, false, false, err
	}
}

// ownerQuota is the quota of a workshop's owner (ok false: none applies).
func (s *Server) ownerQuota(ctx context.Context, ws *store.Workshop) (store.Quota, bool, error) {
	owner, err := s.st.GetUser(ctx, ws.OwnerID)
	if err != nil {
		return store.Quota{}, false, err
	}
	q, _, ok, err := s.quotaFor(ctx, owner)
	return q, ok, err
}

func quotaExceeded(format string, args ...any) *apierror.Error {
	return apierror.New(http.StatusForbidden, "quota_exceeded", format, args...)
}

// checkSeatsQuota refuses a workshop bigger than the owner's whole seat
// quota: it could never start.
func checkSeatsQuota(seats int, q store.Quota) error {
	if seats > q.Seats {
		return quotaExceeded("seats quota: a workshop of %d seats is more than your quota of %d seats; ask an administrator to raise it", seats, q.Seats)
	}
	return nil
}

// checkStart applies the owner's quota to a workshop about to be desired
// running, given what the owner's other running workshops take. A workshop
// without an end time gets one, WorkshopHours after it begins.
func checkStart(ws *store.Workshop, others store.Usage, q store.Quota, now time.Time) error {
	if others.RunningWorkshops+1 > q.RunningWorkshops {
		return quotaExceeded("running workshops quota: %d of your workshops already run and your quota is %d; stop one first or ask an administrator", others.RunningWorkshops, q.RunningWorkshops)
	}
	if others.Seats+ws.Seats > q.Seats {
		return quotaExceeded("seats quota: your running workshops hold %d seats, this one adds %d, and your quota is %d seats", others.Seats, ws.Seats, q.Seats)
	}
	begin := now
	if ws.StartsAt != nil && ws.StartsAt.After(now) {
		begin = *ws.StartsAt
	}
	limit := time.Duration(q.WorkshopHours) * time.Hour
	if ws.EndsAt == nil {
		end := begin.Add(limit).UTC().Truncate(time.Microsecond)
		ws.EndsAt = &end
		return nil
	}
	return checkHours(ws.EndsAt.Sub(begin), q)
}

func checkHours(d time.Duration, q store.Quota) error {
	if d > time.Duration(q.WorkshopHours)*time.Hour {
		return quotaExceeded("workshop hours quota: this workshop would run %s and your quota is %d hours; choose an earlier end", d.Round(time.Minute), q.WorkshopHours)
	}
	return nil
}

// ---- invites ---------------------------------------------------------------

// inviteView is an invite with its status now.
func (s *Server) inviteView(inv *store.Invite) api.Invite {
	st := "pending"
	switch {
	case inv.UsedAt != nil:
		st = "used"
	case !s.now().Before(inv.ExpiresAt):
		st = "expired"
	}
	return apiInvite(inv, st)
}

func (s *Server) handleCreateInvite(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Email    string `json:"email"`
		TTLHours int    `json:"ttl_hours"`
	}
	if err := apierror.Decode(w, r, &req, defaultBodyLimit); err != nil {
		return err
	}
	email := ""
	if req.Email != "" {
		var err error
		if email, err = normalizeEmail(req.Email); err != nil {
			return err
		}
	} else if s.signupMode() == config.SignupClosed {
		return apierror.Invalid("sign-up is closed (SIGNUP=closed): an invite must name the email address it is for; SIGNUP=invite allows links for anyone")
	}
	ttl := s.cfg.InviteTTL
	if ttl <= 0 {
		ttl = config.DefaultInviteTTL
	}
	if req.TTLHours != 0 {
		if req.TTLHours < 1 || req.TTLHours > 720 {
			return apierror.Invalid("ttl_hours must be between 1 and 720")
		}
		ttl = time.Duration(req.TTLHours) * time.Hour
	}
	tok := authtoken.Random(24)
	now := s.now()
	inv := &store.Invite{TokenHash: hashInvite(tok), Email: email, CreatedBy: userFrom(r.Context()).ID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.st.CreateInvite(r.Context(), inv); err != nil {
		return err
	}
	apierror.JSON(w, http.StatusCreated, api.InviteCreated{
		Invite: s.inviteView(inv),
		Token:  tok,
		URL:    s.cfg.PublicURL + "/signup?invite=" + url.QueryEscape(tok),
	})
	return nil
}

func (s *Server) handleListInvites(w http.ResponseWriter, r *http.Request) error {
	list, err := s.st.ListInvites(r.Context())
	if err != nil {
		return err
	}
	out := make([]api.Invite, 0, len(list))
	for i := range list {
		out = append(out, s.inviteView(&list[i]))
	}
	apierror.JSON(w, http.StatusOK, api.InviteList{Invites: out})
	return nil
}

func (s *Server) handleDeleteInvite(w http.ResponseWriter, r *http.Request) error {
	if err := s.st.DeleteInvite(r.Context(), r.PathValue("iid")); err != nil {
		return answer(err, apierror.NotFound("invite not found"))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// createInvitedUser creates u with the invite token (any sign-up mode).
func (s *Server) createInvitedUser(r *http.Request, u *store.User, invite string) error {
	// store.ErrInvite is answered 403 invite_invalid (storeErrors).
	_, err := s.st.CreateUserWithInvite(r.Context(), u, hashInvite(invite), s.now())
	return err
}

// ---- admin: users and quotas -----------------------------------------------

// userRow is an account with its quota (nil for admins: none) and usage.
func (s *Server) userRow(ctx context.Context, u *store.User) (*api.UserRow, error) {
	q, custom, ok, err := s.quotaFor(ctx, u)
	if err != nil {
		return nil, err
	}
	usage, err := s.st.OwnerUsage(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	row := &api.UserRow{User: apiUser(u), QuotaCustom: custom, Usage: apiUsage(usage)}
	if ok {
		row.Quota = apiQuotaPtr(&q)
	}
	return row, nil
}

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := s.st.ListUsers(r.Context())
	if err != nil {
		return err
	}
	out := make([]api.UserRow, 0, len(users))
	for i := range users {
		row, err := s.userRow(r.Context(), &users[i])
		if err != nil {
			return err
		}
		out = append(out, *row)
	}
	apierror.JSON(w, http.StatusOK, api.UserList{Users: out, DefaultQuota: apiQuota(s.defaultQuota()), Signup: s.signupMode()})
	return nil
}

// pathUser loads the user {uid}.
func (s *Server) pathUser(r *http.Request) (*store.User, error) {
	u, err := s.st.GetUser(r.Context(), r.PathValue("uid"))
	if err != nil {
		return nil, answer(err, apierror.NotFound("user not found"))
	}
	return u, nil
}

func (s *Server) handleSetQuota(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RunningWorkshops *int `json:"running_workshops"`
		Seats            *int `json:"seats"`
		WorkshopHours    *int `json:"workshop_hours"`
	}
	if err := apierror.Decode(w, r, &req, defaultBodyLimit); err != nil {
		return err
	}
	u, err := s.pathUser(r)
	if err != nil {
		return err
	}
	if u.Role == store.RoleAdmin {
		return apierror.Invalid("administrators have no quota")
	}
	q, _, _, err := s.quotaFor(r.Context(), u)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		v   *int
		dst *int
	}{{req.RunningWorkshops, &q.RunningWorkshops}, {req.Seats, &q.Seats}, {req.WorkshopHours, &q.WorkshopHours}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	if q.RunningWorkshops < 0 || q.RunningWorkshops > 1000 || q.Seats < 0 || q.Seats > 100000 || q.WorkshopHours < 1 || q.WorkshopHours > 8760 {
		return apierror.Invalid("running_workshops must be 0..1000, seats 0..100000 and workshop_hours 1..8760")
	}
	if err := s.st.SetQuota(r.Context(), u.ID, q); err != nil {
		return err
	}
	return s.writeUserRow(w, r, u)
}

func (s *Server) handleResetQuota(w http.ResponseWriter, r *http.Request) error {
	u, err := s.pathUser(r)
	if err != nil {
		return err
	}
	if err := s.st.DeleteQuota(r.Context(), u.ID); err != nil {
		return err
	}
	return s.writeUserRow(w, r, u)
}

func (s *Server) writeUserRow(w http.ResponseWriter, r *http.Request, u *store.User) error {
	row, err := s.userRow(r.Context(), u)
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, row)
	return nil
}

// ---- co-instructors --------------------------------------------------------

// member loads the workshop {id} and requires the user to be its owner, one
// of its co-instructors (teaching assistants) or an admin. Routes that
// change the workshop itself use owned instead.
func (s *Server) member(next apierror.HandlerFunc) apierror.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ws, err := s.loadWorkshop(r)
		if err != nil {
			return err
		}
		u := userFrom(r.Context())
		if ws.OwnerID != u.ID && u.Role != store.RoleAdmin {
			_, err := s.st.GetMember(r.Context(), ws.ID, u.ID)
			if errors.Is(err, store.ErrNotFound) {
				return apierror.Forbidden("this workshop belongs to another instructor")
			}
			if err != nil {
				return err
			}
		}
		return next(w, r.WithContext(context.WithValue(r.Context(), workshopKey, ws)))
	}
}

// loadWorkshop reads the workshop {id} (404 when it is missing).
func (s *Server) loadWorkshop(r *http.Request) (*store.Workshop, error) {
	ws, err := s.st.GetWorkshop(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, answer(err, apierror.NotFound("workshop not found"))
	}
	return ws, nil
}

// access is what the signed-in user is to a workshop: owner, assistant or
// admin.
func (s *Server) access(ctx context.Context, ws *store.Workshop) string {
	u := userFrom(ctx)
	switch {
	case u == nil:
		return ""
	case u.ID == ws.OwnerID:
		return "owner"
	case u.Role == store.RoleAdmin:
		return "admin"
	default:
		return store.MemberAssistant
	}
}

func (s *Server) handleListMembers(w http.ResponseWriter, r *http.Request) error {
	ws := workshopFrom(r.Context())
	list, err := s.st.ListMembers(r.Context(), ws.ID)
	if err != nil {
		return err
	}
	owner, err := s.st.GetUser(r.Context(), ws.OwnerID)
	if err != nil {
		return err
	}
	members := make([]api.Member, 0, len(list))
	for i := range list {
		members = append(members, apiMember(&list[i]))
	}
	apierror.JSON(w, http.StatusOK, api.MemberList{
		Owner:   api.Person{ID: owner.ID, Email: owner.Email, Name: owner.Name},
		Members: members,
	})
	return nil
}

func (s *Server) handleAddMember(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Email string `json:"email"`
	}
	if err := apierror.Decode(w, r, &req, authBodyLimit); err != nil {
		return err
	}
	email, err := normalizeEmail(req.Email)
	if err != nil {
		return err
	}
	ws := workshopFrom(r.Context())
	u, err := s.st.GetUserByEmail(r.Context(), email)
	if err != nil {
		return answer(err, apierror.NotFound("no instructor account has the email %s; an administrator can invite them first", email))
	}
	if u.ID == ws.OwnerID {
		return apierror.Invalid("%s owns this workshop already", email)
	}
	m := &store.Member{WorkshopID: ws.ID, UserID: u.ID, Role: store.MemberAssistant, CreatedAt: s.now()}
	if err := s.st.AddMember(r.Context(), m); err != nil {
		return answer(err, apierror.Conflict("already_member", "%s already assists on this workshop", email))
	}
	m.Email, m.Name = u.Email, u.Name
	s.event(r, ws.ID, "info", "", fmt.Sprintf("%s shared the workshop with %s (teaching assistant)", userFrom(r.Context()).Email, u.Email))
	apierror.JSON(w, http.StatusCreated, apiMember(m))
	return nil
}

func (s *Server) handleRemoveMember(w http.ResponseWriter, r *http.Request) error {
	ws := workshopFrom(r.Context())
	uid := r.PathValue("uid")
	if err := s.st.RemoveMember(r.Context(), ws.ID, uid); err != nil {
		return answer(err, apierror.NotFound("that user is not a teaching assistant of this workshop"))
	}
	s.event(r, ws.ID, "info", "", "a teaching assistant was removed by "+userFrom(r.Context()).Email)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
