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
