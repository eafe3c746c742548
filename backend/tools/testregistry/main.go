// Command testregistry serves the test image of package imagetest (Debian's
// static busybox, an /etc/os-release naming the test image, a tool only the
// image has) from an in-process registry (go-containerregistry's
// pkg/registry) on a loopback port, for the browser end-to-end test
// (scripts/e2e.sh): a workshop whose environment is that image. It prints
// the image's reference on one line once the image is pushed, and serves
// until it is interrupted or terminated. With -blob-rate it sends blobs
// (the layers and the config) at that many bytes a second, so that a pull
// lasts long enough for its progress to be seen (the browser test's step
// I1 checks that the class view shows it).
//
//	go run ./tools/testregistry [-listen 127.0.0.1:0] [-repo e2e/busybox:1] [-blob-rate 0]
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
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/clarateach/backend/internal/host/imagecache/imagetest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve the registry on (loopback: pulled over plain HTTP)")
	repo := flag.String("repo", "e2e/busybox:1", "repository and tag of the test image")
	rate := flag.Int("blob-rate", 0, "bytes per second at which blobs are sent (0: as fast as possible)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen, *repo, *rate, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "testregistry:", err)
		os.Exit(1)
	}
}

// run serves the registry on listen, pushes the test image as repo, prints
// its reference to out and serves until ctx ends, sending blobs at rate
// bytes a second (0: unlimited).
func run(ctx context.Context, listen, repo string, rate int, out io.Writer) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: throttleBlobs(registry.New(registry.Logger(log.New(io.Discard, "", 0))), rate)}
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

// throttleBlobs sends the bodies of blob downloads (GET …/blobs/…) at rate
// bytes a second; everything else, and every request when rate is 0, as
// h answers it.
func throttleBlobs(h http.Handler, rate int) http.Handler {
	if rate <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
			h.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(&slowWriter{ResponseWriter: w, rate: rate, start: time.Now()}, r)
	})
}

// slowWriter writes in slices of a tenth of a second's worth of bytes and
// waits before each slice until the bytes already sent are due.
type slowWriter struct {
	http.ResponseWriter
	rate  int
	start time.Time
	sent  int64
}

func (s *slowWriter) Write(p []byte) (int, error) {
	n := 0
	chunk := max(1, s.rate/10)
	for len(p) > 0 {
		k := min(chunk, len(p))
		due := s.start.Add(time.Duration(s.sent) * time.Second / time.Duration(s.rate))
		time.Sleep(time.Until(due)) // pacing the download, not waiting on other work
		m, err := s.ResponseWriter.Write(p[:k])
		n += m
		s.sent += int64(m)
		if err != nil {
			return n, err
		}
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		p = p[k:]
	}
	return n, nil
}
