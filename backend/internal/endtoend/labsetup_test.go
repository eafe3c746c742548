package endtoend

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/lab"
)

// setupLab has a files/ folder and a setup script that leaves a mark as
// root in the seat's /etc and in the learner's home, and counts its runs.
var setupLab = lab.Files{
	"lab.yaml": []byte("title: Set up\nsetup: setup.sh\nsteps:\n  - id: look\n    title: Look around\n    text: look.md\n    check: look.check.sh\n    setup: look.setup.sh\n"),
	"look.md":  []byte("Read ~/notes/start.txt.\n"),
	// The check runs as the learner: it sees what root set up.
	"look.check.sh": []byte("#!/bin/sh\ngrep -q ready /etc/lab-ready && grep -q look /etc/step-look && grep -q hello ~/notes/start.txt && echo all-set\n"),
	// The step's setup runs as root when the learner enters the step.
	"look.setup.sh":         []byte("#!/bin/sh\necho look > /etc/step-look\necho entered >> \"$LEARNER_HOME/step-runs\"\n"),
	"setup.sh":              []byte("#!/bin/sh\nset -e\necho ready > /etc/lab-ready\nid -u > \"$LEARNER_HOME/setup-uid\"\necho run >> \"$LEARNER_HOME/setup-runs\"\n"),
	"files/notes/start.txt": []byte("hello from the lab\n"),
}

// uploadLab stores files as a lab and points the workshop at it.
func (e *localEnv) uploadLab(t *testing.T, inst, wsID string, files lab.Files) {
	t.Helper()
	body, err := files.TarGz()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", e.hs.URL+"/api/labs", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+inst)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var up struct {
		Lab struct {
			ID string `json:"id"`
		} `json:"lab"`
	}
	if res.StatusCode != 201 || json.Unmarshal(raw, &up) != nil {
		t.Fatalf("upload lab: %d %s", res.StatusCode, raw)
	}
	if status, m := e.c.do("PUT", "/api/workshops/"+wsID+"/lab", inst, map[string]any{"lab_id": up.Lab.ID}); status != 200 {
		t.Fatalf("set lab: %d %v", status, m)
	}
}

