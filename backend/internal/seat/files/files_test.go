package files

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clarateach/backend/internal/seat/files/confine/confinetest"
)

func serve(t *testing.T, root string, maxFile int64) (*FS, string) {
	t.Helper()
	f, err := Open(root, maxFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	f.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); f.Close() })
	return f, srv.URL
}

func do(t *testing.T, method, u string, body io.Reader) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func q(p string) string { return url.QueryEscape(p) }

// checkOutsideUntouched fails if anything outside the root changed.
func checkOutsideUntouched(t *testing.T, base string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(base, "outside", "secret.txt"))
	if err != nil || string(b) != confinetest.Secret {
		t.Fatalf("outside secret changed: %q %v", b, err)
	}
	des, _ := os.ReadDir(filepath.Join(base, "outside"))
	if len(des) != 2 {
		t.Fatalf("outside dir has %d entries, want 2", len(des))
	}
	des, _ = os.ReadDir(base)
	if len(des) != 2 {
		t.Fatalf("base dir has %d entries, want 2", len(des))
	}
}

func TestReadConfinement(t *testing.T) {
	t.Parallel()
	base, root := confinetest.Fixture(t)
	_, u := serve(t, root, 0)
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"hello.txt", 200, "hello"},
		{"./hello.txt", 200, "hello"},
		{"a/b/c.txt", 200, "c"},
		{"link-in/c.txt", 200, "c"},
		{"file-link", 200, "hello"},
		{"../outside/secret.txt", 403, ""},
		{"/etc/passwd", 403, ""},
		{base + "/outside/secret.txt", 403, ""},
		{"a/../hello.txt", 403, ""},
		{"out-rel/secret.txt", 403, ""},
		{"out-abs/secret.txt", 403, ""},
		{"out-file", 403, ""},
		{"a/up/secret.txt", 403, ""},
		{"a/upfile", 403, ""},
		{"chain/secret.txt", 403, ""},
		{"sneaky/secret.txt", 403, ""},
		{"loop1", 403, ""},
		{"abs-in", 403, ""},
		{"dev-null", 403, ""},
		{"proc-self/etc/passwd", 403, ""},
		{"fifo", 403, ""},
		{"sock", 403, ""},
		{"devnull", 403, ""},
		{"dangling", 404, ""},
		{"missing.txt", 404, ""},
		{"hello.txt/x", 404, ""},
		{"a", 409, ""},
		{"a\x00b", 400, ""},
	}
	for _, tc := range tests {
		if tc.path == "devnull" && os.Geteuid() != 0 {
			continue // mknod needs root
		}
		status, body, _ := do(t, "GET", u+"/files/content?path="+q(tc.path), nil)
		if status != tc.status || (tc.body != "" && string(body) != tc.body) {
			t.Errorf("read %q = %d %q; want %d %q", tc.path, status, body, tc.status, tc.body)
		}
		if bytes.Contains(body, []byte(confinetest.Secret)) {
			t.Errorf("read %q leaked the secret", tc.path)
		}
		if status >= 400 && !bytes.Contains(body, []byte(`"error"`)) {
			t.Errorf("read %q: error body %q is not an apierror", tc.path, body)
		}
	}
	if status, _, _ := do(t, "GET", u+"/files/content", nil); status != 400 {
		t.Errorf("read without path = %d", status)
	}
	checkOutsideUntouched(t, base)
}

