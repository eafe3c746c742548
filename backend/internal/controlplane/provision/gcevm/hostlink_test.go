package gcevm_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/provision/gcevm"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/seatruntime/process"
	"github.com/clarateach/backend/internal/hostcert"
)

// serveAgent runs the real agent with the given TLS key pair on a loopback
// listener and returns its address.
func serveAgent(t *testing.T, agentToken, certPEM, keyPEM string) string {
	t.Helper()
	dir := t.TempDir()
	rt, err := process.New(process.Config{DaemonCommand: []string{"true"}, BaseDir: filepath.Join(dir, "p"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Listen: "127.0.0.1:0", Token: agentToken, TLSCert: []byte(certPEM), TLSKey: []byte(keyPEM),
		StateDir: filepath.Join(dir, "state"), Runtime: rt, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// toVM is a transport whose every dial goes to addr (the VM's external IP
// stands for a loopback agent; no traffic leaves the machine) and counts.
func toVM(addr string, dials *atomic.Int32) *http.Transport {
	return &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// The control plane makes a key pair per host, hands it to the VM in its
// metadata and pins the certificate: the real client reaches the real
// agent over TLS with that certificate, and refuses a host that presents
// any other one, or plain HTTP.
func TestHostLinkIsPinnedTLS(t *testing.T) {
	t.Parallel()
	p, fake := setup(t, nil)
	ctx := context.Background()
	reqA, reqB := request("tlsa000000000aaa", 3), request("tlsb000000000bbb", 3)
	hostA, err := p.EnsureHost(ctx, reqA)
	if err != nil {
		t.Fatal(err)
	}
	hostB, err := p.EnsureHost(ctx, reqB)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hostA.AgentURL, "https://"+hostA.IP+":9090") {
		t.Fatalf("agent URL %q is not https://IP:9090", hostA.AgentURL)
	}
	mA, mB := fake.InsertRequests()[0].MetadataValues(), fake.InsertRequests()[1].MetadataValues()
	certA, keyA := mA[gcevm.MetaAgentTLSCert], mA[gcevm.MetaAgentTLSKey]
	if certA == "" || keyA == "" || !strings.Contains(keyA, "PRIVATE KEY") {
		t.Fatalf("metadata lacks the TLS key pair: cert %d bytes, key %d bytes", len(certA), len(keyA))
	}
	if hostA.AgentCert != certA {
		t.Fatal("the host's pinned certificate is not the one in its metadata")
	}
	if mB[gcevm.MetaAgentTLSCert] == certA || mB[gcevm.MetaAgentTLSKey] == keyA {
		t.Fatal("two hosts share a TLS key pair")
	}
	c, err := hostcert.Parse(certA)
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicKeyAlgorithm.String() != "ECDSA" || c.DNSNames[0] != hostcert.ServerName {
		t.Errorf("certificate: %s key, names %v", c.PublicKeyAlgorithm, c.DNSNames)
	}
	// GetHost and ListHosts read the pin back from the VM.
	if h, err := p.GetHost(ctx, reqA.WorkshopID); err != nil || h.AgentCert != certA {
		t.Fatalf("GetHost lost the certificate: %v", err)
	}

	// The right host: connected, authenticated, answered.
	var dials atomic.Int32
	good := serveAgent(t, hostA.AgentToken, certA, keyA)
	ep := agentclient.Endpoint{URL: hostA.AgentURL, Token: hostA.AgentToken, CertPEM: hostA.AgentCert}
	h, err := agentclient.Connect(ep, toVM(good, &dials), 5*time.Second).Health(ctx)
	if err != nil || h.Status != "ok" {
		t.Fatalf("pinned client to the right host: %v", err)
	}
	if _, err := agentclient.Connect(ep, toVM(good, &dials), 5*time.Second).ListSeats(ctx); err != nil {
		t.Fatalf("agent token over the pinned link: %v", err)
	}

	// A host with another self-signed certificate, for the same name (an
	// attacker on the path, or another workshop's host): refused.
	other, err := hostcert.Generate("clarateach-fc-ws-tlsa000000000aaa", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2]string{
		"a second self-signed certificate": {other.CertPEM, other.KeyPEM},
		"another workshop's host":          {mB[gcevm.MetaAgentTLSCert], mB[gcevm.MetaAgentTLSKey]},
	} {
		imposter := serveAgent(t, hostA.AgentToken, pair[0], pair[1])
		_, err := agentclient.Connect(ep, toVM(imposter, &dials), 5*time.Second).Health(ctx)
		if err == nil {
			t.Fatalf("%s: the client accepted it", name)
		}
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: error does not say why: %v", name, err)
		}
	}
	// Host B's own pin does not open host A either.
	epB := agentclient.Endpoint{URL: hostB.AgentURL, Token: hostB.AgentToken, CertPEM: hostB.AgentCert}
	if _, err := agentclient.Connect(epB, toVM(good, &dials), 5*time.Second).Health(ctx); err == nil {
		t.Fatal("host B's pin accepted host A")
	}

	// Plain HTTP to the VM's address is refused before anything is sent.
	before := dials.Load()
	plain := agentclient.Connect(agentclient.Endpoint{URL: "http://" + hostA.IP + ":9090", Token: hostA.AgentToken}, toVM(good, &dials), 5*time.Second)
	if _, err := plain.Health(ctx); err == nil || !strings.Contains(err.Error(), "plaintext") {
		t.Fatalf("plain http to %s: %v", hostA.IP, err)
	}
	if dials.Load() != before {
		t.Fatal("the client dialled the host for a plaintext request")
	}
	// An https URL without a pin is no way around it.
	if err := agentclient.CheckURL(hostA.AgentURL, false); err == nil {
		t.Fatal("CheckURL accepted https without a pinned certificate")
	}
}
