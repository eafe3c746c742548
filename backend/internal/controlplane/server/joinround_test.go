package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/server"
)

// TestRegisterAndJoinOneStoreCallEach: a learner's register is one store
// call (the workshop by code with the registration: one round trip on
// PostgreSQL) and so is the join (the learner by access code with the
// seat), for a new learner and for one joining again. A join storm is
// these two requests, 300 at once.
func TestRegisterAndJoinOneStoreCallEach(t *testing.T) {
	t.Parallel()
	forEngine(t, func(t *testing.T, e *testEnv) {
		owner := e.instructor("owner@example.com")
		id, code := e.workshop(owner, 3)
		e.start(owner, id)
		counter := newCountingStore(e.st)
		srv := server.New(server.Deps{Config: e.cfg, Store: counter, Now: e.clock, Version: "test"})
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(hs.Close)
		counter.take()

		r := e.callAt(hs.URL, "POST", "/api/register", "", map[string]string{"workshop_code": code, "name": "L", "email": "ada@example.com"})
		if r.Status != http.StatusCreated {
			t.Fatalf("register: %d %s", r.Status, r.Body)
		}
		if n, calls := counter.take(); n != 1 {
			t.Errorf("register: %d store calls %v; want 1", n, calls)
		}
		access := r.json(t)["access_code"].(string)
		for i := range 2 {
			r = e.callAt(hs.URL, "POST", "/api/join", "", map[string]string{"access_code": access})
			if r.Status != http.StatusOK || r.json(t)["status"] != "ready" {
				t.Fatalf("join %d: %d %s", i, r.Status, r.Body)
			}
			if n, calls := counter.take(); n != 1 {
				t.Errorf("join %d: %d store calls %v; want 1", i, n, calls)
			}
		}
	})
}