func TestWriteConfinementAndLimits(t *testing.T) {
	t.Parallel()
	base, root := confinetest.Fixture(t)
	_, u := serve(t, root, 1024)
	tests := []struct {
		path   string
		status int
	}{
		{"new.txt", 201},
		{"hello.txt", 200},
		{"deep/er/new.txt", 201},
		{"file-link", 200}, // writes through to hello.txt
		{"a", 409},
		{".", 409},
		{"../outside/x.txt", 403},
		{"/tmp/x.txt", 403},
		{"out-rel/x.txt", 403},
		{"out-abs/x.txt", 403},
		{"out-file", 403},
		{"a/up/x.txt", 403},
		{"a/upfile", 403},
		{"chain/x.txt", 403},
		{"sneaky/new/x.txt", 403},
		{"loop1", 403},
		{"fifo", 403},
		{"sock", 403},
		{"devnull", 403},
		{"hello.txt/x", 409},
	}
	for _, tc := range tests {
		if tc.path == "devnull" && os.Geteuid() != 0 {
			continue
		}
		status, body, _ := do(t, "PUT", u+"/files/content?path="+q(tc.path), strings.NewReader("payload:"+tc.path))
		if status != tc.status {
			t.Errorf("write %q = %d %s; want %d", tc.path, status, body, tc.status)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "hello.txt")); string(b) != "payload:file-link" {
		t.Errorf("hello.txt = %q after writing through file-link", b)
	}
	if fi, _ := os.Lstat(filepath.Join(root, "file-link")); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("file-link is no longer a symlink")
	}
	if b, _ := os.ReadFile(filepath.Join(root, "deep/er/new.txt")); string(b) != "payload:deep/er/new.txt" {
		t.Errorf("deep file = %q", b)
	}
	// The executable bit survives an overwrite.
	if status, _, _ := do(t, "PUT", u+"/files/content?path=a/b/c.txt", strings.NewReader("#!/bin/sh")); status != 200 {
		t.Fatal("overwrite c.txt failed")
	}
	if fi, _ := os.Stat(filepath.Join(root, "a/b/c.txt")); fi.Mode().Perm() != 0o755 {
		t.Errorf("mode after overwrite %v", fi.Mode())
	}

	// Too large: 413 with Content-Length known, and when streamed; the old
	// content stays and no temp file is left behind.
	big := bytes.Repeat([]byte("x"), 2048)
	if status, body, _ := do(t, "PUT", u+"/files/content?path=hello.txt", bytes.NewReader(big)); status != 413 || !bytes.Contains(body, []byte("too_large")) {
		t.Errorf("big write = %d %s", status, body)
	}
	if status, _, _ := do(t, "PUT", u+"/files/content?path=hello.txt", io.MultiReader(bytes.NewReader(big))); status != 413 {
		t.Errorf("streamed big write = %d", status)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "hello.txt")); string(b) != "payload:file-link" {
		t.Errorf("hello.txt = %q after a rejected write", b)
	}
	matches, _ := filepath.Glob(filepath.Join(root, ".ct-upload-*"))
	if len(matches) != 0 {
		t.Errorf("temp files left: %v", matches)
	}
	checkOutsideUntouched(t, base)
}

func TestBinaryRoundTripRangeAndHeaders(t *testing.T) {
	t.Parallel()
	_, root := confinetest.Fixture(t)
	_, u := serve(t, root, 0)
	data := make([]byte, 3*256)
	for i := range data {
		data[i] = byte(i)
	}
	if status, body, _ := do(t, "PUT", u+"/files/content?path=bin/all.bytes", bytes.NewReader(data)); status != 201 {
		t.Fatalf("upload = %d %s", status, body)
	}
	status, body, h := do(t, "GET", u+"/files/content?path=bin/all.bytes&download=1", nil)
	if status != 200 || !bytes.Equal(body, data) {
		t.Fatalf("download = %d, %d bytes", status, len(body))
	}
	if h.Get("Content-Disposition") != `attachment; filename=all.bytes` || h.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("headers %v", h)
	}
	req, _ := http.NewRequest("GET", u+"/files/content?path=bin/all.bytes", nil)
	req.Header.Set("Range", "bytes=256-511")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || !bytes.Equal(part, data[256:512]) {
		t.Errorf("range = %d %d bytes", resp.StatusCode, len(part))
	}
	// Learner HTML never renders as a page on the platform origin.
	do(t, "PUT", u+"/files/content?path=x.html", strings.NewReader("<script>alert(1)</script>"))
	_, _, h = do(t, "GET", u+"/files/content?path=x.html", nil)
	if h.Get("Content-Type") != "text/plain; charset=utf-8" || h.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(h.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("html headers %v", h)
	}
}

