package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/controlplane/store"
)

func forEngine(t *testing.T, f func(t *testing.T, e *testEnv)) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			f(t, newEnv(t, engine))
		})
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		tok := e.instructor("ada@example.com")
		cases := []struct {
			name   string
			method string
			path   string
			bearer string
			body   any
			want   int
			code   string
		}{
			{"me", "GET", "/api/auth/me", tok, nil, 200, ""},
			{"me without session", "GET", "/api/auth/me", "", nil, 401, "unauthorized"},
			{"me with forged session", "GET", "/api/auth/me", tok[:len(tok)-3] + "abc", nil, 401, "unauthorized"},
			{"duplicate email (case)", "POST", "/api/auth/register", "", map[string]string{"email": "ADA@example.com", "password": "another long pw", "name": "A"}, 409, "email_taken"},
			{"short password", "POST", "/api/auth/register", "", map[string]string{"email": "b@example.com", "password": "short", "name": "B"}, 400, "invalid"},
			{"bad email", "POST", "/api/auth/register", "", map[string]string{"email": "not-an-email", "password": "long enough pw", "name": "B"}, 400, "invalid"},
			{"missing name", "POST", "/api/auth/register", "", map[string]string{"email": "c@example.com", "password": "long enough pw"}, 400, "invalid"},
			{"unknown field", "POST", "/api/auth/register", "", map[string]string{"email": "c@example.com", "password": "long enough pw", "name": "C", "role": "admin"}, 400, "bad_request"},
			{"not json", "POST", "/api/auth/login", "", "{nope", 400, "bad_request"},
			{"oversized", "POST", "/api/auth/login", "", `{"email":"` + strings.Repeat("a", 10<<10) + `"}`, 413, "too_large"},
			{"login ok", "POST", "/api/auth/login", "", map[string]string{"email": "Ada@Example.com", "password": "correct horse battery"}, 200, ""},
			{"login wrong password", "POST", "/api/auth/login", "", map[string]string{"email": "ada@example.com", "password": "wrong password!"}, 401, "unauthorized"},
			{"login unknown user", "POST", "/api/auth/login", "", map[string]string{"email": "nobody@example.com", "password": "wrong password!"}, 401, "unauthorized"},
		}
		for _, c := range cases {
			r := e.call(c.method, c.path, c.bearer, c.body)
			if r.Status != c.want {
				t.Errorf("%s: status %d, want %d: %s", c.name, r.Status, c.want, r.Body)
				continue
			}
			if c.code != "" && r.errCode(t) != c.code {
				t.Errorf("%s: code %q, want %q", c.name, r.errCode(t), c.code)
			}
		}
		if me := e.call("GET", "/api/auth/me", tok, nil).json(t)["user"].(map[string]any); me["email"] != "ada@example.com" || me["role"] != "instructor" || me["password_hash"] != nil {
			t.Fatalf("me = %v", me)
		}
		// Logout ends the session for good, even with the same token.
		if r := e.call("POST", "/api/auth/logout", tok, nil); r.Status != http.StatusNoContent {
			t.Fatalf("logout: %d", r.Status)
		}
		if r := e.call("GET", "/api/auth/me", tok, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("me after logout: %d", r.Status)
		}
	})
}

