package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/clarateach/backend/internal/blob"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/archive"
	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/lab"
	"github.com/clarateach/backend/internal/controlplane/provision"
	"github.com/clarateach/backend/internal/controlplane/reconcile"
	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
	"github.com/clarateach/backend/internal/controlplane/store/storetest"
)

// engines are the store engines every API test runs against.
var engines = []string{"sqlite", "postgres"}

func openStore(t testing.TB, engine string) store.Store {
	t.Helper()
	if engine == "postgres" {
		return storetest.NewPostgres(t) // a fresh, migrated schema
	}
	st, err := open.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatalf("open %s store: %v", engine, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// fakeAgent is a minimal agent speaking the agent API, standing in for a
// workshop host (the real agent has its own tests; the end-to-end tests use
// it).
type fakeAgent struct {
	mu          sync.Mutex
	seats       map[string]bool
	diskMB      map[string]int      // what each seat was created with
	egress      map[string][]string // the egress_allow of each seat's create
	learnerRoot map[string]bool     // the learner_root of each seat's create
	disconnects []string
	// down seats do not answer (GET /vms says so, the proxy answers 502,
	// POST /vms/ cannot restart them); restarted gives a seat's
	// restarted_at.
	down      map[string]bool
	restarted map[string]time.Time
	// minGens are the minimum generations disconnects asked for, in order.
	minGens []int64
	// failDisconnects is how many disconnects still fail with a 500.
	failDisconnects int
	// files are what lab scripts of a seat see: the fake exec passes a
	// script that mentions "~/NAME" when files[seat key] has NAME, and a
	// script that mentions "touch ~/NAME" creates it. scripts counts runs.
	files   map[string]map[string]bool
	scripts int
	// homes are the files restores wrote into each seat's home (name to
	// content); restores to a down seat fail.
	homes map[string]map[string]string
	srv   *httptest.Server
}

// setSeat sets what the fake agent says of seat key ("ws/n").
func (a *fakeAgent) setSeat(key string, down bool, restartedAt time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.down[key] = down
	if !restartedAt.IsZero() {
		a.restarted[key] = restartedAt
	}
}

func newFakeAgent(t testing.TB) *fakeAgent {
	a := &fakeAgent{seats: map[string]bool{}, diskMB: map[string]int{}, egress: map[string][]string{}, learnerRoot: map[string]bool{}, down: map[string]bool{}, restarted: map[string]time.Time{}, files: map[string]map[string]bool{}, homes: map[string]map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /vms/{ws}/{seat}/restore", func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("ws") + "/" + r.PathValue("seat")
		a.mu.Lock()
		defer a.mu.Unlock()
		if !a.seats[key] || a.down[key] {
			http.Error(w, `{"error":{"code":"seat_unreachable","message":"the seat's workspace daemon did not answer"}}`, http.StatusBadGateway)
			return
		}
		got, err := lab.ReadArchive(mustRead(r.Body))
		if err != nil {
			http.Error(w, `{"error":{"code":"invalid","message":"not an archive"}}`, http.StatusBadRequest)
			return
		}
		if a.homes[key] == nil {
			a.homes[key] = map[string]string{}
		}
		if a.files[key] == nil {
			a.files[key] = map[string]bool{}
		}
		for name, data := range got { // ReadArchive drops the top directory
			a.homes[key][name] = string(data)
			a.files[key][name] = true
		}
		json.NewEncoder(w).Encode(agentclient.RestoreResult{Files: int64(len(got))})
	})
	mux.HandleFunc("POST /vms/{ws}/{seat}/exec", func(w http.ResponseWriter, r *http.Request) {
		var req agentclient.ExecRequest
		json.NewDecoder(r.Body).Decode(&req)
		key := r.PathValue("ws") + "/" + r.PathValue("seat")
		a.mu.Lock()
		defer a.mu.Unlock()
		a.scripts++
		if !a.seats[key] {
			http.Error(w, `{"error":{"code":"not_found","message":"seat not found"}}`, http.StatusNotFound)
			return
		}
		if a.files[key] == nil {
			a.files[key] = map[string]bool{}
		}
		res := agentclient.ExecResult{}
		for _, line := range strings.Split(req.Script, "\n") {
			if name, ok := strings.CutPrefix(strings.TrimSpace(line), "touch ~/"); ok {
				a.files[key][name] = true
				continue
			}
			if i := strings.Index(line, "~/"); i >= 0 {
				name := strings.Fields(line[i+2:])[0]
				if !a.files[key][name] {
					res.ExitCode, res.Stdout = 1, name+" is not there yet\n"
				}
			}
		}
		if res.ExitCode == 0 {
			res.Stdout = "found it\n"
		}
		json.NewEncoder(w).Encode(res)
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		json.NewEncoder(w).Encode(agentclient.Health{Status: "ok", VMCount: len(a.seats), Capacity: 240, Runtime: "fake"})
	})
	mux.HandleFunc("POST /vms/", func(w http.ResponseWriter, r *http.Request) {
		var req agentclient.CreateSeatRequest
		json.NewDecoder(r.Body).Decode(&req)
		a.mu.Lock()
		if a.down[fmt.Sprintf("%s/%d", req.WorkshopID, req.SeatID)] { // it cannot be restarted either
			a.mu.Unlock()
			http.Error(w, `{"error":{"code":"seat_failed","message":"could not restart seat"}}`, http.StatusInternalServerError)
			return
		}
		a.seats[fmt.Sprintf("%s/%d", req.WorkshopID, req.SeatID)] = true
		a.diskMB[fmt.Sprintf("%s/%d", req.WorkshopID, req.SeatID)] = req.DiskMB
		a.egress[fmt.Sprintf("%s/%d", req.WorkshopID, req.SeatID)] = req.EgressAllow
		a.learnerRoot[fmt.Sprintf("%s/%d", req.WorkshopID, req.SeatID)] = req.LearnerRoot
		a.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(agentclient.Seat{WorkshopID: req.WorkshopID, Seat: req.SeatID, Status: "running"})
	})
	mux.HandleFunc("GET /vms", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		list := agentclient.SeatList{VMs: []agentclient.Seat{}}
		for key := range a.seats {
			ws, n, _ := strings.Cut(key, "/")
			seat, _ := strconv.Atoi(n)
			v := agentclient.Seat{WorkshopID: ws, Seat: seat, Status: "running", Health: "ok"}
			if a.down[key] {
				v.Status, v.Health = "dead", "down"
			}
			if t, ok := a.restarted[key]; ok {
				v.RestartedAt = &t
			}
			list.VMs = append(list.VMs, v)
		}
		json.NewEncoder(w).Encode(list)
	})
	mux.HandleFunc("DELETE /vms/{ws}/{seat}", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		delete(a.seats, r.PathValue("ws")+"/"+r.PathValue("seat"))
		a.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /vms/{ws}/{seat}/disconnect", func(w http.ResponseWriter, r *http.Request) {
		var req agentclient.DisconnectRequest
		json.NewDecoder(r.Body).Decode(&req)
		a.mu.Lock()
		if a.failDisconnects > 0 {
			a.failDisconnects--
			a.mu.Unlock()
			http.Error(w, "agent is busy", http.StatusInternalServerError)
			return
		}
		a.disconnects = append(a.disconnects, r.PathValue("ws")+"/"+r.PathValue("seat"))
		a.minGens = append(a.minGens, req.MinGeneration)
		a.mu.Unlock()
		json.NewEncoder(w).Encode(agentclient.DisconnectResult{Closed: 1, MinGeneration: req.MinGeneration})
	})
	// The proxy echoes what reached it, so relay tests can see the path.
	// files/stream stands for a long transfer: it answers at once and
	// then holds the connection until the client (the relay) goes.
	mux.HandleFunc("/proxy/{ws}/{seat}/files/stream", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "streaming\n")
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("/proxy/{ws}/{seat}/{rest...}", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		down := a.down[r.PathValue("ws")+"/"+r.PathValue("seat")]
		a.mu.Unlock()
		if down {
			http.Error(w, `{"error":{"code":"seat_unreachable","message":"the seat's workspace daemon did not answer"}}`, http.StatusBadGateway)
			return
		}
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			echoWebSocket(w, r) // a terminal that echoes
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path, "query": r.URL.RawQuery, "method": r.Method})
	})
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

