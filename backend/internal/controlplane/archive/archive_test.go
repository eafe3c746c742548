package archive_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/blob"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/archive"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
)

// homes stands in for the agent: each seat's home is one blob of bytes
// whose fingerprint is its content. (The real agent route is tested in
// package agent, and the whole path on real agents in package reconcile.)
type homes struct {
	mu   sync.Mutex
	data map[int]string
}

func (h *homes) ArchiveSeat(ctx context.Context, ws string, seat int, inm string) (*agentclient.Archive, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.data[seat]
	if !ok {
		return nil, &agentclient.Error{Status: 404, Code: "not_found"}
	}
	etag := `"` + d + `"`
	if inm == etag {
		return &agentclient.Archive{ETag: etag, NotModified: true}, nil
	}
	return &agentclient.Archive{Body: io.NopCloser(strings.NewReader(d)), ETag: etag}, nil
}

func (h *homes) RestoreSeat(ctx context.Context, ws string, seat int, body io.Reader, max int64, onlyIfEmpty bool) (*agentclient.RestoreResult, error) {
	b, _ := io.ReadAll(body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if onlyIfEmpty && h.data[seat] != "" {
		return nil, &agentclient.Error{Status: 409, Code: "not_empty"}
	}
	h.data[seat] = string(b)
	return &agentclient.RestoreResult{Files: 1, Bytes: int64(len(b))}, nil
}

type fixture struct {
	st    store.Store
	blobs *blob.Dir
	arc   *archive.Archiver
	now   time.Time
	w     *store.Workshop
	reg   *store.Registration
}

func setup(t *testing.T, cfg archive.Config) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := open.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, blobs: blobs, now: time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)}
	cfg.Store, cfg.Blobs, cfg.Now = st, blobs, func() time.Time { return f.now }
	f.arc = archive.New(cfg)
	u := &store.User{Email: "i@example.test", PasswordHash: "x"}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	f.w = &store.Workshop{OwnerID: u.ID, Name: "W", Seats: 3, DesiredState: store.DesiredRunning}
	if err := st.CreateWorkshop(ctx, f.w); err != nil {
		t.Fatal(err)
	}
	f.reg, _, err = st.Register(ctx, &store.Registration{WorkshopID: f.w.ID, Email: "l@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AssignSeat(ctx, f.reg.ID); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSaveSkipsUnchangedAndKeepsTwo(t *testing.T) {
	f := setup(t, archive.Config{})
	ctx := context.Background()
	h := &homes{data: map[int]string{1: "v1"}}
	for i, content := range []string{"v1", "v1", "v2", "v3"} {
		h.data[1] = content
		f.now = f.now.Add(time.Minute)
		a, err := f.arc.SaveSeat(ctx, h, f.w, 1, f.reg.ID, archive.ReasonPeriodic)
		if err != nil {
			t.Fatal(err)
		}
		if (a == nil) != (i == 1) {
			t.Fatalf("save %d (%s): archive %v; only the unchanged second save may be skipped", i, content, a)
		}
	}
	list, _ := f.st.ListArchives(ctx, store.ArchiveFilter{RegistrationID: f.reg.ID})
	objs, _ := f.blobs.List(ctx, "")
	if len(list) != 2 || len(objs) != 2 {
		t.Fatalf("%d rows, %d objects; want the newest 2", len(list), len(objs))
	}
	_, body, err := f.arc.Latest(ctx, f.reg.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(body)
	body.Close()
	if string(b) != "v3" {
		t.Fatalf("latest = %q", b)
	}
}

func TestOversizedArchiveIsRefused(t *testing.T) {
	f := setup(t, archive.Config{MaxBytes: func(*store.Workshop) int64 { return 10 }})
	ctx := context.Background()
	h := &homes{data: map[int]string{1: strings.Repeat("x", 11)}}
	_, err := f.arc.SaveSeat(ctx, h, f.w, 1, f.reg.ID, archive.ReasonStop)
	if !errors.Is(err, archive.ErrTooLarge) {
		t.Fatalf("oversized archive: %v, want ErrTooLarge", err)
	}
	if objs, _ := f.blobs.List(ctx, ""); len(objs) != 0 {
		t.Fatalf("an oversized archive left objects: %v", objs)
	}
	if _, err := f.st.LatestArchive(ctx, f.reg.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an oversized archive left a row: %v", err)
	}
}

func TestRestoreOnlyIntoEmptyHomes(t *testing.T) {
	f := setup(t, archive.Config{})
	ctx := context.Background()
	h := &homes{data: map[int]string{1: "saved"}}
	if _, err := f.arc.SaveSeat(ctx, h, f.w, 1, f.reg.ID, archive.ReasonStop); err != nil {
		t.Fatal(err)
	}
	h.data[1] = "newer, on the host"
	if n, err := f.arc.RestoreAll(ctx, h, f.w); err != nil || n != 0 || h.data[1] != "newer, on the host" {
		t.Fatalf("restore over a kept home: n=%d err=%v home=%q", n, err, h.data[1])
	}
	h.data = map[int]string{}
	if n, err := f.arc.RestoreAll(ctx, h, f.w); err != nil || n != 1 || h.data[1] != "saved" {
		t.Fatalf("restore into an empty home: n=%d err=%v home=%q", n, err, h.data[1])
	}
}

func TestExpire(t *testing.T) {
	for _, tc := range []struct {
		name      string
		retention time.Duration
		after     time.Duration
		running   bool
		wantLeft  int
	}{
		{"kept within the retention", 7 * 24 * time.Hour, 6 * 24 * time.Hour, false, 1},
		{"removed after the retention", 7 * 24 * time.Hour, 8 * 24 * time.Hour, false, 0},
		{"kept while the workshop runs", 7 * 24 * time.Hour, 30 * 24 * time.Hour, true, 1},
		{"retention 0 keeps nothing after the end", -1, time.Second, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, archive.Config{Retention: tc.retention})
			ctx := context.Background()
			h := &homes{data: map[int]string{1: "work"}}
			if _, err := f.arc.SaveSeat(ctx, h, f.w, 1, f.reg.ID, archive.ReasonEnd); err != nil {
				t.Fatal(err)
			}
			if !tc.running {
				f.st.UpdateWorkshop(ctx, f.w.ID, func(w *store.Workshop) error { w.DesiredState = store.DesiredStopped; return nil })
			}
			f.now = f.now.Add(tc.after)
			if _, err := f.arc.Expire(ctx); err != nil {
				t.Fatal(err)
			}
			list, _ := f.st.ListArchives(ctx, store.ArchiveFilter{})
			objs, _ := f.blobs.List(ctx, "")
			if len(list) != tc.wantLeft || len(objs) != tc.wantLeft {
				t.Fatalf("%d rows, %d objects left; want %d", len(list), len(objs), tc.wantLeft)
			}
		})
	}
}

// Objects of a workshop that was purged from the database are swept.
func TestExpireSweepsPurgedWorkshops(t *testing.T) {
	f := setup(t, archive.Config{})
	ctx := context.Background()
	if _, err := f.blobs.Put(ctx, archive.Prefix("gone")+"r/x.tar.gz", bytes.NewReader([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	h := &homes{data: map[int]string{1: "work"}}
	if _, err := f.arc.SaveSeat(ctx, h, f.w, 1, f.reg.ID, archive.ReasonEnd); err != nil {
		t.Fatal(err)
	}
	if n, err := f.arc.Expire(ctx); err != nil || n != 1 {
		t.Fatalf("Expire = %d, %v; want the purged workshop's object only", n, err)
	}
	if objs, _ := f.blobs.List(ctx, ""); len(objs) != 1 || !strings.Contains(objs[0].Key, f.w.ID) {
		t.Fatalf("objects left: %v", objs)
	}
}
