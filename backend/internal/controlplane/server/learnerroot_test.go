package server_test

import (
	"net/http"
	"testing"
)

// TestWorkshopLearnerRoot: learner_root is kept with the workshop, shown,
// refused when it is not a boolean, and sent with every seat's create; a
// workshop without it asks for unprivileged learners.
func TestWorkshopLearnerRoot(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	tok := e.instructor("root@example.com")
	if r := e.call("POST", "/api/workshops", tok, map[string]any{"name": "Root", "seats": 1, "learner_root": "yes"}); r.Status != http.StatusBadRequest {
		t.Errorf("learner_root \"yes\": %d %s, want 400", r.Status, r.Body)
	}
	ids := map[bool]string{}
	for _, root := range []bool{true, false} {
		r := e.call("POST", "/api/workshops", tok, map[string]any{"name": "Root", "seats": 2, "learner_root": root})
		if r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		m := r.json(t)
		id := m["id"].(string)
		if m["learner_root"] != root {
			t.Errorf("create answered learner_root %v, want %v", m["learner_root"], root)
		}
		if got := e.call("GET", "/api/workshops/"+id, tok, nil).json(t)["learner_root"]; got != root {
			t.Errorf("GET learner_root %v, want %v", got, root)
		}
		e.start(tok, id)
		ids[root] = id
	}
	e.agent.mu.Lock()
	defer e.agent.mu.Unlock()
	for root, id := range ids {
		for _, seat := range []string{id + "/1", id + "/2"} {
			if got, ok := e.agent.learnerRoot[seat]; !ok || got != root {
				t.Errorf("agent create for %s: learner_root %v (sent: %v), want %v", seat, got, ok, root)
			}
		}
	}
}
