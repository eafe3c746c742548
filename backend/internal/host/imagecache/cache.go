// Package imagecache pulls OCI images from registries and keeps each one,
// unpacked, in a content-addressed cache on the host: one directory per
// image manifest digest, holding the image's root file system and its
// metadata. Seats use the unpacked tree as the read-only lower layer of
// their root file system (sandbox) or build an ext4 disk from it
// (firecracker). See README.md.
package imagecache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Errors a pull fails with, wrapped with the details. Each names a reason
// an operator or instructor can act on.
var (
	ErrNotFound     = errors.New("image not found")
	ErrUnauthorized = errors.New("not authorized to pull the image")
	ErrWrongArch    = errors.New("image has no variant for this host's platform")
	ErrTooBig       = errors.New("image too big for this host")
	ErrNoShell      = errors.New("image has no shell (/bin/sh)")
	ErrBadImage     = errors.New("image is malformed")
)

// Defaults of Config.
const (
	DefaultMaxImageBytes = 8 << 30
	DefaultMinFreeBytes  = 2 << 30
)

// Config configures a Cache.
type Config struct {
	// Dir holds the cache (required). It is made mode 0700: unpacked
	// images are owned by the image's own uids, which mean nothing on the
	// host.
	Dir string
	// MaxImageBytes bounds an image's unpacked size (default 8 GiB).
	MaxImageBytes int64
	// MinFreeBytes is the free space a pull must leave on the cache's file
	// system (default 2 GiB); Prune frees space down to it.
	MinFreeBytes int64
	// Platform is the image variant pulled from a multi-platform index
	// (default linux on this binary's architecture).
	Platform *v1.Platform
	// Transport for registry requests (default http.DefaultTransport).
	Transport http.RoundTripper
	Logger    *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

// Auth is how a pull authenticates to its registry. The zero value is
// anonymous.
type Auth struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// Token is a bearer token (a GCE metadata-server access token is
	// passed as Username "oauth2accesstoken" and Password instead).
	Token string `json:"token,omitempty"`
}

func (a Auth) authenticator() authn.Authenticator {
	switch {
	case a.Token != "":
		return &authn.Bearer{Token: a.Token}
	case a.Username != "" || a.Password != "":
		return &authn.Basic{Username: a.Username, Password: a.Password}
	}
	return authn.Anonymous
}

// ImageConfig is what a seat takes from the image's configuration. The
// entrypoint and command are ignored: a seat runs the workspace daemon.
type ImageConfig struct {
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
}

// Image is an unpacked image in the cache.
type Image struct {
	Ref    string      `json:"ref"`    // as asked for
	Digest string      `json:"digest"` // the platform manifest's digest, sha256:...
	Config ImageConfig `json:"config"`
	// Bytes is the unpacked size; Download the compressed layers' size.
	Bytes    int64     `json:"bytes"`
	Download int64     `json:"download_bytes"`
	PulledAt time.Time `json:"pulled_at"`
	// LastUsed is the last pull or Use of it.
	LastUsed time.Time `json:"last_used"`
	// Dir is the image's cache directory; RootFS its unpacked tree.
	Dir    string `json:"-"`
	RootFS string `json:"-"`
}

// Progress reports a pull's progress: compressed bytes fetched of total.
type Progress func(done, total int64)

// Cache is a host's image cache. It is safe for concurrent use; two pulls
// of one image unpack it once.
type Cache struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	pulling map[string]*sync.Mutex // per digest

	free func() (int64, error) // free bytes on the cache's disk
}

// New opens (creating) the cache in cfg.Dir.
func New(cfg Config) (*Cache, error) {
	if cfg.Dir == "" {
		return nil, errors.New("imagecache: Dir is required")
	}
	if cfg.MaxImageBytes <= 0 {
		cfg.MaxImageBytes = DefaultMaxImageBytes
	}
	if cfg.MinFreeBytes <= 0 {
		cfg.MinFreeBytes = DefaultMinFreeBytes
	}
	if cfg.Platform == nil {
		cfg.Platform = &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("imagecache: %w", err)
	}
	if err := os.Chmod(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("imagecache: %w", err)
	}
	// Unpacks a crash interrupted.
	if tmps, _ := filepath.Glob(filepath.Join(cfg.Dir, ".tmp-*")); len(tmps) > 0 {
		for _, t := range tmps {
			_ = os.RemoveAll(t)
		}
	}
	c := &Cache{cfg: cfg, log: cfg.Logger, pulling: map[string]*sync.Mutex{}}
	c.free = func() (int64, error) { return freeBytes(cfg.Dir) }
	return c, nil
}

