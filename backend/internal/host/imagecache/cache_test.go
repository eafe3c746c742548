package imagecache

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/clarateach/backend/internal/host/imagecache/imagetest"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("unpacking images keeps their owners: needs root")
	}
}

func newCache(t *testing.T) *Cache {
	t.Helper()
	c, err := New(Config{Dir: filepath.Join(t.TempDir(), "images"), MinFreeBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// countingRegistry serves a registry and counts blob fetches.
func countingRegistry(t *testing.T, wrap func(http.Handler) http.Handler) (string, *atomic.Int64, *atomic.Int64) {
	var blobs, all atomic.Int64
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		all.Add(1)
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			blobs.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), &blobs, &all
}

func TestPullUnpacksAndSecondPullIsFree(t *testing.T) {
	needRoot(t)
	host, blobs, all := countingRegistry(t, nil)
	ref := imagetest.Push(t, host, "course/busybox:1", imagetest.Image(t))
	c := newCache(t)
	var last, total int64
	im, err := c.Pull(context.Background(), ref, Auth{}, func(done, tot int64) { last, total = done, tot })
	if err != nil {
		t.Fatal(err)
	}
	if last != total || total == 0 || im.Download != total {
		t.Errorf("progress ended at %d of %d (download %d)", last, total, im.Download)
	}
	if blobs.Load() == 0 {
		t.Fatal("no blob fetched on the first pull")
	}
	checkTree(t, im.RootFS)
	if im.Config.WorkingDir != "/srv" || len(im.Config.Env) != 2 || im.Config.Env[1] != "CLARA_IMAGE=test" {
		t.Errorf("config = %+v", im.Config)
	}
	fi, err := os.Stat(c.Dir())
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache dir mode %v, %v", fi.Mode(), err)
	}

	blobs.Store(0)
	again, err := c.Pull(context.Background(), ref, Auth{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != im.Digest || again.RootFS != im.RootFS {
		t.Errorf("second pull gave %s in %s, first %s in %s", again.Digest, again.RootFS, im.Digest, im.RootFS)
	}
	if n := blobs.Load(); n != 0 {
		t.Errorf("second pull fetched %d blobs", n)
	}
	all.Store(0)
	byDigest := strings.Split(ref, ":1")[0] + "@" + im.Digest
	if _, err := c.Pull(context.Background(), byDigest, Auth{}, nil); err != nil {
		t.Fatal(err)
	}
	if n := all.Load(); n != 0 {
		t.Errorf("pull by digest of a cached image made %d requests", n)
	}
	list, err := c.List()
	if err != nil || len(list) != 1 || list[0].Digest != im.Digest || list[0].Bytes < 1<<20 {
		t.Errorf("list = %+v, %v", list, err)
	}
}

// checkTree checks the unpacked test image: layers, whiteouts, owners.
func checkTree(t *testing.T, root string) {
	t.Helper()
	at := func(p string) string { return filepath.Join(root, p) }
	if b, err := os.ReadFile(at("etc/os-release")); err != nil || string(b) != imagetest.OSRelease {
		t.Errorf("os-release = %q, %v", b, err)
	}
	if l, err := os.Readlink(at("bin/sh")); err != nil || l != "busybox" {
		t.Errorf("bin/sh -> %q, %v", l, err)
	}
	for _, gone := range []string{"etc/removed-by-whiteout", "opt/old/a", "opt/old/sub/deep"} {
		if _, err := os.Lstat(at(gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is there after its whiteout: %v", gone, err)
		}
	}
	for _, kept := range []string{"opt/old/sub/new", "usr/bin/clara-tool", "bin/busybox"} {
		if _, err := os.Lstat(at(kept)); err != nil {
			t.Errorf("%s: %v", kept, err)
		}
	}
	owner := func(p string) (uint32, uint32, os.FileMode) {
		fi, err := os.Lstat(at(p))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		return st.Uid, st.Gid, fi.Mode()
	}
	if u, g, _ := owner("srv/owned"); u != 1234 || g != 1234 {
		t.Errorf("srv/owned is %d:%d", u, g)
	}
	if u, g, _ := owner("srv/big-uid"); u != nobodyID || g != nobodyID {
		t.Errorf("srv/big-uid is %d:%d, want nobody", u, g)
	}
	if _, _, m := owner("srv/setuid"); m&os.ModeSetuid != 0 || m.Perm() != 0o755 {
		t.Errorf("srv/setuid mode %v", m)
	}
	if _, _, m := owner("tmp"); m&os.ModeSticky == 0 {
		t.Errorf("tmp mode %v, want sticky", m)
	}
	a, _ := os.Stat(at("srv/owned"))
	b, _ := os.Stat(at("srv/hardlink"))
	if !os.SameFile(a, b) {
		t.Error("srv/hardlink is not a hard link of srv/owned")
	}
}

func TestUnpackStaysInsideTheRoot(t *testing.T) {
	needRoot(t)
	outside := t.TempDir()
	host := imagetest.Registry(t)
	base := imagetest.Layer(t, imagetest.BaseFiles(t))
	evil := imagetest.Layer(t, []imagetest.File{
		{Name: outside + "/", Type: tar.TypeDir},
		{Name: "escape", Type: tar.TypeSymlink, Linkname: outside},
		{Name: "escape/pwned", Body: "x"},
		{Name: "up", Type: tar.TypeSymlink, Linkname: "../../../../.."},
		{Name: "up" + outside + "/pwned2", Body: "x"},
		{Name: "../../../../" + outside + "/pwned3", Body: "x"},
	})
	ref := imagetest.Push(t, host, "evil:1", imagetest.WithLayers(t, "amd64", base, evil))
	c := newCache(t)
	im, err := c.Pull(context.Background(), ref, Auth{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"pwned", "pwned2", "pwned3"} {
		if _, err := os.Stat(filepath.Join(im.RootFS, outside, n)); err != nil {
			t.Errorf("%s not inside the image's root: %v", n, err)
		}
	}
	ents, _ := os.ReadDir(outside)
	for _, e := range ents {
		t.Errorf("the layer wrote %s outside the image's root", e.Name())
	}

	hl := imagetest.Layer(t, []imagetest.File{{Name: "hl", Type: tar.TypeLink, Linkname: "escape/../../../../etc/hostname"}})
	ref = imagetest.Push(t, host, "evil:2", imagetest.WithLayers(t, "amd64", base, hl))
	if _, err := c.Pull(context.Background(), ref, Auth{}, nil); !errors.Is(err, ErrBadImage) {
		t.Errorf("pull = %v, want the hard link out of the root refused (ErrBadImage)", err)
	}
	if list, _ := c.List(); len(list) != 1 {
		t.Errorf("cache holds %d images, want the first one only", len(list))
	}
}

func TestBadImages(t *testing.T) {
	needRoot(t)
	const user, pass = "course", "s3cret"
	host, _, _ := countingRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/v2/private/") {
				if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
					w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
					http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"login"}]}`, http.StatusUnauthorized)
					return
				}
			}
			h.ServeHTTP(w, r)
		})
	})
	base := imagetest.Layer(t, imagetest.BaseFiles(t))
	good := imagetest.Image(t)
	private := imagetest.Push(t, host, "private/course:1", good, remote.WithAuth(&authn.Basic{Username: user, Password: pass}))
	noShell := imagetest.Push(t, host, "noshell:1", imagetest.WithLayers(t, "amd64", imagetest.Layer(t, []imagetest.File{{Name: "hello", Body: "hi"}})))
	arm := imagetest.Push(t, host, "arm:1", imagetest.WithLayers(t, "arm64", base))
	armIndex := imagetest.PushIndex(t, host, "armindex:1", map[string]v1Image{"arm64": imagetest.WithLayers(t, "arm64", base), "s390x": imagetest.WithLayers(t, "s390x", base)})
	multi := imagetest.PushIndex(t, host, "multi:1", map[string]v1Image{"arm64": imagetest.WithLayers(t, "arm64", base), "amd64": good})

	c := newCache(t)
	ctx := context.Background()
	cases := []struct {
		name, ref string
		auth      Auth
		want      error
	}{
		{"not found (repository)", host + "/nosuch/image:1", Auth{}, ErrNotFound},
		{"not found (tag)", host + "/noshell:2", Auth{}, ErrNotFound},
		{"unauthorized (anonymous)", private, Auth{}, ErrUnauthorized},
		{"unauthorized (wrong password)", private, Auth{Username: user, Password: "x"}, ErrUnauthorized},
		{"wrong architecture", arm, Auth{}, ErrWrongArch},
		{"wrong architecture (index)", armIndex, Auth{}, ErrWrongArch},
		{"no shell", noShell, Auth{}, ErrNoShell},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Pull(ctx, tc.ref, tc.auth, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("pull %s = %v, want %v", tc.ref, err, tc.want)
			}
		})
	}
	if list, _ := c.List(); len(list) != 0 {
		t.Errorf("failed pulls left images: %+v", list)
	}
	if _, err := c.Pull(ctx, private, Auth{Username: user, Password: pass}, nil); err != nil {
		t.Errorf("pull with the pull secret: %v", err)
	}
	im, err := c.Pull(ctx, multi, Auth{}, nil)
	if err != nil {
		t.Fatalf("pull multi-platform index: %v", err)
	}
	if d, _ := good.Digest(); im.Digest != d.String() {
		t.Errorf("index pull gave %s, want the amd64 image %s", im.Digest, d)
	}

	small, err := New(Config{Dir: filepath.Join(t.TempDir(), "small"), MaxImageBytes: 1 << 20, MinFreeBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := small.Pull(ctx, multi, Auth{}, nil); !errors.Is(err, ErrTooBig) {
		t.Errorf("pull of a 2 MiB image with a 1 MiB limit = %v, want ErrTooBig", err)
	}
	small.free = func() (int64, error) { return 3 << 20, nil }
	small.cfg.MaxImageBytes = DefaultMaxImageBytes
	if _, err := small.Pull(ctx, multi, Auth{}, nil); !errors.Is(err, ErrTooBig) || !strings.Contains(err.Error(), "free") {
		t.Errorf("pull onto a nearly full disk = %v, want ErrTooBig", err)
	}
}

func TestCorruptBlobIsRefused(t *testing.T) {
	needRoot(t)
	host, _, _ := countingRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				b := rec.Body.Bytes()
				if len(b) > 100 {
					b[len(b)/2] ^= 0xff
				}
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				_, _ = w.Write(b)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	ref := imagetest.Push(t, host, "corrupt:1", imagetest.Image(t))
	c := newCache(t)
	if _, err := c.Pull(context.Background(), ref, Auth{}, nil); err == nil {
		t.Fatal("a corrupted layer was accepted")
	}
	if left, _ := filepath.Glob(filepath.Join(c.Dir(), "*")); len(left) != 0 {
		t.Errorf("a failed pull left %v", left)
	}
}

func TestPrune(t *testing.T) {
	needRoot(t)
	host := imagetest.Registry(t)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	c, err := New(Config{Dir: filepath.Join(t.TempDir(), "images"), MinFreeBytes: 1 << 20, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var digests []string
	for i, tag := range []string{"a", "b", "c", "d"} {
		extra := imagetest.Layer(t, []imagetest.File{{Name: "which", Body: tag}})
		ref := imagetest.Push(t, host, "prune:"+tag, imagetest.Image(t, extra))
		now = now.Add(time.Duration(i+1) * 24 * time.Hour)
		im, err := c.Pull(ctx, ref, Auth{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, im.Digest)
	}
	// a used an hour after d's pull: the most recently used.
	now = now.Add(time.Hour)
	if err := c.Use(digests[0]); err != nil {
		t.Fatal(err)
	}
	now = now.Add(8 * 24 * time.Hour)
	inUse := func(d string) bool { return d == digests[1] }
	removed, err := c.Prune(PruneOptions{UnusedFor: 10 * 24 * time.Hour, KeepFree: -1, InUse: inUse})
	if err != nil {
		t.Fatal(err)
	}
	// b (in use) stays; c, last used 12 days ago, goes; a and d (8 days) stay.
	if len(removed) != 1 || removed[0].Digest != digests[2] {
		t.Fatalf("pruned by age %v, want only c", digestsOf(removed))
	}
	if _, err := c.Get(digests[2]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("c still cached: %v", err)
	}
	// Disk pressure: the least recently used that is not in use goes
	// first, until enough is free.
	// Each image gone frees 10 MiB of a disk that has 10 MiB free.
	c.free = func() (int64, error) {
		list, err := c.List()
		return int64(4-len(list)) * (10 << 20), err
	}
	removed, err = c.Prune(PruneOptions{KeepFree: 25 << 20, InUse: inUse})
	if err != nil {
		t.Fatal(err)
	}
	if got := digestsOf(removed); len(got) != 2 || got[0] != digests[3] || got[1] != digests[0] {
		t.Fatalf("pruned for space %v, want d then a (b is in use)", got)
	}
	list, _ := c.List()
	if len(list) != 1 || list[0].Digest != digests[1] {
		t.Errorf("left %v, want b", digestsOf(list))
	}
}

func digestsOf(ims []*Image) []string {
	var out []string
	for _, im := range ims {
		out = append(out, im.Digest)
	}
	return out
}

type v1Image = v1.Image
