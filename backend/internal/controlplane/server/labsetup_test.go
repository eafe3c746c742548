package server_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/lab"
)

// TestMatrixSetupState: the progress matrix shows each learner's setup of
// the lab: failed with the setup script's reason for a learner whose
// workspace opened, nothing for one whose workspace has not.
func TestMatrixSetupState(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		inst := e.instructor("setup-matrix@example.com")
		up := e.call("POST", "/api/labs", inst, nativeLab(t, func(f lab.Files) {
			f["lab.yaml"] = append([]byte("setup: setup.sh\n"), f["lab.yaml"]...)
			f["setup.sh"] = []byte("#!/bin/sh\ncat ~/prepared.txt\n") // the fake seat has no such file: exit 1
		}), "Content-Type", "application/gzip")
		if up.Status != http.StatusCreated {
			t.Fatalf("upload: %d %s", up.Status, up.Body)
		}
		labID := up.json(t)["lab"].(map[string]any)["id"].(string)
		id, code := e.workshop(inst, 3)
		if r := e.call("PUT", "/api/workshops/"+id+"/lab", inst, map[string]any{"lab_id": labID}); r.Status != http.StatusOK {
			t.Fatalf("set lab: %d %s", r.Status, r.Body)
		}
		e.start(inst, id)
		opened, access := e.learner(inst, id, code, "opened@example.com")
		j := e.join(access)
		tok, seat := j["token"].(string), int(j["seat"].(float64))
		idle, access2 := e.learner(inst, id, code, "idle@example.com")
		e.join(access2)

		var setup map[string]any
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			// The workspace's poll starts the setup; the matrix shows it.
			e.call("GET", "/api/workspaces/"+id+"/"+strconv.Itoa(seat)+"/live", tok, nil)
			r := e.call("GET", "/api/workshops/"+id+"/progress", inst, nil)
			if r.Status != http.StatusOK {
				t.Fatalf("progress: %d %s", r.Status, r.Body)
			}
			byReg := map[string]map[string]any{}
			for _, l := range r.json(t)["learners"].([]any) {
				byReg[l.(map[string]any)["registration_id"].(string)] = l.(map[string]any)
			}
			if _, ok := byReg[idle]["setup"]; ok {
				t.Fatalf("a learner whose workspace never opened has a setup: %v", byReg[idle])
			}
			setup, _ = byReg[opened]["setup"].(map[string]any)
			if setup != nil && setup["status"] != "running" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the matrix shows no finished setup: %s", r.Body)
			}
		}
		if msg, _ := setup["message"].(string); setup["status"] != "failed" || !strings.Contains(msg, "prepared.txt is not there yet") || setup["finished_at"] == nil {
			t.Fatalf("the matrix's setup: %v", setup)
		}
	})
}
