package server_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// A workshop of two hosts (one seat each): the learner on host 1 is ready
// while host 2 is not; the learner on host 2 waits (pending, and the relay
// refuses the seat) until host 2 runs, and then reaches host 2's agent,
// not host 1's.
func TestSeatOnSecondHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", func(c *config.Config) { c.Provisioner = config.ProvisionerGCP; c.SeatsPerHost = 1 })
	inst := e.instructor("hosts@example.com")
	id, code := e.workshop(inst, 2)
	e.start(inst, id)
	_, a1 := e.learner(inst, id, code, "one@example.com")
	_, a2 := e.learner(inst, id, code, "two@example.com")
	j1, j2 := e.join(a1), e.join(a2)
	if j1["status"] != "ready" || j1["seat"] != float64(1) {
		t.Fatalf("learner on host 1: %v", j1)
	}
	if j2["status"] != "pending" || j2["seat"] != float64(2) || j2["token"] != nil {
		t.Fatalf("learner on host 2 before it runs: %v", j2)
	}

	// Host 2 runs, with its own agent; host 1's agent does not serve seat 2.
	second := newFakeAgent(t)
	e.agent.setSeat(id+"/2", true, time.Time{})
	if err := e.st.UpsertWorkshopVM(context.Background(), &store.WorkshopVM{WorkshopID: id, HostIndex: 2, Name: "h2",
		Status: store.HostRunning, AgentURL: second.srv.URL}); err != nil {
		t.Fatal(err)
	}
	j2 = e.join(a2)
	tok, _ := j2["token"].(string)
	if j2["status"] != "ready" || tok == "" {
		t.Fatalf("learner on host 2 once it runs: %v", j2)
	}
	for seat, bearer := range map[int]string{1: j1["token"].(string), 2: tok} {
		r := e.call("GET", fmt.Sprintf("/api/workspaces/%s/%d/files?path=.", id, seat), bearer, nil)
		if r.Status != http.StatusOK {
			t.Errorf("seat %d through the relay: %d %s", seat, r.Status, r.Body)
		}
	}

	// A pushed file is written by each seat's own host (seat 2 made on
	// host 2, as the reconciler does).
	second.mu.Lock()
	second.seats[id+"/2"] = true
	second.mu.Unlock()
	if r := e.call("POST", "/api/workshops/"+id+"/files", inst, map[string]string{"path": "step.txt", "content": "hi\n"}); r.Status != http.StatusOK || r.json(t)["written"] != float64(2) {
		t.Fatalf("push to both hosts: %d %s", r.Status, r.Body)
	}
	for a, key := range map[*fakeAgent]string{e.agent: id + "/1", second: id + "/2"} {
		a.mu.Lock()
		got, stray := a.homes[key]["step.txt"], len(a.homes)
		a.mu.Unlock()
		if got != "hi\n" || stray != 1 {
			t.Errorf("agent of %s: the pushed file is %q, homes written %d", key, got, stray)
		}
	}

	// Host 2 fails: only its learner is refused.
	if err := e.st.UpsertWorkshopVM(context.Background(), &store.WorkshopVM{WorkshopID: id, HostIndex: 2, Name: "h2",
		Status: "unhealthy", AgentURL: second.srv.URL}); err != nil {
		t.Fatal(err)
	}
	if r := e.call("GET", "/api/workspaces/"+id+"/2/files?path=.", tok, nil); r.Status != http.StatusServiceUnavailable {
		t.Errorf("seat 2 while host 2 is down: %d %s", r.Status, r.Body)
	}
	if r := e.call("GET", "/api/workspaces/"+id+"/1/files?path=.", j1["token"].(string), nil); r.Status != http.StatusOK {
		t.Errorf("seat 1 while host 2 is down: %d %s", r.Status, r.Body)
	}
}

// A host change this replica writes is seen by its very next request: the
// relay's host cache must not serve the record from before the write (it
// once dropped its entry in a goroutine woken by the store's signal, so a
// request right after the write could still see the old host).
func TestHostChangeSeenAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", func(c *config.Config) { c.Provisioner = config.ProvisionerGCP; c.SeatsPerHost = 1 })
	inst := e.instructor("hostcache@example.com")
	id, code := e.workshop(inst, 2)
	e.start(inst, id)
	_, a1 := e.learner(inst, id, code, "one@example.com")
	_, a2 := e.learner(inst, id, code, "two@example.com")
	if j := e.join(a1); j["seat"] != float64(1) {
		t.Fatalf("first learner: %v", j)
	}
	if j := e.join(a2); j["seat"] != float64(2) {
		t.Fatalf("second learner: %v", j)
	}
	second := newFakeAgent(t)
	second.mu.Lock()
	second.seats[id+"/2"] = true
	second.mu.Unlock()
	e.agent.setSeat(id+"/2", true, time.Time{})
	setHost := func(status string) {
		t.Helper()
		if err := e.st.UpsertWorkshopVM(context.Background(), &store.WorkshopVM{WorkshopID: id, HostIndex: 2, Name: "h2",
			Status: status, AgentURL: second.srv.URL}); err != nil {
			t.Fatal(err)
		}
	}
	setHost(store.HostRunning)
	tok, _ := e.join(a2)["token"].(string)
	if tok == "" {
		t.Fatal("no token for the learner on host 2 once it runs")
	}
	for i := range 50 {
		setHost("unhealthy")
		if r := e.call("GET", "/api/workspaces/"+id+"/2/files?path=.", tok, nil); r.Status != http.StatusServiceUnavailable {
			t.Fatalf("round %d: right after host 2 went unhealthy the relay answered %d", i, r.Status)
		}
		setHost(store.HostRunning)
		if r := e.call("GET", "/api/workspaces/"+id+"/2/files?path=.", tok, nil); r.Status != http.StatusOK {
			t.Fatalf("round %d: right after host 2 ran again the relay answered %d %s", i, r.Status, r.Body)
		}
	}
}
