package agent

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/seat/workspace"
)

func TestPreviewRoute(t *testing.T) {
	t.Parallel()
	ta := newTestAgent(t, "", nil)
	ta.destroyAllOnCleanup(t)
	if _, _, err := ta.client().CreateSeat(context.Background(), "wsv", 1, agentclient.SeatOptions{}); err != nil {
		t.Fatal(err)
	}
	// The process runtime's daemon shares this test's network: the app
	// listens on the loopback here.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie("app")
		w.Header().Set("Access-Control-Allow-Origin", "https://app-own.example")
		v := ""
		if c != nil {
			v = c.Value
		}
		io.WriteString(w, r.RequestURI+" cookie="+v+" auth="+r.Header.Get("Authorization")+" tok="+r.Header.Get(PreviewTokenHeader))
	}))
	defer app.Close()
	port := strconv.Itoa(app.Listener.Addr().(*net.TCPAddr).Port)
	good := learnerToken(t, "wsv", 1, "", 0)
	do := func(path, tok, query string) (int, string, http.Header) {
		req, _ := http.NewRequest("GET", ta.srv.URL+path+query, nil)
		req.Header.Set(workspace.PreviewPathHeader, "/x?q=1")
		req.Header.Set("Cookie", "app=yes")
		req.Header.Set("Authorization", "Basic YXBwOmFwcA==")
		req.Header.Set("Origin", "http://localhost:5173")
		if tok != "" {
			req.Header.Set(PreviewTokenHeader, tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	code, body, h := do("/proxy/wsv/1/preview/"+port, good, "")
	if code != 200 || body != "/x?q=1 cookie=yes auth=Basic YXBwOmFwcA== tok=" {
		t.Fatalf("preview = %d %q; want the app's answer with its own cookie and Authorization, and no token", code, body)
	}
	if got := h.Get("Access-Control-Allow-Origin"); got != "https://app-own.example" {
		t.Errorf("the app's CORS header became %q: the agent must leave preview answers alone", got)
	}
	for _, tt := range []struct {
		name, path, tok, query string
		want                   int
	}{
		{"no token", "/proxy/wsv/1/preview/" + port, "", "", 401},
		{"token in the query is not read", "/proxy/wsv/1/preview/" + port, "", "?token=" + good, 401},
		{"other seat's token", "/proxy/wsv/1/preview/" + port, learnerToken(t, "wsv", 2, "", 0), "", 403},
		{"no such seat", "/proxy/wsv/2/preview/" + port, learnerToken(t, "wsv", 2, "", 0), "", 404},
		{"bad port", "/proxy/wsv/1/preview/0", good, "", 400},
	} {
		if code, body, _ := do(tt.path, tt.tok, tt.query); code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, code, body, tt.want)
		}
	}
}
