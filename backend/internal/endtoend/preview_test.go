package endtoend

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsEcho is a WebSocket echo server in Python's standard library (the
// seats have python3, not a WebSocket package): the handshake, then text
// frames echoed back with "echo:" in front.
const wsEcho = `import base64, hashlib, socket, struct, threading
def serve(c):
    req = b""
    while b"\r\n\r\n" not in req:
        d = c.recv(4096)
        if not d: return
        req += d
    key = [l.split(b":", 1)[1].strip() for l in req.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key:")][0]
    acc = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n")
    f = c.makefile("rb")
    while True:
        h = f.read(2)
        if len(h) < 2: return
        op, n = h[0] & 15, h[1] & 127
        if n == 126: n = struct.unpack(">H", f.read(2))[0]
        elif n == 127: n = struct.unpack(">Q", f.read(8))[0]
        mask = f.read(4)
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(f.read(n)))
        if op == 8: return
        if op == 1:
            out = b"echo:" + data
            c.sendall(bytes([0x81, len(out)]) + out)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8765))
s.listen(8)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`

// previewClient reaches the preview listener whatever the host name says
// ({port}-{seat}-{ws}.localhost), and never follows redirects.
func previewClient(addr string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       20 * time.Second,
	}
}

// previewGet gets u with cookie (name=value, or "") and returns the
// status, body and the cookie the answer set.
func previewGet(t *testing.T, hc *http.Client, u, cookie string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	set := ""
	if cs := res.Cookies(); len(cs) > 0 {
		set = cs[0].Name + "=" + cs[0].Value
	}
	return res.StatusCode, string(b), set
}

// openPreview asks the API for a port's preview link with a seat token
// and exchanges it for the preview cookie.
func (e *localEnv) openPreview(t *testing.T, hc *http.Client, wsID string, seat, port int, tok string) (origin, cookie string) {
	t.Helper()
	status, m := e.c.do("POST", "/api/workspaces/"+wsID+"/"+strconv.Itoa(seat)+"/preview", tok, map[string]int{"port": port})
	if status != 200 {
		t.Fatalf("preview link: %d %v", status, m)
	}
	status, _, cookie = previewGet(t, hc, m["url"].(string), "")
	if status != http.StatusSeeOther || cookie == "" {
		t.Fatalf("open the preview link: %d, cookie %q", status, cookie)
	}
	return m["origin"].(string), cookie
}

