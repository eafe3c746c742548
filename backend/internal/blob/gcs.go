package blob

import (
	"context"
	"errors"
	"fmt"
	"io"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// GCS is a Store in a Cloud Storage bucket, under an optional key prefix.
// Uploads are resumable streams (chunked), so an object of any size is
// never held in memory; an upload that fails or is cancelled is not
// committed, so no partial object appears.
type GCS struct {
	client *storage.Client
	bucket string
	prefix string // "" or ending in "/"
}

// NewGCS returns a Store in bucket using client (from storage.NewClient;
// the caller closes it). prefix, when set, is put before every key.
func NewGCS(client *storage.Client, bucket, prefix string) (*GCS, error) {
	if bucket == "" {
		return nil, errors.New("blob: bucket name is empty")
	}
	if prefix != "" {
		if err := checkPrefix(prefix, false); err != nil {
			return nil, err
		}
		if prefix[len(prefix)-1] != '/' {
			prefix += "/"
		}
	}
	return &GCS{client: client, bucket: bucket, prefix: prefix}, nil
}

// Describe implements Store.
func (g *GCS) Describe() string { return "gs://" + g.bucket + "/" + g.prefix }

func (g *GCS) obj(key string) *storage.ObjectHandle {
	return g.client.Bucket(g.bucket).Object(g.prefix + key)
}

// chunkSize is the resumable upload's buffer (the only part of an object
// held in memory).
const chunkSize = 8 << 20

// Put implements Store.
func (g *GCS) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := CheckKey(key); err != nil {
		return 0, err
	}
	// Cancelling wctx aborts the upload without committing it.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := g.obj(key).NewWriter(wctx)
	w.ChunkSize = chunkSize
	w.ContentType = "application/gzip"
	n, err := io.Copy(w, r)
	if err != nil {
		cancel()
		_ = w.Close()
		return n, fmt.Errorf("blob put gs://%s/%s: %w", g.bucket, g.prefix+key, err)
	}
	if err := w.Close(); err != nil {
		return n, fmt.Errorf("blob put gs://%s/%s: %w", g.bucket, g.prefix+key, err)
	}
	return n, nil
}

// Get implements Store.
func (g *GCS) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	rd, err := g.obj(key).NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, fmt.Errorf("blob get %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob get gs://%s/%s: %w", g.bucket, g.prefix+key, err)
	}
	return rd, nil
}

// List implements Store.
func (g *GCS) List(ctx context.Context, prefix string) ([]Object, error) {
	if err := checkPrefix(prefix, true); err != nil {
		return nil, err
	}
	it := g.client.Bucket(g.bucket).Objects(ctx, &storage.Query{Prefix: g.prefix + prefix})
	var out []Object
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("blob list gs://%s/%s: %w", g.bucket, g.prefix+prefix, err)
		}
		out = append(out, Object{Key: a.Name[len(g.prefix):], Size: a.Size, Updated: a.Updated})
	}
	return out, nil // the API lists in key order
}

// Delete implements Store.
func (g *GCS) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	err := g.obj(key).Delete(ctx)
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("blob delete gs://%s/%s: %w", g.bucket, g.prefix+key, err)
	}
	return nil
}

// DeletePrefix implements Store.
func (g *GCS) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	if err := checkPrefix(prefix, false); err != nil {
		return 0, err
	}
	objs, err := g.List(ctx, prefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range objs {
		if err := g.Delete(ctx, o.Key); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
