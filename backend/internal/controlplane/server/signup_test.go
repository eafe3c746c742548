package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/controlplane/store"
)

const testPassword = "correct horse battery"

// closedSignup is the configuration a careless operator runs: SIGNUP and
// the quotas unset (the server's defaults).
func closedSignup(c *config_) { c.Signup, c.Quota = "", config.Quota{} }

// admin makes an admin account the way the server's bootstrap does and
// returns its session token.
func (e *testEnv) admin(email string) string {
	e.t.Helper()
	if _, _, err := server.EnsureAdmin(context.Background(), e.st, email, testPassword, "Root"); err != nil {
		e.t.Fatal(err)
	}
	return e.login(email)
}

func (e *testEnv) login(email string) string {
	e.t.Helper()
	r := e.call("POST", "/api/auth/login", "", map[string]string{"email": email, "password": testPassword})
	if r.Status != http.StatusOK {
		e.t.Fatalf("login %s: %d %s", email, r.Status, r.Body)
	}
	return r.json(e.t)["token"].(string)
}

// invited creates an instructor through an admin's invite for that email.
func (e *testEnv) invited(adminTok, email string) string {
	e.t.Helper()
	r := e.call("POST", "/api/invites", adminTok, map[string]any{"email": email})
	if r.Status != http.StatusCreated {
		e.t.Fatalf("invite %s: %d %s", email, r.Status, r.Body)
	}
	inv := r.json(e.t)["token"].(string)
	r = e.call("POST", "/api/auth/register", "", map[string]string{"email": email, "password": testPassword, "name": "Invited", "invite": inv})
	if r.Status != http.StatusCreated {
		e.t.Fatalf("register %s with invite: %d %s", email, r.Status, r.Body)
	}
	return r.json(e.t)["token"].(string)
}

func wantError(t *testing.T, what string, r resp, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.Status, status, r.Body)
	}
	if code != "" && r.errCode(t) != code {
		t.Fatalf("%s: code %q, want %q: %s", what, r.errCode(t), code, r.Body)
	}
}

// TestSignupClosedByDefault: with SIGNUP unset nobody signs themselves up;
// invite mode needs an invite too; open must be asked for by name.
func TestSignupClosedByDefault(t *testing.T) {
	t.Parallel()
	body := map[string]string{"email": "stranger@example.com", "password": testPassword, "name": "S"}
	for _, mode := range []string{"", config.SignupClosed, config.SignupInvite} {
		e := newEnv(t, "sqlite", func(c *config_) { c.Signup = mode })
		wantError(t, "register with SIGNUP="+mode, e.call("POST", "/api/auth/register", "", body), 403, "signup_closed")
		if n, _ := e.st.CountUsers(context.Background()); n != 0 {
			t.Fatalf("SIGNUP=%q: %d accounts created", mode, n)
		}
		want := mode
		if want == "" {
			want = config.SignupClosed
		}
		if got := e.call("GET", "/api/auth/signup", "", nil).json(t)["mode"]; got != want {
			t.Fatalf("GET /api/auth/signup = %v, want %s", got, want)
		}
	}
	e := newEnv(t, "sqlite", func(c *config_) { c.Signup = config.SignupOpen })
	if r := e.call("POST", "/api/auth/register", "", body); r.Status != http.StatusCreated {
		t.Fatalf("open sign-up: %d %s", r.Status, r.Body)
	}
}

// TestSignupOpenWarns: open sign-up is logged as a warning at start.
// Not parallel: it swaps the default logger.
func TestSignupOpenWarns(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(prev)
	newEnv(t, "sqlite", func(c *config_) { c.Signup = config.SignupInvite })
	if strings.Contains(buf.String(), "SIGNUP=open") {
		t.Fatalf("warned without open sign-up: %s", buf.String())
	}
	newEnv(t, "sqlite", func(c *config_) { c.Signup = config.SignupOpen })
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "SIGNUP=open") {
		t.Fatalf("no warning for open sign-up: %q", buf.String())
	}
}

