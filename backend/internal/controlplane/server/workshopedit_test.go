package server_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/lab"
)

// PATCH /api/workshops/{id}: name, guide, seats and schedule change; the
// learner's page sees the new guide by its version; seats stay within
// MAX_SEATS (which the web app reads from /api/auth/me) and above the seats
// learners hold; strangers and teaching assistants cannot edit.
func TestEditWorkshop(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		inst := e.instructor("edit@example.com")
		if got := e.call("GET", "/api/auth/me", inst, nil).json(t)["limits"].(map[string]any)["max_seats"]; got != float64(e.cfg.MaxSeats) {
			t.Fatalf("me.limits.max_seats = %v, want %d", got, e.cfg.MaxSeats)
		}
		id, code := e.workshop(inst, 3)
		base := "/api/workshops/" + id
		// PUT is not how to edit; the 405 names PATCH.
		if r := e.call("PUT", base, inst, map[string]any{"name": "x"}); r.Status != http.StatusMethodNotAllowed || !strings.Contains(r.Header.Get("Allow"), "PATCH") {
			t.Fatalf("PUT: %d allow %q", r.Status, r.Header.Get("Allow"))
		}
		e.start(inst, id)
		rid1, access1 := e.learner(inst, id, code, "one@example.com")
		_, access2 := e.learner(inst, id, code, "two@example.com")
		j := e.join(access1)
		tok, seat := j["token"].(string), int(j["seat"].(float64))
		e.join(access2)
		live := "/api/workspaces/" + id + "/" + strconv.Itoa(seat) + "/live"

		lv := e.call("GET", live, tok, nil)
		if lv.Status != http.StatusOK || lv.json(t)["guide_version"] != "" || lv.json(t)["workshop_name"] != "Intro to Go" {
			t.Fatalf("live before: %d %s", lv.Status, lv.Body)
		}
		end := e.clock().Add(3 * time.Hour).Truncate(time.Second)
		r := e.call("PATCH", base, inst, map[string]any{"name": "Go, day two", "lab_guide": "# Day two\n\nStep 1", "seats": 5, "ends_at": end})
		if r.Status != http.StatusOK {
			t.Fatalf("patch: %d %s", r.Status, r.Body)
		}
		m := r.json(t)
		if m["name"] != "Go, day two" || m["seats"] != float64(5) || m["lab_guide"] != "# Day two\n\nStep 1" || !strings.HasPrefix(m["ends_at"].(string), end.UTC().Format("2006-01-02T15:04:05")) {
			t.Fatalf("patched: %s", r.Body)
		}
		// The learner's page gets the new guide and its version; asked
		// with that version, the text is left out.
		v := e.call("GET", live, tok, nil).json(t)
		ver, _ := v["guide_version"].(string)
		if ver == "" || v["guide"] != "# Day two\n\nStep 1" || v["workshop_name"] != "Go, day two" {
			t.Fatalf("live after the edit: %v", v)
		}
		if v := e.call("GET", live+"?guide_version="+ver, tok, nil).json(t); v["guide"] != nil || v["guide_version"] != ver {
			t.Fatalf("live with the current version: %v", v)
		}
		// Only the given fields change: ends_at null clears the end.
		if r := e.call("PATCH", base, inst, map[string]any{"ends_at": nil}); r.Status != http.StatusOK || r.json(t)["ends_at"] != nil || r.json(t)["name"] != "Go, day two" {
			t.Fatalf("clear ends_at: %d %s", r.Status, r.Body)
		}

		cases := []struct {
			name string
			body any
			code int
			err  string
			msg  string
		}{
			{"above MAX_SEATS", map[string]any{"seats": e.cfg.MaxSeats + 1}, 400, "invalid", "between 1 and " + strconv.Itoa(e.cfg.MaxSeats)},
			{"below the registered learners", map[string]any{"seats": 1}, 409, "seats_in_use", "2 learners are registered"},
			{"nothing", map[string]any{}, 400, "invalid", "nothing to change"},
			{"empty name", map[string]any{"name": "  "}, 400, "invalid", "name"},
			{"end in the past", map[string]any{"ends_at": e.clock().Add(-time.Hour)}, 400, "invalid", "future"},
			{"unknown field", map[string]any{"disk_mb": 512}, 400, "", ""},
			{"unknown lab", map[string]any{"lab": map[string]any{"lab_id": "nope"}}, 404, "not_found", ""},
		}
		for _, c := range cases {
			r := e.call("PATCH", base, inst, c.body)
			if r.Status != c.code || (c.err != "" && r.errCode(t) != c.err) || !strings.Contains(string(r.Body), c.msg) {
				t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
			}
		}
		if got := e.call("GET", base, inst, nil).json(t)["seats"]; got != float64(5) {
			t.Fatalf("a refused edit changed seats to %v", got)
		}
		// With the first learner revoked, one learner is left, but in seat
		// 2: the workshop cannot go below 2 seats.
		if r := e.call("DELETE", base+"/registrations/"+rid1, inst, nil); r.Status >= 300 {
			t.Fatalf("revoke: %d %s", r.Status, r.Body)
		}
		if r := e.call("PATCH", base, inst, map[string]any{"seats": 1}); r.Status != http.StatusConflict || !strings.Contains(string(r.Body), "seat 2 is taken") {
			t.Fatalf("below the highest seat taken: %d %s", r.Status, r.Body)
		}
		if r := e.call("PATCH", base, inst, map[string]any{"seats": 2}); r.Status != http.StatusOK {
			t.Fatalf("down to 2 seats: %d %s", r.Status, r.Body)
		}

		// Neither a stranger nor a teaching assistant may edit.
		other := e.instructor("edit-other@example.com")
		if r := e.call("PATCH", base, other, map[string]any{"name": "mine"}); r.Status != http.StatusForbidden {
			t.Fatalf("stranger: %d", r.Status)
		}
		if r := e.call("POST", base+"/members", inst, map[string]any{"email": "edit-other@example.com"}); r.Status >= 300 {
			t.Fatalf("add member: %d %s", r.Status, r.Body)
		}
		if r := e.call("PATCH", base, other, map[string]any{"name": "mine"}); r.Status != http.StatusForbidden {
			t.Fatalf("teaching assistant: %d", r.Status)
		}
	})
}

