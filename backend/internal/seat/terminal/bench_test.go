package terminal

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"
)

// BenchmarkEchoRoundTrip measures a keystroke in → its echo out, directly
// against the daemon's terminal handler (no proxy):
//
//	go test -run='^$' -bench=EchoRoundTrip ./internal/seat/terminal/
func BenchmarkEchoRoundTrip(b *testing.B) {
	_, url := newTestManager(b, Config{})
	ctx := context.Background()
	c, err := Dial(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	// cat in canonical mode: the terminal driver echoes each byte at once.
	if err := c.Send(ctx, []byte("stty -echoctl; cat >/dev/null\n")); err != nil {
		b.Fatal(err)
	}
	if _, err := c.ReadUntil(ctx, "cat >/dev/null\r\n"); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		key, want := []byte("x"), 1
		if i%64 == 63 {
			key, want = []byte("\r"), 2 // echoed as \r\n
		}
		t0 := time.Now()
		if err := c.Send(ctx, key); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < want; {
			p, err := c.ReadOutput(ctx)
			if err != nil {
				b.Fatal(err)
			}
			got += len(p)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkThroughput measures `cat` of a 64 MiB file through one client.
//
//	go test -run='^$' -bench=Throughput -benchtime=3x ./internal/seat/terminal/
func BenchmarkThroughput(b *testing.B) {
	dir := b.TempDir()
	line := bytes.Repeat([]byte("0123456789abcdef"), 7)
	line = append(line, '\n')
	data := bytes.Repeat(line, (64<<20)/len(line))
	if err := os.WriteFile(filepath.Join(dir, "big.txt"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	_, url := newTestManager(b, Config{Dir: dir})
	ctx := context.Background()
	c, err := Dial(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ReadUntil(ctx, "$ "); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	frames := 0
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Send(ctx, []byte("cat big.txt; echo cat-$((40+2))\n")); err != nil {
			b.Fatal(err)
		}
		var tail []byte
		for !bytes.Contains(tail, []byte("cat-42")) {
			p, err := c.ReadOutput(ctx)
			if err != nil {
				b.Fatal(err)
			}
			tail = append(tail[max(0, len(tail)-16):], p...)
			frames++
		}
	}
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(len(data))*float64(b.N)/float64(frames), "bytes/frame")
	// CPU of this process (the daemon's terminal side and the client; the
	// shell and cat are other processes) per MB of output.
	b.ReportMetric(float64(cpu.Microseconds())/1000/(float64(len(data))*float64(b.N)/1e6), "cpu-ms/MB")
}