// Dir is the cache's directory.
func (c *Cache) Dir() string { return c.cfg.Dir }

const metaFile = "image.json"

// dirOf is the cache directory of a digest ("sha256:abc" -> Dir/sha256-abc).
func (c *Cache) dirOf(digest string) (string, error) {
	h, err := v1.NewHash(digest)
	if err != nil {
		return "", fmt.Errorf("imagecache: digest %q: %w", digest, err)
	}
	return filepath.Join(c.cfg.Dir, h.Algorithm+"-"+h.Hex), nil
}

// Get returns a cached image by digest, or an error wrapping
// os.ErrNotExist.
func (c *Cache) Get(digest string) (*Image, error) {
	dir, err := c.dirOf(digest)
	if err != nil {
		return nil, err
	}
	return readMeta(dir)
}

func readMeta(dir string) (*Image, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, fmt.Errorf("imagecache: %w", err)
	}
	var im Image
	if err := json.Unmarshal(b, &im); err != nil {
		return nil, fmt.Errorf("imagecache: %s: %w", dir, err)
	}
	im.Dir, im.RootFS = dir, filepath.Join(dir, "rootfs")
	return &im, nil
}

func writeMeta(im *Image) error {
	b, err := json.MarshalIndent(im, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(im.Dir, metaFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("imagecache: %w", err)
	}
	return os.Rename(tmp, filepath.Join(im.Dir, metaFile))
}

// Use records that a seat started on the image now (pruning by age
// counts from the last use).
func (c *Cache) Use(digest string) error {
	im, err := c.Get(digest)
	if err != nil {
		return err
	}
	im.LastUsed = c.cfg.Now().UTC()
	return writeMeta(im)
}

// List returns the cached images, most recently used first.
func (c *Cache) List() ([]*Image, error) {
	ents, err := os.ReadDir(c.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("imagecache: %w", err)
	}
	var out []*Image
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		im, err := readMeta(filepath.Join(c.cfg.Dir, e.Name()))
		if err != nil {
			continue // not (yet) a complete image
		}
		out = append(out, im)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LastUsed.After(out[j].LastUsed) })
	return out, nil
}

// Resolve returns the digest of the image ref names for this host's
// platform, asking the registry (a reference by digest of a platform
// manifest needs no request).
func (c *Cache) Resolve(ctx context.Context, ref string, auth Auth) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("%w: reference %q: %v", ErrNotFound, ref, err)
	}
	if d, ok := r.(name.Digest); ok {
		if _, err := c.Get(d.DigestStr()); err == nil {
			return d.DigestStr(), nil
		}
	}
	digest, _, err := c.remoteImage(ctx, r, auth)
	return digest, err
}

func (c *Cache) remoteOpts(ctx context.Context, auth Auth) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(auth.authenticator()),
		remote.WithTransport(c.cfg.Transport),
		remote.WithPlatform(*c.cfg.Platform),
	}
}

// remoteImage fetches ref's manifest and picks this platform's image. It
// returns the image's digest, and the image only when it is not cached
// (its configuration is fetched to check the platform).
func (c *Cache) remoteImage(ctx context.Context, r name.Reference, auth Auth) (string, v1.Image, error) {
	desc, err := remote.Get(r, c.remoteOpts(ctx, auth)...)
	if err != nil {
		return "", nil, classify(r.String(), err)
	}
	if !desc.MediaType.IsIndex() {
		return c.platformImage(r, desc.Digest, desc.Image)
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return "", nil, classify(r.String(), err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return "", nil, classify(r.String(), err)
	}
	var have []string
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.Satisfies(*c.cfg.Platform) {
			return c.platformImage(r, d.Digest, func() (v1.Image, error) { return idx.Image(d.Digest) })
		}
		if d.Platform != nil {
			have = append(have, d.Platform.String())
		}
	}
	return "", nil, fmt.Errorf("%w: %s offers %s, this host is %s", ErrWrongArch, r, strings.Join(have, ", "), c.cfg.Platform)
}

func (c *Cache) platformImage(r name.Reference, digest v1.Hash, get func() (v1.Image, error)) (string, v1.Image, error) {
	if _, err := c.Get(digest.String()); err == nil {
		return digest.String(), nil, nil
	}
	img, err := get()
	if err != nil {
		return "", nil, classify(r.String(), err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", nil, classify(r.String(), err)
	}
	if p := cf.Platform(); p != nil && !p.Satisfies(*c.cfg.Platform) {
		return "", nil, fmt.Errorf("%w: %s is %s, this host is %s", ErrWrongArch, r, p, c.cfg.Platform)
	}
	return digest.String(), img, nil
}