// TestInvites: only admins invite; an invite is single use, expires, is
// bound to its email when it names one, and its token is shown once.
func TestInvites(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		e.cfg.Signup = config.SignupClosed
		root := e.admin("root@example.com")
		inst := e.invited(root, "ada@example.com")
		me := e.call("GET", "/api/auth/me", inst, nil).json(t)["user"].(map[string]any)
		if me["role"] != store.RoleInstructor {
			t.Fatalf("invited account role %v", me["role"])
		}
		wantError(t, "instructor invites", e.call("POST", "/api/invites", inst, map[string]any{"email": "x@example.com"}), 403, "forbidden")
		wantError(t, "instructor lists invites", e.call("GET", "/api/invites", inst, nil), 403, "forbidden")
		wantError(t, "anonymous invite", e.call("POST", "/api/invites", "", map[string]any{}), 401, "unauthorized")
		wantError(t, "closed: invite without email", e.call("POST", "/api/invites", root, map[string]any{}), 400, "invalid")
		wantError(t, "bad ttl", e.call("POST", "/api/invites", root, map[string]any{"email": "b@example.com", "ttl_hours": 9999}), 400, "invalid")

		r := e.call("POST", "/api/invites", root, map[string]any{"email": "Bea@Example.com", "ttl_hours": 2})
		if r.Status != http.StatusCreated {
			t.Fatalf("invite: %d %s", r.Status, r.Body)
		}
		m := r.json(t)
		tok := m["token"].(string)
		if !strings.HasPrefix(m["url"].(string), "http://clarateach.test/signup?invite=") || len(tok) < 32 {
			t.Fatalf("invite answer %v", m)
		}
		reg := func(email, invite string) resp {
			return e.call("POST", "/api/auth/register", "", map[string]string{"email": email, "password": testPassword, "name": "B", "invite": invite})
		}
		wantError(t, "wrong token", reg("bea@example.com", tok+"x"), 403, "invite_invalid")
		wantError(t, "other email", reg("eve@example.com", tok), 403, "invite_invalid")
		if r := reg("bea@example.com", tok); r.Status != http.StatusCreated {
			t.Fatalf("register with invite: %d %s", r.Status, r.Body)
		}
		wantError(t, "second use", reg("bea@example.com", tok), 403, "invite_invalid")

		// Expiry, by the server's clock.
		r = e.call("POST", "/api/invites", root, map[string]any{"email": "late@example.com", "ttl_hours": 1})
		late := r.json(t)["token"].(string)
		e.advance(time.Hour + time.Second)
		wantError(t, "expired invite", reg("late@example.com", late), 403, "invite_invalid")

		// The list shows each invite's state, never a token or its hash.
		r = e.call("GET", "/api/invites", root, nil)
		if r.Status != 200 || strings.Contains(string(r.Body), tok) || strings.Contains(string(r.Body), "token") {
			t.Fatalf("list invites: %d %s", r.Status, r.Body)
		}
		states := map[string]string{}
		for _, v := range r.json(t)["invites"].([]any) {
			inv := v.(map[string]any)
			states[inv["email"].(string)] = inv["status"].(string)
		}
		if states["bea@example.com"] != "used" || states["late@example.com"] != "expired" || states["ada@example.com"] != "used" {
			t.Fatalf("invite states %v", states)
		}

		// SIGNUP=invite: links for anyone (still single use); withdrawn
		// invites stop working.
		e.cfg.Signup = config.SignupInvite
		r = e.call("POST", "/api/invites", root, map[string]any{})
		if r.Status != http.StatusCreated {
			t.Fatalf("open invite: %d %s", r.Status, r.Body)
		}
		anyTok := r.json(t)["token"].(string)
		r = e.call("POST", "/api/invites", root, map[string]any{})
		withdrawn := r.json(t)
		if r := e.call("DELETE", "/api/invites/"+withdrawn["invite"].(map[string]any)["id"].(string), root, nil); r.Status != 204 {
			t.Fatalf("delete invite: %d %s", r.Status, r.Body)
		}
		wantError(t, "withdrawn invite", reg("w@example.com", withdrawn["token"].(string)), 403, "invite_invalid")
		if r := reg("cy@example.com", anyTok); r.Status != http.StatusCreated {
			t.Fatalf("register with open invite: %d %s", r.Status, r.Body)
		}
		wantError(t, "open invite twice", reg("dee@example.com", anyTok), 403, "invite_invalid")
	})
}

