package imagecache

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sys/unix"
)

// Pull makes sure the image ref names (for this host's platform) is in
// the cache and returns it. An image already cached costs one manifest
// request (none when ref is a platform manifest's digest); otherwise its
// layers are fetched, their digests checked, and unpacked into a fresh
// directory that only appears under its digest once complete. progress
// may be nil.
func (c *Cache) Pull(ctx context.Context, ref string, auth Auth, progress Progress) (*Image, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: reference %q: %v", ErrNotFound, ref, err)
	}
	if d, ok := r.(name.Digest); ok {
		if im, err := c.Get(d.DigestStr()); err == nil {
			return im, c.Use(im.Digest)
		}
	}
	digest, img, err := c.remoteImage(ctx, r, auth)
	if err != nil {
		return nil, err
	}
	unlock := c.lockDigest(digest)
	defer unlock()
	if im, err := c.Get(digest); err == nil {
		return im, c.Use(digest)
	}
	im, err := c.unpackImage(ctx, ref, digest, img, progress)
	if err != nil {
		return nil, err
	}
	c.log.Info("image pulled", "ref", ref, "digest", digest, "bytes", im.Bytes, "download_bytes", im.Download)
	return im, nil
}

func (c *Cache) lockDigest(digest string) func() {
	c.mu.Lock()
	m, ok := c.pulling[digest]
	if !ok {
		m = &sync.Mutex{}
		c.pulling[digest] = m
	}
	c.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// unpackImage fetches and unpacks img into a temporary directory, checks
// it, and renames it to the digest's directory.
func (c *Cache) unpackImage(ctx context.Context, ref, digest string, img v1.Image, progress Progress) (*Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, classify(ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, classify(ref, err)
	}
	if len(layers) != len(cf.RootFS.DiffIDs) {
		return nil, fmt.Errorf("%w: %s has %d layers and %d diff ids", ErrBadImage, ref, len(layers), len(cf.RootFS.DiffIDs))
	}
	var total int64
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return nil, classify(ref, err)
		}
		total += n
	}
	if err := c.checkRoom(total); err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	tmp, err := os.MkdirTemp(c.cfg.Dir, ".tmp-")
	if err != nil {
		return nil, fmt.Errorf("imagecache: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(tmp)
		}
	}()
	rootfs := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return nil, fmt.Errorf("imagecache: %w", err)
	}
	u, err := newUnpacker(rootfs, c.cfg.MaxImageBytes, c.checkFree)
	if err != nil {
		return nil, err
	}
	defer u.close()
	var done atomic.Int64
	for i, l := range layers {
		if err := c.applyLayer(ctx, u, l, cf.RootFS.DiffIDs[i], &done, total, progress); err != nil {
			return nil, fmt.Errorf("%s: layer %d: %w", ref, i+1, err)
		}
	}
	if err := u.hasShell(); err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	now := c.cfg.Now().UTC()
	dir, _ := c.dirOf(digest)
	im := &Image{
		Ref: ref, Digest: digest, Bytes: u.written, Download: total, PulledAt: now, LastUsed: now,
		Config: ImageConfig{Env: cf.Config.Env, WorkingDir: cf.Config.WorkingDir, User: cf.Config.User},
		Dir:    tmp,
	}
	if err := writeMeta(im); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("imagecache: %w", err)
	}
	ok = true
	im.Dir, im.RootFS = dir, filepath.Join(dir, "rootfs")
	return im, nil
}

// applyLayer fetches one layer, checking both its compressed digest and
// the uncompressed diff id the image's configuration names, and unpacks
// it. The digests are checked as the bytes go by: a mismatch fails the
// pull and its temporary directory goes.
func (c *Cache) applyLayer(ctx context.Context, u *unpacker, l v1.Layer, diffID v1.Hash, done *atomic.Int64, total int64, progress Progress) error {
	want, err := l.Digest()
	if err != nil {
		return classify("", err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return classify("", err)
	}
	defer rc.Close()
	compressed := sha256.New()
	body := &countingReader{r: io.TeeReader(rc, compressed), ctx: ctx, fn: func(n int64) {
		if progress != nil {
			progress(done.Add(n), total)
		}
	}}
	ur, err := decompress(body)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadImage, err)
	}
	defer ur.Close()
	uncompressed := sha256.New()
	if err := u.layer(io.TeeReader(ur, uncompressed)); err != nil {
		return err
	}
	// Whatever follows the tar's end still counts toward the digests.
	if _, err := io.Copy(uncompressed, ur); err != nil {
		return fmt.Errorf("%w: %v", ErrBadImage, err)
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		return classify("", err)
	}
	if err := checkDigest("layer digest", want, compressed); err != nil {
		return err
	}
	return checkDigest("layer diff id", diffID, uncompressed)
}

func checkDigest(what string, want v1.Hash, got hash.Hash) error {
	if want.Algorithm != "sha256" {
		return fmt.Errorf("%w: %s algorithm %q", ErrBadImage, what, want.Algorithm)
	}
	if g := fmt.Sprintf("%x", got.Sum(nil)); g != want.Hex {
		return fmt.Errorf("%w: %s is sha256:%s, the manifest says %s", ErrBadImage, what, g, want)
	}
	return nil
}

type countingReader struct {
	r   io.Reader
	ctx context.Context
	fn  func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if n > 0 {
		c.fn(int64(n))
	}
	return n, err
}

// checkRoom refuses an image whose layers alone would leave less than
// MinFreeBytes free (it unpacks to more than that).
func (c *Cache) checkRoom(download int64) error {
	if download > c.cfg.MaxImageBytes {
		return fmt.Errorf("%w: %d MiB of layers, the limit is %d MiB", ErrTooBig, download>>20, c.cfg.MaxImageBytes>>20)
	}
	free, err := c.free()
	if err != nil {
		return err
	}
	if free-2*download < c.cfg.MinFreeBytes {
		return fmt.Errorf("%w: %d MiB of layers need about %d MiB, %d MiB are free and %d MiB must stay free", ErrTooBig,
			download>>20, 2*download>>20, free>>20, c.cfg.MinFreeBytes>>20)
	}
	return nil
}

// checkFree fails once the cache's disk has less than MinFreeBytes free.
func (c *Cache) checkFree() error {
	free, err := c.free()
	if err != nil {
		return err
	}
	if free < c.cfg.MinFreeBytes {
		return fmt.Errorf("%w: the host's disk is down to %d MiB free while unpacking", ErrTooBig, free>>20)
	}
	return nil
}

func freeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("imagecache: statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil // Bsize is int64 on Linux, uint32 on macOS
}

// classify maps a registry error to the package's errors.
func classify(ref string, err error) error {
	if err == nil {
		return nil
	}
	var te *transport.Error
	if errors.As(err, &te) {
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				return fmt.Errorf("%w: %s: %v", ErrNotFound, ref, err)
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return fmt.Errorf("%w: %s: %v", ErrUnauthorized, ref, err)
			}
		}
		switch te.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %s: %v", ErrNotFound, ref, err)
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w: %s: %v", ErrUnauthorized, ref, err)
		}
	}
	if ref == "" {
		return err
	}
	return fmt.Errorf("%s: %w", ref, err)
}
