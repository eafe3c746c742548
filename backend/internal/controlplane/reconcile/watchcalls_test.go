package reconcile_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// agentCalls counts a workshop's agent's GET /health and GET /vms, and
// fails GET /vms while failList is set.
type agentCalls struct {
	mu           sync.Mutex
	health, list int
	failList     bool
}

func (a *agentCalls) hook(id string) func(ws string, r *http.Request) error {
	return func(ws string, r *http.Request) error {
		if ws != id || r.Method != http.MethodGet {
			return nil
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		switch r.URL.Path {
		case "/health":
			a.health++
		case "/vms":
			a.list++
			if a.failList {
				return errors.New("cannot list the seats")
			}
		}
		return nil
	}
}

func (a *agentCalls) take() (health, list int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	health, list, a.health, a.list = a.health, a.list, 0, 0
	return health, list
}

// TestWatchAsksTheAgentOnce: the watch of a running workshop asks each of
// its agents for the seats only (GET /vms, which it needs), not for its
// health as well: both answers check every seat the agent runs, so asking
// both doubled that work on every watch (host 1's watch asked both; each
// other host's pass its health twice and its seats). An agent that answers
// its health but not the list is still up (no agent_down), as before.
func TestWatchAsksTheAgentOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		seatsPerHost int
		hosts        int
	}{{"one host", 0, 1}, {"three hosts", 2, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testWatchAsksOnce(t, tc.seatsPerHost, tc.hosts)
		})
	}
}

func testWatchAsksOnce(t *testing.T, seatsPerHost, hosts int) {
	st := openStore(t, "sqlite")
	c := newCloud(t, nil)
	clk := newClock()
	r, _ := c.newReconciler(st, clk, "replica-a", nil)
	w := newWorkshop(t, st, 5, func(w *store.Workshop) { w.SeatsPerHost = seatsPerHost })
	pass(t, r)
	wantStatus(t, st, w.ID, store.StatusRunning)
	var calls agentCalls
	c.setHook(calls.hook(w.ID))
	defer c.setHook(nil)

	clk.Advance(15 * time.Second) // WatchEvery
	pass(t, r)
	if health, list := calls.take(); health != 0 || list != hosts {
		t.Errorf("a watch asked the agents for their health %d times and their seats %d times, want 0 and %d", health, list, hosts)
	}

	calls.mu.Lock()
	calls.failList = true
	calls.mu.Unlock()
	clk.Advance(15 * time.Second)
	pass(t, r)
	if health, _ := calls.take(); health < hosts {
		t.Errorf("a watch whose lists failed asked for the agents' health %d times, want at least %d", health, hosts)
	}
	got := wantStatus(t, st, w.ID, store.StatusRunning)
	if got.StatusReason != "" {
		t.Errorf("an agent that answers its health but not its seats: reason %q, want none", got.StatusReason)
	}
	vm, err := st.GetWorkshopVM(t.Context(), w.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range vm.Steps {
		if s.Name == "agent_down" && s.Status == store.StepRunning {
			t.Errorf("agent marked down while it answers its health: %+v", vm.Steps)
		}
	}
}
