package agent

import (
	"context"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/hostcert"
)

// isolatingRuntime stands in for the sandbox runtime (the process runtime
// is loopback-only anyway); it never has seats.
type isolatingRuntime struct{}

func (isolatingRuntime) Name() string { return "sandbox" }
func (isolatingRuntime) Create(context.Context, seatruntime.Spec) (*seatruntime.Seat, error) {
	return nil, context.Canceled
}
func (isolatingRuntime) Alive(context.Context, *seatruntime.Seat) bool    { return false }
func (isolatingRuntime) Destroy(context.Context, *seatruntime.Seat) error { return nil }

func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	pair, err := hostcert.Generate("h", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		listen    string
		cert, key string
		wantErr   string
	}{
		{":9090", "", "", "refusing to serve plain HTTP"},
		{"0.0.0.0:9090", "", "", "refusing to serve plain HTTP"},
		{"10.1.2.3:9090", "", "", "agent-tls-cert"},
		{":9090", pair.CertPEM, "", "needs its key"},
		{":9090", pair.CertPEM, "not a key", "key pair"},
		{":9090", pair.CertPEM, pair.KeyPEM, ""},
		{"127.0.0.1:9090", "", "", ""},
		{"[::1]:9090", pair.CertPEM, pair.KeyPEM, ""},
	} {
		_, err := New(Config{Listen: tc.listen, Token: "tok", TLSCert: []byte(tc.cert), TLSKey: []byte(tc.key),
			StateDir: shortTempDir(t), Runtime: isolatingRuntime{}, Logger: quietLog})
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("New(listen=%q, tls=%v) = %v, want success", tc.listen, tc.cert != "", err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("New(listen=%q, tls=%v) = %v, want error containing %q", tc.listen, tc.cert != "", err, tc.wantErr)
		}
	}
}

// On a workshop VM the key pair comes from the instance metadata (or files
// named by AGENT_TLS_CERT/AGENT_TLS_KEY), and the agent then serves TLS
// that the pinned client accepts and any other pin refuses.
func TestBuildServesTLSFromMetadataOrFiles(t *testing.T) {
	t.Parallel()
	pair, err := hostcert.Generate("h", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	other, err := hostcert.Generate("h", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	md := &fakeMetadata{attrs: map[string]string{"agent-token": "md-token-0123456789abcdef",
		"agent-tls-cert": pair.CertPEM, "agent-tls-key": pair.KeyPEM}, asked: map[string]int{}}
	mdSrv := httptest.NewServer(md)
	t.Cleanup(mdSrv.Close)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, []byte(pair.CertPEM), 0o600)
	os.WriteFile(keyFile, []byte(pair.KeyPEM), 0o600)

	for name, env := range map[string]map[string]string{
		"metadata": {"AGENT_METADATA": "on", "AGENT_METADATA_URL": mdSrv.URL + "/computeMetadata/v1"},
		"files":    {"AGENT_TOKEN": "md-token-0123456789abcdef", "AGENT_TLS_CERT": certFile, "AGENT_TLS_KEY": keyFile},
	} {
		t.Run(name, func(t *testing.T) {
			args := []string{"--runtime", "process", "--daemon-path", daemonBin, "--state-dir", shortTempDir(t), "--listen", "127.0.0.1:0"}
			o, err := ParseArgs(args, func(k string) string { return env[k] }, nil)
			if err != nil {
				t.Fatal(err)
			}
			a, err := Build(context.Background(), o, MainOptions{OnGCE: func() bool { return false }}, quietLog)
			if err != nil {
				t.Fatal(err)
			}
			if a.tls == nil {
				t.Fatal("the agent does not serve TLS")
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.Serve(ctx, ln) }()
			t.Cleanup(func() { cancel(); <-done })
			url := "https://" + ln.Addr().String()
			if _, err := agentclient.NewPinned(url, "md-token-0123456789abcdef", pair.CertPEM, nil).ListSeats(context.Background()); err != nil {
				t.Fatalf("pinned client: %v", err)
			}
			if _, err := agentclient.NewPinned(url, "md-token-0123456789abcdef", other.CertPEM, nil).Health(context.Background()); err == nil {
				t.Fatal("a client pinning another certificate was served")
			}
		})
	}
	if md.count("agent-tls-key") != 1 {
		t.Errorf("metadata agent-tls-key read %d times, want 1 (files win)", md.count("agent-tls-key"))
	}
}
