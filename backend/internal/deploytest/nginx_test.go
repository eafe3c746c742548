package deploytest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestNginxCheckScript runs scripts/test/nginx-check.sh (nginx -t on the
// rendered template, and the BACKEND_URL hook).
func TestNginxCheckScript(t *testing.T) {
	t.Parallel()
	needTool(t, "nginx")
	needTool(t, "envsubst")
	r := runCmd(t, time.Minute, nil, repoRoot(t), "bash", repoPath(t, "scripts/test/nginx-check.sh"))
	if r.code != 0 {
		t.Fatalf("nginx-check.sh failed (%d):\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startNginx renders frontend/nginx.conf the way the image does (BACKEND_URL
// substituted), serving webRoot on a free loopback port, and returns its base
// URL. Only the listen port and the document root differ from the image.
func startNginx(t *testing.T, backendURL, webRoot string) string {
	t.Helper()
	nginx := needTool(t, "nginx")
	dir := t.TempDir()
	for _, d := range []string{"conf.d", "snippets", "temp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	tmpl := readRepoFile(t, "frontend/nginx.conf")
	conf := strings.ReplaceAll(tmpl, "${BACKEND_URL}", backendURL)
	for old, repl := range map[string]string{
		"listen 8080 default_server;":      fmt.Sprintf("listen 127.0.0.1:%d default_server;", port),
		"listen [::]:8080 default_server;": "",
		"root /usr/share/nginx/html;":      "root " + webRoot + ";",
	} {
		if !strings.Contains(conf, old) {
			t.Fatalf("frontend/nginx.conf no longer contains %q; update this test", old)
		}
		conf = strings.ReplaceAll(conf, old, repl)
	}
	mime, err := os.ReadFile("/etc/nginx/mime.types")
	if err != nil {
		t.Skipf("no /etc/nginx/mime.types: %v", err)
	}
	files := map[string]string{
		"conf.d/default.conf":                       conf,
		"snippets/clarateach-security-headers.conf": readRepoFile(t, "frontend/security-headers.conf"),
		"mime.types": string(mime),
		"nginx.conf": fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr warn;
daemon off;
events { worker_connections 64; }
http {
    include mime.types;
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path %[1]s/temp/body;
    proxy_temp_path %[1]s/temp/proxy;
    fastcgi_temp_path %[1]s/temp/fastcgi;
    uwsgi_temp_path %[1]s/temp/uwsgi;
    scgi_temp_path %[1]s/temp/scgi;
    include conf.d/*.conf;
}
`, dir),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	cmd := exec.Command(nginx, "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt) // fast shutdown
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return base
		}
		select {
		case <-done:
			t.Fatalf("nginx exited: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond) // polling for the port, with a deadline
	}
}

// TestNginxServesAppAndProxiesAPI runs the real nginx with the real template
// in front of a test backend: SPA fallback, caching, security headers, the
// /api/ proxy (plain, large upload, WebSocket upgrade).
func TestNginxServesAppAndProxiesAPI(t *testing.T) {
	t.Parallel()
	needTool(t, "nginx")

	type seen struct {
		path, host, fwdHost string
		bodyLen             int
	}
	got := make(chan seen, 16)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/ws" {
			c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
			if err != nil {
				return
			}
			defer c.CloseNow()
			ctx := r.Context()
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			_ = c.Write(ctx, typ, append([]byte("echo:"), msg...))
			_ = c.Close(websocket.StatusNormalClosure, "")
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		got <- seen{r.URL.Path, r.Host, r.Header.Get("X-Forwarded-Host"), int(n)}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true}`)
	}))
	t.Cleanup(backend.Close)

	web := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// nginx's workers run as an unprivileged user: let them in.
	must(os.Chmod(filepath.Dir(web), 0o755))
	must(os.Chmod(web, 0o755))
	must(os.MkdirAll(filepath.Join(web, "assets"), 0o755))
	must(os.WriteFile(filepath.Join(web, "index.html"), []byte("<!doctype html><title>ClaraTeach</title>"), 0o644))
	must(os.WriteFile(filepath.Join(web, "assets", "index-Ab12Cd34.js"), []byte("console.log(1)"), 0o644))
	must(os.WriteFile(filepath.Join(web, "favicon.svg"), []byte("<svg/>"), 0o644))

	base := startNginx(t, backend.URL, web)
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	checkSecurity := func(path string, h http.Header) {
		t.Helper()
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'", "connect-src 'self' ws://127.0.0.1:", "wss://127.0.0.1:"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "strict-origin-when-cross-origin"} {
			if h.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", path, k, h.Get(k), v)
			}
		}
	}

	for _, path := range []string{"/", "/index.html", "/workshops/abc/live", "/join"} {
		resp, body := get(path)
		if resp.StatusCode != 200 || !strings.Contains(body, "<title>ClaraTeach</title>") {
			t.Errorf("%s: %d %q, want the app's index.html", path, resp.StatusCode, body)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: Cache-Control %q, want no-cache", path, cc)
		}
		checkSecurity(path, resp.Header)
	}
	resp, body := get("/assets/index-Ab12Cd34.js")
	if resp.StatusCode != 200 || body != "console.log(1)" {
		t.Errorf("asset: %d %q", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") || !strings.Contains(cc, "immutable") {
		t.Errorf("asset Cache-Control %q, want a year, immutable", cc)
	}
	checkSecurity("/assets/...", resp.Header)
	if resp, _ := get("/assets/missing-123.js"); resp.StatusCode != 404 {
		t.Errorf("missing asset: %d, want 404 (not the SPA fallback)", resp.StatusCode)
	}

	// The API goes to the backend, path unchanged, with the backend's own
	// Host (Cloud Run routes on it) and the browser's in X-Forwarded-Host.
	resp, body = get("/api/workshops?x=1")
	if resp.StatusCode != 200 || body != `{"ok":true}` {
		t.Fatalf("/api/workshops: %d %q", resp.StatusCode, body)
	}
	s := <-got
	backendHost := strings.TrimPrefix(backend.URL, "http://")
	if s.path != "/api/workshops" || s.host != backendHost || !strings.HasPrefix(s.fwdHost, "127.0.0.1") {
		t.Errorf("backend saw %+v, want path /api/workshops, Host %s, X-Forwarded-Host 127.0.0.1:port", s, backendHost)
	}

	// A 5 MiB upload passes (nginx's default limit is 1 MiB).
	big := bytes.Repeat([]byte("x"), 5<<20)
	req, _ := http.NewRequest(http.MethodPut, base+"/api/workspaces/w/1/files/content?path=big.bin", bytes.NewReader(big))
	up, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	up.Body.Close()
	if up.StatusCode != 200 {
		t.Errorf("5 MiB upload: %d", up.StatusCode)
	}
	if s := <-got; s.bodyLen != len(big) {
		t.Errorf("backend got %d bytes of the upload, want %d", s.bodyLen, len(big))
	}

	// WebSocket upgrade through the proxy.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/api/ws", nil)
	if err != nil {
		t.Fatalf("websocket through nginx: %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageBinary, []byte{1, 'l', 's'}); err != nil {
		t.Fatal(err)
	}
	typ, msg, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageBinary || string(msg) != "echo:\x01ls" {
		t.Fatalf("websocket echo: %v %v %q", typ, err, msg)
	}
}
