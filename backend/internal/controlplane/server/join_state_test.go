package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// TestJoinSaysStoppedByInstructor: a learner whose instructor stopped the
// class is told so (status stopped, stopped_by_instructor), not "pending"
// as for a workshop that has not started; and once the end time has passed
// the 410 carries ends_at in its details, not in a UTC string in the message.
func TestJoinSaysStoppedByInstructor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	inst := e.instructor("teacher@example.com")
	id, code := e.workshop(inst, 2)
	access := e.call("POST", "/api/register", "", map[string]string{"workshop_code": code, "name": "Lea", "email": "lea@example.com"}).json(t)["access_code"].(string)
	join := func() map[string]any {
		t.Helper()
		r := e.call("POST", "/api/join", "", map[string]string{"access_code": access})
		if r.Status != http.StatusOK {
			t.Fatalf("join: %d %s", r.Status, r.Body)
		}
		return r.json(t)
	}
	if m := join(); m["status"] != "pending" || m["stopped_by_instructor"] != false {
		t.Fatalf("before the start: %v", m)
	}
	e.start(inst, id)
	if m := join(); m["status"] != "ready" {
		t.Fatalf("running: %v", m)
	}
	if r := e.call("POST", "/api/workshops/"+id+"/stop", inst, nil); r.Status != http.StatusAccepted {
		t.Fatalf("stop: %d", r.Status)
	}
	// At once, before the teardown: no new token, and the reason.
	if m := join(); m["status"] != "stopped" || m["stopped_by_instructor"] != true || m["token"] != nil {
		t.Fatalf("stopping: %v", m)
	}
	if err := e.rec.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m := join(); m["status"] != "stopped" || m["stopped_by_instructor"] != true {
		t.Fatalf("stopped (after a reload): %v", m)
	}

	end := e.clock().Add(time.Hour)
	if _, err := e.st.UpdateWorkshop(context.Background(), id, func(w *store.Workshop) error { w.EndsAt = &end; return nil }); err != nil {
		t.Fatal(err)
	}
	e.advance(2 * time.Hour)
	r := e.call("POST", "/api/join", "", map[string]string{"access_code": access})
	if r.Status != http.StatusGone {
		t.Fatalf("after the end: %d %s", r.Status, r.Body)
	}
	er := r.json(t)["error"].(map[string]any)
	details, _ := er["details"].(map[string]any)
	if er["code"] != "workshop_ended" || details["ends_at"] != end.UTC().Format(time.RFC3339) {
		t.Fatalf("410: %s", r.Body)
	}
	if msg := er["message"].(string); msg != "this workshop has ended" {
		t.Errorf("the message carries a raw time: %q", msg)
	}

	// Starting it again is refused the same way: the time in details, none in the words.
	r = e.call("POST", "/api/workshops/"+id+"/start", inst, nil)
	if r.Status != http.StatusConflict {
		t.Fatalf("start after the end: %d %s", r.Status, r.Body)
	}
	er = r.json(t)["error"].(map[string]any)
	details, _ = er["details"].(map[string]any)
	if er["code"] != "workshop_ended" || details["ends_at"] != end.UTC().Format(time.RFC3339) {
		t.Fatalf("409: %s", r.Body)
	}
	if msg := er["message"].(string); strings.Contains(msg, end.UTC().Format(time.RFC3339)) {
		t.Errorf("the message carries a raw time: %q", msg)
	}
}