// waitSetup polls the learner's live facts until the lab's setup has
// finished after since, and returns it.
func (e *localEnv) waitSetup(t *testing.T, wsID string, seat int, tok string, since time.Time, within time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		status, m := e.c.do("GET", "/api/workspaces/"+wsID+"/"+strconv.Itoa(seat)+"/live", tok, nil)
		if status != 200 {
			t.Fatalf("live: %d %v", status, m)
		}
		if su, _ := m["setup"].(map[string]any); su != nil && su["status"] != "running" {
			started, _ := time.Parse(time.RFC3339Nano, su["started_at"].(string))
			if !started.Before(since) {
				return su
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lab's setup did not finish within %s: %v", within, m["setup"])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *localEnv) readHome(t *testing.T, wsID string, seat int, tok, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", e.hs.URL+"/api/workspaces/"+wsID+"/"+strconv.Itoa(seat)+"/files/content?path="+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return "(" + strconv.Itoa(res.StatusCode) + ")"
	}
	return string(b)
}

// TestLabSetup: a lab's files/ folder reaches the learner's home and its
// setup script runs once as the seat's root (uid 0 in the seat, /etc
// writable), recorded as done; the step's check, run as the learner, sees
// both. A step's setup runs as root when the learner first enters the
// step, and again when the instructor resets the step. A seat rebuilt after the lab's setup gets it again, and the setups
// of the steps entered.
func TestLabSetup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := startLocal(ctx, t)
	if e.rtName != "sandbox" {
		t.Skip("seats without their own root (runtime " + e.rtName + ")")
	}
	inst, wsID, code := e.running(ctx, t, 2)
	e.uploadLab(t, inst, wsID, setupLab)
	seat, tok := e.joinReady(t, e.learner(t, code, "setup@example.com"))

	t0 := time.Now().Add(-time.Second)
	su := e.waitSetup(t, wsID, seat, tok, t0, time.Minute)
	if su["status"] != "done" {
		t.Fatalf("setup: %v", su)
	}
	if got := e.readHome(t, wsID, seat, tok, "notes/start.txt"); got != "hello from the lab\n" {
		t.Fatalf("files/ in the home: %q", got)
	}
	if got := e.readHome(t, wsID, seat, tok, "setup-uid"); got != "0\n" {
		t.Fatalf("the setup script ran as uid %q, want the seat's root", got)
	}
	// A learner whose guide entered the first step before the poll that
	// starts the setup (the web app often does) has not worked on the lab
	// yet: their home, not empty (a shell's dotfiles), still gets files/.
	seat2, tok2 := e.joinReady(t, e.learner(t, code, "quick@example.com"))
	base2 := "/api/workspaces/" + wsID + "/" + strconv.Itoa(seat2) + "/lab"
	if status, m := e.c.do("POST", base2+"/enter", tok2, map[string]string{"step_id": "look"}); status != 200 {
		t.Fatalf("the second learner enters the step: %d %v", status, m)
	}
	if su := e.waitSetup(t, wsID, seat2, tok2, t0, time.Minute); su["status"] != "done" {
		t.Fatalf("the second learner's setup: %v", su)
	}
	if got := e.readHome(t, wsID, seat2, tok2, "notes/start.txt"); got != "hello from the lab\n" {
		t.Fatalf("files/ in the home of a learner who entered a step first: %q", got)
	}
	base := "/api/workspaces/" + wsID + "/" + strconv.Itoa(seat) + "/lab"
	for i := 0; i < 2; i++ { // entered twice: its setup runs once
		if status, m := e.c.do("POST", base+"/enter", tok, map[string]string{"step_id": "look"}); status != 200 {
			t.Fatalf("enter the step: %d %v", status, m)
		}
	}
	if got := e.readHome(t, wsID, seat, tok, "step-runs"); got != "entered\n" {
		t.Fatalf("the step's setup runs: %q", got)
	}
	if status, m := e.c.do("POST", base+"/check", tok, map[string]string{"step_id": "look"}); status != 200 || m["passed"] != true || m["message"] != "all-set" {
		t.Fatalf("the learner's check after the setup: %d %v", status, m)
	}
	// Asked again (a reload, another poll): it does not run again.
	for i := 0; i < 3; i++ {
		if again := e.waitSetup(t, wsID, seat, tok, t0, time.Minute); again["started_at"] != su["started_at"] {
			t.Fatalf("the setup ran again: %v then %v", su, again)
		}
	}
	if got := e.readHome(t, wsID, seat, tok, "setup-runs"); got != "run\n" {
		t.Fatalf("setup runs: %q", got)
	}

	// The instructor resets the learner's step: its setup runs again.
	_, regs := e.c.do("GET", "/api/workshops/"+wsID+"/registrations", inst, nil)
	rid := regs["registrations"].([]any)[0].(map[string]any)["id"].(string)
	if status, m := e.c.do("POST", "/api/workshops/"+wsID+"/registrations/"+rid+"/reset-step", inst, map[string]string{"step_id": "look"}); status != 204 {
		t.Fatalf("reset the step: %d %v", status, m)
	}
	if got := e.readHome(t, wsID, seat, tok, "step-runs"); got != "entered\nentered\n" {
		t.Fatalf("the step's setup after a reset: %q", got)
	}

	// The seat is rebuilt (deleted, and created again by the reconciler,
	// here with a new, empty home): the lab's files and its setup script
	// reach the new seat too.
	ac := agentclient.New(e.prov.URL(), e.prov.Token(), nil)
	if err := ac.DeleteSeat(ctx, wsID, seat); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	// The reconciler looks at a running workshop's seats every 15 s.
	for deadline := time.Now().Add(time.Minute); ; {
		if err := e.rec.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := ac.GetSeat(ctx, wsID, seat); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reconciler did not create the seat again")
		}
		time.Sleep(200 * time.Millisecond)
	}
	su = e.waitSetup(t, wsID, seat, tok, t1, 2*time.Minute)
	if su["status"] != "done" {
		t.Fatalf("setup on the rebuilt seat: %v", su)
	}
	if status, m := e.c.do("POST", base+"/check", tok, map[string]string{"step_id": "look"}); status != 200 || m["passed"] != true {
		// /etc/lab-ready is there again.
		t.Fatalf("check on the rebuilt seat: %d %v", status, m)
	}
	if got := e.readHome(t, wsID, seat, tok, "notes/start.txt"); got != "hello from the lab\n" {
		t.Fatalf("files/ in the rebuilt seat's home: %q", got)
	}
	if got := e.readHome(t, wsID, seat, tok, "step-runs"); got != "entered\n" {
		t.Fatalf("the entered step's setup on the rebuilt seat: %q", got)
	}
	if got := e.readHome(t, wsID, seat, tok, "setup-runs"); got != "run\n" {
		t.Fatalf("setup runs after the rebuild: %q", got)
	}
}
