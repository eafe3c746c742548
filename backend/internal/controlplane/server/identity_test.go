package server_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
)

// learner registers email on the workshop with code and returns its
// registration id and access code.
func (e *testEnv) learner(inst, id, code, email string) (rid, access string) {
	e.t.Helper()
	r := e.call("POST", "/api/register", "", map[string]string{"workshop_code": code, "name": "L", "email": email})
	if r.Status != http.StatusCreated {
		e.t.Fatalf("register %s: %d %s", email, r.Status, r.Body)
	}
	access = r.json(e.t)["access_code"].(string)
	for _, rg := range e.call("GET", "/api/workshops/"+id+"/registrations", inst, nil).json(e.t)["registrations"].([]any) {
		if m := rg.(map[string]any); m["email"] == email {
			rid = m["id"].(string)
		}
	}
	return rid, access
}

func (e *testEnv) join(access string) map[string]any {
	e.t.Helper()
	r := e.call("POST", "/api/join", "", map[string]string{"access_code": access})
	if r.Status != http.StatusOK {
		e.t.Fatalf("join: %d %s", r.Status, r.Body)
	}
	return r.json(e.t)
}

func (e *testEnv) seat(inst, id string, n int) map[string]any {
	e.t.Helper()
	seats := e.call("GET", "/api/workshops/"+id+"/seats", inst, nil).json(e.t)["seats"].([]any)
	return seats[n-1].(map[string]any)
}

func (e *testEnv) gen(t *testing.T, id string, seat int, tok string) int64 {
	t.Helper()
	c, err := authtoken.Verify(authtoken.WorkshopKey([]byte(e.cfg.WorkspaceTokenSecret), id), tok, id, seat, e.clock())
	if err != nil {
		t.Fatal(err)
	}
	return c.Gen
}

// TestRevokePendingUntilHostConfirms: the host fails the revoke twice. The
// API says so (202, not 204), the relay refuses the revoked token at once,
// the class view shows the seat as revoke pending with the host's error,
// the next learner on that seat waits for its reset, and the reconciler
// retries until the host confirms; then the pending mark goes and the next
// learner gets in.
func TestRevokePendingUntilHostConfirms(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		inst := e.instructor("teacher@example.com")
		id, code := e.workshop(inst, 2)
		e.start(inst, id)
		rid, lea := e.learner(inst, id, code, "lea@example.com")
		j := e.join(lea)
		tok := j["token"].(string)
		files := j["endpoints"].(map[string]any)["files"].(string)

		e.agent.mu.Lock()
		e.agent.failDisconnects = 2
		e.agent.mu.Unlock()
		r := e.call("DELETE", "/api/workshops/"+id+"/registrations/"+rid, inst, nil)
		if r.Status != http.StatusAccepted || r.json(t)["revoke_pending"] != true {
			t.Fatalf("revoke with a failing host: %d %s", r.Status, r.Body)
		}
		if r := e.call("GET", files, tok, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("relay with the revoked token: %d %s", r.Status, r.Body)
		}
		s1 := e.seat(inst, id, 1)
		if s1["revoke_pending"] != true || !strings.Contains(s1["revoke_error"].(string), "agent is busy") || s1["status"] != "empty" {
			t.Fatalf("seat 1 while the revoke is pending: %v", s1)
		}
		// The next learner takes seat 1 but waits for its reset.
		_, bob := e.learner(inst, id, code, "bob@example.com")
		if j := e.join(bob); j["seat"].(float64) != 1 || j["status"] != "pending" || j["token"] != nil {
			t.Fatalf("join of the next learner before the reset: %v", j)
		}

		if err := e.rec.RunOnce(context.Background()); err != nil { // fails again
			t.Fatal(err)
		}
		if s1 := e.seat(inst, id, 1); s1["revoke_pending"] != true {
			t.Fatalf("seat 1 after a failed retry: %v", s1)
		}
		if err := e.rec.RunOnce(context.Background()); err != nil { // confirmed
			t.Fatal(err)
		}
		if s1 := e.seat(inst, id, 1); s1["revoke_pending"] != nil || s1["learner_email"] != "bob@example.com" {
			t.Fatalf("seat 1 after the host confirmed: %v", s1)
		}
		e.agent.mu.Lock()
		minGens := append([]int64(nil), e.agent.minGens...)
		e.agent.mu.Unlock()
		if len(minGens) != 1 || minGens[0] <= e.gen(t, id, 1, tok) {
			t.Fatalf("the host was told minimum generations %v; the revoked token has %d", minGens, e.gen(t, id, 1, tok))
		}
		j = e.join(bob)
		if j["status"] != "ready" || e.gen(t, id, 1, j["token"].(string)) <= minGens[0] {
			t.Fatalf("join of the next learner after the reset: %v", j)
		}
		if r := e.call("GET", files, j["token"].(string), nil); r.Status != http.StatusOK {
			t.Fatalf("relay with the next learner's token: %d %s", r.Status, r.Body)
		}
		if r := e.call("GET", files, tok, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("relay with the revoked token on the next learner's seat: %d %s", r.Status, r.Body)
		}
	})
}

