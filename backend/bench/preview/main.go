// Command preview-bench measures what the preview path costs a learner's
// web app: the same python3 -m http.server, started in a seat from its
// terminal, is asked for a small page (time to the first byte of the
// answer, and to its end) and for a 50 MB file (throughput), directly on
// its port and through the preview origin (control plane preview listener
// -> agent -> the seat's workspace daemon -> the port), in the same run:
// the page requests of both paths interleaved one by one, alternating
// which goes first. It prints the machine line, each run and
// the ratios; it asserts nothing. See README.md beside this file.
//
//	cd backend && go run ./bench/preview [--runs 3] [--requests 200] [--mb 50]
//
// The seat is a process seat, so "directly" is 127.0.0.1:PORT from the
// bench; a sandbox seat's daemon reaches the port the same way from inside
// the seat's network namespace.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/clarateach/backend/bench/internal/machine"
)

type options struct {
	runs, requests, mb int
	daemon             string
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 3, "runs (each measures both paths)")
	flag.IntVar(&o.requests, "requests", 200, "small-page requests per path per run")
	flag.IntVar(&o.mb, "mb", 50, "size of the downloaded file in MB")
	flag.StringVar(&o.daemon, "daemon", "", "workspace daemon binary (default: built from ./cmd/workspace)")
	flag.Parse()
	if os.Getenv("BENCH_LOG") == "" {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "preview-bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	machine.Print()
	env, err := startEnv(ctx, o.daemon)
	if err != nil {
		return err
	}
	defer env.stop()
	port, err := freePort()
	if err != nil {
		return err
	}
	if err := env.startServer(ctx, port, o.mb); err != nil {
		return err
	}
	direct := directPath(port)
	preview, err := env.previewPath(ctx, port)
	if err != nil {
		return err
	}
	fmt.Printf("server: python3 -m http.server in a process seat; page %d B, file %d MB; %d requests per path per run\n",
		pageSize, o.mb, o.requests)
	var sum [2]figures
	for i := range o.runs {
		paths := [2]*path{direct, preview}
		if i%2 == 1 { // alternate which path goes first
			paths = [2]*path{preview, direct}
		}
		got, err := measure(ctx, paths, o.requests, int64(o.mb)<<20)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		for j, p := range paths {
			fmt.Printf("run %d  %-8s %s\n", i+1, p.name, got[j])
			if p == direct {
				sum[0].add(got[j])
			} else {
				sum[1].add(got[j])
			}
		}
	}
	d, p := sum[0], sum[1]
	fmt.Printf("preview/direct over %d runs: first byte p50 %.2fx (+%s), p99 %.2fx; whole page p50 %.2fx; throughput %.2fx (%.0f vs %.0f MB/s)\n",
		o.runs, ratio(p.ttfb50, d.ttfb50), ((p.ttfb50 - d.ttfb50) / time.Duration(o.runs)).Round(time.Microsecond),
		ratio(p.ttfb99, d.ttfb99), ratio(p.total50, d.total50), p.mbps/d.mbps, p.mbps/float64(o.runs), d.mbps/float64(o.runs))
	fmt.Printf("load average at the end: %s\n", machine.Read().Load)
	return nil
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

// freePort is a loopback port nobody listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP polls u until it answers 200 (the server in the seat is up).
func waitHTTP(ctx context.Context, hc *http.Client, u string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
		res, err := hc.Do(req)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(res.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %s: %w", u, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
