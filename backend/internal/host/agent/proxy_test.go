package agent

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/seat/terminal"
)

func TestProxyCORSPreflight(t *testing.T) {
	t.Parallel()
	ta := newTestAgent(t, "", func(c *Config) {
		c.AllowedOrigins = []string{"http://localhost:5173", "https://learn.example.com"}
	})
	star := newTestAgent(t, "", func(c *Config) { c.AllowedOrigins = []string{"*"} })

	tests := []struct {
		name, base, path, origin string
		wantOrigin               string
		wantCredentials          bool
	}{
		{"seed curl, no origin", ta.srv.URL, "/proxy/ws1/1/files", "", "", false},
		{"allowed origin", ta.srv.URL, "/proxy/ws1/1/files", "http://localhost:5173", "http://localhost:5173", true},
		{"second allowed origin", ta.srv.URL, "/proxy/ws1/2/terminal", "https://learn.example.com", "https://learn.example.com", true},
		{"other origin", ta.srv.URL, "/proxy/ws1/1/files", "https://evil.example", "", false},
		{"deep path", ta.srv.URL, "/proxy/ws1/1/files/content", "http://localhost:5173", "http://localhost:5173", true},
		{"sessions", ta.srv.URL, "/proxy/ws1/1/sessions/abc", "http://localhost:5173", "http://localhost:5173", true},
		{"wildcard echoes, never with credentials", star.srv.URL, "/proxy/ws1/1/files", "https://any.example", "https://any.example", false},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodOptions, tt.base+tt.path, nil)
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
			req.Header.Set("Access-Control-Request-Method", "PUT")
			req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d, want 200", tt.name, resp.StatusCode)
		}
		if got := h.Get("Access-Control-Allow-Origin"); got != tt.wantOrigin {
			t.Errorf("%s: Allow-Origin %q, want %q", tt.name, got, tt.wantOrigin)
		}
		if h.Get("Access-Control-Allow-Origin") == "*" {
			t.Errorf("%s: Allow-Origin is *", tt.name)
		}
		if got := h.Get("Access-Control-Allow-Credentials") == "true"; got != tt.wantCredentials {
			t.Errorf("%s: Allow-Credentials %v, want %v", tt.name, got, tt.wantCredentials)
		}
		if !strings.Contains(h.Get("Access-Control-Allow-Methods"), "PUT") ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Content-Type") ||
			h.Get("Access-Control-Max-Age") == "" || !strings.Contains(h.Get("Vary"), "Origin") {
			t.Errorf("%s: headers %v", tt.name, h)
		}
	}
}

func TestRewriteStripsCredentials(t *testing.T) {
	t.Parallel()
	ta := newTestAgent(t, "", nil)
	in := httptest.NewRequest("GET", "/proxy/ws/1/files?path=a&token=SECRET", nil)
	in.Header.Set("Authorization", "Bearer SECRET")
	in.Header.Set("Cookie", "ct_session=x")
	in.Header.Set("Origin", "http://localhost:5173")
	in.Header.Set("X-Forwarded-For", "1.2.3.4")
	q := url.Values{"path": {"a"}}
	in = in.WithContext(context.WithValue(in.Context(), targetKey{}, &proxyTarget{host: "s1.seat.invalid", path: "/files", query: q}))
	out := in.Clone(in.Context())
	ta.proxy.Rewrite(&httputil.ProxyRequest{In: in, Out: out})
	if out.URL.String() != "http://s1.seat.invalid/files?path=a" {
		t.Errorf("out URL = %s", out.URL)
	}
	for _, h := range []string{"Authorization", "Cookie", "Origin"} {
		if out.Header.Get(h) != "" {
			t.Errorf("%s forwarded to the daemon", h)
		}
	}
	if strings.Contains(out.URL.RawQuery, "SECRET") {
		t.Error("token forwarded in the query")
	}
}

