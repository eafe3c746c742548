package endtoend

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/testbin"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/blob"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/archive"
	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/provision/local"
	"github.com/clarateach/backend/internal/controlplane/reconcile"
	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/localagent"
	"github.com/clarateach/backend/internal/seat/terminal"
)

var daemonBin, serverBin, pid1Bin string

func TestMain(m *testing.M) {
	if os.Getenv("CLARATEACH_TEST_LOGS") == "" {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	os.Exit(testbin.Run(m, testbin.Workspace(&daemonBin),
		testbin.Binary{Path: &serverBin, Name: "clarateach", Pkg: "github.com/clarateach/backend/cmd/clarateach"},
		// Beside the binaries, as make build puts it in bin/: plain sandbox
		// seats get the C init.
		testbin.SeatPID1(&pid1Bin)))
}

type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path, bearer string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(raw, &m)
	if m == nil {
		m = map[string]any{"raw": string(raw)}
	}
	return res.StatusCode, m
}

// localEnv is a control plane with the local provisioner: a real agent and
// real seats on this machine.
type localEnv struct {
	st     store.Store
	cfg    *config.Config
	prov   *local.Provisioner
	rec    *reconcile.Reconciler
	hs     *httptest.Server
	c      client
	rtName string
	srv    *server.Server
}

