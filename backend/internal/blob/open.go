package blob

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"

	"golang.org/x/oauth2/google"
)

// gcsScope is the OAuth scope of the archive store's calls.
const gcsScope = "https://www.googleapis.com/auth/devstorage.read_write"

// Open returns the store a configuration names: "gs://BUCKET[/PREFIX]" (or
// a bare bucket name) is Cloud Storage with the application default
// credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's, or the metadata
// server's); an empty bucket is the directory dir. close releases it.
//
// STORAGE_EMULATOR_HOST (host:port, or a URL), the variable Google's client
// libraries read, points it at an emulator, unauthenticated.
func Open(ctx context.Context, bucket, dir string) (s Store, close func() error, err error) {
	if bucket == "" {
		d, err := NewDir(dir)
		if err != nil {
			return nil, nil, err
		}
		return d, func() error { return nil }, nil
	}
	name, prefix, _ := strings.Cut(strings.TrimPrefix(bucket, "gs://"), "/")
	// The credentials' token source refreshes with the context it is made
	// with, long after Open returns: it gets one that is never cancelled.
	hc, endpoint := &http.Client{}, DefaultGCSEndpoint
	if emu := os.Getenv("STORAGE_EMULATOR_HOST"); emu != "" {
		endpoint = emu
		if !strings.Contains(emu, "://") {
			endpoint = "http://" + emu
		}
	} else if hc, err = google.DefaultClient(context.WithoutCancel(ctx), gcsScope); err != nil {
		return nil, nil, fmt.Errorf("cloud storage credentials: %w", err)
	}
	g, err := NewGCS(hc, endpoint, name, prefix)
	if err != nil {
		return nil, nil, err
	}
	return g, func() error { hc.CloseIdleConnections(); return nil }, nil
}
