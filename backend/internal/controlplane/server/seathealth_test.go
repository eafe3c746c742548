package server_test

import (
	"net/http"
	"testing"
	"time"
)

// TestJoinNeverReadyForADownSeat: when the seat's agent reports it not
// answering (GET /vms, read on the reconciler's watch) or the relay's last
// answer from it was a 502, /api/join says pending without a token and the
// class view says down; once it is back, join is ready again and both
// carry the agent's restarted_at.
func TestJoinNeverReadyForADownSeat(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		inst := e.instructor("heal@example.com")
		id, code := e.workshop(inst, 2)
		r := e.call("POST", "/api/register", "", map[string]string{"workshop_code": code, "name": "Lea", "email": "lea@example.com"})
		if r.Status != http.StatusCreated {
			t.Fatalf("register: %d %s", r.Status, r.Body)
		}
		access := r.json(t)["access_code"].(string)
		e.start(inst, id)
		join := func() map[string]any {
			t.Helper()
			j := e.call("POST", "/api/join", "", map[string]string{"access_code": access})
			if j.Status != http.StatusOK {
				t.Fatalf("join: %d %s", j.Status, j.Body)
			}
			return j.json(t)
		}
		seat1 := func() map[string]any {
			t.Helper()
			return e.call("GET", "/api/workshops/"+id+"/seats", inst, nil).json(t)["seats"].([]any)[0].(map[string]any)
		}
		watch := func() {
			t.Helper()
			e.advance(time.Minute) // past the reconciler's watch period
			if err := e.rec.RunOnce(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		m := join()
		if m["status"] != "ready" {
			t.Fatalf("join: %v", m)
		}
		tok := m["token"].(string)
		files := m["endpoints"].(map[string]any)["files"].(string)

		// The agent reports the seat down.
		e.agent.setSeat(id+"/1", true, time.Time{})
		watch()
		if m := join(); m["status"] != "pending" || m["token"] != nil || m["machine_status"] != "down" {
			t.Fatalf("join while the seat is down: %v", m)
		}
		if s := seat1(); s["status"] != "down" {
			t.Fatalf("class view while the seat is down: %v", s)
		}

		// The agent restarted it in place.
		restarted := e.clock().Add(-time.Second).UTC()
		e.agent.setSeat(id+"/1", false, restarted)
		watch()
		m = join()
		if m["status"] != "ready" || m["token"] == nil || m["machine_status"] != "ok" || m["restarted_at"] != restarted.Format(time.RFC3339) {
			t.Fatalf("join after the restart: %v", m)
		}
		if s := seat1(); s["status"] != "ready" || s["restarted_at"] != restarted.Format(time.RFC3339) {
			t.Fatalf("class view after the restart: %v", s)
		}

		// Between watches, the relay's own 502 counts at once, and so does
		// its next good answer.
		e.agent.setSeat(id+"/1", true, time.Time{})
		e.advance(time.Second)
		if r := e.call("GET", files+"?path=.", tok, nil); r.Status != http.StatusBadGateway {
			t.Fatalf("relay to a down seat: %d %s", r.Status, r.Body)
		}
		if m := join(); m["status"] != "pending" {
			t.Fatalf("join after the relay's 502: %v", m)
		}
		e.agent.setSeat(id+"/1", false, time.Time{})
		e.advance(time.Second)
		if r := e.call("GET", files+"?path=.", tok, nil); r.Status != http.StatusOK {
			t.Fatalf("relay to the seat back up: %d %s", r.Status, r.Body)
		}
		if m := join(); m["status"] != "ready" {
			t.Fatalf("join after the relay's good answer: %v", m)
		}
	})
}
