package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// path is one way to the server in the seat: directly, or through the
// preview origin (with its cookie).
type path struct {
	name, base, cookie string
	client             *http.Client
}

// figures of one path in one run (or summed over runs).
type figures struct {
	ttfb50, ttfb99, total50 time.Duration
	mbps                    float64
}

func (f *figures) add(g figures) {
	f.ttfb50 += g.ttfb50
	f.ttfb99 += g.ttfb99
	f.total50 += g.total50
	f.mbps += g.mbps
}

func (f figures) String() string {
	return fmt.Sprintf("page: first byte p50 %s p99 %s, whole p50 %s; file: %.0f MB/s",
		f.ttfb50.Round(time.Microsecond), f.ttfb99.Round(time.Microsecond), f.total50.Round(time.Microsecond), f.mbps)
}

// get fetches p.base+rel and returns when the answer's headers came and
// when its body ended, and the body's size.
func (p *path) get(ctx context.Context, rel string) (first, whole time.Duration, n int64, err error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", p.base+rel, nil)
	if p.cookie != "" {
		req.Header.Set("Cookie", p.cookie)
	}
	t0 := time.Now()
	res, err := p.client.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	first = time.Since(t0)
	n, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	whole = time.Since(t0)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", rel, res.Status)
	}
	return first, whole, n, err
}

// measure asks each path for the page n times, interleaved request by
// request (which path goes first alternates), so both see the same moments
// of a busy machine; then each downloads the file once, in the order of
// the first request. It returns the figures in the order of paths.
func measure(ctx context.Context, paths [2]*path, n int, fileSize int64) ([2]figures, error) {
	var out [2]figures
	var firsts, wholes [2][]time.Duration
	for i := -1; i < n; i++ { // request -1 warms both paths up
		for k := range 2 {
			j := k
			if i%2 != 0 {
				j = 1 - k
			}
			first, whole, size, err := paths[j].get(ctx, "/index.html")
			if err != nil {
				return out, fmt.Errorf("%s: %w", paths[j].name, err)
			}
			if size != pageSize {
				return out, fmt.Errorf("%s: the page is %d bytes, want %d", paths[j].name, size, pageSize)
			}
			if i >= 0 {
				firsts[j], wholes[j] = append(firsts[j], first), append(wholes[j], whole)
			}
		}
	}
	for j, p := range paths {
		_, whole, size, err := p.get(ctx, "/blob.bin")
		if err != nil {
			return out, fmt.Errorf("%s: %w", p.name, err)
		}
		if size != fileSize {
			return out, fmt.Errorf("%s: the file is %d bytes, want %d", p.name, size, fileSize)
		}
		out[j] = figures{ttfb50: pct(firsts[j], 50), ttfb99: pct(firsts[j], 99), total50: pct(wholes[j], 50),
			mbps: float64(size) / (1 << 20) / whole.Seconds()}
	}
	return out, nil
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}
