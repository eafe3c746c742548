package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/seat/terminal"
)

const (
	agentToken = "bench-agent-token-0123456789"
	wsSecret   = "bench-workspace-secret-0123456789"
	wsID       = "prevbench"
	pageSize   = 1024
)

// env is a control plane (SQLite, with its preview listener) and an agent
// (process runtime) with one seat held by a learner.
type env struct {
	tmp         string
	api         string // the control plane's base URL
	previewAddr string // the preview listener
	token       string // the learner's workspace token
	stop        func()
}

func startEnv(ctx context.Context, daemon string) (*env, error) {
	tmp, err := os.MkdirTemp("", "preview-bench-")
	if err != nil {
		return nil, err
	}
	e := &env{tmp: tmp, stop: func() { os.RemoveAll(tmp) }}
	if daemon == "" {
		daemon = filepath.Join(tmp, "clarateach-workspace")
		cmd := exec.Command("go", "build", "-trimpath", "-o", daemon, "github.com/clarateach/backend/cmd/workspace")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("build workspace daemon: %w", err)
		}
	}
	agentURL, stopAgent, err := startAgent(ctx, tmp, daemon)
	if err != nil {
		e.stop()
		return nil, err
	}
	e.stop = func() { stopAgent(); os.RemoveAll(tmp) }
	if err := e.startControlPlane(ctx, agentURL); err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

// startAgent runs an agent (process runtime) on loopback with seat 1.
func startAgent(ctx context.Context, dir, daemon string) (string, func(), error) {
	log := slog.Default()
	state := filepath.Join(dir, "state")
	rt, err := agent.NewRuntime("process", agent.RuntimeOptions{StateDir: state, DaemonCommand: []string{daemon}, Shell: "/bin/bash", Logger: log, Capacity: 2})
	if err != nil {
		return "", nil, err
	}
	a, err := agent.New(agent.Config{Listen: "127.0.0.1:0", Token: agentToken, StateDir: state, Runtime: rt, Capacity: 2,
		WorkspaceSecret: []byte(wsSecret), Logger: log})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	actx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(actx, ln) }()
	url := "http://" + ln.Addr().String()
	c := agentclient.New(url, agentToken, nil)
	if _, _, err := c.CreateSeat(ctx, wsID, 1, agentclient.SeatOptions{}); err != nil {
		stop()
		return "", nil, fmt.Errorf("create seat: %w", err)
	}
	return url, func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = c.DeleteSeat(dctx, wsID, 1)
		stop()
		<-done
	}, nil
}

// startControlPlane serves the control plane and its preview listener on
// loopback, with a running workshop whose seat 1 a learner holds.
func (e *env) startControlPlane(ctx context.Context, agentURL string) error {
	st, err := open.Open(ctx, "sqlite:"+filepath.Join(e.tmp, "cp.db"))
	if err != nil {
		return err
	}
	u := &store.User{Email: "bench@example.com", Name: "Bench", PasswordHash: "x", Role: store.RoleAdmin}
	if err := st.CreateUser(ctx, u); err != nil {
		return err
	}
	w := &store.Workshop{ID: wsID, OwnerID: u.ID, Name: "Preview bench", Seats: 1, Status: store.StatusRunning,
		DesiredState: store.DesiredRunning, AgentURL: agentURL, AgentToken: agentToken}
	if err := st.CreateWorkshop(ctx, w); err != nil {
		return err
	}
	reg, _, err := st.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: "L", Email: "l@example.com"})
	if err != nil {
		return err
	}
	seat, err := st.AssignSeat(ctx, reg.ID)
	if err != nil {
		return err
	}
	e.token, _, _ = authtoken.Issue(authtoken.WorkshopKey([]byte(wsSecret), wsID), wsID, seat.Seat, "learner", seat.Generation, time.Hour, time.Now())
	main, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	pv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	_, pport, _ := net.SplitHostPort(pv.Addr().String())
	cfg := &config.Config{Provisioner: "local", PublicURL: "http://" + main.Addr().String(), MaxSeats: 30,
		JWTSecret: "bench-jwt-secret-0123456789", WorkspaceTokenSecret: wsSecret,
		WorkspaceTTL: time.Hour, SessionTTL: time.Hour, PreviewDomain: "localhost", PreviewPort: pport}
	srv := server.New(server.Deps{Config: cfg, Store: st, Version: "bench"})
	go http.Serve(main, srv.Handler())
	go http.Serve(pv, srv.PreviewHandler())
	e.api, e.previewAddr = "http://"+main.Addr().String(), pv.Addr().String()
	return nil
}

// startServer types into the seat's terminal: a page, a file of mb MB and
// python3 -m http.server on port, then waits for it to answer.
func (e *env) startServer(ctx context.Context, port, mb int) error {
	u := fmt.Sprintf("ws%s/api/workspaces/%s/1/terminal?token=%s", strings.TrimPrefix(e.api, "http"), wsID, e.token)
	c, err := terminal.Dial(ctx, u, &terminal.DialOptions{Cols: 120, Rows: 30})
	if err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	go func() { // the shell's output is not needed; keep it flowing
		for {
			if _, err := c.ReadOutput(ctx); err != nil {
				return
			}
		}
	}()
	cmd := fmt.Sprintf("mkdir -p site && cd site && head -c %d /dev/zero | tr '\\0' x > index.html && head -c %d /dev/urandom > blob.bin && "+
		"python3 -m http.server %d --bind 127.0.0.1 >/dev/null 2>&1\r", pageSize, mb<<20, port)
	if err := c.Send(ctx, []byte(cmd)); err != nil {
		return err
	}
	return waitHTTP(ctx, http.DefaultClient, "http://127.0.0.1:"+strconv.Itoa(port)+"/blob.bin", 2*time.Minute)
}

// previewPath asks the API for the port's preview link as the learner and
// exchanges it for the preview cookie.
func (e *env) previewPath(ctx context.Context, port int) (*path, error) {
	body := strings.NewReader(fmt.Sprintf(`{"port":%d}`, port))
	req, _ := http.NewRequestWithContext(ctx, "POST", e.api+"/api/workspaces/"+wsID+"/1/preview", body)
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var link struct{ URL, Origin string }
	if err := json.NewDecoder(res.Body).Decode(&link); err != nil || res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("preview link: %s %v", res.Status, err)
	}
	p := &path{name: "preview", base: link.Origin, client: dialing(e.previewAddr)}
	req, _ = http.NewRequestWithContext(ctx, "GET", link.URL, nil)
	res, err = p.client.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	cs := res.Cookies()
	if res.StatusCode != http.StatusSeeOther || len(cs) == 0 {
		return nil, fmt.Errorf("open the preview link: %s", res.Status)
	}
	p.cookie = cs[0].Name + "=" + cs[0].Value
	return p, nil
}

func directPath(port int) *path {
	return &path{name: "direct", base: "http://127.0.0.1:" + strconv.Itoa(port), client: dialing("")}
}

// dialing is a keep-alive client that dials addr whatever the URL's host
// says ({port}-{seat}-{ws}.localhost), or the URL's host when addr is "".
func dialing(addr string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}
	if addr != "" {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
