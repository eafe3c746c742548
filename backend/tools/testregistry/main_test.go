package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/clarateach/backend/internal/host/imagecache/imagetest"
)

// TestServesTheTestImage: the printed reference names an image the
// registry serves, with the test image's layers; the command ends when its
// context does.
func TestServesTheTestImage(t *testing.T) {
	imagetest.BaseFiles(t) // skips without busybox-static
	ctx, cancel := context.WithCancel(context.Background())
	ref, done := start(t, ctx, 0)
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	if layers, err := img.Layers(); err != nil || len(layers) != 2 {
		t.Fatalf("%s: %d layers (%v), want the test image's 2", ref, len(layers), err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not end with its context")
	}
}

// start runs the command with blob rate rate until ctx ends and returns the
// reference it printed, and its result.
func start(t *testing.T, ctx context.Context, rate int) (name.Reference, <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", "e2e/busybox:1", rate, pw) }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("printed %q: %v", line, err)
	}
	return ref, done
}

// TestBlobRate: with -blob-rate a layer arrives no faster than the rate,
// whole and matching its digest (the browser test relies on a pull that
// lasts long enough to show its progress).
func TestBlobRate(t *testing.T) {
	imagetest.BaseFiles(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const rate = 2 << 20
	ref, _ := start(t, ctx, rate)
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	size, err := layers[0].Size()
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	rc, err := layers[0].Compressed() // go-containerregistry checks the digest at EOF
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	took := time.Since(began)
	if err != nil || n != size {
		t.Fatalf("layer: %d of %d bytes (%v)", n, size, err)
	}
	if want := time.Duration(size) * time.Second / rate; took < want*9/10 {
		t.Fatalf("a %d-byte layer at %d B/s took %s, want at least %s", size, rate, took, want)
	}
	t.Logf("%d bytes in %s", size, took)
}
