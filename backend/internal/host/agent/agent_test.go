package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/testbin"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/host/agentapi"
	"github.com/clarateach/backend/internal/host/seatruntime/process"
	"github.com/clarateach/backend/internal/seat/terminal"
)

// Binaries built once for the package's tests.
var (
	daemonBin string // the workspace daemon
	agentBin  string // cmd/agent, for the restart test
	pid1Bin   string // clarateach-seat-pid1 (seatpid1, C)
)

func TestMain(m *testing.M) {
	os.Exit(testbin.Run(m,
		testbin.Binary{Path: &daemonBin, Name: process.Name + "-" + DaemonBinaryName, Pkg: "github.com/clarateach/backend/cmd/workspace"},
		testbin.Binary{Path: &agentBin, Name: "agent", Pkg: "github.com/clarateach/backend/cmd/agent"},
		// Beside the daemon, so sandbox seats get the C init as in bin/.
		testbin.SeatPID1(&pid1Bin),
	))
}

// quietLog drops logs; run with CLARATEACH_TEST_LOG=1 to see them.
var quietLog = func() *slog.Logger {
	if os.Getenv("CLARATEACH_TEST_LOG") != "" {
		return slog.Default()
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}()

const (
	testToken  = "test-agent-token-0123456789"
	testSecret = "test-workspace-secret"
)

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

type testAgent struct {
	*Agent
	srv   *httptest.Server
	state string
	rt    *process.Runtime
}

// newTestAgent starts an agent with the process runtime on an httptest
// server. mod may change the config before New. Seats left at the end are
// destroyed.
func newTestAgent(t *testing.T, state string, mod func(*Config)) *testAgent {
	t.Helper()
	if state == "" {
		state = shortTempDir(t)
	}
	rt, err := process.New(process.Config{DaemonCommand: []string{daemonBin}, BaseDir: filepath.Join(state, "process"), Shell: "/bin/sh", Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Listen:          "127.0.0.1:0",
		Token:           testToken,
		StateDir:        state,
		Runtime:         rt,
		Capacity:        5,
		AllowedOrigins:  []string{"http://localhost:5173"},
		WorkspaceSecret: []byte(testSecret),
		Logger:          quietLog,
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	ta := &testAgent{Agent: a, srv: srv, state: state, rt: rt}
	return ta
}

// destroyAllOnCleanup deletes every seat of ta when the test ends.
func (ta *testAgent) destroyAllOnCleanup(t *testing.T) {
	t.Cleanup(func() {
		for _, ref := range ta.snapshot() {
			_ = ta.DeleteSeat(context.Background(), ref.seat.WorkshopID, ref.seat.Seat)
		}
	})
}

func (ta *testAgent) client() *agentclient.Client {
	return agentclient.New(ta.srv.URL, testToken, ta.srv.Client())
}

// do sends a request with the agent token (if tok is not empty).
func do(t *testing.T, method, url, tok string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			js, _ := json.Marshal(b)
			rd = bytes.NewReader(js)
		}
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// learnerToken issues a workspace token for a seat at token generation gen.
func learnerToken(t *testing.T, ws string, seat int, role string, gen int64) string {
	t.Helper()
	tok, _, err := authtoken.Issue(authtoken.WorkshopKey([]byte(testSecret), ws), ws, seat, role, gen, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestDevModeOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	state := shortTempDir(t)
	rt, err := process.New(process.Config{DaemonCommand: []string{daemonBin}, BaseDir: filepath.Join(state, "p"), Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		listen, token string
		wantErr       string
	}{
		{":9090", "", "refusing to start without an agent token"},
		{"0.0.0.0:9090", "", "refusing to start without an agent token"},
		{"10.1.2.3:9090", "", "listen on loopback only"},
		{"127.0.0.1:9090", "", ""},
		{"[::1]:9090", "", ""},
		{"localhost:9090", "", ""},
		// With a token, the process runtime is still loopback only.
		{":9090", "tok", "process runtime does not isolate seats"},
		{"127.0.0.1:9090", "tok", ""},
	}
	for _, tt := range tests {
		_, err := New(Config{Listen: tt.listen, Token: tt.token, StateDir: state, Runtime: rt, Logger: quietLog})
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("New(listen=%q, token=%q) = %v, want success", tt.listen, tt.token, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("New(listen=%q, token=%q) = %v, want error containing %q", tt.listen, tt.token, err, tt.wantErr)
		}
	}
	// The error says how to fix it.
	_, err = New(Config{Listen: ":9090", StateDir: state, Runtime: rt, Logger: quietLog})
	if err == nil || !strings.Contains(err.Error(), "AGENT_TOKEN") || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("error does not explain the fix: %v", err)
	}
}

func TestHealthAndAuth(t *testing.T) {
	t.Parallel()
	ta := newTestAgent(t, "", nil)
	ta.destroyAllOnCleanup(t)

	resp, body := do(t, "GET", ta.srv.URL+"/health", "", nil)
	var h agentclient.Health
	if err := json.Unmarshal(body, &h); err != nil || resp.StatusCode != 200 {
		t.Fatalf("health = %d %s", resp.StatusCode, body)
	}
	if h.Status != "ok" || h.VMCount != 0 || h.Capacity != 5 || h.Runtime != "process" || h.Version == "" || h.UptimeSeconds < 0 {
		t.Fatalf("health = %+v", h)
	}

	routes := []struct{ method, path string }{
		{"GET", "/vms"},
		{"GET", "/vms/"},
		{"POST", "/vms/"},
		{"POST", "/vms"},
		{"GET", "/vms/ws1/1"},
		{"DELETE", "/vms/ws1/1"},
		{"POST", "/vms/ws1/1/disconnect"},
		{"GET", "/metrics"},
	}
	for _, r := range routes {
		for _, tok := range []string{"", "wrong", testToken + "x", strings.ToUpper(testToken)} {
			resp, body := do(t, r.method, ta.srv.URL+r.path, tok, nil)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"unauthorized"`) {
				t.Errorf("%s %s with token %q = %d %s, want 401", r.method, r.path, tok, resp.StatusCode, body)
			}
		}
	}
	resp, _ = do(t, "GET", ta.srv.URL+"/vms", testToken, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /vms with the token = %d", resp.StatusCode)
	}
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	ta := newTestAgent(t, "", nil)
	tests := []struct {
		name string
		body any
		want int
	}{
		{"empty body", "", 400},
		{"not json", "{", 400},
		{"unknown field", `{"workshop_id":"ws","seat_id":1,"x":1}`, 400},
		{"no workshop", map[string]any{"seat_id": 1}, 400},
		{"bad workshop chars", map[string]any{"workshop_id": "../etc", "seat_id": 1}, 400},
		{"workshop with slash", map[string]any{"workshop_id": "a/b", "seat_id": 1}, 400},
		{"workshop starts with dash", map[string]any{"workshop_id": "-ab", "seat_id": 1}, 400},
		{"workshop too long", map[string]any{"workshop_id": strings.Repeat("a", 65), "seat_id": 1}, 400},
		{"seat 0", map[string]any{"workshop_id": "ws", "seat_id": 0}, 400},
		{"seat negative", map[string]any{"workshop_id": "ws", "seat_id": -2}, 400},
		{"seat past the largest workshop", map[string]any{"workshop_id": "ws", "seat_id": agentapi.MaxSeatID + 1}, 400},
		{"seat not a number", `{"workshop_id":"ws","seat_id":"1"}`, 400},
		{"vcpus negative", map[string]any{"workshop_id": "ws", "seat_id": 1, "vcpus": -1}, 400},
		{"vcpus too many", map[string]any{"workshop_id": "ws", "seat_id": 1, "vcpus": 1000}, 400},
		{"memory too small", map[string]any{"workshop_id": "ws", "seat_id": 1, "memory_mb": 1}, 400},
		{"memory too big", map[string]any{"workshop_id": "ws", "seat_id": 1, "memory_mb": 1 << 30}, 400},
		{"disk too small", map[string]any{"workshop_id": "ws", "seat_id": 1, "disk_mb": 1}, 400},
		{"disk too big", map[string]any{"workshop_id": "ws", "seat_id": 1, "disk_mb": 1 << 30}, 400},
		{"disk negative", map[string]any{"workshop_id": "ws", "seat_id": 1, "disk_mb": -1}, 400},
		{"egress rule not an address", map[string]any{"workshop_id": "ws", "seat_id": 1, "egress_allow": []string{"lab-server"}}, 400},
		{"egress rule wider than /8", map[string]any{"workshop_id": "ws", "seat_id": 1, "egress_allow": []string{"0.0.0.0/0"}}, 400},
		{"huge body", `{"workshop_id":"` + strings.Repeat("a", 100<<10) + `"}`, 413},
	}
	for _, tt := range tests {
		resp, body := do(t, "POST", ta.srv.URL+"/vms/", testToken, tt.body)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d %s, want %d", tt.name, resp.StatusCode, body, tt.want)
		}
	}
	for _, p := range []string{"/vms/-x/1", "/vms/ws/abc", "/vms/ws/0", "/vms/ws/1001"} {
		if resp, body := do(t, "GET", ta.srv.URL+p, testToken, nil); resp.StatusCode != 400 {
			t.Errorf("GET %s = %d %s, want 400", p, resp.StatusCode, body)
		}
	}
	if len(ta.snapshot()) != 0 {
		t.Fatal("an invalid request created a seat")
	}
}

func TestCreateIdempotentAndConcurrent(t *testing.T) {
	t.Parallel()
	ta := newTestAgent(t, "", nil)
	ta.destroyAllOnCleanup(t)
	c := ta.client()
	ctx := context.Background()

	const n = 6
	type result struct {
		seat    *agentclient.Seat
		created bool
		err     error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, created, err := c.CreateSeat(ctx, "wsc", 2, agentclient.SeatOptions{VCPUs: 2, MemoryMB: 512})
			results[i] = result{s, created, err}
		}()
	}
	wg.Wait()
	created := 0
	for _, r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.created {
			created++
		}
		if r.seat.PID != results[0].seat.PID || r.seat.Status != "running" {
			t.Fatalf("concurrent creates returned different seats: %+v vs %+v", r.seat, results[0].seat)
		}
	}
	if created != 1 {
		t.Fatalf("%d of %d concurrent creates said 201, want exactly 1", created, n)
	}
	s := results[0].seat
	if s.WorkshopID != "wsc" || s.Seat != 2 || s.VCPUs != 2 || s.MemoryMB != 512 || s.Runtime != "process" {
		t.Fatalf("seat = %+v", s)
	}
	// The seed's curl, repeated: 200 and the same seat.
	resp, body := do(t, "POST", ta.srv.URL+"/vms/", testToken, `{"workshop_id":"wsc","seat_id":2}`)
	var again agentclient.Seat
	_ = json.Unmarshal(body, &again)
	if resp.StatusCode != 200 || again.PID != s.PID {
		t.Fatalf("repeat POST = %d %s", resp.StatusCode, body)
	}
	// The seat file is on disk.
	if _, err := os.Stat(filepath.Join(ta.state, "seats", "wsc.2.json")); err != nil {
		t.Fatal(err)
	}
	h, err := c.Health(ctx)
	if err != nil || h.VMCount != 1 {
		t.Fatalf("health = %+v, %v", h, err)
	}
}

// The API's seat is the wire type: the runtime's host details (the seat's
// directory, its daemon's address, runtime-private state) stay in the
// agent's seat file and never reach the control plane.
func TestSeatAnswerKeepsHostDetailsOnTheHost(t *testing.T) {
	t.Parallel()
	ta := newTestAgent(t, "", nil)
	ta.destroyAllOnCleanup(t)
	if _, _, err := ta.client().CreateSeat(context.Background(), "wsh", 1, agentclient.SeatOptions{}); err != nil {
		t.Fatal(err)
	}
	keys := func(b []byte) map[string]bool {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		out := map[string]bool{}
		for k := range m {
			out[k] = true
		}
		return out
	}
	resp, body := do(t, "GET", ta.srv.URL+"/vms/wsh/1", testToken, "")
	if resp.StatusCode != 200 {
		t.Fatalf("GET seat = %d %s", resp.StatusCode, body)
	}
	for _, k := range []string{"dir", "extra", "network", "address", "ip"} {
		if keys(body)[k] {
			t.Errorf("the seat's answer carries %q: %s", k, body)
		}
	}
	file, err := os.ReadFile(filepath.Join(ta.state, "seats", "wsh.1.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"workshop_id", "seat_id", "runtime", "network", "address", "dir", "created_at"} {
		if !keys(file)[k] {
			t.Errorf("the seat file lacks %q: %s", k, file)
		}
	}
}

func TestCapacity(t *testing.T) {
	t.Parallel()
	ta := newTestAgent(t, "", func(c *Config) { c.Capacity = 2 })
	ta.destroyAllOnCleanup(t)
	c := ta.client()
	ctx := context.Background()
	for i := 1; i <= 2; i++ {
		if _, _, err := c.CreateSeat(ctx, "wscap", i, agentclient.SeatOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := c.CreateSeat(ctx, "other", 1, agentclient.SeatOptions{})
	if !agentclient.IsCapacity(err) {
		t.Fatalf("third seat: %v, want 503", err)
	}
	var ae *agentclient.Error
	if !errors.As(err, &ae) || ae.Code != "unavailable" {
		t.Fatalf("error = %#v", err)
	}
	// An existing seat is still returned on a full host.
	if _, created, err := c.CreateSeat(ctx, "wscap", 1, agentclient.SeatOptions{}); err != nil || created {
		t.Fatalf("existing seat on a full host: created=%v err=%v", created, err)
	}
	// Freeing a seat makes room.
	if err := c.DeleteSeat(ctx, "wscap", 2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CreateSeat(ctx, "other", 1, agentclient.SeatOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A multi-host workshop's host 2 (30 seats per host) is asked for the
// workshop's seats 31..60: the agent bounds how many seats it holds, not
// their numbers.
func TestSeatNumbersBeyondCapacity(t *testing.T) {
	t.Parallel()
	ta := newTestAgent(t, "", func(c *Config) { c.Capacity = 2 })
	ta.destroyAllOnCleanup(t)
	c := ta.client()
	ctx := context.Background()
	for _, n := range []int{31, 60} {
		s, _, err := c.CreateSeat(ctx, "wshost2", n, agentclient.SeatOptions{})
		if err != nil {
			t.Fatalf("seat %d on a host of capacity 2: %v", n, err)
		}
		if s.Seat != n {
			t.Fatalf("seat %d came back as %d", n, s.Seat)
		}
		if got, err := c.GetSeat(ctx, "wshost2", n); err != nil || got.Seat != n {
			t.Fatalf("get seat %d = %+v, %v", n, got, err)
		}
	}
	if _, _, err := c.CreateSeat(ctx, "wshost2", 45, agentclient.SeatOptions{}); !agentclient.IsCapacity(err) {
		t.Fatalf("a third seat on a host of capacity 2: %v, want capacity", err)
	}
	for _, n := range []int{0, agentapi.MaxSeatID + 1} {
		_, _, err := c.CreateSeat(ctx, "wshost2", n, agentclient.SeatOptions{})
		var ae *agentclient.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
			t.Fatalf("seat %d: %v, want 400", n, err)
		}
	}
}

func TestGetListDeleteAndDeadSeat(t *testing.T) {
	t.Parallel()
	ta := newTestAgent(t, "", nil)
	ta.destroyAllOnCleanup(t)
	c := ta.client()
	ctx := context.Background()

	if _, err := c.GetSeat(ctx, "wsg", 1); !agentclient.IsNotFound(err) {
		t.Fatalf("get before create: %v", err)
	}
	s1, _, err := c.CreateSeat(ctx, "wsg", 1, agentclient.SeatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CreateSeat(ctx, "wsg", 3, agentclient.SeatOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetSeat(ctx, "wsg", 1)
	if err != nil || got.PID != s1.PID || got.Status != "running" {
		t.Fatalf("get = %+v, %v", got, err)
	}
	list, err := c.ListSeats(ctx)
	if err != nil || len(list) != 2 || list[0].Seat != 1 || list[1].Seat != 3 {
		t.Fatalf("list = %+v, %v", list, err)
	}

	// Kill seat 1's daemon: it shows as dead, health stops counting it, and
	// POST replaces it.
	if err := syscall.Kill(s1.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "seat 1 reported dead", func() bool {
		g, err := c.GetSeat(ctx, "wsg", 1)
		return err == nil && g.Status == "dead"
	})
	waitFor(t, "health to count 1 seat", func() bool {
		h, err := c.Health(ctx)
		return err == nil && h.VMCount == 1
	})
	s1b, created, err := c.CreateSeat(ctx, "wsg", 1, agentclient.SeatOptions{})
	if err != nil || !created || s1b.PID == s1.PID {
		t.Fatalf("recreate dead seat: %+v created=%v %v", s1b, created, err)
	}

	// DELETE is idempotent and kills the daemon.
	for range 2 {
		if resp, body := do(t, "DELETE", ta.srv.URL+"/vms/wsg/1", testToken, nil); resp.StatusCode != 204 {
			t.Fatalf("delete = %d %s", resp.StatusCode, body)
		}
	}
	if _, err := c.GetSeat(ctx, "wsg", 1); !agentclient.IsNotFound(err) {
		t.Fatalf("get after delete: %v", err)
	}
	if syscall.Kill(s1b.PID, 0) == nil && !isZombie(s1b.PID) {
		t.Fatalf("daemon %d survived DELETE", s1b.PID)
	}
	if _, err := os.Stat(filepath.Join(ta.state, "seats", "wsg.1.json")); !os.IsNotExist(err) {
		t.Fatalf("seat file left after delete: %v", err)
	}
	if resp, _ := do(t, "DELETE", ta.srv.URL+"/vms/never/2", testToken, nil); resp.StatusCode != 204 {
		t.Fatalf("delete of a seat that never existed = %d", resp.StatusCode)
	}
}

func TestReattachAfterRestart(t *testing.T) {
	t.Parallel()
	state := shortTempDir(t)
	a1 := newTestAgent(t, state, nil)
	c1 := a1.client()
	ctx := context.Background()
	live, _, err := c1.CreateSeat(ctx, "wsr", 1, agentclient.SeatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dead, _, err := c1.CreateSeat(ctx, "wsr", 2, agentclient.SeatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(live.PID, syscall.SIGKILL); _ = syscall.Kill(dead.PID, syscall.SIGKILL) })
	// Seat 2 dies while no agent watches; a stray temp file and a corrupt
	// file are in the state dir.
	if err := os.WriteFile(filepath.Join(state, "process", "wsr", "2", "home", "work.txt"), []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(dead.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "seat 2's daemon to die", func() bool { return syscall.Kill(dead.PID, 0) != nil || isZombie(dead.PID) })
	os.WriteFile(filepath.Join(state, "seats", ".tmp-wsr.3.json-123"), []byte("{"), 0o600)
	os.WriteFile(filepath.Join(state, "seats", "junk.4.json"), []byte("not json"), 0o600)

	a2 := newTestAgent(t, state, nil)
	a2.destroyAllOnCleanup(t)
	c2 := a2.client()
	list, err := c2.ListSeats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Seat != 1 || list[0].PID != live.PID || list[0].Status != "running" {
		t.Fatalf("after restart: %+v", list)
	}
	if _, err := os.Stat(filepath.Join(state, "seats", "wsr.2.json")); !os.IsNotExist(err) {
		t.Fatalf("dead seat's file kept: %v", err)
	}
	// Only its processes were gone: its home stays for its next start.
	if b, err := os.ReadFile(filepath.Join(state, "process", "wsr", "2", "home", "work.txt")); err != nil || string(b) != "kept" {
		t.Fatalf("dead seat's home: %q %v", b, err)
	}
	if homes, err := c2.ListHomes(ctx); err != nil || len(homes) != 2 {
		t.Fatalf("homes after restart = %v, %v", homes, err)
	}
	if _, err := os.Stat(filepath.Join(state, "seats", ".tmp-wsr.3.json-123")); !os.IsNotExist(err) {
		t.Fatal("temp file kept")
	}
	if _, err := os.Stat(filepath.Join(state, "seats", "junk.4.json.bad")); err != nil {
		t.Fatal("corrupt file not moved aside")
	}
	if h, _ := c2.Health(ctx); h.VMCount != 1 {
		t.Fatalf("health after restart = %+v", h)
	}
	// Idempotent create after restart returns the reattached seat.
	s, created, err := c2.CreateSeat(ctx, "wsr", 1, agentclient.SeatOptions{})
	if err != nil || created || s.PID != live.PID {
		t.Fatalf("create after restart: %+v created=%v %v", s, created, err)
	}
	// The dead seat starts again with its home; deleting it removes the home.
	if _, created, err := c2.CreateSeat(ctx, "wsr", 2, agentclient.SeatOptions{}); err != nil || !created {
		t.Fatalf("create seat 2 again: created=%v %v", created, err)
	}
	if b, err := os.ReadFile(filepath.Join(state, "process", "wsr", "2", "home", "work.txt")); err != nil || string(b) != "kept" {
		t.Fatalf("seat 2's home after its new start: %q %v", b, err)
	}
	if err := c2.DeleteSeat(ctx, "wsr", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(state, "process", "wsr", "2")); !os.IsNotExist(err) {
		t.Fatalf("deleted seat's directory kept: %v", err)
	}
}

// TestStopSeatKeepsHome: DELETE ?keep_home=true ends the seat and keeps its
// home (GET /homes lists it); the next create gets it back; a plain DELETE
// of the stopped seat removes it.
func TestStopSeatKeepsHome(t *testing.T) {
	t.Parallel()
	state := shortTempDir(t)
	a := newTestAgent(t, state, nil)
	a.destroyAllOnCleanup(t)
	c := a.client()
	ctx := context.Background()
	s, _, err := c.CreateSeat(ctx, "wsk", 1, agentclient.SeatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(state, "process", "wsk", "1", "home", "work.txt")
	if err := os.WriteFile(file, []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	if resp, _ := do(t, "DELETE", a.srv.URL+"/vms/wsk/1?keep_home=maybe", testToken, nil); resp.StatusCode != 400 {
		t.Fatalf("keep_home=maybe: %d", resp.StatusCode)
	}
	if err := c.StopSeat(ctx, "wsk", 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stopped seat's daemon to end", func() bool { return syscall.Kill(s.PID, 0) != nil || isZombie(s.PID) })
	if list, _ := c.ListSeats(ctx); len(list) != 0 {
		t.Fatalf("seats after stop: %+v", list)
	}
	if homes, err := c.ListHomes(ctx); err != nil || len(homes) != 1 || homes[0] != (agentclient.Home{WorkshopID: "wsk", Seat: 1}) {
		t.Fatalf("homes after stop = %v, %v", homes, err)
	}
	s2, created, err := c.CreateSeat(ctx, "wsk", 1, agentclient.SeatOptions{})
	if err != nil || !created || s2.PID == s.PID {
		t.Fatalf("create after stop: %+v created=%v %v", s2, created, err)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "kept" {
		t.Fatalf("home after the new start: %q %v", b, err)
	}
	if err := c.StopSeat(ctx, "wsk", 1); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSeat(ctx, "wsk", 1); err != nil {
		t.Fatal(err)
	}
	if homes, err := c.ListHomes(ctx); err != nil || len(homes) != 0 {
		t.Fatalf("homes after delete = %v, %v", homes, err)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	ta := newTestAgent(t, "", nil)
	ta.destroyAllOnCleanup(t)
	if _, _, err := ta.client().CreateSeat(context.Background(), "wsm", 1, agentclient.SeatOptions{}); err != nil {
		t.Fatal(err)
	}
	resp, body := do(t, "GET", ta.srv.URL+"/metrics", testToken, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("metrics = %d", resp.StatusCode)
	}
	text := string(body)
	for _, want := range []string{
		"clarateach_agent_up 1",
		"clarateach_agent_seats 1",
		// The seat's first shell is started with the seat.
		"clarateach_agent_terminal_sessions 1",
		`clarateach_agent_relayed_bytes_total{direction="in"}`,
		`clarateach_agent_relayed_bytes_total{direction="out"}`,
		"clarateach_agent_seat_start_seconds_count 1",
		"clarateach_agent_seat_failures_total 0",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "clarateach_agent_") {
			t.Errorf("unexpected metric %q", line)
		}
	}
	// The learner's first connection gets that shell, not a second one.
	term := dialTerminal(t, ta.srv.URL, "wsm", 1, learnerToken(t, "wsm", 1, "", 0), &terminal.DialOptions{Cols: 80, Rows: 24})
	defer term.Close()
	if _, body := do(t, "GET", ta.srv.URL+"/metrics", testToken, nil); !strings.Contains(string(body), "clarateach_agent_terminal_sessions 1\n") {
		t.Errorf("sessions after the first connection:\n%s", body)
	}

	// Dev mode: /metrics needs no token.
	dev := newTestAgent(t, "", func(c *Config) { c.Token = "" })
	if resp, _ := do(t, "GET", dev.srv.URL+"/metrics", "", nil); resp.StatusCode != 200 {
		t.Fatalf("dev-mode metrics = %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", dev.srv.URL+"/vms", "", nil); resp.StatusCode != 200 {
		t.Fatalf("dev-mode /vms = %d", resp.StatusCode)
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && (s[i+2] == 'Z' || s[i+2] == 'X')
}
