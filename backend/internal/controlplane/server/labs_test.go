package server_test

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/lab"
)

// nativeLab is the lab package's test lab as an upload; edit changes files
// before it is packed.
func nativeLab(t *testing.T, edit func(lab.Files)) string {
	t.Helper()
	f, err := lab.ReadDir(os.DirFS("../lab/testdata/native"))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(f)
	}
	b, err := f.TarGz()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func steps(m map[string]any) []string {
	var out []string
	for _, s := range m["steps"].([]any) {
		out = append(out, s.(map[string]any)["id"].(string)+":"+s.(map[string]any)["title"].(string))
	}
	return out
}

// A three-step lab, end to end through the API: upload, a workshop on it,
// a learner failing then passing a check, a raised hand picked up, the
// progress matrix and CSV, a broadcast, and an edited guide that keeps the
// learner's place.
func TestLabFlow(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		inst := e.instructor("lab-inst@example.com")
		up := e.call("POST", "/api/labs", inst, nativeLab(t, nil), "Content-Type", "application/gzip")
		if up.Status != http.StatusCreated {
			t.Fatalf("upload: %d %s", up.Status, up.Body)
		}
		labv1 := up.json(t)["lab"].(map[string]any)
		labID := labv1["id"].(string)
		if got := strings.Join(steps(labv1), ", "); got != "make:Make a file, chmod:Make it executable, step-3:Done" || up.json(t)["format"] != "clarateach" {
			t.Fatalf("uploaded lab: %s %s", got, up.Body)
		}
		if strings.Contains(string(up.Body), "found hello.sh") {
			t.Fatal("the API shows a check script's source")
		}

		// A broken lab is refused with file and line.
		bad := e.call("POST", "/api/labs", inst, nativeLab(t, func(f lab.Files) {
			f["lab.yaml"] = []byte("title: T\nsteps:\n  - title: one\n    text: steps/01-make.md\n  - text: steps/02-chmod.md\n")
		}))
		if bad.Status != http.StatusBadRequest || bad.errCode(t) != "invalid_lab" || !strings.Contains(string(bad.Body), `"line":5`) || !strings.Contains(string(bad.Body), "step 2 has no title") {
			t.Fatalf("broken lab: %d %s", bad.Status, bad.Body)
		}
		if r := e.call("POST", "/api/labs", inst, "not an archive"); r.Status != http.StatusBadRequest {
			t.Fatalf("garbage upload: %d %s", r.Status, r.Body)
		}
		// Export gives the folder back, twice (the second from the parsed-lab cache).
		for range 2 {
			exp := e.call("GET", "/api/labs/"+labID+"/export", inst, nil)
			files, err := lab.ReadArchive(exp.Body)
			if exp.Status != http.StatusOK || err != nil || !strings.Contains(string(files["lab.yaml"]), "title: Files and permissions") {
				t.Fatalf("export: %d %v", exp.Status, err)
			}
		}
		// Another instructor does not see it.
		other := e.instructor("lab-other@example.com")
		if r := e.call("GET", "/api/labs/"+labID, other, nil); r.Status != http.StatusNotFound {
			t.Fatalf("another instructor's lab: %d", r.Status)
		}

		id, code := e.workshop(inst, 3)
		e.start(inst, id)
		if r := e.call("PUT", "/api/workshops/"+id+"/lab", other, map[string]any{"lab_id": labID}); r.Status != http.StatusNotFound && r.Status != http.StatusForbidden {
			t.Fatalf("a stranger set the lab: %d", r.Status)
		}
		rid, access := e.learner(inst, id, code, "lab-learner@example.com")
		j := e.join(access)
		tok, seat := j["token"].(string), int(j["seat"].(float64))
		base := "/api/workspaces/" + id + "/" + strconv.Itoa(seat) + "/lab"
		// Before the workshop has a lab: 204, the page shows the plain guide.
		if r := e.call("GET", base, tok, nil); r.Status != http.StatusNoContent {
			t.Fatalf("no lab yet: %d %s", r.Status, r.Body)
		}
		if r := e.call("PUT", "/api/workshops/"+id+"/lab", inst, map[string]any{"lab_id": labID}); r.Status != http.StatusOK {
			t.Fatalf("set lab: %d %s", r.Status, r.Body)
		}

		view := e.call("GET", base, tok, nil)
		if view.Status != http.StatusOK {
			t.Fatalf("learner lab: %d %s", view.Status, view.Body)
		}
		v := view.json(t)
		if v["current_step"] != "make" || len(v["unlocked"].([]any)) != 1 || strings.Contains(string(view.Body), "found hello.sh") {
			t.Fatalf("learner view: %s", view.Body)
		}
		if r := e.call("GET", base, "", nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("no token: %d", r.Status)
		}

		// Step 2 is locked until step 1 passes.
		if r := e.call("POST", base+"/check", tok, map[string]string{"step_id": "chmod"}); r.Status != http.StatusConflict || r.errCode(t) != "step_locked" {
			t.Fatalf("locked step: %d %s", r.Status, r.Body)
		}
		r := e.call("POST", base+"/check", tok, map[string]string{"step_id": "make"})
		c := r.json(t)
		if r.Status != http.StatusOK || c["passed"] != false || c["message"] != "hello.sh is not there yet" {
			t.Fatalf("failing check: %d %s", r.Status, r.Body)
		}
		hand := e.call("POST", base+"/hand", tok, map[string]string{"question": "stuck on the first step"})
		if hand.Status != http.StatusOK {
			t.Fatalf("raise hand: %d %s", hand.Status, hand.Body)
		}
		if r := e.call("POST", base+"/hand", tok, map[string]string{"question": "two\nlines"}); r.Status != http.StatusBadRequest {
			t.Fatalf("a two-line question: %d", r.Status)
		}
		hands := e.call("GET", "/api/workshops/"+id+"/hands", inst, nil).json(t)["hands"].([]any)
		if len(hands) != 1 || hands[0].(map[string]any)["question"] != "stuck on the first step" || hands[0].(map[string]any)["seat"] != float64(seat) {
			t.Fatalf("hands: %v", hands)
		}
		hid := hands[0].(map[string]any)["id"].(string)
		// The class view's stream carries it all: the failing check and the hand.
		snap := openStream(t, e, inst, id)()
		if snap.Lab == nil || len(snap.Lab.Hands) != 1 || len(snap.Lab.Learners) != 1 {
			t.Fatalf("stream lab: %+v", snap.Lab)
		}
		if st := snap.Lab.Learners[0]["steps"].(map[string]any)["make"].(map[string]any); st["status"] != "failing" || st["message"] != "hello.sh is not there yet" {
			t.Fatalf("stream step: %v", st)
		}
		if r := e.call("POST", "/api/workshops/"+id+"/hands/"+hid+"/pick", inst, nil); r.Status != http.StatusOK {
			t.Fatalf("pick: %d %s", r.Status, r.Body)
		}
		if h := e.call("GET", base, tok, nil).json(t)["hand"].(map[string]any); h["picked_at"] == nil {
			t.Fatalf("the learner does not see the hand picked up: %v", h)
		}

		// The learner fixes it; the check passes and step 2 opens.
		e.agent.mu.Lock()
		e.agent.files[id+"/"+strconv.Itoa(seat)] = map[string]bool{"hello.sh": true}
		e.agent.mu.Unlock()
		r = e.call("POST", base+"/check", tok, map[string]string{"step_id": "make"})
		if c := r.json(t); r.Status != http.StatusOK || c["passed"] != true || c["message"] != "found it" {
			t.Fatalf("passing check: %d %s", r.Status, r.Body)
		}
		v = e.call("GET", base, tok, nil).json(t)
		if v["current_step"] != "chmod" || len(v["unlocked"].([]any)) != 2 {
			t.Fatalf("after the pass: %v", v)
		}
		if r := e.call("POST", "/api/workshops/"+id+"/hands/"+hid+"/close", inst, nil); r.Status != http.StatusNoContent {
			t.Fatalf("close hand: %d", r.Status)
		}

		// The matrix and the CSV.
		m := e.call("GET", "/api/workshops/"+id+"/progress", inst, nil)
		if m.Status != http.StatusOK {
			t.Fatalf("progress: %d %s", m.Status, m.Body)
		}
		learners := m.json(t)["learners"].([]any)
		lp := learners[0].(map[string]any)
		if len(learners) != 1 || lp["registration_id"] != rid || lp["steps_done"] != float64(1) || lp["failed_checks"] != float64(0) || lp["current_step"] != "chmod" {
			t.Fatalf("matrix: %s", m.Body)
		}
		if st := lp["steps"].(map[string]any)["make"].(map[string]any); st["status"] != "done" || st["attempts"] != float64(2) {
			t.Fatalf("step make: %v", st)
		}
		csv := e.call("GET", "/api/workshops/"+id+"/progress.csv", inst, nil)
		lines := strings.Split(strings.TrimSpace(string(csv.Body)), "\n")
		if csv.Status != http.StatusOK || len(lines) != 2 || lines[0] != "name,email,seat,joined_at,steps_done,seconds:make,seconds:chmod,seconds:step-3" ||
			!strings.HasPrefix(lines[1], "L,lab-learner@example.com,"+strconv.Itoa(seat)+",") {
			t.Fatalf("csv: %d %q", csv.Status, csv.Body)
		}

		// A broadcast reaches the learner.
		if r := e.call("POST", "/api/workshops/"+id+"/broadcast", inst, map[string]string{"message": "Break until 11:00"}); r.Status != http.StatusOK {
			t.Fatalf("broadcast: %d %s", r.Status, r.Body)
		}
		if b := e.call("GET", base, tok, nil).json(t)["broadcast"].(map[string]any); b["message"] != "Break until 11:00" {
			t.Fatalf("broadcast seen: %v", b)
		}

		// The instructor edits the guide: the learner sees the new text and
		// keeps their place.
		up2 := e.call("POST", "/api/labs?lab_id="+labID, inst, nativeLab(t, func(f lab.Files) {
			f["lab.yaml"] = []byte(strings.Replace(string(f["lab.yaml"]), "title: Make it executable", "title: Make hello.sh executable", 1))
		}))
		if up2.Status != http.StatusCreated || up2.json(t)["lab"].(map[string]any)["version"] != float64(2) {
			t.Fatalf("version 2: %d %s", up2.Status, up2.Body)
		}
		if r := e.call("PUT", "/api/workshops/"+id+"/lab", inst, map[string]any{"lab_id": labID}); r.Status != http.StatusOK || r.json(t)["version"] != float64(2) {
			t.Fatalf("set newest: %d %s", r.Status, r.Body)
		}
		v = e.call("GET", base, tok, nil).json(t)
		if got := strings.Join(steps(v["lab"].(map[string]any)), ", "); got != "make:Make a file, chmod:Make hello.sh executable, step-3:Done" || v["current_step"] != "chmod" {
			t.Fatalf("after the edit: %s, current %v", got, v["current_step"])
		}

		// Reset a step for the learner; their place moves back.
		if r := e.call("POST", "/api/workshops/"+id+"/registrations/"+rid+"/reset-step", inst, map[string]string{"step_id": "make"}); r.Status != http.StatusNoContent {
			t.Fatalf("reset: %d %s", r.Status, r.Body)
		}
		if v := e.call("GET", base, tok, nil).json(t); v["current_step"] != "make" {
			t.Fatalf("after reset: %v", v["current_step"])
		}
		// Solve for me: runs the solve script, then the check.
		e.agent.mu.Lock()
		e.agent.files[id+"/"+strconv.Itoa(seat)] = map[string]bool{}
		e.agent.mu.Unlock()
		r = e.call("POST", "/api/workshops/"+id+"/registrations/"+rid+"/solve", inst, map[string]string{"step_id": "make"})
		if c := r.json(t); r.Status != http.StatusOK || c["passed"] != true {
			t.Fatalf("solve: %d %s", r.Status, r.Body)
		}
		if r := e.call("POST", "/api/workshops/"+id+"/registrations/"+rid+"/solve", inst, map[string]string{"step_id": "chmod"}); r.Status != http.StatusConflict {
			t.Fatalf("solve without a solve script: %d %s", r.Status, r.Body)
		}

		// An instructor's seat token is not the learner's: it cannot check.
		st := e.call("POST", "/api/workshops/"+id+"/seats/"+strconv.Itoa(seat)+"/token", inst, map[string]string{"mode": "rw"})
		if st.Status != http.StatusOK {
			t.Fatalf("seat token: %d %s", st.Status, st.Body)
		}
		if r := e.call("POST", base+"/check", st.json(t)["token"].(string), map[string]string{"step_id": "make"}); r.Status != http.StatusForbidden {
			t.Fatalf("instructor token on the learner's lab: %d", r.Status)
		}
		// After a revoke the learner's token is refused.
		if r := e.call("DELETE", "/api/workshops/"+id+"/registrations/"+rid, inst, nil); r.Status != http.StatusNoContent && r.Status != http.StatusAccepted {
			t.Fatalf("revoke: %d %s", r.Status, r.Body)
		}
		if r := e.call("GET", base, tok, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("revoked token: %d %s", r.Status, r.Body)
		}
	})
}
