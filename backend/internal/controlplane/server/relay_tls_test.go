package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/hostcert"
)

// tlsAgent is an agent proxy stand-in serving TLS with pair, counting the
// requests that reach it.
func tlsAgent(t *testing.T, pair hostcert.Pair, hits *atomic.Int32) *httptest.Server {
	t.Helper()
	cfg, err := hostcert.ServerConfig([]byte(pair.CertPEM), []byte(pair.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(`{"path":"` + r.URL.Path + `"}`))
	}))
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// The learners' relay reaches a workshop host only over TLS pinned to the
// certificate stored with the workshop: another certificate, or plaintext
// to a host that is not loopback, is refused before anything is relayed.
func TestRelayPinsTheHostCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	ctx := context.Background()
	pinned, err := hostcert.Generate("host-a", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	imposter, err := hostcert.Generate("host-a", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	owner := &store.User{Email: "pin@example.com", Name: "Pin", PasswordHash: "x", Role: store.RoleInstructor}
	if err := e.st.CreateUser(ctx, owner); err != nil {
		t.Fatal(err)
	}
	var goodHits, badHits atomic.Int32
	good, bad := tlsAgent(t, pinned, &goodHits), tlsAgent(t, imposter, &badHits)

	relay := func(agentURL, cert string) resp {
		t.Helper()
		w := &store.Workshop{OwnerID: owner.ID, Name: "pinned", Seats: 2, Status: store.StatusRunning,
			DesiredState: store.DesiredRunning, AgentURL: agentURL, AgentToken: "agent-token", AgentCert: cert}
		if err := e.st.CreateWorkshop(ctx, w); err != nil {
			t.Fatal(err)
		}
		tok, _, err := authtoken.Issue(authtoken.WorkshopKey([]byte(e.cfg.WorkspaceTokenSecret), w.ID), w.ID, 1, "learner", e.heldSeat(t, w.ID, 1).Generation, time.Hour, e.clock())
		if err != nil {
			t.Fatal(err)
		}
		return e.call("GET", "/api/workspaces/"+w.ID+"/1/files?path=.", tok, nil)
	}

	if r := relay(good.URL, pinned.CertPEM); r.Status != 200 || !strings.Contains(string(r.Body), "/proxy/") || goodHits.Load() != 1 {
		t.Fatalf("relay to the pinned host: %d %s (hits %d)", r.Status, r.Body, goodHits.Load())
	}
	if r := relay(bad.URL, pinned.CertPEM); r.Status != http.StatusBadGateway || badHits.Load() != 0 {
		t.Fatalf("relay to a host with another certificate: %d %s (hits %d)", r.Status, r.Body, badHits.Load())
	}
	// The same host without a pin (https needs one), or over plaintext to
	// an address that is not loopback: refused without a connection.
	if r := relay(good.URL, ""); r.Status != http.StatusBadGateway || goodHits.Load() != 1 {
		t.Fatalf("relay over unpinned https: %d %s", r.Status, r.Body)
	}
	if r := relay("http://203.0.113.9:9090", ""); r.Status != http.StatusBadGateway {
		t.Fatalf("relay over plaintext to a public address: %d %s", r.Status, r.Body)
	}
}