func TestWorkshopsAndOwnership(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		a := e.instructor("a@example.com")
		b := e.instructor("b@example.com")
		id, code := e.workshop(a, 3)
		if len(code) != authtoken.WorkshopCodeLen || strings.Trim(code, authtoken.CodeAlphabet) != "" {
			t.Fatalf("workshop code %q", code)
		}
		paths := []struct{ method, path string }{
			{"GET", "/api/workshops/" + id},
			{"POST", "/api/workshops/" + id + "/start"},
			{"POST", "/api/workshops/" + id + "/stop"},
			{"DELETE", "/api/workshops/" + id},
			{"GET", "/api/workshops/" + id + "/registrations"},
			{"GET", "/api/workshops/" + id + "/seats"},
			{"POST", "/api/workshops/" + id + "/retry"},
			{"GET", "/api/workshops/" + id + "/stream"},
		}
		for _, p := range paths {
			if r := e.call(p.method, p.path, b, nil); r.Status != http.StatusForbidden {
				t.Errorf("B %s %s: %d, want 403", p.method, p.path, r.Status)
			}
			if r := e.call(p.method, p.path, "", nil); r.Status != http.StatusUnauthorized {
				t.Errorf("anonymous %s %s: %d, want 401", p.method, p.path, r.Status)
			}
		}
		if r := e.call("GET", "/api/workshops/nosuchworkshop", a, nil); r.Status != http.StatusNotFound {
			t.Errorf("missing workshop: %d", r.Status)
		}
		list := e.call("GET", "/api/workshops", b, nil).json(t)["workshops"].([]any)
		if len(list) != 0 {
			t.Fatalf("B sees %d workshops", len(list))
		}
		list = e.call("GET", "/api/workshops", a, nil).json(t)["workshops"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["seats_used"].(float64) != 0 {
			t.Fatalf("A's list: %v", list)
		}

		// Validation.
		future := e.clock().Add(time.Hour)
		bad := []struct {
			name string
			body any
			want int
		}{
			{"no seats", map[string]any{"name": "x", "seats": 0}, 400},
			{"too many seats", map[string]any{"name": "x", "seats": 31}, 400},
			{"no name", map[string]any{"seats": 3}, 400},
			{"ends before start", map[string]any{"name": "x", "seats": 3, "starts_at": future, "ends_at": future.Add(-time.Minute)}, 400},
			{"ended already", map[string]any{"name": "x", "seats": 3, "ends_at": e.clock().Add(-time.Minute)}, 400},
			{"seats not a number", `{"name":"x","seats":"three"}`, 400},
			{"lab guide too big", map[string]any{"name": "x", "seats": 3, "lab_guide": strings.Repeat("#", 300<<10)}, 413},
			{"disk too small", map[string]any{"name": "x", "seats": 3, "disk_mb": 100}, 400},
			{"disk too big", map[string]any{"name": "x", "seats": 3, "disk_mb": 1 << 20}, 400},
			{"disk negative", map[string]any{"name": "x", "seats": 3, "disk_mb": -5}, 400},
			{"body too big", `{"name":"` + strings.Repeat("x", 600<<10) + `"}`, 413},
		}
		for _, c := range bad {
			if r := e.call("POST", "/api/workshops", a, c.body); r.Status != c.want {
				t.Errorf("%s: %d, want %d: %s", c.name, r.Status, c.want, r.Body)
			}
		}
		if r := e.call("POST", "/api/workshops", a, `{"name":"x","seats":2}`, "Content-Type", "text/plain"); r.Status != http.StatusUnsupportedMediaType {
			t.Errorf("text/plain body: %d", r.Status)
		}

		// Lifecycle through the reconciler.
		e.start(a, id)
		d := e.call("GET", "/api/workshops/"+id, a, nil).json(t)
		if d["status"] != "running" || d["vm"] == nil || len(d["events"].([]any)) == 0 {
			t.Fatalf("detail after start: %v", d)
		}
		if r := e.call("POST", "/api/workshops/"+id+"/stop", a, nil); r.Status != http.StatusAccepted {
			t.Fatalf("stop: %d", r.Status)
		}
		e.rec.RunOnce(context.Background())
		if w, _ := e.st.GetWorkshop(context.Background(), id); w.Status != store.StatusStopped {
			t.Fatalf("after stop: %s", w.Status)
		}
		if r := e.call("DELETE", "/api/workshops/"+id, a, nil); r.Status != http.StatusAccepted {
			t.Fatalf("delete: %d", r.Status)
		}
		e.rec.RunOnce(context.Background())
		if w, _ := e.st.GetWorkshop(context.Background(), id); w.Status != store.StatusDeleted {
			t.Fatalf("after delete: %s", w.Status)
		}
		if r := e.call("POST", "/api/workshops/"+id+"/start", a, nil); r.Status != http.StatusGone {
			t.Fatalf("start after delete: %d", r.Status)
		}

		// An admin sees and manages everyone's workshops.
		id2, _ := e.workshop(b, 2)
		hash, _ := serverHash("admin password 123")
		admin := &store.User{Email: "root@example.com", Name: "Root", PasswordHash: hash, Role: store.RoleAdmin}
		if err := e.st.CreateUser(context.Background(), admin); err != nil {
			t.Fatal(err)
		}
		at := e.call("POST", "/api/auth/login", "", map[string]string{"email": "root@example.com", "password": "admin password 123"}).json(t)["token"].(string)
		if r := e.call("GET", "/api/workshops/"+id2, at, nil); r.Status != 200 {
			t.Fatalf("admin get: %d", r.Status)
		}
		if n := len(e.call("GET", "/api/workshops", at, nil).json(t)["workshops"].([]any)); n != 1 {
			t.Fatalf("admin sees %d live workshops, want 1", n)
		}
	})
}

