package agent

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
)

// A seat's home goes out as a .tar.gz and comes back into a fresh seat.
func TestArchiveAndRestoreSeat(t *testing.T) {
	ta := newTestAgent(t, "", nil)
	ta.destroyAllOnCleanup(t)
	ctx := context.Background()
	c := ta.client()
	if _, _, err := c.CreateSeat(ctx, "ws1", 1, agentclient.SeatOptions{}); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(ta.rt.SeatDir("ws1", 1), "home")
	if err := os.MkdirAll(filepath.Join(home, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "src", "main.py"), []byte("print('hi')\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	arc, err := c.ArchiveSeat(ctx, "ws1", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(arc.Body)
	arc.Body.Close()
	if err != nil || len(data) == 0 || arc.ETag == "" {
		t.Fatalf("archive: %d bytes, etag %q, %v", len(data), arc.ETag, err)
	}
	// Unchanged: 304 without a body.
	again, err := c.ArchiveSeat(ctx, "ws1", 1, arc.ETag)
	if err != nil || !again.NotModified {
		t.Fatalf("archive of an unchanged home: %+v, %v; want not modified", again, err)
	}

	// Without the agent token: 401.
	resp, _ := do(t, http.MethodGet, ta.srv.URL+"/vms/ws1/1/archive", "", nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("archive without the token = %d, want 401", resp.StatusCode)
	}
	if _, err := c.ArchiveSeat(ctx, "ws1", 2, ""); !agentclient.IsNotFound(err) {
		t.Fatalf("archive of a missing seat: %v, want 404", err)
	}

	if err := c.DeleteSeat(ctx, "ws1", 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CreateSeat(ctx, "ws1", 1, agentclient.SeatOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(home, "src", "main.py")); err == nil {
		t.Fatal("the recreated seat already has the file; the test proves nothing")
	}
	res, err := c.RestoreSeat(ctx, "ws1", 1, bytes.NewReader(data), 0, true)
	if err != nil || res.Files < 1 {
		t.Fatalf("restore: %+v, %v", res, err)
	}
	got, err := os.ReadFile(filepath.Join(home, "src", "main.py"))
	if err != nil || string(got) != "print('hi')\n" {
		t.Fatalf("restored file = %q, %v", got, err)
	}
	// Only into an empty home when asked: the restored one is not.
	if _, err := c.RestoreSeat(ctx, "ws1", 1, bytes.NewReader(data), 0, true); !agentclient.IsNotEmpty(err) {
		t.Fatalf("restore into a non-empty home with only-if-empty: %v, want not_empty", err)
	}
	// A limit smaller than the content: 413, said plainly.
	if _, err := c.RestoreSeat(ctx, "ws1", 1, bytes.NewReader(data), 3, false); err == nil {
		t.Fatal("restore over max_bytes succeeded")
	} else if e, ok := err.(*agentclient.Error); !ok || e.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("restore over max_bytes: %v, want 413", err)
	}
}
