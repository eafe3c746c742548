package agentclient_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/agentapi"
	"github.com/clarateach/backend/internal/host/seatruntime/process"
	"github.com/clarateach/backend/internal/logging"
)

// newAgent runs a real agent (process runtime) whose seats are never
// started here: these tests cover the client's requests and error decoding.
func newAgent(t *testing.T) *httptest.Server {
	t.Helper()
	return newAgentLogging(t, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func newAgentLogging(t *testing.T, log *slog.Logger) *httptest.Server {
	t.Helper()
	state, err := os.MkdirTemp("", "acl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	rt, err := process.New(process.Config{DaemonCommand: []string{"/bin/true"}, BaseDir: state + "/p", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Listen: "127.0.0.1:0", Token: "tok", StateDir: state, Runtime: rt, Capacity: 3, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func TestClientAgainstAgent(t *testing.T) {
	t.Parallel()
	srv := newAgent(t)
	ctx := context.Background()
	c := agentclient.New(srv.URL+"/", "tok", nil)

	h, err := c.Health(ctx)
	if err != nil || h.Status != "ok" || h.Capacity != 3 || h.Runtime != "process" || h.VMCount != 0 {
		t.Fatalf("health = %+v, %v", h, err)
	}
	seats, err := c.ListSeats(ctx)
	if err != nil || len(seats) != 0 {
		t.Fatalf("list = %v, %v", seats, err)
	}
	if _, err := c.GetSeat(ctx, "ws1", 1); !agentclient.IsNotFound(err) {
		t.Fatalf("get missing seat: %v", err)
	}
	if err := c.DeleteSeat(ctx, "ws1", 1); err != nil {
		t.Fatalf("delete missing seat: %v", err)
	}
	res, err := c.Disconnect(ctx, "ws1", 1, 42)
	if err != nil || res.Closed != 0 || res.MinGeneration != 42 {
		t.Fatalf("disconnect = %+v, %v", res, err)
	}

	tests := []struct {
		name   string
		call   func(*agentclient.Client) error
		status int
		code   string
	}{
		{"seat past the largest workshop", func(c *agentclient.Client) error {
			_, _, err := c.CreateSeat(ctx, "ws1", agentapi.MaxSeatID+1, agentclient.SeatOptions{})
			return err
		}, 400, "invalid"},
		{"bad workshop", func(c *agentclient.Client) error {
			_, _, err := c.CreateSeat(ctx, "no/slash", 1, agentclient.SeatOptions{})
			return err
		}, 400, "invalid"},
		{"bad memory", func(c *agentclient.Client) error {
			_, _, err := c.CreateSeat(ctx, "ws1", 1, agentclient.SeatOptions{MemoryMB: 1})
			return err
		}, 400, "invalid"},
		{"daemon that never answers", func(c *agentclient.Client) error {
			_, _, err := c.CreateSeat(ctx, "ws1", 1, agentclient.SeatOptions{})
			return err
		}, 500, "seat_failed"},
		{"wrong token", func(*agentclient.Client) error {
			_, err := agentclient.New(srv.URL, "nope", nil).ListSeats(ctx)
			return err
		}, 401, "unauthorized"},
	}
	for _, tt := range tests {
		err := tt.call(c)
		var e *agentclient.Error
		if !errors.As(err, &e) || e.Status != tt.status || e.Code != tt.code || e.Message == "" {
			t.Errorf("%s: error %#v, want status %d code %q", tt.name, err, tt.status, tt.code)
		}
	}
}

func TestClientNonJSONErrorsAndTransport(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Errorf("dev-mode client sent Authorization %q", r.Header.Get("Authorization"))
		}
		http.Error(w, "upstream exploded", http.StatusBadGateway)
	}))
	defer srv.Close()
	_, err := agentclient.New(srv.URL, "", nil).Health(context.Background())
	var e *agentclient.Error
	if !errors.As(err, &e) || e.Status != 502 || e.Code != "" || e.Message != "upstream exploded" {
		t.Fatalf("error = %#v", err)
	}
	if agentclient.IsCapacity(err) || agentclient.IsNotFound(err) {
		t.Fatal("502 classified as capacity or not found")
	}
	srv.Close()
	if _, err := agentclient.New(srv.URL, "", nil).Health(context.Background()); err == nil || errors.As(err, &e) {
		t.Fatalf("closed server: %v", err)
	}
}

// lockedBuffer is a bytes.Buffer safe for a logger and a test at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRequestIDReachesAgentLogs: the control plane's request id (in the
// context of a client call) travels as X-Request-Id and the agent's log
// records of that request carry it.
func TestRequestIDReachesAgentLogs(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	srv := newAgentLogging(t, logging.New(&logs, slog.LevelDebug))
	c := agentclient.New(srv.URL+"/", "tok", nil)
	ctx := logging.WithRequestID(context.Background(), "cp-req-42")
	if err := c.DeleteSeat(ctx, "ws1", 1); err != nil {
		t.Fatalf("delete missing seat: %v", err)
	}
	if _, err := c.ListSeats(logging.WithRequestID(context.Background(), "cp-req-43")); err != nil {
		t.Fatal(err)
	}
	// The agent logs a request after answering it: wait for the records.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := logs.String()
		if strings.Contains(out, `"request_id":"cp-req-42"`) && strings.Contains(out, `"request_id":"cp-req-43"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent logs lack the request ids:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// An invalid id from a caller is not logged.
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/vms/ws1/2", nil)
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set(logging.RequestIDHeader, "bad id forged=1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if strings.Contains(logs.String(), "forged") {
		t.Fatalf("an invalid request id reached the logs:\n%s", logs.String())
	}
}