func mustRead(r io.Reader) []byte {
	b, _ := io.ReadAll(r)
	return b
}

// echoWebSocket accepts a WebSocket and sends back what it receives until
// the peer goes.
func echoWebSocket(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	for {
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		if err := c.Write(r.Context(), typ, msg); err != nil {
			return
		}
	}
}

// fakeProvisioner hands every workshop the same fake agent.
type fakeProvisioner struct {
	agentURL string
	mu       sync.Mutex
	hosts    map[string]bool
}

func (p *fakeProvisioner) Name() string { return "fake" }
func (p *fakeProvisioner) EnsureHost(ctx context.Context, req provision.Request) (*provision.Host, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hosts[req.WorkshopID] = true
	return &provision.Host{WorkshopID: req.WorkshopID, Name: "fake-" + req.WorkshopID, State: provision.HostRunning, Status: "RUNNING", AgentURL: p.agentURL}, nil
}
func (p *fakeProvisioner) GetHost(ctx context.Context, id string) (*provision.Host, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.hosts[id] {
		return nil, provision.ErrNotFound
	}
	return &provision.Host{WorkshopID: id, State: provision.HostRunning, Status: "RUNNING", AgentURL: p.agentURL}, nil
}
func (p *fakeProvisioner) DeleteHost(ctx context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.hosts, id)
	return nil
}
func (p *fakeProvisioner) ListHosts(ctx context.Context) ([]provision.Host, error) { return nil, nil }

