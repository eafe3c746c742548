package files

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clarateach/backend/internal/seat/files/confine/confinetest"
)

type entry struct {
	name, body, link string
	dir              bool
}

func targz(t *testing.T, entries ...entry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.body))}
		switch {
		case e.dir:
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	gz.Close()
	return &buf
}

// The archive of one workspace restores into another, byte for byte.
func TestRestoreRoundTrip(t *testing.T) {
	t.Parallel()
	_, root := confinetest.Fixture(t)
	_, src := serve(t, root, 0)
	status, archive, _ := do(t, "GET", src+"/files/archive", nil)
	if status != 200 {
		t.Fatalf("archive = %d", status)
	}
	dst := t.TempDir()
	_, u := serve(t, dst, 0)
	status, body, _ := do(t, "PUT", u+"/files/archive", bytes.NewReader(archive))
	if status != 200 {
		t.Fatalf("restore = %d %s", status, body)
	}
	for name, want := range map[string]string{"hello.txt": "hello", "a/b/c.txt": "c"} {
		got, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || string(got) != want {
			t.Errorf("%s after restore = %q, %v; want %q", name, got, err, want)
		}
	}
	if l, err := os.Readlink(filepath.Join(dst, "link-in")); err != nil || l != "a/b" {
		t.Errorf("link-in after restore = %q, %v", l, err)
	}
}

// A hostile archive cannot write outside the workspace: ".." names,
// absolute names, and files written through a symlink that the same
// archive planted first.
func TestRestoreHostileArchive(t *testing.T) {
	t.Parallel()
	base, root := confinetest.Fixture(t)
	_, u := serve(t, root, 0)
	outside := filepath.Join(base, "outside")
	arc := targz(t,
		entry{name: "workspace/", dir: true},
		entry{name: "workspace/../../outside/secret.txt", body: "pwned"},
		entry{name: "/abs/secret.txt", body: "pwned"},
		entry{name: "workspace/esc", link: outside},
		entry{name: "workspace/esc/secret.txt", body: "pwned"},
		entry{name: "workspace/out-rel/secret.txt", body: "pwned"},
		entry{name: "workspace/ok.txt", body: "fine"},
	)
	status, body, _ := do(t, "PUT", u+"/files/archive", arc)
	if status != 200 {
		t.Fatalf("restore = %d %s", status, body)
	}
	checkOutsideUntouched(t, base)
	if got, _ := os.ReadFile(filepath.Join(root, "ok.txt")); string(got) != "fine" {
		t.Fatalf("ok.txt = %q", got)
	}
}

func TestRestoreLimitAndGarbage(t *testing.T) {
	t.Parallel()
	_, u := serve(t, t.TempDir(), 0)
	arc := targz(t, entry{name: "workspace/big", body: strings.Repeat("x", 1000)})
	if status, body, _ := do(t, "PUT", u+"/files/archive?max_bytes=999", arc); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("restore over max_bytes = %d %s, want 413", status, body)
	}
	if status, _, _ := do(t, "PUT", u+"/files/archive", strings.NewReader("not gzip")); status != 400 {
		t.Fatalf("restore of garbage = %d, want 400", status)
	}
}

// GET /files/archive carries the fingerprint as its ETag and answers 304
// to it until something in the workspace changes.
func TestArchiveNotModified(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "a.txt"), []byte("a"), 0o644)
	_, u := serve(t, root, 0)
	status, _, h := do(t, "GET", u+"/files/archive", nil)
	etag := h.Get("ETag")
	if status != 200 || etag == "" {
		t.Fatalf("archive = %d, ETag %q", status, etag)
	}
	get := func() int {
		req, _ := http.NewRequest("GET", u+"/files/archive", nil)
		req.Header.Set("If-None-Match", etag)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(); s != http.StatusNotModified {
		t.Fatalf("unchanged workspace = %d, want 304", s)
	}
	os.WriteFile(filepath.Join(root, "b.txt"), []byte("bb"), 0o644)
	if s := get(); s != 200 {
		t.Fatalf("after a new file = %d, want 200", s)
	}
}
