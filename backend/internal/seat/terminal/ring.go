package terminal

// ring is the bounded replay buffer of a session: it keeps the last `size`
// bytes of output. Byte number o (counting from 0 at session start) lives at
// buf[o%size]. The buffer is allocated lazily and grows up to size, so an idle
// shell that printed one prompt costs a few hundred bytes, not a megabyte.
type ring struct {
	buf  []byte
	size int
	end  uint64 // offset of the next byte to be written = total bytes written
}

func newRing(size int) *ring { return &ring{size: size} }

// start is the offset of the oldest byte still held.
func (r *ring) start() uint64 {
	if r.end > uint64(r.size) {
		return r.end - uint64(r.size)
	}
	return 0
}

// allocated is how many bytes of memory the ring holds.
func (r *ring) allocated() int { return cap(r.buf) }

// write appends p, dropping the oldest bytes if needed.
func (r *ring) write(p []byte) {
	if len(p) == 0 {
		return
	}
	end := r.end + uint64(len(p))
	if len(p) > r.size {
		p = p[len(p)-r.size:]
	}
	need := r.size
	if end < uint64(r.size) {
		need = int(end)
	}
	if len(r.buf) < need {
		n := max(need, min(r.size, 2*len(r.buf)), min(r.size, 4096))
		nb := make([]byte, n)
		copy(nb, r.buf)
		r.buf = nb
	}
	pos := int((end - uint64(len(p))) % uint64(r.size))
	n := copy(r.buf[pos:], p)
	copy(r.buf, p[n:])
	r.end = end
}

// read copies bytes starting at offset off into p and returns how many it
// copied. off must be within [start, end].
func (r *ring) read(off uint64, p []byte) int {
	if off < r.start() || off >= r.end {
		return 0
	}
	avail := r.end - off
	if uint64(len(p)) > avail {
		p = p[:avail]
	}
	pos := int(off % uint64(r.size))
	n := copy(p, r.buf[pos:])
	if n < len(p) {
		n += copy(p[n:], r.buf)
	}
	return n
}
