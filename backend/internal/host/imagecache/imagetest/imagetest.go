// Package imagetest builds small, real OCI images for tests and serves
// them from an in-process registry (go-containerregistry's pkg/registry).
// The base image is Debian's static busybox (package busybox-static) with
// its applets linked in /bin, an /etc/os-release naming the test image,
// and a second layer with a whiteout, an opaque directory and a tool only
// the image has (/usr/bin/clara-tool).
package imagetest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Busybox is where Debian's busybox-static installs the binary.
const Busybox = "/bin/busybox"

// OSRelease is the test image's /etc/os-release.
const OSRelease = "PRETTY_NAME=\"ClaraTeach test image\"\nID=clarateach-test\n"

// ToolOutput is what /usr/bin/clara-tool prints.
const ToolOutput = "clara-tool from the image"

// Applets are linked to busybox in /bin.
var Applets = []string{"sh", "ash", "cat", "ls", "which", "id", "echo", "env", "mkdir", "rm", "touch", "sleep", "kill", "ps", "stat", "cp", "dd", "head", "grep", "true", "false", "printf", "test", "sed", "whoami", "mount", "umount", "sort", "tail", "wc", "chmod", "chown", "ln", "readlink", "df", "du", "find", "pwd", "hostname", "nproc", "mv", "cut", "tr", "seq", "yes", "uname"}

// File is one tar entry of a test layer.
type File struct {
	Name     string
	Body     string
	Mode     int64
	Type     byte // tar.TypeReg when 0
	Linkname string
	UID, GID int
}

// Layer is an uncompressed-then-gzipped layer made of files.
func Layer(t testing.TB, files []File) v1.Layer {
	t.Helper()
	l, err := NewLayer(files)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// NewLayer is Layer for callers without a testing.TB (the browser test's
// registry, cmd testregistry).
func NewLayer(files []File) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Mode: f.Mode, Typeflag: f.Type, Linkname: f.Linkname, Uid: f.UID, Gid: f.GID, ModTime: mt, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", f.Name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.WriteString(tw, f.Body); err != nil {
				return nil, fmt.Errorf("layer entry %s: %w", f.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// BaseFiles is the busybox layer.
func BaseFiles(t testing.TB) []File {
	t.Helper()
	files, err := NewBaseFiles()
	if err != nil {
		t.Skip(err)
	}
	return files
}

// NewBaseFiles is BaseFiles for callers without a testing.TB; it fails
// without Debian's static busybox.
func NewBaseFiles() ([]File, error) {
	bb, err := os.ReadFile(Busybox)
	if err != nil {
		return nil, fmt.Errorf("test images need a static busybox (apt-get install busybox-static): %w", err)
	}
	files := []File{
		{Name: "bin/", Type: tar.TypeDir}, {Name: "etc/", Type: tar.TypeDir},
		{Name: "usr/", Type: tar.TypeDir}, {Name: "usr/bin/", Type: tar.TypeDir},
		{Name: "usr/local/", Type: tar.TypeDir}, {Name: "usr/local/bin/", Type: tar.TypeDir},
		{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
		{Name: "var/", Type: tar.TypeDir}, {Name: "var/tmp/", Type: tar.TypeDir, Mode: 0o1777},
		{Name: "bin/busybox", Body: string(bb), Mode: 0o755},
		{Name: "etc/os-release", Body: OSRelease},
		{Name: "etc/passwd", Body: "root:x:0:0:root:/root:/bin/sh\nimageuser:x:1000:1000::/home/imageuser:/bin/sh\n"},
		{Name: "etc/group", Body: "root:x:0:\n"},
		{Name: "etc/removed-by-whiteout", Body: "lower layer\n"},
		{Name: "opt/", Type: tar.TypeDir}, {Name: "opt/old/", Type: tar.TypeDir},
		{Name: "opt/old/a", Body: "a\n"}, {Name: "opt/old/sub/", Type: tar.TypeDir}, {Name: "opt/old/sub/deep", Body: "deep\n"},
		{Name: "srv/", Type: tar.TypeDir, UID: 1234, GID: 1234},
		{Name: "srv/owned", Body: "x\n", UID: 1234, GID: 1234},
		{Name: "srv/big-uid", Body: "x\n", UID: 1 << 20, GID: 1 << 20},
		{Name: "srv/setuid", Body: "x\n", Mode: 0o4755},
		{Name: "srv/hardlink", Type: tar.TypeLink, Linkname: "srv/owned"},
	}
	for _, a := range Applets {
		files = append(files, File{Name: "bin/" + a, Type: tar.TypeSymlink, Linkname: "busybox"})
	}
	return files, nil
}

// ToolFiles is the second layer: a whiteout, an opaque directory with a
// new file, and the image's own tool.
func ToolFiles() []File {
	return []File{
		{Name: "etc/.wh.removed-by-whiteout", Body: ""},
		{Name: "opt/old/.wh..wh..opq", Body: ""},
		{Name: "opt/old/sub/", Type: tar.TypeDir},
		{Name: "opt/old/sub/new", Body: "new\n"},
		{Name: "usr/bin/clara-tool", Body: "#!/bin/sh\necho '" + ToolOutput + "'\n", Mode: 0o755},
	}
}

// Image is the busybox test image for linux/amd64 with its config (Env,
// WorkingDir, User).
func Image(t testing.TB, extra ...v1.Layer) v1.Image {
	t.Helper()
	layers := append([]v1.Layer{Layer(t, BaseFiles(t)), Layer(t, ToolFiles())}, extra...)
	return WithLayers(t, "amd64", layers...)
}

// NewImage is Image (without extra layers) for callers without a
// testing.TB.
func NewImage() (v1.Image, error) {
	files, err := NewBaseFiles()
	if err != nil {
		return nil, err
	}
	base, err := NewLayer(files)
	if err != nil {
		return nil, err
	}
	tool, err := NewLayer(ToolFiles())
	if err != nil {
		return nil, err
	}
	return NewWithLayers("amd64", base, tool)
}

// WithLayers is an image of the given layers and architecture.
func WithLayers(t testing.TB, arch string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := NewWithLayers(arch, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// NewWithLayers is WithLayers for callers without a testing.TB.
func NewWithLayers(arch string, layers ...v1.Layer) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, fmt.Errorf("test image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("test image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "CLARA_IMAGE=test"}
	cf.Config.WorkingDir = "/srv"
	cf.Config.Entrypoint = []string{"/bin/false"}
	return mutate.ConfigFile(img, cf)
}

// Registry serves an in-process registry and returns its host:port.
func Registry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(discardLogger())))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// Push pushes img to host as repo:tag and returns the reference.
func Push(t testing.TB, host, repoTag string, img v1.Image, opts ...remote.Option) string {
	t.Helper()
	ref, err := name.ParseReference(host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatal(err)
	}
	return ref.String()
}

// PushIndex pushes a multi-platform index of imgs (by architecture).
func PushIndex(t testing.TB, host, repoTag string, imgs map[string]v1.Image) string {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	for arch, img := range imgs {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	ref, err := name.ParseReference(host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	return ref.String()
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
