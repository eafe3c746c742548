package connlimit

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestCounterCapsPerTokenAndPerSeat(t *testing.T) {
	t.Parallel()
	c := &Counter{PerToken: 2, PerSeat: 3}
	var rel []func()
	for i := 0; i < 2; i++ {
		r, err := c.Acquire("tokA", "w/1")
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		rel = append(rel, r)
	}
	if _, err := c.Acquire("tokA", "w/1"); err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("third on one token: %v", err)
	}
	r, err := c.Acquire("tokB", "w/1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Acquire("tokC", "w/1"); err == nil || !strings.Contains(err.Error(), "seat") {
		t.Fatalf("fourth on one seat: %v", err)
	}
	if _, err := c.Acquire("tokA", "w/2"); err == nil {
		t.Fatal("the token cap must hold across seats")
	}
	if _, err := c.Acquire("tokD", "w/2"); err != nil {
		t.Fatalf("another seat: %v", err)
	}
	r()
	r() // releasing twice counts once
	if c.Live("w/1") != 2 {
		t.Fatalf("live = %d, want 2", c.Live("w/1"))
	}
	rel[0]()
	if _, err := c.Acquire("tokA", "w/1"); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}

func TestRefuseWebSocketSendsTheCloseCode(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		RefuseWebSocket(w, r, CloseTooManyConnections, "this token already has 16 terminal connections open")
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	_, _, err = conn.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != CloseTooManyConnections || !strings.Contains(ce.Reason, "16 terminal") {
		t.Fatalf("read after refusal: %v, want close %d", err, CloseTooManyConnections)
	}
	// A plain HTTP request gets a 429 JSON error.
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("plain request: %d", res.StatusCode)
	}
}

// TokenFull says what Acquire would refuse for the token, without taking
// anything, so a flood on one token can be refused before verifying it.
func TestTokenFullBeforeAcquire(t *testing.T) {
	c := &Counter{PerToken: 2, PerSeat: 10}
	if c.TokenFull("tok") {
		t.Fatal("an unused token is full")
	}
	var rel []func()
	for i := 0; i < 2; i++ {
		r, err := c.Acquire("tok", "ws/1")
		if err != nil {
			t.Fatal(err)
		}
		rel = append(rel, r)
	}
	if !c.TokenFull("tok") || c.TokenFull("other") {
		t.Fatalf("full: tok %v, other %v", c.TokenFull("tok"), c.TokenFull("other"))
	}
	if _, err := c.Acquire("tok", "ws/1"); err == nil {
		t.Fatal("Acquire took a third connection")
	}
	rel[0]()
	if c.TokenFull("tok") {
		t.Fatal("still full after a release")
	}
}
