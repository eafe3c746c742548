package agentcmd

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/host/seatruntime/process"
	"github.com/clarateach/backend/internal/hostcert"
	"github.com/clarateach/backend/internal/testbin"
)

// daemonBin is the workspace daemon, built once for the package's tests.
var daemonBin string

func TestMain(m *testing.M) {
	os.Exit(testbin.Run(m,
		testbin.Binary{Path: &daemonBin, Name: process.Name + "-" + agent.DaemonBinaryName, Pkg: "github.com/clarateach/backend/cmd/workspace"},
	))
}

// quietLog drops logs; run with CLARATEACH_TEST_LOG=1 to see them.
var quietLog = func() *slog.Logger {
	if os.Getenv("CLARATEACH_TEST_LOG") != "" {
		return slog.Default()
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}()

// shortTempDir is a temp dir with a short path (unix socket paths are
// limited to ~104 bytes), removed after the test.
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "agt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// setUp runs build's steps and returns the agent's Config with the agent.
func setUp(ctx context.Context, o *options, mo MainOptions) (agent.Config, *agent.Agent, error) {
	var undo cleanups
	cfg, err := configure(ctx, o, mo, quietLog, &undo)
	if err != nil {
		undo.run()
		return cfg, nil, err
	}
	a, err := agent.New(cfg)
	if err != nil {
		undo.run()
	}
	return cfg, a, err
}

// fakeMetadata is a GCE metadata server that insists on Metadata-Flavor.
type fakeMetadata struct {
	mu    sync.Mutex
	attrs map[string]string
	asked map[string]int
}

func (f *fakeMetadata) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Metadata-Flavor") != "Google" {
		http.Error(w, "missing Metadata-Flavor", http.StatusForbidden)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/computeMetadata/v1/instance/attributes/")
	f.mu.Lock()
	f.asked[name]++
	v, found := f.attrs[name]
	f.mu.Unlock()
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Metadata-Flavor", "Google")
	w.Write([]byte(v))
}

func (f *fakeMetadata) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked[name]
}

func TestBuildReadsSecretsFromMetadata(t *testing.T) {
	t.Parallel()
	key := authtoken.WorkshopKey([]byte("root"), "wsmeta")
	md := &fakeMetadata{
		attrs: map[string]string{"agent-token": "md-agent-token\n", "workspace-key": hex.EncodeToString(key)},
		asked: map[string]int{},
	}
	srv := httptest.NewServer(md)
	t.Cleanup(srv.Close)
	log := quietLog
	ctx := context.Background()

	try := func(t *testing.T, args []string, env map[string]string, gce bool) (agent.Config, error) {
		t.Helper()
		args = append([]string{"--runtime", "process", "--daemon-path", daemonBin, "--state-dir", shortTempDir(t),
			"--metadata-url", srv.URL + "/computeMetadata/v1"}, args...)
		o, err := parseArgs(args, func(k string) string { return env[k] }, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _, err := setUp(ctx, o, MainOptions{OnGCE: func() bool { return gce }})
		return cfg, err
	}

	// --metadata on: both secrets come from the metadata server.
	cfg, err := try(t, []string{"--metadata", "on", "--listen", "127.0.0.1:0"}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Token != "md-agent-token" || !bytes.Equal(cfg.WorkspaceKey, key) {
		t.Fatalf("token %q key %x", cfg.Token, cfg.WorkspaceKey)
	}
	// An explicit non-loopback --listen with the process runtime is refused.
	if _, err := try(t, []string{"--metadata", "on", "--listen", ":0"}, nil, false); err == nil {
		t.Fatal("process runtime accepted a non-loopback --listen")
	}

	// auto on GCE behaves like on.
	before := md.count("agent-token")
	cfg, err = try(t, nil, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Token != "md-agent-token" || md.count("agent-token") != before+1 {
		t.Fatalf("auto on GCE: token %q", cfg.Token)
	}
	// The process runtime rewrote the default listen address to loopback.
	if cfg.Listen != "127.0.0.1:9090" {
		t.Fatalf("listen = %q", cfg.Listen)
	}

	// auto off GCE: the metadata server is not asked.
	before = md.count("agent-token")
	cfg, err = try(t, nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Token != "" || md.count("agent-token") != before {
		t.Fatalf("auto off GCE asked the metadata server (token %q)", cfg.Token)
	}

	// The environment wins over metadata, which is then not asked for it.
	before = md.count("agent-token")
	cfg, err = try(t, []string{"--metadata", "on"}, map[string]string{"AGENT_TOKEN": "env-token", "WORKSPACE_KEY": hex.EncodeToString([]byte("0123456789abcdef"))}, false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Token != "env-token" || string(cfg.WorkspaceKey) != "0123456789abcdef" || md.count("agent-token") != before {
		t.Fatalf("env did not win: token %q key %q", cfg.Token, cfg.WorkspaceKey)
	}

	// A missing attribute means "not set": dev mode on loopback.
	md.mu.Lock()
	delete(md.attrs, "agent-token")
	md.mu.Unlock()
	cfg, err = try(t, []string{"--metadata", "on", "--listen", "127.0.0.1:0"}, nil, false)
	if err != nil || cfg.Token != "" /* dev mode */ {
		t.Fatalf("missing attribute: %v token %q", err, cfg.Token)
	}

	// An unreachable metadata server with --metadata on is an error.
	o, _ := parseArgs([]string{"--runtime", "process", "--daemon-path", daemonBin, "--state-dir", shortTempDir(t),
		"--metadata", "on", "--metadata-url", "http://127.0.0.1:1/computeMetadata/v1"}, func(string) string { return "" }, nil)
	if _, err := build(ctx, o, MainOptions{}, log); err == nil || !strings.Contains(err.Error(), "metadata") {
		t.Fatalf("unreachable metadata: %v", err)
	}

	// A bad workspace key is refused.
	if _, err := try(t, nil, map[string]string{"WORKSPACE_KEY": "zz"}, false); err == nil {
		t.Fatal("bad WORKSPACE_KEY accepted")
	}
}

func TestBuildRuntimes(t *testing.T) {
	t.Parallel()
	log := quietLog
	noEnv := func(string) string { return "" }
	o, _ := parseArgs([]string{"--runtime", "process", "--daemon-path", "/nonexistent/daemon", "--state-dir", shortTempDir(t)}, noEnv, nil)
	if _, err := build(context.Background(), o, MainOptions{}, log); err == nil || !strings.Contains(err.Error(), "daemon-path") {
		t.Fatalf("missing daemon: %v", err)
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
			o, err := parseArgs(args, func(k string) string { return env[k] }, nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg, a, err := setUp(context.Background(), o, MainOptions{OnGCE: func() bool { return false }})
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.TLSCert) == 0 || len(cfg.TLSKey) == 0 {
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

func TestCleanupsRunNewestFirst(t *testing.T) {
	t.Parallel()
	var got []int
	var c cleanups
	for i := range 3 {
		c.push(func() { got = append(got, i) })
	}
	c.run()
	if len(got) != 3 || got[0] != 2 || got[1] != 1 || got[2] != 0 {
		t.Fatalf("undo order %v, want [2 1 0]", got)
	}
}

// closingRuntime is a seat runtime that records its Close, as the sandbox
// does (Close removes its warm seats).
type closingRuntime struct {
	mu     sync.Mutex
	closed int
}

func (*closingRuntime) Name() string { return "sandbox" }
func (*closingRuntime) Create(context.Context, seatruntime.Spec) (*seatruntime.Seat, error) {
	return nil, errors.New("no seats")
}
func (*closingRuntime) Alive(context.Context, *seatruntime.Seat) bool    { return false }
func (*closingRuntime) Destroy(context.Context, *seatruntime.Seat) error { return nil }
func (r *closingRuntime) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed++
	return nil
}

// A set-up step that fails after the runtime is built closes the runtime,
// so the sandbox's warm seats do not outlive an agent that never started;
// a set-up that succeeds leaves the runtime to the agent.
//
// Not parallel: it replaces chooseRuntime.
func TestFailedSetUpClosesRuntime(t *testing.T) {
	rt := &closingRuntime{}
	saved := chooseRuntime
	chooseRuntime = func(string, agent.RuntimeOptions) (seatruntime.Runtime, string, error) {
		return rt, "process-like", nil
	}
	t.Cleanup(func() { chooseRuntime = saved })
	noEnv := func(string) string { return "" }
	mo := MainOptions{OnGCE: func() bool { return false }}

	// No agent token on an address other machines reach: agent.New refuses.
	o, err := parseArgs([]string{"--daemon-path", daemonBin, "--state-dir", shortTempDir(t), "--listen", "0.0.0.0:0"}, noEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := build(context.Background(), o, mo, quietLog); err == nil {
		t.Fatal("an agent without a token was built on 0.0.0.0")
	}
	if rt.closed != 1 {
		t.Fatalf("runtime closed %d times after a failed set-up, want 1", rt.closed)
	}

	o, err = parseArgs([]string{"--daemon-path", daemonBin, "--state-dir", shortTempDir(t), "--listen", "127.0.0.1:0"}, noEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := build(context.Background(), o, mo, quietLog); err != nil {
		t.Fatal(err)
	}
	if rt.closed != 1 {
		t.Fatalf("a built agent's runtime was closed (%d)", rt.closed)
	}
}
