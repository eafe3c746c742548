package server

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// chunky reads at most a random number of bytes at a time, as a socket does.
type chunky struct {
	r   io.Reader
	rnd *rand.Rand
}

func (c *chunky) Read(p []byte) (int, error) {
	if n := 1 + c.rnd.IntN(3*busyCopyBuffer); n < len(p) {
		p = p[:n]
	}
	return c.r.Read(p)
}

// TestLazyCopyCopiesEverything: whatever the sizes of the reads, a lazy
// copy delivers exactly what was sent, including at the buffers' edges.
func TestLazyCopyCopiesEverything(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, idleCopyBuffer - 1, idleCopyBuffer, idleCopyBuffer + 1, busyCopyBuffer, busyCopyBuffer + idleCopyBuffer, 1 << 20} {
		src := make([]byte, size)
		for i := range src {
			src[i] = byte(rnd.IntN(256))
		}
		var dst bytes.Buffer
		n, err := lazyCopy(&dst, &chunky{bytes.NewReader(src), rnd})
		if err != nil || n != int64(size) || !bytes.Equal(dst.Bytes(), src) {
			t.Fatalf("size %d: copied %d, err %v, equal %v", size, n, err, bytes.Equal(dst.Bytes(), src))
		}
	}
}

// TestLazyCopyIdleHoldsNoBigBuffer: after a burst of 100 kB the copy waits
// for more with its small buffer only; the 32 KiB one is back in the pool.
func TestLazyCopyIdleHoldsNoBigBuffer(t *testing.T) {
	pr, pw := io.Pipe()
	got := make(chan int, 64)
	done := make(chan error, 1)
	before := busyInUse.Load()
	go func() {
		_, err := lazyCopy(writerFunc(func(p []byte) (int, error) { got <- len(p); return len(p), nil }), pr)
		done <- err
	}()
	go pw.Write(make([]byte, 100_000))
	deadline := time.After(10 * time.Second)
	for total := 0; total < 100_000; {
		select {
		case n := <-got:
			total += n
		case <-deadline:
			t.Fatalf("copied %d of 100000 bytes within 10 s", total)
		}
	}
	for busyInUse.Load() != before {
		select {
		case <-deadline:
			t.Fatalf("an idle copy still holds %d big buffers", busyInUse.Load()-before)
		case <-time.After(time.Millisecond):
		}
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatalf("copy ended with %v, want nil at the end of its source", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
