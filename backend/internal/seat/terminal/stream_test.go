package terminal

import (
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/coder/websocket"
)

// TestClientReadsWithoutAllocatingPerFrame: the Go client reads a stream of
// full OUTPUT frames into one reused buffer (a new slice per frame was most
// of the bench client's CPU).
func TestClientReadsWithoutAllocatingPerFrame(t *testing.T) {
	const frames, size = 200, maxOutputData
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		defer conn.CloseNow()
		ctx := r.Context()
		_ = conn.Write(ctx, websocket.MessageBinary, encodeHello(Hello{Protocol: 1, Session: "s1"}))
		f := make([]byte, 9+size)
		f[0] = OpOutput
		for i := range frames {
			binary.BigEndian.PutUint64(f[1:9], uint64(i*size))
			if conn.Write(ctx, websocket.MessageBinary, f) != nil {
				return
			}
		}
		_ = conn.Write(ctx, websocket.MessageBinary, encodeExit(0))
		_, _, _ = conn.Read(ctx)
	}))
	defer srv.Close()
	ctx := context.Background()
	c, err := Dial(ctx, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ReadOutput(ctx); err != nil { // the first frame sizes the buffer
		t.Fatal(err)
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	n := 0
	for n < frames-1 {
		p, err := c.ReadOutput(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) == size {
			n++
		}
	}
	runtime.ReadMemStats(&m1)
	// The server's writes are in this process too; both together must stay
	// far below one copy of the stream.
	if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > uint64(frames*size/4) {
		t.Fatalf("reading %d frames of %d bytes allocated %d bytes", frames-1, size, alloc)
	}
}