// proxyGet sends a request to the agent's proxy with tok in the query.
func proxyReq(t *testing.T, method, base, path, tok, bearerTok string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	u := base + path
	if tok != "" {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "token=" + url.QueryEscape(tok)
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if bearerTok != "" {
		req.Header.Set("Authorization", "Bearer "+bearerTok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestProxyAuth(t *testing.T) {
	t.Parallel()
	ta := newTestAgent(t, "", nil)
	ta.destroyAllOnCleanup(t)
	ctx := context.Background()
	if _, _, err := ta.client().CreateSeat(ctx, "wsp", 1, agentclient.SeatOptions{}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := learnerToken(t, "wsp", 1, "", 0)
	otherSeat := learnerToken(t, "wsp", 2, "", 0)
	otherWorkshop := learnerToken(t, "wsq", 1, "", 0)
	// Claims name wsp/1 but the key is another workshop's.
	forged, _, _ := authtoken.Issue(authtoken.WorkshopKey([]byte(testSecret), "wsq"), "wsp", 1, "", 0, time.Hour, now)
	expired, _, _ := authtoken.Issue(authtoken.WorkshopKey([]byte(testSecret), "wsp"), "wsp", 1, "", 0, time.Minute, now.Add(-time.Hour))
	viewer := learnerToken(t, "wsp", 1, "viewer", 0)

	tests := []struct {
		name          string
		method, path  string
		query, bearer string
		want          int
	}{
		{"no token", "GET", "/proxy/wsp/1/sessions", "", "", 401},
		{"garbage", "GET", "/proxy/wsp/1/sessions", "garbage", "", 401},
		{"other seat", "GET", "/proxy/wsp/1/sessions", otherSeat, "", 403},
		{"other workshop", "GET", "/proxy/wsp/1/sessions", otherWorkshop, "", 401},
		{"forged", "GET", "/proxy/wsp/1/sessions", forged, "", 401},
		{"expired", "GET", "/proxy/wsp/1/sessions", expired, "", 401},
		{"agent token is not a workspace token", "GET", "/proxy/wsp/1/sessions", "", testToken, 401},
		{"query token", "GET", "/proxy/wsp/1/sessions", good, "", 200},
		{"bearer token", "GET", "/proxy/wsp/1/sessions", "", good, 200},
		{"files list", "GET", "/proxy/wsp/1/files?path=.", good, "", 200},
		{"viewer may read", "GET", "/proxy/wsp/1/files?path=.", viewer, "", 200},
		{"viewer may not write", "POST", "/proxy/wsp/1/files/mkdir", viewer, "", 403},
		{"viewer may not open sessions", "POST", "/proxy/wsp/1/sessions", viewer, "", 403},
		{"not a proxied path", "GET", "/proxy/wsp/1/health", good, "", 404},
		{"escaped climb", "GET", "/proxy/wsp/1/files%2F..%2Fhealth", good, "", 404},
		{"escaped climb out", "GET", "/proxy/wsp/1/sessions%2F..%2F..%2F..%2Fvms", good, "", 404},
		{"no such seat", "GET", "/proxy/wsp/3/sessions", learnerToken(t, "wsp", 3, "", 0), "", 404},
		{"bad seat", "GET", "/proxy/wsp/x/sessions", good, "", 400},
	}
	for _, tt := range tests {
		resp, body := proxyReq(t, tt.method, ta.srv.URL, tt.path, tt.query, tt.bearer, nil)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %s %s = %d %s, want %d", tt.name, tt.method, tt.path, resp.StatusCode, body, tt.want)
		}
	}
}

func TestProxyFilesRoundTrip(t *testing.T) {
	t.Parallel()
	ta := newTestAgent(t, "", func(c *Config) { c.MaxBodyBytes = 1 << 20 })
	ta.destroyAllOnCleanup(t)
	if _, _, err := ta.client().CreateSeat(context.Background(), "wsf", 1, agentclient.SeatOptions{}); err != nil {
		t.Fatal(err)
	}
	tok := learnerToken(t, "wsf", 1, "", 0)
	content := strings.Repeat("hello through the proxy\n", 1000)
	resp, body := proxyReq(t, "PUT", ta.srv.URL, "/proxy/wsf/1/files/content?path=dir/a.txt", "", tok, strings.NewReader(content))
	if resp.StatusCode/100 != 2 {
		t.Fatalf("write = %d %s", resp.StatusCode, body)
	}
	resp, body = proxyReq(t, "GET", ta.srv.URL, "/proxy/wsf/1/files/content?path=dir/a.txt", tok, "", nil)
	if resp.StatusCode != 200 || string(body) != content {
		t.Fatalf("read = %d, %d bytes", resp.StatusCode, len(body))
	}
	// Bodies over the agent's limit are refused with 413.
	resp, body = proxyReq(t, "PUT", ta.srv.URL, "/proxy/wsf/1/files/content?path=big", "", tok, strings.NewReader(strings.Repeat("x", 2<<20)))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized write = %d %s", resp.StatusCode, body)
	}
}

// dialTerminal opens a terminal through the agent's proxy.
func dialTerminal(t *testing.T, base, ws string, seat int, tok string, opts *terminal.DialOptions) *terminal.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := strings.Replace(base, "http", "ws", 1) + "/proxy/" + ws + "/" + strconv.Itoa(seat) + "/terminal?token=" + url.QueryEscape(tok)
	c, err := terminal.Dial(ctx, u, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestProxyTerminalDisconnectAndRevoke(t *testing.T) {
	t.Parallel()
	state := shortTempDir(t)
	ta := newTestAgent(t, state, nil)
	ta.destroyAllOnCleanup(t)
	c := ta.client()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := c.CreateSeat(ctx, "wst", 1, agentclient.SeatOptions{}); err != nil {
		t.Fatal(err)
	}
	// The learner's token and a viewer's are at generation 3; a later
	// instructor's at 5.
	tok := learnerToken(t, "wst", 1, "", 3)

	term := dialTerminal(t, ta.srv.URL, "wst", 1, tok, &terminal.DialOptions{Cols: 80, Rows: 24})
	if err := term.Send(ctx, []byte("echo hel''lo\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := term.ReadUntil(ctx, "hello"); err != nil {
		t.Fatal(err)
	}
	// A viewer is attached read-only whatever it asks for.
	view := dialTerminal(t, ta.srv.URL, "wst", 1, learnerToken(t, "wst", 1, "viewer", 3), &terminal.DialOptions{Session: term.Hello.Session, Mode: "rw"})
	if view.Hello.Mode != "ro" {
		t.Fatalf("viewer attached with mode %q", view.Hello.Mode)
	}
	later := dialTerminal(t, ta.srv.URL, "wst", 1, learnerToken(t, "wst", 1, "instructor", 5), &terminal.DialOptions{Session: term.Hello.Session})

	// Bytes were counted both ways.
	_, metricsText := do(t, "GET", ta.srv.URL+"/metrics", testToken, nil)
	for _, dir := range []string{"in", "out"} {
		if strings.Contains(string(metricsText), `clarateach_agent_relayed_bytes_total{direction="`+dir+`"} 0`) {
			t.Errorf("no %s bytes counted", dir)
		}
	}
	if !strings.Contains(string(metricsText), "clarateach_agent_terminal_sessions 1") {
		t.Errorf("terminal sessions not 1:\n%s", metricsText)
	}

	// Revoke at generation 4: the connections below it close, tokens below
	// it are refused, the generation-5 connection stays and tokens from 4
	// on work.
	res, err := c.Disconnect(ctx, "wst", 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	if res.Closed != 2 || res.MinGeneration != 4 {
		t.Errorf("disconnect = %+v, want 2 connections closed and minimum 4", res)
	}
	for _, cl := range []*terminal.Client{term, view} {
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		var readErr error
		for readErr == nil {
			_, readErr = cl.ReadOutput(rctx)
		}
		timedOut := rctx.Err() != nil
		rcancel()
		if timedOut {
			t.Fatalf("terminal connection survived the disconnect (%v)", readErr)
		}
	}
	if err := later.Send(ctx, []byte("echo st''ill-here\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := later.ReadUntil(ctx, "still-here"); err != nil {
		t.Fatalf("a connection above the minimum was closed: %v", err)
	}
	if resp, body := proxyReq(t, "GET", ta.srv.URL, "/proxy/wst/1/sessions", tok, "", nil); resp.StatusCode != 401 || !strings.Contains(string(body), "revoked") {
		t.Fatalf("revoked token = %d %s", resp.StatusCode, body)
	}
	// Issued in the same instant as the revoke, but one generation later.
	fresh := learnerToken(t, "wst", 1, "", 4)
	if resp, body := proxyReq(t, "GET", ta.srv.URL, "/proxy/wst/1/sessions", fresh, "", nil); resp.StatusCode != 200 {
		t.Fatalf("fresh token = %d %s", resp.StatusCode, body)
	}
	// The shell survived the disconnect: the fresh client finds the session.
	again := dialTerminal(t, ta.srv.URL, "wst", 1, fresh, &terminal.DialOptions{Session: term.Hello.Session, Offset: term.Offset()})
	if again.Hello.Session != term.Hello.Session {
		t.Fatalf("session %q, want %q", again.Hello.Session, term.Hello.Session)
	}
	// The minimum never goes down.
	if res, err := c.Disconnect(ctx, "wst", 1, 2); err != nil || res.MinGeneration != 4 {
		t.Fatalf("lower disconnect = %+v, %v", res, err)
	}

	// The revocation survives an agent restart.
	ta2 := newTestAgent(t, state, nil)
	if resp, _ := proxyReq(t, "GET", ta2.srv.URL, "/proxy/wst/1/sessions", tok, "", nil); resp.StatusCode != 401 {
		t.Fatalf("revoked token after restart = %d", resp.StatusCode)
	}
	if resp, body := proxyReq(t, "GET", ta2.srv.URL, "/proxy/wst/1/sessions", fresh, "", nil); resp.StatusCode != 200 {
		t.Fatalf("fresh token after restart = %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "POST", ta.srv.URL+"/vms/wst/1/disconnect", testToken, `{"min_generation":-1}`); resp.StatusCode != 400 {
		t.Fatalf("negative min_generation = %d %s", resp.StatusCode, body)
	}
}
