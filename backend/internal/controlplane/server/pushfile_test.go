package server_test

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// POST /api/workshops/{id}/files writes a file into every seated learner's
// home and reports each seat; a seat that does not answer is reported, not
// hidden, and gets the file when its learner's workspace next polls, as
// does a learner who joins later; paths outside the home and files over
// the cap are refused.
func TestPushFile(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		inst := e.instructor("push@example.com")
		id, code := e.workshop(inst, 3)
		e.start(inst, id)
		var seats []int
		var toks []string
		for _, who := range []string{"p1@example.com", "p2@example.com"} {
			_, access := e.learner(inst, id, code, who)
			j := e.join(access)
			seats, toks = append(seats, int(j["seat"].(float64))), append(toks, j["token"].(string))
		}
		_, later := e.learner(inst, id, code, "p3-not-joined@example.com") // no seat yet
		e.agent.setSeat(id+"/"+strconv.Itoa(seats[1]), true, time.Time{})

		url := "/api/workshops/" + id + "/files"
		r := e.call("POST", url, inst, map[string]string{"path": "notes/step2.txt", "content": "use chmod +x\n"})
		if r.Status != http.StatusOK {
			t.Fatalf("push: %d %s", r.Status, r.Body)
		}
		m := r.json(t)
		res := m["seats"].([]any)
		if m["written"] != float64(1) || m["failed"] != float64(1) || len(res) != 2 || m["path"] != "notes/step2.txt" {
			t.Fatalf("push result: %s", r.Body)
		}
		first, second := res[0].(map[string]any), res[1].(map[string]any)
		if first["seat"] != float64(seats[0]) || first["ok"] != true || second["ok"] != false || !strings.Contains(second["error"].(string), "could not be written") {
			t.Fatalf("per seat: %s", r.Body)
		}
		e.agent.mu.Lock()
		got := e.agent.homes[id+"/"+strconv.Itoa(seats[0])]["notes/step2.txt"]
		e.agent.mu.Unlock()
		if got != "use chmod +x\n" {
			t.Fatalf("the seat's home has %q", got)
		}
		// The learner who joins later, and the one whose seat did not
		// answer, get the file when their workspace polls its live facts.
		j := e.join(later)
		seats, toks = append(seats, int(j["seat"].(float64))), append(toks, j["token"].(string))
		e.agent.setSeat(id+"/"+strconv.Itoa(seats[1]), false, time.Time{})
		for _, i := range []int{2, 1} {
			e.waitPushed(t, id, seats[i], toks[i], "notes/step2.txt", "use chmod +x\n")
		}
		// Binary content as base64.
		bin := string([]byte{0, 1, 2, 255})
		if r := e.call("POST", url, inst, map[string]string{"path": "data.bin", "content": base64.StdEncoding.EncodeToString([]byte(bin)), "encoding": "base64"}); r.Status != http.StatusOK {
			t.Fatalf("base64 push: %d %s", r.Status, r.Body)
		}
		e.agent.mu.Lock()
		got = e.agent.homes[id+"/"+strconv.Itoa(seats[0])]["data.bin"]
		e.agent.mu.Unlock()
		if got != bin {
			t.Fatalf("binary file: %q", got)
		}
		// One seat only.
		r = e.call("POST", url, inst, map[string]any{"path": "only-one.txt", "content": "for you", "seat": seats[0]})
		if m := r.json(t); r.Status != http.StatusOK || m["written"] != float64(1) || len(m["seats"].([]any)) != 1 {
			t.Fatalf("push to one seat: %d %s", r.Status, r.Body)
		}
		e.agent.mu.Lock()
		one, other := e.agent.homes[id+"/"+strconv.Itoa(seats[0])]["only-one.txt"], e.agent.homes[id+"/"+strconv.Itoa(seats[1])]["only-one.txt"]
		e.agent.mu.Unlock()
		if one != "for you" || other != "" {
			t.Fatalf("one seat's push reached %q and %q", one, other)
		}
		if r := e.call("POST", url, inst, map[string]any{"path": "a", "content": "x", "seat": 99}); r.Status != http.StatusNotFound {
			t.Fatalf("a push to a seat nobody holds: %d %s", r.Status, r.Body)
		}
		for _, c := range []struct {
			name string
			body map[string]string
			code int
		}{
			{"escape", map[string]string{"path": "../../etc/passwd", "content": "x"}, 400},
			{"absolute", map[string]string{"path": "/etc/passwd", "content": "x"}, 400},
			{"no path", map[string]string{"content": "x"}, 400},
			{"bad base64", map[string]string{"path": "a", "content": "%%%", "encoding": "base64"}, 400},
			{"too big", map[string]string{"path": "big.txt", "content": strings.Repeat("x", 1<<20+1)}, 413},
		} {
			if r := e.call("POST", url, inst, c.body); r.Status != c.code {
				t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
			}
		}
		if r := e.call("POST", url, e.instructor("push-other@example.com"), map[string]string{"path": "a", "content": "x"}); r.Status != http.StatusForbidden {
			t.Fatalf("a stranger pushed: %d", r.Status)
		}
	})
}

// waitPushed polls the learner's live facts (which deliver pushed files,
// in the background) until the fake agent has path in the seat's home.
func (e *testEnv) waitPushed(t *testing.T, id string, seat int, tok, path, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if r := e.call("GET", "/api/workspaces/"+id+"/"+strconv.Itoa(seat)+"/live", tok, nil); r.Status != http.StatusOK {
			t.Fatalf("live: %d %s", r.Status, r.Body)
		}
		e.agent.mu.Lock()
		got := e.agent.homes[id+"/"+strconv.Itoa(seat)][path]
		e.agent.mu.Unlock()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("seat %d's ~/%s is %q, want %q", seat, path, got, want)
		}
	}
}
