// Command testregistry serves the test image of package imagetest (Debian's
// static busybox, an /etc/os-release naming the test image, a tool only the
// image has) from an in-process registry (go-containerregistry's
// pkg/registry) on a loopback port, for the browser end-to-end test
// (scripts/e2e.sh): a workshop whose environment is that image. It prints
// the image's reference on one line once the image is pushed, and serves
// until it is interrupted or terminated.
//
//	go run ./tools/testregistry [-listen 127.0.0.1:0] [-repo e2e/busybox:1]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/clarateach/backend/internal/host/imagecache/imagetest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve the registry on (loopback: pulled over plain HTTP)")
	repo := flag.String("repo", "e2e/busybox:1", "repository and tag of the test image")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen, *repo, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "testregistry:", err)
		os.Exit(1)
	}
}

// run serves the registry on listen, pushes the test image as repo, prints
// its reference to out and serves until ctx ends.
func run(ctx context.Context, listen, repo string, out io.Writer) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer srv.Close()

	img, err := imagetest.NewImage()
	if err != nil {
		return err
	}
	ref, err := name.ParseReference(ln.Addr().String() + "/" + repo)
	if err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	fmt.Fprintln(out, ref.String())
	select {
	case <-ctx.Done():
		return nil
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve: %w", err)
	}
}
