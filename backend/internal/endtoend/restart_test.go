package endtoend

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/seat/terminal"
)

// serverProc is a real `clarateach server` process (built by testbin) on a
// fixed port and data directory, so that it can be killed and started again.
type serverProc struct {
	t       *testing.T
	dataDir string
	port    int
	base    string
	cmd     *exec.Cmd
	done    chan struct{}
	logs    *bytes.Buffer
}

func newServerProc(t *testing.T) *serverProc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := &serverProc{t: t, dataDir: t.TempDir(), port: port, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	t.Cleanup(func() {
		if p.cmd != nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if agent.DefaultRuntime() == "sandbox" {
			os.RemoveAll(filepath.Dir(agent.LocalSeatsDir(filepath.Join(p.dataDir, "agent"))))
		}
	})
	return p
}

// start starts the server and returns once it answers /health.
func (p *serverProc) start() {
	p.t.Helper()
	cmd := exec.Command(serverBin, "server")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + p.dataDir,
		"DATA_DIR=" + p.dataDir, fmt.Sprintf("LISTEN=127.0.0.1:%d", p.port), "PUBLIC_URL=" + p.base,
		"WORKSPACE_DAEMON=" + daemonBin, "SEAT_NETWORK=false", "RECONCILE_INTERVAL=200ms",
		"ADMIN_EMAIL=admin@example.com", "ADMIN_PASSWORD=a long admin password",
	}
	p.logs = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(p.done) }()
	p.waitFor(15*time.Second, "the server to answer /health", func() bool {
		res, err := http.Get(p.base + "/health")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
}

// kill sends the server sig (SIGKILL: nothing of it runs any more; SIGINT:
// Ctrl-C on `make dev`, a clean shutdown) and waits for it to exit; its
// seats run on.
func (p *serverProc) kill(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.t.Fatalf("the server did not exit on %s:\n%s", sig, tail(p.logs.String(), 4000))
	}
	p.cmd = nil
}

