package blob

import (
	"context"
	"fmt"
	"strings"

	"cloud.google.com/go/storage"
)

// Open returns the store a configuration names: "gs://BUCKET[/PREFIX]" (or
// a bare bucket name) is Cloud Storage with the application default
// credentials; an empty bucket is the directory dir. close releases it.
func Open(ctx context.Context, bucket, dir string) (s Store, close func() error, err error) {
	if bucket == "" {
		d, err := NewDir(dir)
		if err != nil {
			return nil, nil, err
		}
		return d, func() error { return nil }, nil
	}
	name, prefix, _ := strings.Cut(strings.TrimPrefix(bucket, "gs://"), "/")
	// JSON API reads: the same API as every other call (one IAM surface,
	// one endpoint for emulators), instead of the XML API's download host.
	client, err := storage.NewClient(ctx, storage.WithJSONReads())
	if err != nil {
		return nil, nil, fmt.Errorf("cloud storage client: %w", err)
	}
	g, err := NewGCS(client, name, prefix)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return g, client.Close, nil
}