// TestQuotaEnforced: the default quota (2 running workshops, 60 seats, 8
// hours) holds at start and at create, names the limit, and admins change
// it; admins have none.
func TestQuotaEnforced(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		e.cfg.Signup, e.cfg.Quota, e.cfg.MaxSeats = "", config.Quota{}, 100
		root := e.admin("root@example.com")
		inst := e.invited(root, "ada@example.com")
		var ids []string
		for i := 0; i < 3; i++ {
			id, _ := e.workshop(inst, 30)
			ids = append(ids, id)
		}
		e.start(inst, ids[0])
		e.start(inst, ids[1])
		r := e.call("POST", "/api/workshops/"+ids[2]+"/start", inst, nil)
		wantError(t, "third start", r, 403, "quota_exceeded")
		if !strings.Contains(r.json(t)["error"].(map[string]any)["message"].(string), "running workshops quota") {
			t.Fatalf("message does not name the limit: %s", r.Body)
		}
		if w, _ := e.st.GetWorkshop(context.Background(), ids[2]); w.DesiredState != store.DesiredStopped {
			t.Fatalf("refused start changed the workshop: %+v", w)
		}
		// Starting one that already runs is not a new start.
		if r := e.call("POST", "/api/workshops/"+ids[0]+"/start", inst, nil); r.Status != http.StatusAccepted {
			t.Fatalf("restart of a running workshop: %d %s", r.Status, r.Body)
		}
		// A workshop bigger than the whole seat quota is refused at create.
		wantError(t, "create 70 seats", e.call("POST", "/api/workshops", inst, map[string]any{"name": "big", "seats": 70}), 403, "quota_exceeded")

		// The admin raises the workshop count: now seats are the limit.
		uid := e.call("GET", "/api/auth/me", inst, nil).json(t)["user"].(map[string]any)["id"].(string)
		wantError(t, "instructor sets quota", e.call("PUT", "/api/admin/users/"+uid+"/quota", inst, map[string]any{"running_workshops": 9}), 403, "forbidden")
		r = e.call("PUT", "/api/admin/users/"+uid+"/quota", root, map[string]any{"running_workshops": 5})
		if r.Status != 200 || r.json(t)["quota"].(map[string]any)["seats"] != float64(60) || r.json(t)["quota_custom"] != true {
			t.Fatalf("set quota: %d %s", r.Status, r.Body)
		}
		r = e.call("POST", "/api/workshops/"+ids[2]+"/start", inst, nil)
		wantError(t, "start past seats", r, 403, "quota_exceeded")
		if !strings.Contains(string(r.Body), "seats quota") {
			t.Fatalf("message does not name the seats limit: %s", r.Body)
		}
		wantError(t, "bad quota", e.call("PUT", "/api/admin/users/"+uid+"/quota", root, map[string]any{"workshop_hours": 0}), 400, "invalid")

		// Hours: a start without an end gets one 8 hours on; extending a
		// running workshop past the quota is refused.
		w, _ := e.st.GetWorkshop(context.Background(), ids[0])
		if w.EndsAt == nil || !w.EndsAt.Equal(e.clock().Add(8*time.Hour)) {
			t.Fatalf("started workshop ends at %v, want %v", w.EndsAt, e.clock().Add(8*time.Hour))
		}
		r = e.call("POST", "/api/workshops/"+ids[0]+"/extend", inst, map[string]any{"ends_at": e.clock().Add(10 * time.Hour)})
		wantError(t, "extend past hours", r, 403, "quota_exceeded")
		if !strings.Contains(string(r.Body), "workshop hours quota") {
			t.Fatalf("message does not name the hours limit: %s", r.Body)
		}
		r = e.call("POST", "/api/workshops", inst, map[string]any{"name": "long", "seats": 1,
			"starts_at": e.clock().Add(time.Hour), "ends_at": e.clock().Add(11 * time.Hour)})
		wantError(t, "scheduled past hours", r, 403, "quota_exceeded")

		// Me shows the quota and usage; the admin list shows everyone.
		me := e.call("GET", "/api/auth/me", inst, nil).json(t)
		if me["usage"].(map[string]any)["running_workshops"] != float64(2) || me["quota"].(map[string]any)["running_workshops"] != float64(5) {
			t.Fatalf("me: %v", me)
		}
		users := e.call("GET", "/api/admin/users", root, nil).json(t)
		if len(users["users"].([]any)) != 2 || users["default_quota"].(map[string]any)["seats"] != float64(60) {
			t.Fatalf("admin users: %v", users)
		}
		// Reset to defaults: 2 running again.
		r = e.call("DELETE", "/api/admin/users/"+uid+"/quota", root, nil)
		if r.Status != 200 || r.json(t)["quota_custom"] != false || r.json(t)["quota"].(map[string]any)["running_workshops"] != float64(2) {
			t.Fatalf("reset quota: %d %s", r.Status, r.Body)
		}

		// Admins have no quota.
		for i := 0; i < 3; i++ {
			id, _ := e.workshop(root, 30)
			if r := e.call("POST", "/api/workshops/"+id+"/start", root, nil); r.Status != http.StatusAccepted {
				t.Fatalf("admin start %d: %d %s", i, r.Status, r.Body)
			}
		}
	})
}