// TestWorkshopDiskSize: a workshop's disk_mb (default 2 GiB) is stored,
// shown, and sent to the agent for every seat it creates.
func TestWorkshopDiskSize(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		inst := e.instructor("disk@example.com")
		def, _ := e.workshop(inst, 2)
		if got := e.call("GET", "/api/workshops/"+def, inst, nil).json(t)["disk_mb"]; got != float64(2048) {
			t.Errorf("default disk_mb = %v, want 2048", got)
		}
		r := e.call("POST", "/api/workshops", inst, map[string]any{"name": "Big data", "seats": 2, "disk_mb": 8192})
		if r.Status != http.StatusCreated || r.json(t)["disk_mb"] != float64(8192) {
			t.Fatalf("create with disk_mb: %d %s", r.Status, r.Body)
		}
		id := r.json(t)["id"].(string)
		if got := e.call("GET", "/api/workshops/"+id, inst, nil).json(t)["disk_mb"]; got != float64(8192) {
			t.Errorf("disk_mb read back = %v", got)
		}
		e.start(inst, id)
		e.start(inst, def)
		e.agent.mu.Lock()
		defer e.agent.mu.Unlock()
		for seat := 1; seat <= 2; seat++ {
			if got := e.agent.diskMB[fmt.Sprintf("%s/%d", id, seat)]; got != 8192 {
				t.Errorf("seat %d created with disk_mb %d, want 8192", seat, got)
			}
			if got := e.agent.diskMB[fmt.Sprintf("%s/%d", def, seat)]; got != 2048 {
				t.Errorf("default workshop's seat %d created with disk_mb %d, want 2048", seat, got)
			}
		}
	})
}