func (p *serverProc) waitFor(d time.Duration, what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		select {
		case <-p.done:
			p.t.Fatalf("the server exited while waiting for %s:\n%s", what, p.logs)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out after %s waiting for %s; server log without its request lines:\n%s", d, what, tail(withoutRequests(p.logs.String()), 6000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// withoutRequests drops the server's per-request log lines (a wait polls
// every 20 ms, and their lines would push out what the server did).
func withoutRequests(log string) string {
	var b strings.Builder
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `"msg":"request"`) {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// call is a JSON request that reports a transport error instead of failing.
func (p *serverProc) call(method, path, bearer string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	m := map[string]any{}
	if json.Unmarshal(raw, &m) != nil {
		m["raw"] = string(raw)
	}
	return res.StatusCode, m, nil
}

func (p *serverProc) mustCall(method, path, bearer string, body any, want int) map[string]any {
	p.t.Helper()
	status, m, err := p.call(method, path, bearer, body)
	if err != nil || status != want {
		p.t.Fatalf("%s %s: %d %v %v, want %d", method, path, status, m, err, want)
	}
	return m
}

func (p *serverProc) waitStatus(inst, id, status string) {
	p.t.Helper()
	p.waitFor(60*time.Second, "workshop "+status, func() bool {
		_, m, err := p.call("GET", "/api/workshops/"+id, inst, nil)
		return err == nil && m["status"] == status
	})
}

var pidRE = regexp.MustCompile(`marker-(\w+)-pid-(\d+)-end`)

// shellState asks the shell for its marker variable and PID.
func shellState(ctx context.Context, term *terminal.Client) (marker, pid string, err error) {
	// Split so that the echoed command line does not match.
	if err := term.Send(ctx, []byte("echo marker-\"$MARK\"-pid-$$-\"\"end\n")); err != nil {
		return "", "", err
	}
	var out []byte
	for !pidRE.Match(out) {
		b, err := term.ReadUntil(ctx, "-end")
		if err != nil {
			return "", "", fmt.Errorf("%w (read %q)", err, out)
		}
		out = append(out, b...)
	}
	m := pidRE.FindSubmatch(out)
	return string(m[1]), string(m[2]), nil
}

// TestServerSIGKILLKeepsTheSeat: a learner writes a file and leaves a
// marker in the shell; the real server process is SIGKILLed and started
// again, and within 5 s the learner's reconnect lands on the same shell
// (same PID, marker set) with the file; then the workshop is stopped and
// started, and the file is back.
func TestServerSIGKILLKeepsTheSeat(t *testing.T) { testRestartKeepsTheSeat(t, syscall.SIGKILL) }

// TestServerCtrlCKeepsTheSeat: the same with Ctrl-C (SIGINT) on `make dev`
// and starting it again.
func TestServerCtrlCKeepsTheSeat(t *testing.T) { testRestartKeepsTheSeat(t, syscall.SIGINT) }

func testRestartKeepsTheSeat(t *testing.T, sig syscall.Signal) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := newServerProc(t)
	p.start()
	t.Logf("runtime: %s", agent.DefaultRuntime())

	inst := p.mustCall("POST", "/api/auth/login", "", map[string]string{"email": "admin@example.com", "password": "a long admin password"}, 200)["token"].(string)
	m := p.mustCall("POST", "/api/workshops", inst, map[string]any{"name": "Restart", "seats": 1}, 201)
	id, code := m["id"].(string), m["code"].(string)
	t.Cleanup(func() {
		// Deleting the workshop removes its seat and home.
		if p.cmd != nil {
			_, _, _ = p.call("DELETE", "/api/workshops/"+id, inst, nil)
			p.waitStatus(inst, id, "deleted")
		}
	})
	p.mustCall("POST", "/api/workshops/"+id+"/start", inst, nil, 202)
	p.waitStatus(inst, id, "running")

	access := p.mustCall("POST", "/api/register", "", map[string]string{"workshop_code": code, "name": "Lea", "email": "lea@example.com"}, 201)["access_code"].(string)
	j := p.mustCall("POST", "/api/join", "", map[string]string{"access_code": access}, 200)
	tok := j["token"].(string)
	ep := j["endpoints"].(map[string]any)
	wsURL := "ws" + strings.TrimPrefix(p.base, "http") + ep["terminal"].(string) + "?token=" + tok

	term, err := terminal.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Send(ctx, []byte("MARK=kept42; echo an-hour-of-work > work.txt\n")); err != nil {
		t.Fatal(err)
	}
	marker, pid, err := shellState(ctx, term)
	if err != nil || marker != "kept42" {
		t.Fatalf("before the restart: marker %q pid %s %v", marker, pid, err)
	}
	term.Close()

	p.kill(sig)
	restarted := time.Now()
	p.start()
	var term2 *terminal.Client
	p.waitFor(5*time.Second, "the learner's reconnect to reach the same shell", func() bool {
		dctx, dcancel := context.WithTimeout(ctx, time.Second)
		defer dcancel()
		c, err := terminal.Dial(dctx, wsURL, nil)
		if err != nil {
			return false
		}
		if mk, pd, err := shellState(dctx, c); err != nil || mk != marker || pd != pid {
			c.Close()
			if err == nil {
				t.Fatalf("after the restart the shell is pid %s with marker %q; was pid %s with %q", pd, mk, pid, marker)
			}
			return false
		}
		term2 = c
		return true
	})
	t.Logf("the same shell answered %s after the restart began", time.Since(restarted).Round(time.Millisecond))
	term2.Close()
	wantFileContent(t, p, ep["files"].(string), tok)

	// Stop and start: the seat ends, its home stays, and comes back.
	p.mustCall("POST", "/api/workshops/"+id+"/stop", inst, nil, 202)
	p.waitStatus(inst, id, "stopped")
	p.mustCall("POST", "/api/workshops/"+id+"/start", inst, nil, 202)
	p.waitStatus(inst, id, "running")
	j = p.mustCall("POST", "/api/join", "", map[string]string{"access_code": access}, 200)
	wantFileContent(t, p, j["endpoints"].(map[string]any)["files"].(string), j["token"].(string))
}

// wantFileContent reads work.txt through the relay's file API.
func wantFileContent(t *testing.T, p *serverProc, files, tok string) {
	t.Helper()
	req, _ := http.NewRequest("GET", p.base+files+"/content?path=work.txt", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(bufio.NewReader(res.Body))
	if res.StatusCode != 200 || strings.TrimSpace(string(b)) != "an-hour-of-work" {
		t.Fatalf("work.txt: %d %q", res.StatusCode, b)
	}
}
