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
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", "e2e/busybox:1", pw) }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("printed %q: %v", line, err)
	}
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
