//go:build linux

package sandbox

// Test harness. The test binary plays several parts, chosen by env markers:
// the seat init (InitMain), a stand-in workspace daemon that can run
// commands and dial addresses from inside a seat (the test-only exec
// helper), a memory hog, a short-lived "agent" that creates a seat and dies,
// and the "internet" of the network tests.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
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
	"syscall"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/host/seatruntime"
)

const (
	envFakeDaemon = "CTSB_TEST_FAKE_DAEMON"
	envAlloc      = "CTSB_TEST_ALLOC_MB"
	envAgent      = "CTSB_TEST_AGENT"
	envLayerAgent = "CTSB_TEST_LAYER_AGENT" // layerAgentMain (layerpool_test.go)
	envInternet   = "CTSB_TEST_INTERNET"
	envInNetns    = "CTSB_TEST_IN_NETNS"
	envInMountns  = "CTSB_TEST_IN_MOUNTNS"
	envUnixDial   = "CTSB_TEST_UNIX_DIAL" // connect to this unix socket and say how it went
	// envSlowStart makes the stand-in daemon wait that many milliseconds
	// before it listens (a seat that takes long to start).
	envSlowStart = "CTSB_TEST_SLOW_START_MS"
)

// testBin is a copy of the test binary that an unprivileged uid can
// execute (the go build cache is 0700); "" when not running as root.
var testBin string

