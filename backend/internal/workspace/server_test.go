package workspace

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// startDaemon runs a daemon on a unix socket in a temp dir and returns an
// HTTP client that talks to it plus its root.
func startDaemon(t *testing.T, cfg Config) (*http.Client, string, *Server) {
	t.Helper()
	dir := t.TempDir()
	if cfg.Root == "" {
		cfg.Root = filepath.Join(dir, "root")
		if err := mkdir(cfg.Root); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(dir, "ws.sock")
	cfg.Listen = "unix:" + sock
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	t.Cleanup(hc.CloseIdleConnections)
	return hc, cfg.Root, s
}

func TestHealth(t *testing.T) {
	t.Parallel()
	hc, _, _ := startDaemon(t, Config{})
	resp, err := hc.Get("http://workspace/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || h.Status != "ok" || h.Sessions != 0 {
		t.Fatalf("health = %d %+v", resp.StatusCode, h)
	}
}

func TestParseArgs(t *testing.T) {
	t.Parallel()
	c, err := ParseArgs([]string{"--listen", "unix:/x.sock", "--root", "/tmp", "--shell", "/bin/sh", "-idle-timeout", "5m"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "unix:/x.sock" || c.Root != "/tmp" || c.Shell != "/bin/sh" || c.IdleTimeout.Minutes() != 5 {
		t.Fatalf("parsed %+v", c)
	}
	if _, err := ParseArgs([]string{"extra"}, nil); err == nil {
		t.Fatal("extra args accepted")
	}
}

func mkdir(p string) error { return os.MkdirAll(p, 0o755) }
