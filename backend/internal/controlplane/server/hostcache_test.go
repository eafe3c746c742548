package server_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// The relay keeps the host records of a multi-host workshop: once known,
// relayed requests to a seat on host 2 make no ListWorkshopHosts call. When
// host 2 moves (recreated at another address) the cached records are
// dropped, and the seat's traffic follows it to the new address (the old
// one no longer serves the seat: a request sent there would be a 502).
func TestRelayHostCache(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, engine, func(c *config.Config) { c.Provisioner = config.ProvisionerGCP; c.SeatsPerHost = 1 })
			inst := e.instructor("relay-cache@example.com")
			id, code := e.workshop(inst, 2)
			e.start(inst, id)
			_, a1 := e.learner(inst, id, code, "one@example.com")
			_, a2 := e.learner(inst, id, code, "two@example.com")
			e.join(a1)                                  // seat 1, host 1
			e.agent.setSeat(id+"/2", true, time.Time{}) // host 1 does not serve seat 2
			old, moved := newFakeAgent(t), newFakeAgent(t)
			ctx := context.Background()
			host2 := &store.WorkshopVM{WorkshopID: id, HostIndex: 2, Name: "h2", Status: store.HostRunning, AgentURL: old.srv.URL}
			if err := e.st.UpsertWorkshopVM(ctx, host2); err != nil {
				t.Fatal(err)
			}
			tok, _ := e.join(a2)["token"].(string)
			if tok == "" {
				t.Fatal("no workspace token for seat 2")
			}

			cs := newCountingStore(e.st)
			srv := server.New(server.Deps{Config: e.cfg, Store: cs, Now: e.clock, Logger: slog.New(slog.DiscardHandler), Version: "test"})
			h := httptest.NewServer(srv.Handler())
			t.Cleanup(h.Close)
			files := func() int {
				r := e.callAt(h.URL, "GET", "/api/workspaces/"+id+"/2/files?path=.", tok, nil)
				if r.Status != http.StatusOK {
					t.Logf("%d %s", r.Status, r.Body)
				}
				return r.Status
			}
			if got := files(); got != http.StatusOK {
				t.Fatalf("seat 2 through the relay: %d", got)
			}
			cs.take()
			for i := 0; i < 5; i++ {
				if got := files(); got != http.StatusOK {
					t.Fatalf("seat 2 through the relay: %d", got)
				}
			}
			if _, by := cs.take(); by["ListWorkshopHosts"] != 0 {
				t.Errorf("5 relayed requests read the hosts %d times (calls %v)", by["ListWorkshopHosts"], by)
			}

			// Host 2 moves; the old address no longer serves seat 2.
			old.setSeat(id+"/2", true, time.Time{})
			host2.AgentURL = moved.srv.URL
			if err := e.st.UpsertWorkshopVM(ctx, host2); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for got := files(); got != http.StatusOK; got = files() {
				if time.Now().After(deadline) {
					t.Fatalf("seat 2 after host 2 moved: still %d after 5 s", got)
				}
			}
		})
	}
}