func (e *localEnv) waitPort(t *testing.T, wsID string, seat int, tok string, port int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		status, m := e.c.do("GET", "/api/workspaces/"+wsID+"/"+strconv.Itoa(seat)+"/ports", tok, nil)
		b, _ := json.Marshal(m["ports"])
		var ports []struct{ Port int }
		_ = json.Unmarshal(b, &ports)
		if status == 200 && slices.ContainsFunc(ports, func(p struct{ Port int }) bool { return p.Port == port }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d not listed within %s: %d %v", port, within, status, m)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPreviewEndToEnd: a learner starts python3 -m http.server 8000 and a
// WebSocket echo server in a real seat; the ports API lists 8000 on its
// first call after the server says it listens; the preview origin serves
// the directory listing and the echo; the other learner is refused, the
// instructor is let in; a share link works until it is revoked.
func TestPreviewEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := startLocal(ctx, t)
	ph := httptest.NewServer(e.srv.PreviewHandler())
	defer ph.Close()
	_, port, _ := net.SplitHostPort(ph.Listener.Addr().String())
	e.cfg.PreviewPort = port
	hc := previewClient(ph.Listener.Addr().String())

	inst, wsID, code := e.running(ctx, t, 3)
	seatA, tokA := e.joinReady(t, e.learner(t, code, "a@example.com"))
	seatB, tokB := e.joinReady(t, e.learner(t, code, "b@example.com"))
	base := "/api/workspaces/" + wsID + "/" + strconv.Itoa(seatA)

	req, _ := http.NewRequest("PUT", e.hs.URL+base+"/files/content?path=ws_echo.py", strings.NewReader(wsEcho))
	req.Header.Set("Authorization", "Bearer "+tokA)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode/100 != 2 {
		t.Fatalf("write ws_echo.py: %v %v", res, err)
	}
	term := dialOpen(ctx, t, "ws"+strings.TrimPrefix(e.hs.URL, "http")+base+"/terminal?token="+url.QueryEscape(tokA))
	if err := term.Send(ctx, []byte("echo marker > preview-marker.txt; (python3 ws_echo.py &) ; python3 -m http.server 8000\n")); err != nil {
		t.Fatal(err)
	}
	// http.server prints this line once it listens; from then on the very
	// next ports call must list the port (the list is read from
	// /proc/net/tcp per request, nothing is cached or polled).
	if _, err := term.ReadUntil(ctx, "Serving HTTP on"); err != nil {
		t.Fatalf("python3 -m http.server did not start: %v", err)
	}
	e.waitPort(t, wsID, seatA, tokA, 8000, 0)

	origin, cookieA := e.openPreview(t, hc, wsID, seatA, 8000, tokA)
	if want := "http://8000-" + strconv.Itoa(seatA) + "-" + wsID + ".localhost:" + port; origin != want {
		t.Fatalf("origin %q, want %q", origin, want)
	}
	status, body, _ := previewGet(t, hc, origin+"/", cookieA)
	if status != 200 || !strings.Contains(body, "Directory listing") || !strings.Contains(body, "preview-marker.txt") {
		t.Fatalf("preview of the learner's server: %d %q", status, body)
	}
	if status, _, _ := previewGet(t, hc, origin+"/", ""); status != http.StatusUnauthorized {
		t.Errorf("no cookie: %d, want 401", status)
	}

	// The WebSocket echo, through the preview origin.
	e.waitPort(t, wsID, seatA, tokA, 8765, 10*time.Second)
	wsOrigin, cookieWS := e.openPreview(t, hc, wsID, seatA, 8765, tokA)
	h := http.Header{}
	h.Set("Cookie", cookieWS)
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(wsOrigin, "http")+"/", &websocket.DialOptions{HTTPClient: hc, HTTPHeader: h})
	if err != nil {
		t.Fatalf("websocket through the preview: %v", err)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := c.Read(ctx); err != nil || string(b) != "echo:hello" {
		t.Fatalf("echo: %q %v", b, err)
	}
	c.CloseNow()

	// Another learner: no link for seat A, and their own cookie (seat B's
	// host) does not open seat A's.
	if status, m := e.c.do("POST", base+"/preview", tokB, map[string]int{"port": 8000}); status != http.StatusForbidden {
		t.Errorf("other learner's preview link: %d %v, want 403", status, m)
	}
	_, cookieB := e.openPreview(t, hc, wsID, seatB, 8000, tokB)
	if status, _, _ := previewGet(t, hc, origin+"/", cookieB); status != http.StatusForbidden {
		t.Errorf("other learner's cookie on seat A's preview: %d, want 403", status)
	}

	// The instructor (a seat token from the class view).
	status, m := e.c.do("POST", "/api/workshops/"+wsID+"/seats/"+strconv.Itoa(seatA)+"/token", inst, map[string]string{"mode": "ro"})
	if status != 200 {
		t.Fatalf("seat token: %d %v", status, m)
	}
	_, cookieI := e.openPreview(t, hc, wsID, seatA, 8000, m["token"].(string))
	if status, body, _ := previewGet(t, hc, origin+"/", cookieI); status != 200 || !strings.Contains(body, "preview-marker.txt") {
		t.Errorf("instructor: %d, want 200 and the listing", status)
	}

	// A share link works for anyone holding it, until revoked.
	status, m = e.c.do("POST", base+"/shares", tokA, map[string]int{"port": 8000})
	if status != 201 {
		t.Fatalf("share: %d %v", status, m)
	}
	status, _, cookieS := previewGet(t, hc, m["url"].(string), "")
	if status != http.StatusSeeOther || cookieS == "" {
		t.Fatalf("open the share link: %d", status)
	}
	if status, _, _ := previewGet(t, hc, origin+"/", cookieS); status != 200 {
		t.Fatalf("shared preview: %d, want 200", status)
	}
	if status, m := e.c.do("POST", "/api/workspaces/"+wsID+"/"+strconv.Itoa(seatB)+"/shares", tokA, map[string]int{"port": 8000}); status != http.StatusForbidden {
		t.Errorf("sharing another seat: %d %v", status, m)
	}
	if status, m := e.c.do("DELETE", base+"/shares/"+m["id"].(string), tokA, nil); status != http.StatusNoContent {
		t.Fatalf("revoke share: %d %v", status, m)
	}
	if status, _, _ := previewGet(t, hc, origin+"/", cookieS); status != http.StatusGone {
		t.Errorf("revoked share: %d, want 410", status)
	}
	if status, _, _ := previewGet(t, hc, origin+"/", cookieA); status != 200 {
		t.Errorf("the learner's own cookie after the share's revoke: %d", status)
	}

	// Nothing listening: a clear page.
	_, cookie9 := e.openPreview(t, hc, wsID, seatA, 8999, tokA)
	o9 := strings.Replace(origin, "8000-", "8999-", 1)
	if status, body, _ := previewGet(t, hc, o9+"/", cookie9); status != http.StatusBadGateway || !strings.Contains(body, "Nothing is listening on port 8999") {
		t.Errorf("nothing listening: %d %q", status, body)
	}
}
