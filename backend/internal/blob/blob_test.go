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

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/clarateach/backend/internal/blob"
)

// stores returns every implementation: the directory, and Cloud Storage
// through the production client against a GCS-protocol server listening
// on loopback (fake-gcs-server used as a library).
func stores(t *testing.T) map[string]blob.Store {
	t.Helper()
	d, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0, Writer: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "archives"})
	// The production Open, pointed at the server the way the client
	// library documents for emulators.
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL(), "http://"))
	g, closeG, err := blob.Open(context.Background(), "gs://archives/clarateach", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeG() })
	return map[string]blob.Store{"dir": d, "gcs": g}
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