func TestLearnerRegisterAndJoin(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		inst := e.instructor("teacher@example.com")
		id, code := e.workshop(inst, 2)

		reg := func(code, email string) resp {
			return e.call("POST", "/api/register", "", map[string]string{"workshop_code": code, "name": "Lea", "email": email})
		}
		r := reg(strings.ToLower(code), "lea@example.com")
		if r.Status != http.StatusCreated {
			t.Fatalf("register: %d %s", r.Status, r.Body)
		}
		access := r.json(t)["access_code"].(string)
		if len(access) < 9 || strings.Trim(access, authtoken.CodeAlphabet) != "" { // 9 chars × 4.64 bits ≥ 40 bits
			t.Fatalf("access code %q too weak", access)
		}
		// Knowing an email gets nothing: never the existing access code.
		if again := reg(code, "LEA@example.com"); again.Status != http.StatusConflict || again.errCode(t) != "already_registered" ||
			strings.Contains(string(again.Body), access) {
			t.Fatalf("registering again: %d %s", again.Status, again.Body)
		}
		if r := reg(code, "bob@example.com"); r.Status != http.StatusCreated {
			t.Fatalf("second learner: %d", r.Status)
		}
		if r := reg(code, "carl@example.com"); r.Status != http.StatusConflict || r.errCode(t) != "workshop_full" {
			t.Fatalf("third learner on 2 seats: %d %s", r.Status, r.Body)
		}
		if r := reg(code, "bad"); r.Status != http.StatusBadRequest {
			t.Fatalf("bad email: %d", r.Status)
		}
		// The class view's history has one line per learner registered,
		// none for the refused attempts.
		events, err := e.st.ListEvents(context.Background(), id, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var registered []string
		for _, ev := range events {
			if strings.HasPrefix(ev.Message, "learner ") {
				registered = append(registered, ev.Message)
			}
		}
		if want := []string{"learner lea@example.com registered", "learner bob@example.com registered"}; !slices.Equal(registered, want) {
			t.Fatalf("registration events %q, want %q", registered, want)
		}

		// Not running yet: pending, but the seat is already held.
		j := e.call("POST", "/api/join", "", map[string]string{"access_code": access})
		if j.Status != 200 || j.json(t)["status"] != "pending" || j.json(t)["token"] != nil {
			t.Fatalf("join before start: %d %s", j.Status, j.Body)
		}
		if r := e.call("GET", "/api/join", "", nil); r.Status != http.StatusMethodNotAllowed {
			t.Fatalf("GET /api/join: %d", r.Status)
		}

		e.start(inst, id)
		j = e.call("POST", "/api/join", "", map[string]string{"access_code": strings.ToLower(access)})
		m := j.json(t)
		if m["status"] != "ready" || m["seat"].(float64) != 1 {
			t.Fatalf("join: %s", j.Body)
		}
		tok := m["token"].(string)
		c, err := authtoken.Verify(authtoken.WorkshopKey([]byte(e.cfg.WorkspaceTokenSecret), id), tok, id, 1, e.clock())
		if err != nil || c.Role != "learner" {
			t.Fatalf("workspace token: %v", err)
		}
		e.advance(time.Second)
		j2 := e.call("POST", "/api/join", "", map[string]string{"access_code": access}).json(t)
		if j2["seat"].(float64) != 1 || j2["token"] == tok {
			t.Fatalf("re-join: seat %v, token fresh=%v", j2["seat"], j2["token"] != tok)
		}

		// The relay forwards to the agent's proxy only with a valid token.
		terminal := m["endpoints"].(map[string]any)["files"].(string)
		if r := e.call("GET", terminal+"?path=.", tok, nil); r.Status != 200 || !strings.Contains(string(r.Body), "/proxy/"+id+"/1/files") {
			t.Fatalf("relay: %d %s", r.Status, r.Body)
		}
		if r := e.call("GET", terminal, "", nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("relay without token: %d", r.Status)
		}
		if r := e.call("GET", strings.Replace(terminal, "/1/", "/2/", 1), tok, nil); r.Status != http.StatusForbidden {
			t.Fatalf("relay to another seat: %d", r.Status)
		}

		// The instructor sees the seat, revokes the learner; the agent is told.
		seats := e.call("GET", "/api/workshops/"+id+"/seats", inst, nil).json(t)["seats"].([]any)
		s1 := seats[0].(map[string]any)
		if len(seats) != 2 || s1["learner_email"] != "lea@example.com" || s1["status"] != "ready" {
			t.Fatalf("seats: %v", seats)
		}
		regs := e.call("GET", "/api/workshops/"+id+"/registrations", inst, nil).json(t)["registrations"].([]any)
		var rid string
		for _, rg := range regs {
			if rg.(map[string]any)["email"] == "lea@example.com" {
				rid = rg.(map[string]any)["id"].(string)
			}
		}
		if r := e.call("DELETE", "/api/workshops/"+id+"/registrations/"+rid, inst, nil); r.Status != http.StatusNoContent {
			t.Fatalf("revoke: %d %s", r.Status, r.Body)
		}
		if len(e.agent.disconnects) != 1 || e.agent.disconnects[0] != id+"/1" {
			t.Fatalf("agent disconnects: %v", e.agent.disconnects)
		}
		if r := e.call("POST", "/api/join", "", map[string]string{"access_code": access}); r.Status != http.StatusForbidden {
			t.Fatalf("join after revoke: %d", r.Status)
		}

		// Ended and deleted workshops are gone for learners.
		future := e.clock().Add(time.Hour)
		if _, err := e.st.UpdateWorkshop(context.Background(), id, func(w *store.Workshop) error { w.EndsAt = &future; return nil }); err != nil {
			t.Fatal(err)
		}
		e.advance(2 * time.Hour)
		if r := reg(code, "late@example.com"); r.Status != http.StatusGone {
			t.Fatalf("register after end: %d", r.Status)
		}
		id3, code3 := e.workshop(inst, 2)
		e.call("DELETE", "/api/workshops/"+id3, inst, nil)
		if r := reg(code3, "x@example.com"); r.Status != http.StatusGone {
			t.Fatalf("register on deleted: %d", r.Status)
		}
	})
}

// Process seats are announced, so the web app can warn every learner and
// instructor.
func TestHealthSaysWhenSeatsAreNotIsolated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	srv := server.New(server.Deps{Config: e.cfg, Store: e.st, Version: "test", UnisolatedSeats: true})
	h := httptest.NewServer(srv.Handler())
	defer h.Close()
	res, err := http.Get(h.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m["seats_isolated"] != false {
		t.Fatalf("health with process seats: %v", m)
	}
}

func TestHealthMetricsAndRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", func(c *config_) { c.MetricsToken = "metrics-token-0123456789abcdef" })
	r := e.call("GET", "/health", "", nil)
	m := r.json(t)
	if r.Status != 200 || m["status"] != "ok" || m["db"] != "ok" || m["version"] != "test" || m["seats_isolated"] != true {
		t.Fatalf("health: %d %s", r.Status, r.Body)
	}
	if r.Header.Get("X-Request-Id") == "" {
		t.Fatal("no request id")
	}
	if r := e.call("GET", "/health", "", nil, "X-Request-Id", "abc-123"); r.Header.Get("X-Request-Id") != "abc-123" {
		t.Fatal("incoming request id not kept")
	}
	e.call("GET", "/api/auth/me", "", nil)
	body := string(e.call("GET", "/metrics", e.cfg.MetricsToken, nil).Body)
	for _, want := range []string{`clarateach_http_requests_total{code="401",method="GET",route="GET /api/auth/me"} 1`, "clarateach_workshops{status=\"running\"} 0", "clarateach_http_request_duration_seconds_bucket"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if r := e.call("GET", "/api/nope", "", nil); r.Status != 404 || r.errCode(t) != "not_found" {
		t.Fatalf("unknown API route: %d %s", r.Status, r.Body)
	}
	if r := e.call("POST", "/internal/reconcile", "wrong", nil); r.Status != 401 {
		t.Fatalf("internal reconcile with a wrong token: %d", r.Status)
	}
	if r := e.call("POST", "/internal/reconcile", e.cfg.InternalToken, nil); r.Status != 200 {
		t.Fatalf("internal reconcile: %d %s", r.Status, r.Body)
	}
}

// The metrics name every workshop: the public listener must not hand them
// to a stranger, whether a token is configured or not.
func TestMetricsAreNotPublic(t *testing.T) {
	t.Parallel()
	off := newEnv(t, "sqlite")
	for _, tok := range []string{"", "anything", off.cfg.InternalToken} {
		r := off.call("GET", "/metrics", tok, nil)
		if r.Status != 404 || strings.Contains(string(r.Body), "clarateach_") {
			t.Fatalf("metrics without METRICS_TOKEN, bearer %q: %d %.200s", tok, r.Status, r.Body)
		}
	}
	on := newEnv(t, "sqlite", func(c *config_) { c.MetricsToken = "metrics-token-0123456789abcdef" })
	for _, tok := range []string{"", "wrong", on.cfg.InternalToken, on.cfg.MetricsToken + "x"} {
		r := on.call("GET", "/metrics", tok, nil)
		if r.Status != 401 || strings.Contains(string(r.Body), "clarateach_") || r.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("metrics with bearer %q: %d %.200s", tok, r.Status, r.Body)
		}
	}
	if r := on.call("GET", "/metrics", on.cfg.MetricsToken, nil); r.Status != 200 || !strings.Contains(string(r.Body), "clarateach_workshops") {
		t.Fatalf("metrics with the right token: %d %.200s", r.Status, r.Body)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", func(c *config_) { c.CORSOrigins = []string{"http://localhost:5173"} })
	pre := e.call("OPTIONS", "/api/auth/login", "", nil, "Origin", "http://localhost:5173", "Access-Control-Request-Method", "POST")
	if pre.Status != 204 || pre.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" || pre.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("allowed preflight: %d %v", pre.Status, pre.Header)
	}
	bad := e.call("OPTIONS", "/api/auth/login", "", nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	if bad.Status != 403 || bad.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign preflight: %d %v", bad.Status, bad.Header)
	}
	tok := e.instructor("c@example.com")
	// A cross-site write with the session cookie is refused.
	r := e.call("POST", "/api/workshops", "", map[string]any{"name": "x", "seats": 1}, "Origin", "https://evil.example", "Cookie", "ct_session="+tok)
	if r.Status != 403 {
		t.Fatalf("cross-site cookie write: %d", r.Status)
	}
	r = e.call("POST", "/api/workshops", "", map[string]any{"name": "x", "seats": 1}, "Origin", "http://localhost:5173", "Cookie", "ct_session="+tok)
	if r.Status != 201 {
		t.Fatalf("allowed origin cookie write: %d %s", r.Status, r.Body)
	}
}