func TestListMkdirRenameDelete(t *testing.T) {
	t.Parallel()
	base, root := confinetest.Fixture(t)
	_, u := serve(t, root, 0)

	status, body, _ := do(t, "GET", u+"/files", nil)
	var l Listing
	if status != 200 || json.Unmarshal(body, &l) != nil || l.Path != "." {
		t.Fatalf("list = %d %s", status, body)
	}
	types := map[string]Entry{}
	for _, e := range l.Entries {
		types[e.Name] = e
	}
	for name, want := range map[string]string{"hello.txt": "file", "a": "dir", "link-in": "symlink", "fifo": "other", "sock": "other"} {
		if types[name].Type != want {
			t.Errorf("entry %s type %q, want %q", name, types[name].Type, want)
		}
	}
	for name, want := range map[string]string{"link-in": "dir", "file-link": "file", "out-rel": "outside", "dangling": "broken"} {
		if types[name].LinkType != want {
			t.Errorf("entry %s link_type %q, want %q", name, types[name].LinkType, want)
		}
	}
	if e := types["hello.txt"]; e.Size != 5 || e.Path != "hello.txt" || e.Mode != "0644" || e.Mtime.IsZero() {
		t.Errorf("hello.txt entry %+v", e)
	}
	for p, want := range map[string]int{"a/b": 200, "link-in": 200, "out-rel": 403, "a/up": 403, "../outside": 403, "hello.txt": 409, "nope": 404, "fifo": 403} {
		if status, body, _ := do(t, "GET", u+"/files?path="+q(p), nil); status != want {
			t.Errorf("list %q = %d %s; want %d", p, status, body, want)
		}
	}

	post := func(route, body string) int {
		status, _, _ := do(t, "POST", u+route, strings.NewReader(body))
		return status
	}
	for body, want := range map[string]int{
		`{"path":"x/y/z"}`:        201,
		`{"path":"x/y/z"}#again`:  0,
		`{"path":"../evil"}`:      403,
		`{"path":"out-rel/evil"}`: 403,
		`{"path":"a/up/evil"}`:    403,
		`{"path":"hello.txt"}`:    409,
		`{"path":"hello.txt/x"}`:  409,
		`{"nope":1}`:              400,
	} {
		if want == 0 {
			continue
		}
		if got := post("/files/mkdir", body); got != want {
			t.Errorf("mkdir %s = %d; want %d", body, got, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "x/y/z")); err != nil || !fi.IsDir() {
		t.Error("mkdir -p did not create x/y/z")
	}
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"from":"hello.txt","to":"moved/h.txt"}`, 200},
		{`{"from":"moved/h.txt","to":"a/b/c.txt"}`, 409},
		{`{"from":"../outside/secret.txt","to":"stolen"}`, 403},
		{`{"from":"a/upfile","to":"stolen"}`, 200}, // moves the link itself, inside
		{`{"from":"moved/h.txt","to":"out-rel/stolen"}`, 403},
		{`{"from":"moved/h.txt","to":"/tmp/stolen"}`, 403},
		{`{"from":"x","to":"x/y/inside"}`, 400},
		{`{"from":".","to":"z"}`, 403},
		{`{"from":"missing","to":"z"}`, 404},
	} {
		if got := post("/files/rename", tc.body); got != tc.want {
			t.Errorf("rename %s = %d; want %d", tc.body, got, tc.want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "moved/h.txt")); string(b) != "hello" {
		t.Errorf("moved file = %q", b)
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{".", 403}, {"", 400}, {"../outside", 403}, {"a/up/secret.txt", 403}, {"out-abs/secret.txt", 403},
		{"out-rel", 204}, // removes the link only
		{"missing", 404}, {"a", 204}, {"fifo", 204},
	} {
		if status, body, _ := do(t, "DELETE", u+"/files?path="+q(tc.path), nil); status != tc.want {
			t.Errorf("delete %q = %d %s; want %d", tc.path, status, body, tc.want)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "a")); !os.IsNotExist(err) {
		t.Error("a still exists")
	}
	checkOutsideUntouched(t, base)
}

func TestArchive(t *testing.T) {
	t.Parallel()
	base, root := confinetest.Fixture(t)
	_, u := serve(t, root, 0)
	status, body, h := do(t, "GET", u+"/files/archive", nil)
	if status != 200 || h.Get("Content-Type") != "application/gzip" {
		t.Fatalf("archive = %d %v", status, h)
	}
	gz, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	got := map[string]string{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		content, _ := io.ReadAll(tr)
		if bytes.Contains(content, []byte(confinetest.Secret)) {
			t.Fatalf("archive entry %s holds the outside secret", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			got[hdr.Name] = string(content)
		case tar.TypeSymlink:
			got[hdr.Name] = "-> " + hdr.Linkname
		case tar.TypeDir:
			got[hdr.Name] = "dir"
		default:
			t.Errorf("unexpected entry %s type %c", hdr.Name, hdr.Typeflag)
		}
	}
	for name, want := range map[string]string{
		"workspace/":          "dir",
		"workspace/hello.txt": "hello",
		"workspace/a/b/c.txt": "c",
		"workspace/out-rel":   "-> ../outside",
		"workspace/a/up":      "-> ../../outside",
		"workspace/link-in":   "-> a/b",
		"workspace/a/b/":      "dir",
		"workspace/file-link": "-> hello.txt",
		"workspace/out-abs":   "-> " + filepath.Join(base, "outside"),
	} {
		if got[name] != want {
			t.Errorf("archive %s = %q; want %q", name, got[name], want)
		}
	}
	for _, name := range []string{"workspace/fifo", "workspace/sock", "workspace/devnull", "workspace/out-rel/secret.txt"} {
		if _, ok := got[name]; ok {
			t.Errorf("archive contains %s", name)
		}
	}
	if status, _, _ := do(t, "GET", u+"/files/archive?path=a/up", nil); status != 403 {
		t.Errorf("archive of an escaping link = %d", status)
	}
	if status, _, h := do(t, "GET", u+"/files/archive?path=a", nil); status != 200 || !strings.Contains(h.Get("Content-Disposition"), "a.tar.gz") {
		t.Errorf("archive of a = %d %v", status, h)
	}
}