type testEnv struct {
	t     testing.TB
	st    store.Store
	cfg   *config.Config
	srv   *server.Server
	http  *httptest.Server
	rec   *reconcile.Reconciler
	agent *fakeAgent
	arc   *archive.Archiver // serves downloads; its blobs are in a temp dir
	now   time.Time
	slept time.Duration
	mu    sync.Mutex
}

func (e *testEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *testEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// sleep is the server's tarpit wait: it moves the clock at once and counts
// the time it made clients wait.
func (e *testEnv) sleep(ctx context.Context, d time.Duration) error {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.slept += d
	e.mu.Unlock()
	return ctx.Err()
}

// sleptFor is the total time the tarpits made clients wait.
func (e *testEnv) sleptFor() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.slept
}

func newEnv(t testing.TB, engine string, mutate ...func(*config.Config)) *testEnv {
	t.Helper()
	e := &testEnv{t: t, st: openStore(t, engine), now: time.Now().UTC().Truncate(time.Second)}
	e.cfg = &config.Config{
		Provisioner: "local", PublicURL: "http://clarateach.test", MaxSeats: 30,
		JWTSecret: "test-jwt-secret-0123456789", WorkspaceTokenSecret: "test-workspace-secret-0123456789",
		WorkspaceTTL: 15 * time.Minute, SessionTTL: 24 * time.Hour, InternalToken: "internal-token-0123456789",
		// Most tests make instructors with e.instructor (open sign-up) and
		// are not about quotas; the sign-up and quota tests set their own.
		Signup: config.SignupOpen, Quota: config.Quota{RunningWorkshops: 1000, Seats: 100000, WorkshopHours: 100000},
	}
	for _, m := range mutate {
		m(e.cfg)
	}
	e.agent = newFakeAgent(t)
	prov := &fakeProvisioner{agentURL: e.agent.srv.URL, hosts: map[string]bool{}}
	e.rec = reconcile.New(reconcile.Config{Store: e.st, Provisioner: prov, Now: e.clock, WorkspaceSecret: []byte(e.cfg.WorkspaceTokenSecret)})
	blobs, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.arc = archive.New(archive.Config{Store: e.st, Blobs: blobs, Now: e.clock})
	e.srv = server.New(server.Deps{Config: e.cfg, Store: e.st, Now: e.clock, Reconciler: e.rec, Logger: slog.Default(), Version: "test", Sleep: e.sleep, Archives: e.arc})
	e.http = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.http.Close)
	return e
}

type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not a JSON object (%d): %q", r.Status, r.Body)
	}
	return m
}

func (r resp) errCode(t testing.TB) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	if e == nil || e["message"] == "" {
		t.Fatalf("expected an error body, got %d %s", r.Status, r.Body)
	}
	code, _ := e["code"].(string)
	return code
}

// call makes a request; body may be nil, a string (sent raw) or a value
// (sent as JSON).
func (e *testEnv) call(method, path, bearer string, body any, headers ...string) resp {
	e.t.Helper()
	return e.callAt(e.http.URL, method, path, bearer, body, headers...)
}

// replica starts a second server on e's store, clock and tarpit sleep: what
// another replica behind the same load balancer would be. Its URL goes to
// callAt.
func (e *testEnv) replica() string {
	e.t.Helper()
	srv := httptest.NewServer(server.New(server.Deps{Config: e.cfg, Store: e.st, Now: e.clock, Reconciler: e.rec, Version: "test", Sleep: e.sleep, Archives: e.arc}).Handler())
	e.t.Cleanup(srv.Close)
	return srv.URL
}

// callAt is call against the server at base (e.g. a replica).
func (e *testEnv) callAt(base, method, path, bearer string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

// instructor registers an instructor and returns its session token.
func (e *testEnv) instructor(email string) string {
	e.t.Helper()
	r := e.call("POST", "/api/auth/register", "", map[string]string{"email": email, "password": "correct horse battery", "name": "Ada"})
	if r.Status != http.StatusCreated {
		e.t.Fatalf("register %s: %d %s", email, r.Status, r.Body)
	}
	return r.json(e.t)["token"].(string)
}

func (e *testEnv) workshop(tok string, seats int) (id, code string) {
	e.t.Helper()
	r := e.call("POST", "/api/workshops", tok, map[string]any{"name": "Intro to Go", "seats": seats})
	if r.Status != http.StatusCreated {
		e.t.Fatalf("create workshop: %d %s", r.Status, r.Body)
	}
	m := r.json(e.t)
	return m["id"].(string), m["code"].(string)
}

func (e *testEnv) start(tok, id string) {
	e.t.Helper()
	if r := e.call("POST", "/api/workshops/"+id+"/start", tok, nil); r.Status != http.StatusAccepted {
		e.t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	if err := e.rec.RunOnce(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	w, err := e.st.GetWorkshop(context.Background(), id)
	if err != nil || w.Status != store.StatusRunning {
		e.t.Fatalf("workshop not running after a reconcile pass: %+v %v", w, err)
	}
}