func TestMain(m *testing.M) {
	InitMain()
	switch {
	case os.Getenv(envAlloc) != "":
		os.Exit(allocMain(os.Getenv(envAlloc)))
	case os.Getenv(envFakeDaemon) == "1":
		os.Unsetenv(envFakeDaemon) // not for the commands it runs
		os.Exit(fakeDaemon(os.Args[1:]))
	case os.Getenv(envAgent) != "":
		os.Exit(agentMain(os.Getenv(envAgent)))
	case os.Getenv(envLayerAgent) != "":
		os.Exit(layerAgentMain(os.Getenv(envLayerAgent)))
	case os.Getenv(envInternet) == "1":
		os.Exit(internetMain())
	case os.Getenv(envUnixDial) != "":
		os.Exit(unixDialMain(os.Getenv(envUnixDial)))
	}
	code := func() int {
		if os.Geteuid() == 0 {
			dir, err := os.MkdirTemp("", "ctsb-bin")
			if err == nil {
				defer os.RemoveAll(dir)
				if err := copyExecutable(filepath.Join(dir, "sandbox.test"), dir); err == nil {
					testBin = filepath.Join(dir, "sandbox.test")
				} else {
					fmt.Fprintln(os.Stderr, "copy test binary:", err)
				}
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

func copyExecutable(dst, dir string) error {
	src, err := os.Executable()
	if err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dir, 0o755)
}

// needRoot skips unless the sandbox can run here.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (user namespaces with a uid range, cgroups, veth)")
	}
	if err := checkNamespaces(); err != nil {
		t.Skip("namespaces unavailable: " + err.Error())
	}
	if testBin == "" {
		t.Skip("could not copy the test binary to a world-readable place")
	}
}

// testConfig returns a config whose daemon is the fake daemon. The base dir
// is short (unix socket paths are limited to 107 bytes) and o+x.
func testConfig(t testing.TB) Config {
	t.Helper()
	base, err := os.MkdirTemp("", "ctsb")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	var logger *slog.Logger
	if os.Getenv("CTSB_TEST_TRACE") == "1" { // per-step Create timings
		logger = slog.New(slog.NewTextHandler(tLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return Config{
		Logger:       logger,
		DaemonPath:   testBin,
		InitPath:     testBin,
		PID1Path:     testPID1(t),
		DaemonEnv:    []string{envFakeDaemon + "=1"},
		BaseDir:      base,
		CgroupParent: fmt.Sprintf("clarateach-test-%d", os.Getpid()),
		Network:      NetworkConfig{Disabled: os.Getenv(envInNetns) != "1"},
		MemoryMB:     128,
	}
}

// testPID1 is clarateach-seat-pid1 for the seats it serves, as in
// production, unless CTSB_TEST_INIT=go (every seat's init the Go one) or
// not root (no such seats).
func testPID1(t testing.TB) string {
	if os.Geteuid() != 0 || os.Getenv("CTSB_TEST_INIT") == "go" {
		return ""
	}
	return buildPID1(t)
}

// newRuntime builds a runtime, and removes its blank homes and cgroup
// parents (and firewall rules) at the end of the test.
func newRuntime(t testing.TB, cfg Config) *Runtime {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		r.homes.close() // the blank homes go
		if r.cgroups != nil {
			for _, h := range r.cgroups.hiers {
				_ = syscall.Rmdir(h.parent)
			}
		}
		if r.network && !cfg.Network.SkipFirewall {
			_ = r.RemoveFirewall(context.Background())
		}
	})
	return r
}

// createSeat creates a seat destroyed at the end of the test.
func createSeat(t testing.TB, r *Runtime, spec seatruntime.Spec) *seatruntime.Seat {
	t.Helper()
	s, err := r.Create(context.Background(), spec)
	if err != nil {
		t.Fatalf("Create %+v: %v", spec, err)
	}
	t.Cleanup(func() {
		if err := r.Destroy(context.Background(), s); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	return s
}

// ---- the stand-in daemon and its client ----

type execReq struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env,omitempty"`
}

type execResult struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Code   int    `json:"code"`
	Signal int    `json:"signal"`
	Err    string `json:"err,omitempty"`
}

type dialReq struct {
	Addr      string `json:"addr"`
	TimeoutMS int    `json:"timeout_ms"`
}

type dialResult struct {
	OK    bool   `json:"ok"`
	Data  string `json:"data"`
	Error string `json:"error,omitempty"`
}

func fakeDaemon(args []string) int {
	fs := flag.NewFlagSet("workspace", flag.ContinueOnError)
	listen := fs.String("listen", "", "")
	root := fs.String("root", "", "")
	_ = fs.String("shell", "", "")
	fs.StringVar(&fakeLauncher, "shell-launcher", "", "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if ms, _ := strconv.Atoi(os.Getenv(envSlowStart)); ms > 0 {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	var ln net.Listener
	var err error
	if fd, ok := strings.CutPrefix(*listen, "fd:"); ok {
		n, _ := strconv.Atoi(fd)
		f := os.NewFile(uintptr(n), "listener")
		ln, err = net.FileListener(f)
		f.Close()
	} else {
		ln, err = net.Listen("unix", strings.TrimPrefix(*listen, "unix:"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"status":"ok","sessions":0}`)
	})
	mux.HandleFunc("POST /exec", func(w http.ResponseWriter, r *http.Request) {
		var req execReq
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || len(req.Argv) == 0 {
			http.Error(w, "bad request", 400)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
		defer cancel()
		cmd := learnerCommand(ctx, req.Argv)
		cmd.Dir = *root
		cmd.Env = append(cmd.Env, req.Env...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		res := execResult{}
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				ws := ee.Sys().(syscall.WaitStatus)
				res.Code = ws.ExitStatus()
				if ws.Signaled() {
					res.Signal = int(ws.Signal())
				}
			} else {
				res.Err = err.Error()
			}
		}
		res.Stdout, res.Stderr = out.String(), errb.String()
		_ = json.NewEncoder(w).Encode(res)
	})
	mux.HandleFunc("POST /dial", func(w http.ResponseWriter, r *http.Request) {
		var req dialReq
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, "bad request", 400)
			return
		}
		_ = json.NewEncoder(w).Encode(dialOnce(req.Addr, time.Duration(req.TimeoutMS)*time.Millisecond))
	})
	// POST /listen?addr=: a TCP listener inside the seat that greets.
	mux.HandleFunc("POST /listen", func(w http.ResponseWriter, r *http.Request) {
		l, err := net.Listen("tcp", r.URL.Query().Get("addr"))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		go serveGreeting(l, "seat")
		fmt.Fprint(w, l.Addr().String())
	})
	_ = http.Serve(ln, mux)
	return 1
}

// fakeLauncher is the stand-in daemon's --shell-launcher.
var fakeLauncher string

// learnerCommand runs argv as the learner, as the real daemon starts
// shells: through the seat launcher (--shell-launcher) or the learner
// wrapper (learnerMarker in its environment) when the daemon has its own
// uid.
func learnerCommand(ctx context.Context, argv []string) *exec.Cmd {
	if fakeLauncher != "" {
		path, err := exec.LookPath(argv[0])
		if err != nil {
			path = argv[0] // the launcher's exit 127 says so
		}
		cmd := exec.CommandContext(ctx, fakeLauncher, append([]string{path}, argv...)...)
		cmd.Env = os.Environ()
		return cmd
	}
	if os.Getenv(learnerMarker) == "" {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = os.Environ()
		return cmd
	}
	cmd := exec.CommandContext(ctx, seatDaemon, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = append(os.Environ(), learnerMarker+"="+argv[0])
	return cmd
}

func dialOnce(addr string, timeout time.Duration) dialResult {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return dialResult{Error: err.Error()}
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return dialResult{Error: "read: " + err.Error()}
	}
	return dialResult{OK: true, Data: strings.TrimSpace(line)}
}

// serveGreeting answers each connection with "<name> <remote addr>\n".
func serveGreeting(l net.Listener, name string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		fmt.Fprintf(c, "%s %s\n", name, c.RemoteAddr())
		c.Close()
	}
}

func seatClient(s *seatruntime.Seat) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", s.Address)
		}}}
}

func seatPost(t testing.TB, s *seatruntime.Seat, path string, body, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := seatClient(s).Post("http://seat"+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("seat %d %s: %v", s.Seat, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("seat %d %s: %s %s", s.Seat, path, resp.Status, data)
	}
	if s, ok := out.(*string); ok {
		*s = string(data)
		return
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("seat %s: %v", path, err)
	}
}

// seatExec runs argv inside the seat, as the learner, via the daemon.
func seatExec(t testing.TB, s *seatruntime.Seat, argv ...string) execResult {
	t.Helper()
	var res execResult
	seatPost(t, s, "/exec", execReq{Argv: argv}, &res)
	if res.Err != "" {
		t.Fatalf("seat exec %q: %s", argv, res.Err)
	}
	return res
}

// seatSh runs a shell snippet in the seat and returns its trimmed stdout,
// failing the test on a non-zero exit.
func seatSh(t testing.TB, s *seatruntime.Seat, script string) string {
	t.Helper()
	res := seatExec(t, s, "/bin/sh", "-c", script)
	if res.Code != 0 || res.Signal != 0 {
		t.Fatalf("seat sh %q: code %d signal %d stderr %s", script, res.Code, res.Signal, res.Stderr)
	}
	return strings.TrimSpace(res.Stdout)
}

func seatDial(t testing.TB, s *seatruntime.Seat, addr string, timeout time.Duration) dialResult {
	t.Helper()
	var res dialResult
	seatPost(t, s, "/dial", dialReq{Addr: addr, TimeoutMS: int(timeout / time.Millisecond)}, &res)
	return res
}

// ---- other parts ----

// allocMain touches n MiB, then exits 0.
func allocMain(n string) int {
	mb, _ := strconv.Atoi(n)
	var keep [][]byte
	for i := 0; i < mb; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		keep = append(keep, b)
	}
	fmt.Println("allocated", len(keep), "MiB")
	return 0
}

// agentMain is a short-lived agent: it creates one seat from the JSON
// config in its argument, prints the seat as JSON and exits.
func agentMain(cfgJSON string) int {
	var cfg Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	r, err := New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s, err := r.Create(context.Background(), seatruntime.Spec{WorkshopID: "restart", Seat: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = json.NewEncoder(os.Stdout).Encode(s)
	return 0
}

type tLogWriter struct{ t testing.TB }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
