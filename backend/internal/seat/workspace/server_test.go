package workspace

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/seat/terminal"
)

type daemon struct {
	hc   *http.Client
	base string
	root string
	srv  *Server
}

// startDaemon runs a daemon on a unix socket in a temp dir, with a plain
// bash (prompt "$ ") unless cfg says otherwise.
func startDaemon(t *testing.T, cfg Config) *daemon {
	t.Helper()
	if _, err := os.Stat("/bin/bash"); err != nil {
		t.Skip("needs /bin/bash")
	}
	dir := t.TempDir()
	if cfg.Root == "" {
		cfg.Root = filepath.Join(dir, "root")
		if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.Shell == "" {
		cfg.Shell = "/bin/bash"
		cfg.ShellArgs = []string{"--noprofile", "--norc", "-i"}
		cfg.Env = []string{"PS1=$ ", "HISTFILE=/dev/null"}
	}
	cfg.Listen = "unix:" + filepath.Join(dir, "ws.sock")
	s, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	hc, base, err := HTTPClient(cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		hc.CloseIdleConnections()
	})
	return &daemon{hc: hc, base: base, root: cfg.Root, srv: s}
}

func (d *daemon) do(t *testing.T, method, path string, body string, out any) int {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, d.base+path, r)
	if body != "" && method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func (d *daemon) dial(t *testing.T, ctx context.Context, o terminal.DialOptions) *terminal.Client {
	t.Helper()
	o.HTTPClient = d.hc
	c, err := terminal.Dial(ctx, d.base+"/terminal", &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestHealthCountsSessionsClientsBytes(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, Config{})
	var h Health
	if st := d.do(t, "GET", "/health", "", &h); st != 200 || h.Status != "ok" || h.Sessions != 0 {
		t.Fatalf("health = %d %+v", st, h)
	}
	ctx := testCtx(t)
	c := d.dial(t, ctx, terminal.DialOptions{})
	if err := c.Send(ctx, []byte("echo hi-$((40+2))\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadUntil(ctx, "hi-42"); err != nil {
		t.Fatal(err)
	}
	d.do(t, "GET", "/health", "", &h)
	if h.Sessions != 1 || h.Clients != 1 || h.BytesOut == 0 || h.BytesIn == 0 || h.SessionsCreated != 1 || h.BufferedBytes == 0 {
		t.Fatalf("health after a session: %+v", h)
	}
}

func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, Config{})
	ctx := testCtx(t)
	var created terminal.Info
	if st := d.do(t, "POST", "/sessions", `{"cols":100,"rows":30}`, &created); st != 201 || created.ID == "" || created.Cols != 100 {
		t.Fatalf("create = %d %+v", st, created)
	}
	var other terminal.Info
	if st := d.do(t, "POST", "/sessions", "", &other); st != 201 || other.Cols != 80 {
		t.Fatalf("create without body = %d %+v", st, other)
	}
	var list SessionList
	if st := d.do(t, "GET", "/sessions", "", &list); st != 200 || len(list.Sessions) != 2 || list.Sessions[0].ID != created.ID {
		t.Fatalf("list = %d %+v", st, list)
	}
	c := d.dial(t, ctx, terminal.DialOptions{Session: created.ID})
	if c.Hello.Cols != 100 || c.Hello.Rows != 30 {
		t.Fatalf("hello %+v", c.Hello)
	}
	// No session id: the newest one.
	n := d.dial(t, ctx, terminal.DialOptions{Mode: "ro"})
	if n.Hello.Session != other.ID {
		t.Fatalf("attached to %s, newest is %s", n.Hello.Session, other.ID)
	}
	if st := d.do(t, "DELETE", "/sessions/"+created.ID, "", nil); st != 204 {
		t.Fatalf("delete = %d", st)
	}
	if code, err := c.WaitExit(ctx); err != nil || code != 129 {
		t.Fatalf("exit after delete = %d %v", code, err)
	}
	if st := d.do(t, "DELETE", "/sessions/"+created.ID, "", nil); st != 404 {
		t.Fatalf("second delete = %d", st)
	}
	d.do(t, "GET", "/sessions", "", &list)
	if len(list.Sessions) != 1 {
		t.Fatalf("list after delete %+v", list)
	}
	// wait_output_ms: the answer comes once the shell has printed.
	var waited terminal.Info
	if st := d.do(t, "POST", "/sessions", `{"wait_output_ms":5000}`, &waited); st != 201 || waited.Offset == 0 {
		t.Fatalf("create with wait_output_ms = %d %+v (no output yet)", st, waited)
	}
	for _, body := range []string{`{"cols":-1}`, `{"cols":"x"}`, `{"bogus":1}`, `{"wait_output_ms":-1}`, `{"wait_output_ms":10001}`} {
		if st := d.do(t, "POST", "/sessions", body, nil); st != 400 {
			t.Errorf("create %s = %d", body, st)
		}
	}
}

func TestTooManySessions(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, Config{MaxSessions: 1})
	if st := d.do(t, "POST", "/sessions", "", nil); st != 201 {
		t.Fatal(st)
	}
	if st := d.do(t, "POST", "/sessions", "", nil); st != 409 {
		t.Fatalf("second session = %d", st)
	}
}

