package terminal

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestRingMatchesModel(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1, 7, 64, 5000} {
		r := newRing(size)
		var all []byte
		rng := rand.New(rand.NewPCG(1, uint64(size)))
		for i := 0; i < 400; i++ {
			chunk := make([]byte, rng.IntN(3*size/2+2))
			for j := range chunk {
				chunk[j] = byte(rng.IntN(256))
			}
			r.write(chunk)
			all = append(all, chunk...)
			if r.end != uint64(len(all)) {
				t.Fatalf("size %d: end %d want %d", size, r.end, len(all))
			}
			if r.allocated() > max(size, 4096) {
				t.Fatalf("size %d: allocated %d", size, r.allocated())
			}
			start := r.start()
			if want := uint64(max(0, len(all)-size)); start != want {
				t.Fatalf("size %d: start %d want %d", size, start, want)
			}
			// Read from a random offset in the window with a random buffer.
			off := start + uint64(rng.IntN(int(r.end-start)+1))
			p := make([]byte, rng.IntN(size+3))
			n := r.read(off, p)
			want := all[off:min(uint64(len(all)), off+uint64(len(p)))]
			if !bytes.Equal(p[:n], want) {
				t.Fatalf("size %d: read at %d got %q want %q", size, off, p[:n], want)
			}
		}
	}
}

func TestRingGrowsLazily(t *testing.T) {
	t.Parallel()
	r := newRing(1 << 20)
	r.write([]byte("$ "))
	if r.allocated() > 4096 {
		t.Fatalf("allocated %d for a prompt", r.allocated())
	}
}