// TestReissue: the instructor reissues a learner's code. The new code is
// shown once; the old code and its tokens stop working at once and the
// relay closes their open requests; the learner keeps the seat.
func TestReissue(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		inst := e.instructor("teacher@example.com")
		id, code := e.workshop(inst, 2)
		e.start(inst, id)
		rid, lea := e.learner(inst, id, code, "lea@example.com")
		j := e.join(lea)
		old := j["token"].(string)
		files := j["endpoints"].(map[string]any)["files"].(string)

		// A long transfer through the relay is open when the code is reissued.
		req, _ := http.NewRequest("GET", e.http.URL+files+"/stream", nil)
		req.Header.Set("Authorization", "Bearer "+old)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("stream: %v %v", err, res)
		}
		defer res.Body.Close()
		body := bufio.NewReader(res.Body)
		if line, _ := body.ReadString('\n'); line != "streaming\n" {
			t.Fatalf("stream said %q", line)
		}

		r := e.call("POST", "/api/workshops/"+id+"/registrations/"+rid+"/reissue", inst, nil)
		m := r.json(t)
		if r.Status != 200 || m["revoke_pending"] != false || m["seat"].(float64) != 1 {
			t.Fatalf("reissue: %d %s", r.Status, r.Body)
		}
		fresh := m["access_code"].(string)
		if fresh == lea || len(fresh) != authtoken.AccessCodeLen {
			t.Fatalf("reissued code %q, old %q", fresh, lea)
		}
		closed := make(chan error, 1)
		go func() { _, err := io.Copy(io.Discard, body); closed <- err }()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatal("the relay kept the old token's transfer open after the reissue")
		}

		if r := e.call("POST", "/api/join", "", map[string]string{"access_code": lea}); r.Status != http.StatusNotFound {
			t.Fatalf("join with the old code: %d %s", r.Status, r.Body)
		}
		if r := e.call("GET", files, old, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("relay with the old token: %d %s", r.Status, r.Body)
		}
		j = e.join(fresh)
		tok := j["token"].(string)
		if j["seat"].(float64) != 1 || j["status"] != "ready" {
			t.Fatalf("join with the new code: %v", j)
		}
		if r := e.call("GET", files, tok, nil); r.Status != http.StatusOK {
			t.Fatalf("relay with the new token: %d %s", r.Status, r.Body)
		}
		e.agent.mu.Lock()
		minGens := append([]int64(nil), e.agent.minGens...)
		e.agent.mu.Unlock()
		if len(minGens) != 1 || minGens[0] != e.gen(t, id, 1, tok) || minGens[0] <= e.gen(t, id, 1, old) {
			t.Fatalf("host minimums %v, old token gen %d, new %d", minGens, e.gen(t, id, 1, old), e.gen(t, id, 1, tok))
		}
		// An instructor's watch token is at or above every minimum.
		w := e.call("POST", "/api/workshops/"+id+"/seats/1/token", inst, map[string]string{"mode": "ro"}).json(t)
		if e.gen(t, id, 1, w["token"].(string)) < minGens[0] {
			t.Fatalf("instructor token below the seat's minimum")
		}

		// Another instructor cannot; a revoked learner gets no new code.
		other := e.instructor("other@example.com")
		if r := e.call("POST", "/api/workshops/"+id+"/registrations/"+rid+"/reissue", other, nil); r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
			t.Fatalf("reissue by another instructor: %d", r.Status)
		}
		if r := e.call("POST", "/api/workshops/"+id+"/registrations/nope/reissue", inst, nil); r.Status != http.StatusNotFound {
			t.Fatalf("reissue of an unknown registration: %d", r.Status)
		}
		e.call("DELETE", "/api/workshops/"+id+"/registrations/"+rid, inst, nil)
		if r := e.call("POST", "/api/workshops/"+id+"/registrations/"+rid+"/reissue", inst, nil); r.Status != http.StatusConflict || r.errCode(t) != "revoked" {
			t.Fatalf("reissue after revoke: %d %s", r.Status, r.Body)
		}
	})
}