func startLocal(ctx context.Context, t *testing.T) *localEnv {
	t.Helper()
	dataDir := t.TempDir()
	st, err := open.Open(ctx, "sqlite:"+filepath.Join(dataDir, "ct.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := &config.Config{Provisioner: "local", PublicURL: "http://e2e.test", MaxSeats: 30,
		JWTSecret: authtoken.Random(16), WorkspaceTokenSecret: authtoken.Random(16), WorkspaceTTL: 15 * time.Minute, SessionTTL: time.Hour,
		PreviewDomain: "localhost", PreviewListen: "127.0.0.1:0"}

	stateDir := filepath.Join(dataDir, "agent")
	rtName := agent.DefaultRuntime()
	ro := agent.RuntimeOptions{StateDir: stateDir, DaemonCommand: []string{daemonBin}, NoNetwork: true}
	if rtName == "sandbox" {
		ro.SeatsDir = agent.LocalSeatsDir(stateDir)
		t.Cleanup(func() { os.RemoveAll(filepath.Dir(ro.SeatsDir)) })
	}
	rt, err := agent.NewRuntime(rtName, ro)
	if err != nil {
		t.Fatal(err)
	}
	// As package cli does: the local agent, and the provisioner handed its
	// URL and token.
	images, err := agent.ImageCache(rtName, stateDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	la, err := localagent.Start(ctx, localagent.Config{StateDir: stateDir, Runtime: rt, Images: images, WorkspaceSecret: []byte(cfg.WorkspaceTokenSecret)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { la.Close() })
	prov := local.New(la.URL(), la.Token())
	blobs, err := blob.NewDir(filepath.Join(dataDir, "archives"))
	if err != nil {
		t.Fatal(err)
	}
	arc := archive.New(archive.Config{Store: st, Blobs: blobs})
	rec := reconcile.New(reconcile.Config{Store: st, Provisioner: prov, WorkspaceSecret: []byte(cfg.WorkspaceTokenSecret), Archiver: arc})
	srv := server.New(server.Deps{Config: cfg, Store: st, Reconciler: rec, Version: "e2e", Archives: arc})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	t.Logf("runtime: %s", rtName)
	return &localEnv{st: st, cfg: cfg, prov: prov, rec: rec, hs: hs, c: client{t, hs.URL}, rtName: rtName, srv: srv}
}

// TestLocalWorkshopEndToEnd starts a workshop with the local provisioner and
// checks that a learner who joins gets a working terminal and files through
// the control plane's relay, and that stopping removes the seats.
func TestLocalWorkshopEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := startLocal(ctx, t)
	st, prov, rec, hs, c, rtName := env.st, env.prov, env.rec, env.hs, env.c, env.rtName

	// Sign-up is closed (the default): the first admin invites the teacher.
	if _, _, err := server.EnsureAdmin(ctx, st, "root@example.com", "a long password", "Root"); err != nil {
		t.Fatal(err)
	}
	_, m := c.do("POST", "/api/auth/login", "", map[string]string{"email": "root@example.com", "password": "a long password"})
	status, m := c.do("POST", "/api/invites", m["token"].(string), map[string]string{"email": "teach@example.com"})
	if status != 201 {
		t.Fatalf("invite: %d %v", status, m)
	}
	status, m = c.do("POST", "/api/auth/register", "", map[string]string{"email": "teach@example.com", "password": "a long password", "name": "Teacher", "invite": m["token"].(string)})
	if status != 201 {
		t.Fatalf("register with invite: %d %v", status, m)
	}
	inst := m["token"].(string)
	status, m = c.do("POST", "/api/workshops", inst, map[string]any{"name": "E2E", "seats": 2, "lab_guide": "# Hello"})
	if status != 201 {
		t.Fatalf("create: %d %v", status, m)
	}
	wsID, code := m["id"].(string), m["code"].(string)
	defer prov.DeleteHost(context.Background(), wsID)
	if status, _ := c.do("POST", "/api/workshops/"+wsID+"/start", inst, nil); status != 202 {
		t.Fatalf("start: %d", status)
	}
	t0 := time.Now()
	if err := rec.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	_, m = c.do("GET", "/api/workshops/"+wsID, inst, nil)
	if m["status"] != "running" {
		t.Fatalf("after one pass: %v", m)
	}
	t.Logf("2-seat workshop running in %s", time.Since(t0).Round(time.Millisecond))
	steps := m["vm"].(map[string]any)["steps"].([]any)
	if len(steps) != 3 {
		t.Fatalf("steps: %v", steps)
	}

	_, m = c.do("POST", "/api/register", "", map[string]string{"workshop_code": code, "name": "Lea", "email": "lea@example.com"})
	access := m["access_code"].(string)
	_, m = c.do("POST", "/api/join", "", map[string]string{"access_code": access})
	if m["status"] != "ready" {
		t.Fatalf("join: %v", m)
	}
	tok := m["token"].(string)
	ep := m["endpoints"].(map[string]any)

	// Terminal through the relay.
	wsURL := "ws" + strings.TrimPrefix(hs.URL, "http") + ep["terminal"].(string) + "?token=" + tok
	term, err := terminal.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Send(ctx, []byte("echo hello-$((6*7))\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := term.ReadUntil(ctx, "hello-42"); err != nil {
		t.Fatalf("terminal through the relay: %v", err)
	}
	if rtName == "sandbox" {
		// A real seat: the learner is uid 1000, not root.
		if err := term.Send(ctx, []byte("echo uid-$(id -u)-end\n")); err != nil {
			t.Fatal(err)
		}
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		out, err := term.ReadUntil(rctx, "uid-1000-end")
		rcancel()
		if err != nil {
			t.Fatalf("the learner's shell should run as uid 1000: %q %v", out, err)
		}
	}
	term.Close()

	// Files through the relay.
	req, _ := http.NewRequest("PUT", hs.URL+ep["files"].(string)+"/content?path=notes/hi.txt", strings.NewReader("hi there"))
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode/100 != 2 {
		t.Fatalf("write file: %v %v", err, res.Status)
	}
	res.Body.Close()
	status, m = c.do("GET", ep["files"].(string)+"?path=notes", tok, nil)
	if status != 200 || !strings.Contains(fmt.Sprint(m["entries"]), "hi.txt") {
		t.Fatalf("list files: %d %v", status, m)
	}
	if status, _ = c.do("GET", ep["files"].(string)+"/content?path=../../etc/passwd", tok, nil); status != http.StatusForbidden {
		t.Fatalf("escaping the workspace: %d", status)
	}

	// The class view sees the learner.
	_, m = c.do("GET", "/api/workshops/"+wsID+"/seats", inst, nil)
	if s := m["seats"].([]any)[0].(map[string]any); s["learner_email"] != "lea@example.com" {
		t.Fatalf("seats: %v", m)
	}

	// Stop: the seats go away.
	c.do("POST", "/api/workshops/"+wsID+"/stop", inst, nil)
	if err := rec.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	w, _ := st.GetWorkshop(ctx, wsID)
	if w.Status != store.StatusStopped {
		t.Fatalf("after stop: %s (%s)", w.Status, w.StatusReason)
	}
	seats, err := agentclient.New(prov.URL(), prov.Token(), nil).ListSeats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(seats) != 0 {
		t.Fatalf("%d seats left after stop", len(seats))
	}

	// The workshop is over: the learner's file downloads with the access code.
	res, err = http.PostForm(hs.URL+"/api/download", url.Values{"access_code": {access}})
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("download after the stop: %v %v", err, res)
	}
	defer res.Body.Close()
	gz, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	found := ""
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Name == "workspace/notes/hi.txt" {
			b, _ := io.ReadAll(tr)
			found = string(b)
		}
	}
	if found != "hi there" {
		t.Fatalf("notes/hi.txt in the downloaded work = %q, want %q", found, "hi there")
	}
}
