package server_test

import (
	"net/http"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/lab"
)

// TestLabEnvironment: a lab's lab.yaml names an environment image; a
// workshop that names none takes it when the lab is set (PUT …/lab or
// PATCH with lab), so its seats are provisioned on that image; a
// workshop's own environment wins.
func TestLabEnvironment(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		inst := e.instructor("labenv@example.com")
		up := e.call("POST", "/api/labs", inst, nativeLab(t, func(f lab.Files) {
			f["lab.yaml"] = append([]byte("environment: ghcr.io/org/course:2026\n"), f["lab.yaml"]...)
		}), "Content-Type", "application/gzip")
		if up.Status != http.StatusCreated {
			t.Fatalf("upload: %d %s", up.Status, up.Body)
		}
		labID := up.json(t)["lab"].(map[string]any)["id"].(string)
		env := func(id string) any {
			return e.call("GET", "/api/workshops/"+id, inst, nil).json(t)["environment"]
		}

		plain, _ := e.workshop(inst, 2)
		if r := e.call("PUT", "/api/workshops/"+plain+"/lab", inst, map[string]any{"lab_id": labID}); r.Status != http.StatusOK {
			t.Fatalf("set lab: %d %s", r.Status, r.Body)
		}
		if got := env(plain); got != "ghcr.io/org/course:2026" {
			t.Errorf("workshop with no environment, after PUT lab: environment %v, want the lab's", got)
		}

		r := e.call("POST", "/api/workshops", inst, map[string]any{"name": "Own image", "seats": 2, "environment": "python:3.12-slim"})
		own := r.json(t)["id"].(string)
		e.call("PUT", "/api/workshops/"+own+"/lab", inst, map[string]any{"lab_id": labID})
		if got := env(own); got != "python:3.12-slim" {
			t.Errorf("workshop with its own environment: %v after PUT lab, want it kept", got)
		}

		edited, _ := e.workshop(inst, 2)
		r = e.call("PATCH", "/api/workshops/"+edited, inst, map[string]any{"lab": map[string]any{"lab_id": labID}})
		if r.Status != http.StatusOK || r.json(t)["environment"] != "ghcr.io/org/course:2026" {
			t.Errorf("PATCH with lab: %d %s, want the lab's environment in the answer", r.Status, r.Body)
		}
	})
}

// TestLabLearnerRoot: a lab whose lab.yaml says learner_root: true shows
// it, and a workshop set to it before it runs takes it (PUT …/lab or PATCH
// with lab), so every seat's create asks for a root learner; a running
// workshop keeps the learners its seats have.
func TestLabLearnerRoot(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		inst := e.instructor("labroot@example.com")
		up := e.call("POST", "/api/labs", inst, nativeLab(t, func(f lab.Files) {
			f["lab.yaml"] = append([]byte("learner_root: true\n"), f["lab.yaml"]...)
		}), "Content-Type", "application/gzip")
		if up.Status != http.StatusCreated {
			t.Fatalf("upload: %d %s", up.Status, up.Body)
		}
		l := up.json(t)["lab"].(map[string]any)
		if l["learner_root"] != true {
			t.Errorf("uploaded lab: learner_root %v, want true", l["learner_root"])
		}
		labID := l["id"].(string)
		root := func(id string) any {
			return e.call("GET", "/api/workshops/"+id, inst, nil).json(t)["learner_root"]
		}

		put, _ := e.workshop(inst, 2)
		if r := e.call("PUT", "/api/workshops/"+put+"/lab", inst, map[string]any{"lab_id": labID}); r.Status != http.StatusOK {
			t.Fatalf("set lab: %d %s", r.Status, r.Body)
		}
		if got := root(put); got != true {
			t.Errorf("after PUT lab: learner_root %v, want the lab's (true)", got)
		}
		patched, _ := e.workshop(inst, 2)
		r := e.call("PATCH", "/api/workshops/"+patched, inst, map[string]any{"lab": map[string]any{"lab_id": labID}})
		if r.Status != http.StatusOK || r.json(t)["learner_root"] != true {
			t.Errorf("PATCH with lab: %d %s, want learner_root true in the answer", r.Status, r.Body)
		}
		running, _ := e.workshop(inst, 1)
		e.start(inst, running)
		e.call("PUT", "/api/workshops/"+running+"/lab", inst, map[string]any{"lab_id": labID})
		if got := root(running); got != false {
			t.Errorf("running workshop: learner_root %v after PUT lab, want its own (false)", got)
		}

		e.start(inst, put)
		e.agent.mu.Lock()
		defer e.agent.mu.Unlock()
		for _, seat := range []string{put + "/1", put + "/2"} {
			if got, ok := e.agent.learnerRoot[seat]; !ok || !got {
				t.Errorf("agent create for %s: learner_root %v (sent: %v), want true", seat, got, ok)
			}
		}
	})
}
