package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/connlimit"
	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/fdlimit"
)

func (e *testEnv) seatToken(t *testing.T, ws string, seat int, issued time.Time) string {
	t.Helper()
	tok, _, err := authtoken.Issue(authtoken.WorkshopKey([]byte(e.cfg.WorkspaceTokenSecret), ws), ws, seat, "learner",
		e.heldSeat(t, ws, seat).Generation, 15*time.Minute, issued)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// heldSeat returns seat of workshop ws, seating learners (lowest seat
// first) until a learner holds it: the relay accepts a learner token only
// for a held seat's generation.
func (e *testEnv) heldSeat(t *testing.T, ws string, seat int) *store.Seat {
	t.Helper()
	ctx := context.Background()
	for i := 0; ; i++ {
		st, err := e.st.GetSeat(ctx, ws, seat)
		if err == nil {
			return st
		}
		if !errors.Is(err, store.ErrNotFound) || i > seat {
			t.Fatalf("seat %d: %v", seat, err)
		}
		reg, _, err := e.st.Register(ctx, &store.Registration{WorkshopID: ws, Name: "L", Email: fmt.Sprintf("seat%d-%d@example.com", seat, i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.AssignSeat(ctx, reg.ID); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *testEnv) dialTerminal(ctx context.Context, ws string, seat int, tok string) (*websocket.Conn, error) {
	u := "ws" + strings.TrimPrefix(e.http.URL, "http") + fmt.Sprintf("/api/workspaces/%s/%d/terminal?token=%s", ws, seat, url.QueryEscape(tok))
	c, _, err := websocket.Dial(ctx, u, nil)
	return c, err
}

// echo sends a message and waits for it to come back: the connection is
// live end to end. A refused connection reports its close error.
func echo(ctx context.Context, c *websocket.Conn) error {
	if err := c.Write(ctx, websocket.MessageBinary, []byte("hi")); err != nil {
		return err
	}
	_, msg, err := c.Read(ctx)
	if err == nil && string(msg) != "hi" {
		err = fmt.Errorf("echo %q", msg)
	}
	return err
}

func closeCode(err error) websocket.StatusCode {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// One token (or seat) cannot hold more than its cap of live terminal
// connections; the excess is closed with 4409 and nobody else is affected.
func TestTerminalConnectionsAreCappedPerTokenAndSeat(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	inst := e.instructor("t@example.com")
	id, _ := e.workshop(inst, 5)
	e.start(inst, id)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := e.clock()
	tokA, tokB, tokC := e.seatToken(t, id, 1, now), e.seatToken(t, id, 1, now.Add(-time.Second)), e.seatToken(t, id, 1, now.Add(-2*time.Second))
	open := func(tok string, seat, n int) []*websocket.Conn {
		t.Helper()
		var out []*websocket.Conn
		for i := 0; i < n; i++ {
			c, err := e.dialTerminal(ctx, id, seat, tok)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			t.Cleanup(func() { c.CloseNow() })
			if err := echo(ctx, c); err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			out = append(out, c)
		}
		return out
	}
	refused := func(tok string, seat int, scope string) {
		t.Helper()
		c, err := e.dialTerminal(ctx, id, seat, tok)
		if err == nil {
			defer c.CloseNow()
			err = echo(ctx, c)
		}
		if closeCode(err) != connlimit.CloseTooManyConnections || !strings.Contains(err.Error(), scope) {
			t.Fatalf("connection over the %s cap: %v, want close %d", scope, err, connlimit.CloseTooManyConnections)
		}
	}
	a := open(tokA, 1, connlimit.PerToken)
	refused(tokA, 1, "token")
	open(e.seatToken(t, id, 2, now), 2, 1) // another learner is unaffected
	open(tokB, 1, connlimit.PerSeat-connlimit.PerToken)
	refused(tokC, 1, "seat")
	// A closed connection frees its place.
	a[0].Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := e.dialTerminal(ctx, id, 1, tokA)
		if err == nil {
			err = echo(ctx, c)
			c.CloseNow()
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no place freed after closing a connection: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Near the descriptor limit new requests are shed with 503, health checks
// still answer.
func TestRequestsAreShedNearTheDescriptorLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	var open atomic.Int64
	open.Store(10)
	guard := &fdlimit.Guard{Every: 1, Limit: func() uint64 { return 1000 }, Open: func() (int, error) { return int(open.Load()), nil }}
	srv := httptest.NewServer(server.New(server.Deps{Config: e.cfg, Store: e.st, Now: e.clock, FDGuard: guard}).Handler())
	defer srv.Close()
	get := func(path string) int {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if c := get("/api/auth/me"); c != http.StatusUnauthorized {
		t.Fatalf("with descriptors free: %d", c)
	}
	open.Store(950)
	if c := get("/api/auth/me"); c != http.StatusServiceUnavailable {
		t.Fatalf("at 950 of 1000 descriptors: %d, want 503", c)
	}
	if c := get("/health"); c != http.StatusOK {
		t.Fatalf("health near the limit: %d", c)
	}
}
