package blob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clarateach/backend/internal/blob"
)

// stores returns every implementation: the directory, and Cloud Storage
// through the production client against a JSON-API server listening on
// loopback (fakeGCS).
func stores(t *testing.T) map[string]blob.Store {
	t.Helper()
	d, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]blob.Store{"dir": d, "gcs": openGCS(t, newFakeGCS(t, "archives"))}
}

// openGCS is the production Open, pointed at fake the way Google's client
// libraries are pointed at emulators.
func openGCS(t *testing.T, fake *fakeGCS) blob.Store {
	t.Helper()
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(fake.srv.URL, "http://"))
	g, closeG, err := blob.Open(context.Background(), "gs://archives/clarateach", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeG() })
	return g
}

// TestGCSRetriesTransientErrors: reads that meet 503s are retried (twice),
// then the error is returned; a failed upload leaves no object and no
// open session.
func TestGCSRetriesTransientErrors(t *testing.T) {
	t.Cleanup(blob.ShortRetries())
	fake := newFakeGCS(t, "archives")
	g := openGCS(t, fake)
	ctx := context.Background()
	if _, err := g.Put(ctx, "w/a.tar.gz", strings.NewReader("abc")); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	fake.failGets = 2
	fake.mu.Unlock()
	rc, err := g.Get(ctx, "w/a.tar.gz")
	if err != nil {
		t.Fatalf("Get after two 503s: %v", err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "abc" {
		t.Fatalf("Get = %q", b)
	}
	fake.mu.Lock()
	fake.failGets = 3
	fake.mu.Unlock()
	if _, err := g.List(ctx, "w/"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("List after three 503s: %v, want the 503", err)
	}
	if _, err := g.Put(ctx, "w/b.tar.gz", io.MultiReader(strings.NewReader("partial"), failing{})); err == nil {
		t.Fatal("Put of a failing reader succeeded")
	}
	fake.mu.Lock()
	open := len(fake.sessions)
	fake.mu.Unlock()
	if names := fake.objects("archives"); open != 0 || len(names) != 1 {
		t.Fatalf("after a failed Put: objects %v, %d upload sessions open; want only a.tar.gz and none", names, open)
	}
}

func TestStores(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) { conformance(t, s) })
	}
}

func conformance(t *testing.T, s blob.Store) {
	ctx := context.Background()
	// Larger than one resumable-upload chunk, so the stream is sent in parts.
	big := make([]byte, 9<<20)
	rand.Read(big)
	n, err := s.Put(ctx, "workshops/ws1/reg1/a.tar.gz", bytes.NewReader(big))
	if err != nil || n != int64(len(big)) {
		t.Fatalf("Put = %d, %v", n, err)
	}
	for _, k := range []string{"workshops/ws1/reg2/b.tar.gz", "workshops/ws10/reg1/c.tar.gz"} {
		if _, err := s.Put(ctx, k, strings.NewReader(k)); err != nil {
			t.Fatal(err)
		}
	}
	rc, err := s.Get(ctx, "workshops/ws1/reg1/a.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("Get returned %d bytes (%v), want the %d put", len(got), err, len(big))
	}
	if _, err := s.Get(ctx, "workshops/ws1/none.tar.gz"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}

	objs, err := s.List(ctx, "workshops/ws1/")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].Key != "workshops/ws1/reg1/a.tar.gz" || objs[0].Size != int64(len(big)) || objs[1].Key != "workshops/ws1/reg2/b.tar.gz" {
		t.Fatalf("List(workshops/ws1/) = %+v", objs)
	}

	// A failed stream leaves nothing behind.
	if _, err := s.Put(ctx, "workshops/ws1/reg3/bad.tar.gz", io.MultiReader(strings.NewReader("partial"), failing{})); err == nil {
		t.Fatal("Put of a failing reader succeeded")
	}
	if _, err := s.Get(ctx, "workshops/ws1/reg3/bad.tar.gz"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("a failed Put left an object: %v", err)
	}

	if _, err := s.DeletePrefix(ctx, ""); err == nil {
		t.Fatal("DeletePrefix(\"\") was accepted")
	}
	for _, bad := range []string{"../x", "/abs", "a//b", "a/./b", "sp ace"} {
		if _, err := s.Put(ctx, bad, strings.NewReader("x")); err == nil {
			t.Fatalf("Put(%q) was accepted", bad)
		}
	}
	del, err := s.DeletePrefix(ctx, "workshops/ws1/")
	if err != nil || del != 2 {
		t.Fatalf("DeletePrefix = %d, %v; want 2", del, err)
	}
	rest, err := s.List(ctx, "")
	if err != nil || len(rest) != 1 || rest[0].Key != "workshops/ws10/reg1/c.tar.gz" {
		t.Fatalf("after DeletePrefix(workshops/ws1/): %+v, %v (ws10 must stay)", rest, err)
	}
	if err := s.Delete(ctx, "workshops/ws10/reg1/c.tar.gz"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "workshops/ws10/reg1/c.tar.gz"); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("stream broke") }

func TestDirLeavesNoTempFiles(t *testing.T) {
	dir := t.TempDir()
	d, err := blob.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = d.Put(context.Background(), "w/x.tar.gz", io.MultiReader(strings.NewReader("abc"), failing{}))
	var left []string
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) != 0 {
		t.Fatalf("a failed Put left files: %v", left)
	}
}
