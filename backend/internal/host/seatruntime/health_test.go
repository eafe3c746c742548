package seatruntime

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// fakeDaemon serves GET /health on a unix socket and counts the
// connections it accepted.
type fakeDaemon struct {
	srv     *http.Server
	accepts atomic.Int64
}

func startFakeDaemon(t *testing.T, sock string) *fakeDaemon {
	t.Helper()
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDaemon{}
	d.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/health" {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write([]byte(`{"ok":true}`))
		}),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				d.accepts.Add(1)
			}
		},
	}
	go func() { _ = d.srv.Serve(ln) }()
	t.Cleanup(func() { _ = d.srv.Close() })
	return d
}

// healthFixture is a fake daemon on a fresh socket, an empty
// HealthClients and a context that ends with the test.
func healthFixture(t *testing.T) (string, *fakeDaemon, *HealthClients, context.Context) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "ws.sock")
	d := startFakeDaemon(t, sock)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return sock, d, &HealthClients{}, ctx
}

func TestHealthClientsKeepOneConnection(t *testing.T) {
	sock, d, h, ctx := healthFixture(t)
	for i := range 5 {
		if err := h.Check(ctx, sock); err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
	}
	if n := d.accepts.Load(); n != 1 {
		t.Fatalf("five checks opened %d connections to the daemon, want 1 (kept alive)", n)
	}
}

// A daemon that restarted (its socket closed and made again at the same
// path) must still be seen alive: the seat watcher restarts a seat that
// fails a check.
func TestHealthClientsAfterDaemonRestart(t *testing.T) {
	sock, d, h, ctx := healthFixture(t)
	if err := h.Check(ctx, sock); err != nil {
		t.Fatal(err)
	}
	_ = d.srv.Close() // closes the kept connection too
	if err := h.Check(ctx, sock); err == nil {
		t.Fatal("check passed with no daemon listening")
	}
	d2 := startFakeDaemon(t, sock)
	if err := h.Check(ctx, sock); err != nil {
		t.Fatalf("check after the daemon came back: %v", err)
	}
	if n := d2.accepts.Load(); n != 1 {
		t.Fatalf("new daemon saw %d connections, want 1", n)
	}
}

func TestHealthClientsForgetClosesTheConnection(t *testing.T) {
	sock, d, h, ctx := healthFixture(t)
	if err := h.Check(ctx, sock); err != nil {
		t.Fatal(err)
	}
	h.Forget(sock)
	h.mu.Lock()
	left := len(h.clients)
	h.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d clients kept after Forget", left)
	}
	if err := h.Check(ctx, sock); err != nil {
		t.Fatal(err)
	}
	if n := d.accepts.Load(); n != 2 {
		t.Fatalf("daemon saw %d connections, want 2 (Forget dropped the first)", n)
	}
}
