package agent

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"testing"
)

// rwConn is a net.Conn that reads r and writes w.
type rwConn struct {
	net.Conn
	r io.Reader
	w io.Writer
}

func (c rwConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c rwConn) Write(p []byte) (int, error) { return c.w.Write(p) }

// relayed is the proxy's relayed-bytes counter for direction ("in", "out").
func relayed(t *testing.T, m *metrics, direction string) float64 {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "clarateach_agent_relayed_bytes_total" {
			continue
		}
		for _, mm := range mf.GetMetric() {
			for _, l := range mm.GetLabel() {
				if l.GetName() == "direction" && l.GetValue() == direction {
					return mm.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// The copy of a hijacked connection (a WebSocket, both directions through
// httputil's io.Copy) passes and counts every byte as io.Copy did, and a
// connection carrying a few bytes no longer costs io.Copy's 32 KiB buffer
// per direction.
func TestHijackedConnCopy(t *testing.T) {
	m := newMetrics(&Agent{})
	data := bytes.Repeat([]byte("0123456789abcdef"), 10_000) // grows the buffer

	// daemon -> client: io.Copy(user, backend) calls the user conn's
	// ReadFrom (the backend, like net/http's 101 body, has no WriteTo).
	var toClient bytes.Buffer
	user := &countingConn{Conn: rwConn{w: &toClient}, m: m}
	n, err := io.Copy(user, struct{ io.Reader }{io.MultiReader(bytes.NewReader(data[:10]), bytes.NewReader(data))})
	if err != nil || n != int64(len(data)+10) || !bytes.Equal(toClient.Bytes(), append(data[:10:10], data...)) {
		t.Fatalf("daemon to client: copied %d, %v; %d bytes arrived", n, err, toClient.Len())
	}
	// client -> daemon: io.Copy(backend, user) calls the user conn's WriteTo.
	var toDaemon bytes.Buffer
	user = &countingConn{Conn: rwConn{r: bytes.NewReader(data)}, m: m}
	n, err = io.Copy(struct{ io.Writer }{&toDaemon}, user)
	if err != nil || n != int64(len(data)) || !bytes.Equal(toDaemon.Bytes(), data) {
		t.Fatalf("client to daemon: copied %d, %v", n, err)
	}
	if in, out := relayed(t, m, "in"), relayed(t, m, "out"); in != float64(len(data)) || out != float64(len(data)+10) {
		t.Fatalf("relayed in %v, out %v; want %d, %d", in, out, len(data), len(data)+10)
	}
	// A short write is io.Copy's error.
	user = &countingConn{Conn: rwConn{w: shortWriter{}}, m: m}
	if _, err := io.Copy(user, struct{ io.Reader }{bytes.NewReader(data[:100])}); err != io.ErrShortWrite {
		t.Fatalf("short write: %v, want io.ErrShortWrite", err)
	}

	// A terminal's few bytes each way: well under io.Copy's 64 KiB.
	const copies = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range copies {
		u := &countingConn{Conn: rwConn{r: bytes.NewReader([]byte("ls\r")), w: io.Discard}, m: m}
		_, _ = io.Copy(u, struct{ io.Reader }{bytes.NewReader([]byte("$ "))})
		_, _ = io.Copy(struct{ io.Writer }{io.Discard}, u)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / copies; per > 16<<10 {
		t.Fatalf("a connection's two copies allocated %d bytes, want under 16 KiB (io.Copy: 64 KiB)", per)
	}
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }
