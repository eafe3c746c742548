package agent

import (
	"bytes"
	"context"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
)

func TestParseArgs(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"AGENT_LISTEN":           "127.0.0.1:9999",
		"FC_AGENT_TOKEN":         "seed-token",
		"CORS_ORIGINS":           "http://a.example, http://b.example/",
		"AGENT_CAPACITY":         "12",
		"AGENT_WARM_SEATS":       "5",
		"AGENT_SEAT_DISK_MB":     "4096",
		"WORKSPACE_TOKEN_SECRET": "s3cret",
	}
	getenv := func(k string) string { return env[k] }
	o, err := ParseArgs(nil, getenv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Listen != "127.0.0.1:9999" || !o.listenSet || o.Token != "seed-token" || o.Capacity != 12 || o.WarmSeats != 5 || o.SeatDiskMB != 4096 ||
		strings.Join(o.AllowedOrigins, " ") != "http://a.example http://b.example" || o.WorkspaceSecret != "s3cret" ||
		o.Metadata != "auto" || o.MetadataURL != DefaultMetadataURL {
		t.Fatalf("from env: %+v", o)
	}
	// Flags win; AGENT_TOKEN wins over FC_AGENT_TOKEN.
	env["AGENT_TOKEN"] = "agent-token"
	o, err = ParseArgs([]string{"--listen", ":7000", "--capacity", "3", "--warm-seats", "1", "--runtime", "process", "--allowed-origins", "*", "--seat-disk-mb", "-1"}, getenv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Listen != ":7000" || o.Token != "agent-token" || o.Capacity != 3 || o.WarmSeats != 1 || o.Runtime != "process" || o.AllowedOrigins[0] != "*" || o.SeatDiskMB != -1 {
		t.Fatalf("flags: %+v", o)
	}
	o, _ = ParseArgs([]string{"--token", "flag-token"}, getenv, nil)
	if o.Token != "flag-token" {
		t.Fatalf("--token: %+v", o)
	}
	noEnv := func(string) string { return "" }
	// Warm seats default to the capacity, at most 30.
	if o, err := ParseArgs([]string{"--capacity", "4"}, noEnv, nil); err != nil || o.WarmSeats != 4 {
		t.Fatalf("--capacity 4: warm seats %+v %v", o, err)
	}
	if o, err := ParseArgs([]string{"--capacity", "200"}, noEnv, nil); err != nil || o.WarmSeats != 30 {
		t.Fatalf("--capacity 200: warm seats %+v %v", o, err)
	}
	if o, err := ParseArgs([]string{"--warm-seats", "0"}, noEnv, nil); err != nil || o.WarmSeats != 0 {
		t.Fatalf("--warm-seats 0: %+v %v", o, err)
	}
	o, _ = ParseArgs(nil, noEnv, nil)
	if o.Listen != ":9090" || o.listenSet || o.Capacity != 30 || o.Token != "" || o.WarmSeats != 30 || o.SeatDiskMB != 2048 {
		t.Fatalf("defaults: %+v", o)
	}
	for _, bad := range [][]string{
		{"--runtime", "docker"},
		{"--metadata", "maybe"},
		{"--capacity", "0"},
		{"--warm-seats", "-1"},
		{"--seat-disk-mb", "10"},
		{"--seat-disk-mb", "0"},
		{"--capacity", "2", "--warm-seats", "3"},
		{"extra"},
		{"--no-such-flag"},
	} {
		if _, err := ParseArgs(bad, noEnv, &bytes.Buffer{}); err == nil {
			t.Errorf("ParseArgs(%v) succeeded", bad)
		}
	}
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

	build := func(t *testing.T, args []string, env map[string]string, gce bool) (*Agent, error) {
		t.Helper()
		args = append([]string{"--runtime", "process", "--daemon-path", daemonBin, "--state-dir", shortTempDir(t),
			"--metadata-url", srv.URL + "/computeMetadata/v1"}, args...)
		o, err := ParseArgs(args, func(k string) string { return env[k] }, nil)
		if err != nil {
			t.Fatal(err)
		}
		return Build(ctx, o, MainOptions{OnGCE: func() bool { return gce }}, log)
	}

	// --metadata on: both secrets come from the metadata server.
	a, err := build(t, []string{"--metadata", "on", "--listen", "127.0.0.1:0"}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if a.cfg.Token != "md-agent-token" || !bytes.Equal(a.cfg.WorkspaceKey, key) {
		t.Fatalf("token %q key %x", a.cfg.Token, a.cfg.WorkspaceKey)
	}
	// An explicit non-loopback --listen with the process runtime is refused.
	if _, err := build(t, []string{"--metadata", "on", "--listen", ":0"}, nil, false); err == nil {
		t.Fatal("process runtime accepted a non-loopback --listen")
	}

	// auto on GCE behaves like on.
	before := md.count("agent-token")
	a, err = build(t, nil, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if a.cfg.Token != "md-agent-token" || md.count("agent-token") != before+1 {
		t.Fatalf("auto on GCE: token %q", a.cfg.Token)
	}
	// The process runtime rewrote the default listen address to loopback.
	if a.cfg.Listen != "127.0.0.1:9090" {
		t.Fatalf("listen = %q", a.cfg.Listen)
	}

	// auto off GCE: the metadata server is not asked.
	before = md.count("agent-token")
	a, err = build(t, nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if a.cfg.Token != "" || md.count("agent-token") != before {
		t.Fatalf("auto off GCE asked the metadata server (token %q)", a.cfg.Token)
	}

	// The environment wins over metadata, which is then not asked for it.
	before = md.count("agent-token")
	a, err = build(t, []string{"--metadata", "on"}, map[string]string{"AGENT_TOKEN": "env-token", "WORKSPACE_KEY": hex.EncodeToString([]byte("0123456789abcdef"))}, false)
	if err != nil {
		t.Fatal(err)
	}
	if a.cfg.Token != "env-token" || string(a.cfg.WorkspaceKey) != "0123456789abcdef" || md.count("agent-token") != before {
		t.Fatalf("env did not win: token %q key %q", a.cfg.Token, a.cfg.WorkspaceKey)
	}

	// A missing attribute means "not set": dev mode on loopback.
	md.mu.Lock()
	delete(md.attrs, "agent-token")
	md.mu.Unlock()
	a, err = build(t, []string{"--metadata", "on", "--listen", "127.0.0.1:0"}, nil, false)
	if err != nil || a.cfg.Token != "" || !a.devMode {
		t.Fatalf("missing attribute: %v token %q", err, a.cfg.Token)
	}

	// An unreachable metadata server with --metadata on is an error.
	o, _ := ParseArgs([]string{"--runtime", "process", "--daemon-path", daemonBin, "--state-dir", shortTempDir(t),
		"--metadata", "on", "--metadata-url", "http://127.0.0.1:1/computeMetadata/v1"}, func(string) string { return "" }, nil)
	if _, err := Build(ctx, o, MainOptions{}, log); err == nil || !strings.Contains(err.Error(), "metadata") {
		t.Fatalf("unreachable metadata: %v", err)
	}

	// A bad workspace key is refused.
	if _, err := build(t, nil, map[string]string{"WORKSPACE_KEY": "zz"}, false); err == nil {
		t.Fatal("bad WORKSPACE_KEY accepted")
	}
}

func TestBuildRuntimes(t *testing.T) {
	t.Parallel()
	log := quietLog
	noEnv := func(string) string { return "" }
	o, _ := ParseArgs([]string{"--runtime", "process", "--daemon-path", "/nonexistent/daemon", "--state-dir", shortTempDir(t)}, noEnv, nil)
	if _, err := Build(context.Background(), o, MainOptions{}, log); err == nil || !strings.Contains(err.Error(), "daemon-path") {
		t.Fatalf("missing daemon: %v", err)
	}
	if _, err := NewRuntime("docker", RuntimeOptions{}); err == nil {
		t.Fatal("unknown runtime accepted")
	}
}

// TestSeatOrphanTimeoutOption: seats end 24 h after their agent is gone by
// default; AGENT_SEAT_ORPHAN_TIMEOUT and --seat-orphan-timeout change it,
// 0 turns it off, and a timeout an agent restart could hit is refused.
func TestSeatOrphanTimeoutOption(t *testing.T) {
	t.Parallel()
	noEnv := func(string) string { return "" }
	if o, err := ParseArgs(nil, noEnv, nil); err != nil || o.SeatOrphanTimeout != 24*time.Hour {
		t.Fatalf("default: %v %v", o.SeatOrphanTimeout, err)
	}
	env := func(k string) string {
		if k == "AGENT_SEAT_ORPHAN_TIMEOUT" {
			return "2h"
		}
		return ""
	}
	if o, err := ParseArgs(nil, env, nil); err != nil || o.SeatOrphanTimeout != 2*time.Hour {
		t.Fatalf("env: %v %v", o.SeatOrphanTimeout, err)
	}
	if o, err := ParseArgs([]string{"--seat-orphan-timeout", "0"}, env, nil); err != nil || o.SeatOrphanTimeout != 0 {
		t.Fatalf("flag 0: %v %v", o.SeatOrphanTimeout, err)
	}
	for _, bad := range []string{"10s", "-1h"} {
		if _, err := ParseArgs([]string{"--seat-orphan-timeout", bad}, noEnv, nil); err == nil {
			t.Errorf("--seat-orphan-timeout %s accepted", bad)
		}
	}
	if _, err := ParseArgs(nil, func(k string) string {
		if k == "AGENT_SEAT_ORPHAN_TIMEOUT" {
			return "soon"
		}
		return ""
	}, nil); err == nil {
		t.Error("AGENT_SEAT_ORPHAN_TIMEOUT=soon accepted")
	}
}
