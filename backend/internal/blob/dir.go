package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Dir is a Store in a local directory: each key is a file under it.
// Objects are written to a temporary file and renamed into place, so a
// reader never sees a partial object.
type Dir struct {
	dir string
}

// NewDir returns a Store in dir (created 0700 if missing).
func NewDir(dir string) (*Dir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob dir: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("blob dir: %w", err)
	}
	return &Dir{dir: abs}, nil
}

// Describe implements Store.
func (d *Dir) Describe() string { return d.dir }

func (d *Dir) path(key string) string {
	return filepath.Join(d.dir, filepath.FromSlash(key))
}

// Put implements Store.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := CheckKey(key); err != nil {
		return 0, err
	}
	dst := d.path(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return 0, fmt.Errorf("blob put %s: %w", key, err)
	}
	f, err := os.CreateTemp(filepath.Dir(dst), ".put-*")
	if err != nil {
		return 0, fmt.Errorf("blob put %s: %w", key, err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err != nil {
		return n, fmt.Errorf("blob put %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return n, fmt.Errorf("blob put %s: %w", key, err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return n, fmt.Errorf("blob put %s: %w", key, err)
	}
	done = true
	return n, nil
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Get implements Store.
func (d *Dir) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	f, err := os.Open(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob get %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob get %s: %w", key, err)
	}
	return f, nil
}

// List implements Store.
func (d *Dir) List(ctx context.Context, prefix string) ([]Object, error) {
	if err := checkPrefix(prefix, true); err != nil {
		return nil, err
	}
	var out []Object
	err := filepath.WalkDir(d.dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.dir, p)
		key := filepath.ToSlash(rel)
		if de.IsDir() {
			// Skip directories that cannot hold a key with the prefix.
			if key != "." && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if !de.Type().IsRegular() || strings.HasPrefix(de.Name(), ".put-") || !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		out = append(out, Object{Key: key, Size: fi.Size(), Updated: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blob list %s: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements Store.
func (d *Dir) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := os.Remove(d.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob delete %s: %w", key, err)
	}
	return nil
}

// DeletePrefix implements Store.
func (d *Dir) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	if err := checkPrefix(prefix, false); err != nil {
		return 0, err
	}
	objs, err := d.List(ctx, prefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range objs {
		if err := d.Delete(ctx, o.Key); err != nil {
			return n, err
		}
		n++
	}
	d.pruneDirs(prefix)
	return n, nil
}

// pruneDirs removes the empty directories a prefix deletion left.
func (d *Dir) pruneDirs(prefix string) {
	p := strings.TrimSuffix(prefix, "/")
	if i := strings.LastIndex(p, "/"); i >= 0 && !strings.HasSuffix(prefix, "/") {
		p = p[:i]
	} else if !strings.HasSuffix(prefix, "/") {
		return
	}
	var dirs []string
	_ = filepath.WalkDir(d.path(p), func(q string, de fs.DirEntry, err error) error {
		if err == nil && de.IsDir() {
			dirs = append(dirs, q)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i]) // fails (and is kept) when not empty
	}
	for q := filepath.Dir(d.path(p)); q != d.dir && strings.HasPrefix(q, d.dir); q = filepath.Dir(q) {
		if os.Remove(q) != nil {
			break
		}
	}
}
