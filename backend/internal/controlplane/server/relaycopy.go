package server

// The relay's copy of an upgraded (terminal) connection. httputil's
// ReverseProxy copies each direction with io.Copy, whose 32 KiB buffer stays
// allocated while the copy waits in Read: 64 KiB per idle terminal, most of
// what an idle terminal cost the control plane (bench/bigclass). Here a copy
// waits with a small buffer and takes a big one from a pool only while data
// flows, so an idle terminal holds 2 × 512 bytes.

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

const (
	idleCopyBuffer = 512
	busyCopyBuffer = 32 << 10
)

var busyBuffers = sync.Pool{New: func() any { b := make([]byte, busyCopyBuffer); return &b }}

// busyInUse counts the big buffers taken from the pool and not yet returned
// (tests check that idle copies hold none).
var busyInUse atomic.Int64

// lazyCopy copies src to dst until src ends, reading into a small buffer
// while it waits for data and into a pooled 32 KiB one while data keeps
// coming (a read that fills the small buffer), which goes back to the pool
// as soon as a read comes back short (src has nothing more at the moment).
func lazyCopy(dst io.Writer, src io.Reader) (int64, error) {
	small := make([]byte, idleCopyBuffer)
	var total int64
	for {
		n, err := copyRead(dst, src, small, &total)
		if err != nil {
			return total, endOfCopy(err)
		}
		if n < len(small) {
			continue // a Read may return 0, nil: only an error ends the copy
		}
		if err := copyBurst(dst, src, &total); err != nil {
			return total, endOfCopy(err)
		}
	}
}

// copyBurst copies with a pooled buffer until a read comes back short.
func copyBurst(dst io.Writer, src io.Reader, total *int64) error {
	bp := busyBuffers.Get().(*[]byte)
	busyInUse.Add(1)
	defer func() {
		busyInUse.Add(-1)
		busyBuffers.Put(bp)
	}()
	for {
		n, err := copyRead(dst, src, *bp, total)
		if err != nil {
			return err
		}
		if n < len(*bp) {
			return nil
		}
	}
}

// copyRead is one read from src and its write to dst.
func copyRead(dst io.Writer, src io.Reader, buf []byte, total *int64) (int, error) {
	n, err := src.Read(buf)
	if n > 0 {
		w, werr := dst.Write(buf[:n])
		*total += int64(w)
		if werr != nil {
			return n, werr
		}
		if w != n {
			return n, io.ErrShortWrite
		}
	}
	if err == nil && n == 0 {
		return 0, io.ErrNoProgress
	}
	return n, err
}

// endOfCopy is io.Copy's answer: nil at src's end.
func endOfCopy(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// lazyConn is an upgraded connection to the agent whose copies (both ways,
// as ReverseProxy's io.Copy finds WriterTo and ReaderFrom) are lazyCopy.
type lazyConn struct{ io.ReadWriteCloser }

func (c lazyConn) WriteTo(w io.Writer) (int64, error)  { return lazyCopy(w, c.ReadWriteCloser) }
func (c lazyConn) ReadFrom(r io.Reader) (int64, error) { return lazyCopy(c.ReadWriteCloser, r) }

// lazyUpgrades is a transport whose upgraded (101) connections copy lazily.
type lazyUpgrades struct{ http.RoundTripper }

func (t lazyUpgrades) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := t.RoundTripper.RoundTrip(r)
	if err == nil && res.StatusCode == http.StatusSwitchingProtocols {
		if rwc, ok := res.Body.(io.ReadWriteCloser); ok {
			res.Body = lazyConn{rwc}
		}
	}
	return res, err
}
