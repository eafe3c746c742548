package agent

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/clarateach/backend/internal/connlimit"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/fdlimit"
)

// The agent caps live terminal connections per token and per seat, like the
// control plane's relay, so a token used directly against the agent cannot
// exhaust it either.
func TestProxyCapsTerminalConnections(t *testing.T) {
	t.Parallel()
	ta := newTestAgent(t, "", nil)
	ta.destroyAllOnCleanup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for seat := 1; seat <= 2; seat++ {
		if _, _, err := ta.client().CreateSeat(ctx, "wcap", seat, agentclient.SeatOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dial := func(seat int, tok string) (*websocket.Conn, error) {
		u := "ws" + strings.TrimPrefix(ta.srv.URL, "http") + "/proxy/wcap/" + strconv.Itoa(seat) + "/terminal?token=" + url.QueryEscape(tok)
		c, _, err := websocket.Dial(ctx, u, nil)
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { c.CloseNow() })
		_, _, err = c.Read(ctx) // HELLO, or the refusal
		return c, err
	}
	tokA := learnerToken(t, "wcap", 1, "", 0)
	for i := 0; i < connlimit.PerToken; i++ {
		if _, err := dial(1, tokA); err != nil {
			t.Fatalf("terminal %d: %v", i, err)
		}
	}
	_, err := dial(1, tokA)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != connlimit.CloseTooManyConnections {
		t.Fatalf("terminal over the token cap: %v, want close %d", err, connlimit.CloseTooManyConnections)
	}
	if _, err := dial(2, learnerToken(t, "wcap", 2, "", 0)); err != nil {
		t.Fatalf("another seat's learner: %v", err)
	}
	if _, err := dial(1, learnerToken(t, "wcap", 1, "instructor", 0)); err != nil {
		t.Fatalf("the instructor on the learner's seat: %v", err)
	}
}

func TestProxyShedsNearTheDescriptorLimit(t *testing.T) {
	t.Parallel()
	full := &fdlimit.Guard{Every: 1, Limit: func() uint64 { return 1000 }, Open: func() (int, error) { return 990, nil }}
	ta := newTestAgent(t, "", func(c *Config) { c.FDGuard = full })
	res, body := proxyReq(t, "GET", ta.srv.URL, "/proxy/w/1/sessions", learnerToken(t, "w", 1, "", 0), "", nil)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("near the limit: %d %s", res.StatusCode, body)
	}
	rec := httptest.NewRecorder()
	ta.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("health near the limit: %d", rec.Code)
	}
}