// TestQuotaConcurrentStarts: N parallel starts by one instructor never run
// more workshops than the quota, on either engine.
func TestQuotaConcurrentStarts(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		e.cfg.Quota = config.Quota{RunningWorkshops: 3, Seats: 1000, WorkshopHours: 8}
		inst := e.instructor("race@example.com")
		const n = 12
		ids := make([]string, n)
		for i := range ids {
			ids[i], _ = e.workshop(inst, 5)
		}
		statuses := make([]int, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r := e.call("POST", "/api/workshops/"+id+"/start", inst, nil)
				statuses[i] = r.Status
				if r.Status != http.StatusAccepted && r.errCode(t) != "quota_exceeded" {
					t.Errorf("start %d: %d %s", i, r.Status, r.Body)
				}
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, s := range statuses {
			if s == http.StatusAccepted {
				ok++
			}
		}
		running := 0
		for _, id := range ids {
			if w, _ := e.st.GetWorkshop(context.Background(), id); w.DesiredState == store.DesiredRunning {
				running++
			}
		}
		if ok != 3 || running != 3 {
			t.Fatalf("%d starts accepted and %d workshops desired running, want 3 (statuses %v)", ok, running, statuses)
		}
	})
}

// TestCoInstructors: a teaching assistant watches, takes over and revokes,
// but cannot start, stop, delete, extend or share; strangers get nothing.
func TestCoInstructors(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		owner := e.instructor("owner@example.com")
		ta := e.instructor("ta@example.com")
		stranger := e.instructor("stranger@example.com")
		id, code := e.workshop(owner, 3)
		e.start(owner, id)
		base := "/api/workshops/" + id

		wantError(t, "stranger reads", e.call("GET", base, stranger, nil), 403, "forbidden")
		wantError(t, "share unknown email", e.call("POST", base+"/members", owner, map[string]any{"email": "nobody@example.com"}), 404, "not_found")
		wantError(t, "share with owner", e.call("POST", base+"/members", owner, map[string]any{"email": "owner@example.com"}), 400, "invalid")
		r := e.call("POST", base+"/members", owner, map[string]any{"email": "TA@example.com"})
		if r.Status != http.StatusCreated {
			t.Fatalf("share: %d %s", r.Status, r.Body)
		}
		taID := r.json(t)["user_id"].(string)
		wantError(t, "share twice", e.call("POST", base+"/members", owner, map[string]any{"email": "ta@example.com"}), 409, "already_member")

		// What the TA can do.
		if m := e.call("GET", base, ta, nil).json(t); m["access"] != "assistant" || m["id"] != id {
			t.Fatalf("TA reads workshop: %v", m)
		}
		list := e.call("GET", "/api/workshops", ta, nil).json(t)["workshops"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["id"] != id || list[0].(map[string]any)["access"] != "assistant" {
			t.Fatalf("TA dashboard: %v", list)
		}
		if n := len(e.call("GET", "/api/workshops", stranger, nil).json(t)["workshops"].([]any)); n != 0 {
			t.Fatalf("stranger lists %d workshops", n)
		}
		e.call("POST", "/api/register", "", map[string]string{"workshop_code": code, "name": "L", "email": "l@example.com"})
		r = e.call("GET", base+"/registrations", ta, nil)
		if r.Status != 200 || len(r.json(t)["registrations"].([]any)) != 1 {
			t.Fatalf("TA lists registrations: %d %s", r.Status, r.Body)
		}
		rid := r.json(t)["registrations"].([]any)[0].(map[string]any)["id"].(string)
		for _, mode := range []string{"ro", "rw"} {
			if r := e.call("POST", base+"/seats/1/token", ta, map[string]string{"mode": mode}); r.Status != 200 {
				t.Fatalf("TA seat token %s: %d %s", mode, r.Status, r.Body)
			}
		}
		if r := e.call("GET", base+"/members", ta, nil); r.Status != 200 || !strings.Contains(string(r.Body), "owner@example.com") {
			t.Fatalf("TA lists members: %d %s", r.Status, r.Body)
		}
		if r := e.call("DELETE", base+"/registrations/"+rid, ta, nil); r.Status != http.StatusNoContent {
			t.Fatalf("TA revokes: %d %s", r.Status, r.Body)
		}

		// What the TA cannot do.
		for _, c := range []struct{ method, path string }{
			{"POST", base + "/stop"}, {"POST", base + "/start"}, {"DELETE", base},
			{"POST", base + "/retry"}, {"DELETE", base + "/members/" + taID},
		} {
			wantError(t, "TA "+c.method+" "+c.path, e.call(c.method, c.path, ta, nil), 403, "forbidden")
		}
		wantError(t, "TA extends", e.call("POST", base+"/extend", ta, map[string]any{"ends_at": e.clock().Add(time.Hour)}), 403, "forbidden")
		wantError(t, "TA shares further", e.call("POST", base+"/members", ta, map[string]any{"email": "stranger@example.com"}), 403, "forbidden")
		uid := e.call("GET", "/api/auth/me", ta, nil).json(t)["user"].(map[string]any)["id"].(string)
		wantError(t, "TA changes quotas", e.call("PUT", "/api/admin/users/"+uid+"/quota", ta, map[string]any{"seats": 1000}), 403, "forbidden")
		if w, _ := e.st.GetWorkshop(context.Background(), id); w.DesiredState != store.DesiredRunning {
			t.Fatalf("TA changed the workshop: %+v", w)
		}

		// The owner takes the share back.
		if r := e.call("DELETE", base+"/members/"+taID, owner, nil); r.Status != http.StatusNoContent {
			t.Fatalf("unshare: %d %s", r.Status, r.Body)
		}
		wantError(t, "former TA reads", e.call("GET", base, ta, nil), 403, "forbidden")
		wantError(t, "unshare twice", e.call("DELETE", base+"/members/"+taID, owner, nil), 404, "not_found")
	})
}

// TestOpenSignupFlood is the reproduction under the defaults: a
// stranger cannot make an account, and an invited instructor cannot take
// more of the host than the quota, so the admin's workshop still starts.
func TestOpenSignupFlood(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", closedSignup, func(c *config_) { c.MaxSeats = 30 })
	root := e.admin("root@example.com")
	wantError(t, "stranger sign-up", e.call("POST", "/api/auth/register", "", map[string]string{"email": "flood@example.com", "password": testPassword, "name": "F"}), 403, "signup_closed")
	inst := e.invited(root, "eager@example.com")
	started := 0
	for i := 0; i < 8; i++ {
		id, _ := e.workshop(inst, 30)
		if r := e.call("POST", "/api/workshops/"+id+"/start", inst, nil); r.Status == http.StatusAccepted {
			started++
		}
	}
	if started != config.DefaultQuota.RunningWorkshops {
		t.Fatalf("one instructor started %d of 8 workshops, want %d", started, config.DefaultQuota.RunningWorkshops)
	}
	id, _ := e.workshop(root, 30)
	e.start(root, id)
}