// PATCH with a lab version: the learner gets the new version on the next
// poll and keeps the steps done.
func TestEditWorkshopLab(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		inst := e.instructor("edit-lab@example.com")
		up := e.call("POST", "/api/labs", inst, nativeLab(t, nil), "Content-Type", "application/gzip")
		labID := up.json(t)["lab"].(map[string]any)["id"].(string)
		id, code := e.workshop(inst, 2)
		e.start(inst, id)
		if r := e.call("PATCH", "/api/workshops/"+id, inst, map[string]any{"lab": map[string]any{"lab_id": labID, "version": 1}}); r.Status != http.StatusOK {
			t.Fatalf("patch lab: %d %s", r.Status, r.Body)
		}
		_, access := e.learner(inst, id, code, "edit-lab-learner@example.com")
		j := e.join(access)
		tok, seat := j["token"].(string), int(j["seat"].(float64))
		base := "/api/workspaces/" + id + "/" + strconv.Itoa(seat)
		e.agent.mu.Lock()
		e.agent.files[id+"/"+strconv.Itoa(seat)] = map[string]bool{"hello.sh": true}
		e.agent.mu.Unlock()
		if r := e.call("POST", base+"/lab/check", tok, map[string]string{"step_id": "make"}); r.Status != http.StatusOK || r.json(t)["passed"] != true {
			t.Fatalf("check: %d %s", r.Status, r.Body)
		}
		e.call("POST", "/api/labs?lab_id="+labID, inst, nativeLab(t, func(f lab.Files) {
			f["lab.yaml"] = []byte(strings.Replace(string(f["lab.yaml"]), "title: Make it executable", "title: Make hello.sh executable", 1))
		}))
		if r := e.call("PATCH", "/api/workshops/"+id, inst, map[string]any{"lab": map[string]any{"lab_id": labID}}); r.Status != http.StatusOK {
			t.Fatalf("patch to the newest lab: %d %s", r.Status, r.Body)
		}
		if v := e.call("GET", base+"/live", tok, nil).json(t); v["lab_id"] != labID || v["lab_version"] != float64(2) {
			t.Fatalf("live lab version: %v", v)
		}
		v := e.call("GET", base+"/lab", tok, nil).json(t)
		if got := strings.Join(steps(v["lab"].(map[string]any)), ", "); !strings.Contains(got, "chmod:Make hello.sh executable") || v["current_step"] != "chmod" {
			t.Fatalf("after the edit: %s, current %v", got, v["current_step"])
		}
	})
}

// An instructor who opens a learner's terminal through the relay shows on
// the learner's page: watching (read-only) or typing (read-write), by name,
// and not any more once the terminal closes.
func TestWatchedNotice(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		inst := e.instructor("watch@example.com")
		id, code := e.workshop(inst, 2)
		e.start(inst, id)
		_, access := e.learner(inst, id, code, "watched@example.com")
		j := e.join(access)
		tok, seat := j["token"].(string), int(j["seat"].(float64))
		live := "/api/workspaces/" + id + "/" + strconv.Itoa(seat) + "/live"
		if v := e.call("GET", live, tok, nil).json(t); v["watched_by"] != nil || v["typing"] != false || len(v["watchers"].([]any)) != 0 {
			t.Fatalf("nobody watching yet: %v", v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		open := func(mode string) func() {
			st := e.call("POST", "/api/workshops/"+id+"/seats/"+strconv.Itoa(seat)+"/token", inst, map[string]string{"mode": mode})
			c, err := e.dialTerminal(ctx, id, seat, st.json(t)["token"].(string))
			if err != nil {
				t.Fatalf("dial %s: %v", mode, err)
			}
			if err := echo(ctx, c); err != nil { // the relay is serving it
				t.Fatal(err)
			}
			return func() { c.CloseNow() }
		}
		closeRO := open("ro")
		v := e.call("GET", live, tok, nil).json(t)
		if v["watched_by"] != "Ada" || v["typing"] != false || len(v["watchers"].([]any)) != 1 {
			t.Fatalf("watching: %v", v)
		}
		closeRW := open("rw")
		if v := e.call("GET", live, tok, nil).json(t); v["typing"] != true || len(v["watchers"].([]any)) != 2 || v["watched_by"] != "Ada" {
			t.Fatalf("typing: %v", v)
		}
		// A learner's own terminal is not a watcher; another seat is not watched.
		if v := e.call("GET", "/api/workspaces/"+id+"/2/live", tok, nil); v.Status != http.StatusForbidden {
			t.Fatalf("another seat's live with this token: %d", v.Status)
		}
		closeRW()
		closeRO()
		deadline := time.Now().Add(10 * time.Second)
		for {
			v := e.call("GET", live, tok, nil).json(t)
			if len(v["watchers"].([]any)) == 0 && v["typing"] == false {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still watched after the terminals closed: %v", v)
			}
			time.Sleep(20 * time.Millisecond) // polling the relay's clean-up, with a deadline
		}
	})
}