func TestTerminalBadParams(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, Config{})
	for _, q := range []string{"mode=admin", "offset=-1", "cols=80", "cols=0&rows=10", "cols=x&rows=y"} {
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		if st := d.do(t, "GET", "/terminal?"+q, "", &e); st != 400 || e.Error.Code != "invalid" {
			t.Errorf("terminal?%s = %d %+v", q, st, e)
		}
	}
}

func TestFilesAndShellShareTheWorkspace(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, Config{})
	ctx := testCtx(t)
	if st := d.do(t, "PUT", "/files/content?path=src/main.py", "print('hi')\n", nil); st != 201 {
		t.Fatalf("put = %d", st)
	}
	c := d.dial(t, ctx, terminal.DialOptions{})
	if err := c.Send(ctx, []byte("cat src/main.py; echo made > fromshell.txt; echo ok-$((1+1))\n")); err != nil {
		t.Fatal(err)
	}
	out, err := c.ReadUntil(ctx, "ok-2")
	if err != nil || !strings.Contains(string(out), "print('hi')") {
		t.Fatalf("shell: %q %v", out, err)
	}
	var l struct {
		Entries []struct{ Name, Type string }
	}
	if st := d.do(t, "GET", "/files", "", &l); st != 200 || len(l.Entries) != 2 {
		t.Fatalf("list = %d %+v", st, l)
	}
	if st := d.do(t, "GET", "/files/content?path=../../etc/passwd", "", nil); st != 403 {
		t.Fatalf("escape = %d", st)
	}
}

func TestParseArgs(t *testing.T) {
	t.Parallel()
	c, err := ParseArgs([]string{"--listen", "unix:/x.sock", "--root", "/tmp", "--shell", "/bin/sh", "-idle-timeout", "5m", "--ring-size", "4096"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "unix:/x.sock" || c.Root != "/tmp" || c.Shell != "/bin/sh" || c.IdleTimeout != 5*time.Minute || c.RingSize != 4096 {
		t.Fatalf("parsed %+v", c)
	}
	for _, bad := range [][]string{{"extra"}, {"--nope"}, {"--idle-timeout", "soon"}} {
		if _, err := ParseArgs(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"missing root":  {Root: filepath.Join(dir, "nope"), Shell: "/bin/sh"},
		"root is file":  {Root: file, Shell: "/bin/sh"},
		"missing shell": {Root: dir, Shell: "/no/such/shell"},
		"shell not exe": {Root: dir, Shell: file},
	} {
		if s, err := New(cfg, nil); err == nil {
			s.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestListen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "a.sock")
	ln, err := Listen("unix:" + sock)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(sock)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v", fi.Mode())
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatal("stale socket not left behind")
	}
	// A stale socket file (a crashed daemon) is replaced...
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err = Listen("unix:" + sock)
	if err != nil {
		t.Fatalf("relisten: %v", err)
	}
	ln.Close()
	// ...but never a regular file.
	if _, err := Listen("unix:" + filepath.Join(dir, "f")); err == nil {
		t.Error("listened over a regular file")
	}
	ln, err = Listen("tcp:127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	for _, bad := range []string{"", "unix:", "udp:1.2.3.4:5", "127.0.0.1:80"} {
		if _, err := Listen(bad); err == nil {
			t.Errorf("Listen(%q) accepted", bad)
		}
	}
}

// TestListenFD: an inherited listening socket (the sandbox's seat init
// makes it and keeps it across daemon restarts) is served as is.
func TestListenFD(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "fd.sock")
	orig, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	// A raw dup, as an inherited fd would be. Not an *os.File: Listen
	// takes the fd over and closes it, and an *os.File's finalizer would
	// close the same number again later — by then maybe a parallel test's
	// listener or PTY (that made TestFilesAndShellShareTheWorkspace fail
	// with "accept4: bad file descriptor" and "cannot start shell").
	rc, err := orig.(*net.UnixListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	if err := rc.Control(func(s uintptr) { fd, err = syscall.Dup(int(s)) }); err != nil || fd < 0 {
		t.Fatalf("dup: %v", err)
	}
	ln, err := Listen("fd:" + strconv.Itoa(fd))
	if err != nil {
		t.Fatalf("Listen(fd): %v", err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if b, _ := io.ReadAll(c); string(b) != "hi" {
		t.Errorf("through the inherited socket: %q", b)
	}
	for _, bad := range []string{"fd:", "fd:x", "fd:1", "fd:9999"} {
		if _, err := Listen(bad); err == nil {
			t.Errorf("Listen(%q) accepted", bad)
		}
	}
}

// TestProcs: the daemon runs on one P unless GOMAXPROCS says otherwise
// (one P halved its CPU per MB of terminal output; see Procs).
func TestProcs(t *testing.T) {
	t.Parallel()
	for env, want := range map[string]int{"": 1, "4": 4, "1": 1, "0": 1, "-2": 1, "x": 1} {
		if got := Procs(env); got != want {
			t.Errorf("Procs(%q) = %d, want %d", env, got, want)
		}
	}
}
