package agentclient_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
)

// Plaintext leaves this machine never: http:// is for loopback agents only,
// and https:// needs a pinned certificate.
func TestNoPlaintextOffLoopback(t *testing.T) {
	t.Parallel()
	var dials atomic.Int32
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return nil, &net.OpError{Op: "dial", Net: network}
	}}
	hc := &http.Client{Transport: tr}
	for _, u := range []string{"http://10.0.0.5:9090", "http://203.0.113.7:9090", "http://agent.example.com:9090", "http://[2001:db8::1]:9090"} {
		_, err := agentclient.New(u, "tok", hc).Health(context.Background())
		if err == nil || !strings.Contains(err.Error(), "refusing plaintext") {
			t.Errorf("New(%s): %v, want a plaintext refusal", u, err)
		}
		if err := agentclient.CheckURL(u, false); err == nil {
			t.Errorf("CheckURL(%s) accepted plaintext", u)
		}
	}
	if dials.Load() != 0 {
		t.Fatalf("%d dials for refused plaintext URLs", dials.Load())
	}
	for _, u := range []string{"http://127.0.0.1:9090", "http://[::1]:9090", "http://localhost:9090"} {
		if err := agentclient.CheckURL(u, false); err != nil {
			t.Errorf("CheckURL(%s): %v, loopback is allowed", u, err)
		}
	}
	if err := agentclient.CheckURL("https://203.0.113.7:9090", false); err == nil {
		t.Error("https without a pin accepted")
	}
	if _, err := agentclient.NewPinned("https://203.0.113.7:9090", "tok", "not a certificate", tr).Health(context.Background()); err == nil || dials.Load() != 0 {
		t.Errorf("a bad pin: %v (dials %d)", err, dials.Load())
	}
}
