package workspace

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestParseProcNetTCP(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0000000000000000 100 0 0 10 0
   1: 00000000:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 2 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F40 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 3 1 0000000000000000 20 4 30 10 -1
`
	table6 := `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1435 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000000000000:1F40 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5 1 0000000000000000 100 0 0 10 0
`
	type sock struct {
		addr string
		port int
	}
	var got []sock
	for _, tb := range []string{table, table6} {
		if err := parseProcNetTCP(strings.NewReader(tb), func(a netip.Addr, p int) { got = append(got, sock{a.String(), p}) }); err != nil {
			t.Fatal(err)
		}
	}
	want := []sock{{"127.0.0.1", 8000}, {"0.0.0.0", 3000}, {"::1", 5173}, {"::", 8000}}
	if !slices.Equal(got, want) {
		t.Fatalf("parsed %v, want %v (the established socket in row 2 is not a listener)", got, want)
	}
}

func TestListPortsSeesAListenerAndSkipsOwn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	own, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	ownPort := own.Addr().(*net.TCPAddr).Port
	ports, err := listPorts(procNetFiles, ownPorts("tcp:127.0.0.1:"+strconv.Itoa(ownPort)))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, p := range ports {
		if p.Port == ownPort {
			t.Errorf("the daemon's own port %d is listed", ownPort)
		}
		if p.Port == port {
			found = slices.Contains(p.Addresses, "127.0.0.1")
		}
	}
	if !found {
		t.Fatalf("port %d (127.0.0.1) not in %+v", port, ports)
	}
}

// app is a small web app on the loopback: it echoes what it was asked,
// streams, and echoes WebSocket messages.
func startApp(t *testing.T) int {
	t.Helper()
	// No ServeMux: it would clean the paths this test checks.
	ws := func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte("echo:"), b...)); err != nil {
				return
			}
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			ws(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"uri": r.RequestURI, "host": r.Host, "fwd": r.Header.Get("X-Forwarded-Host")})
	}))
	t.Cleanup(srv.Close)
	u := srv.Listener.Addr().(*net.TCPAddr)
	return u.Port
}

func TestPreviewPassesPathsAndWebSockets(t *testing.T) {
	d := startDaemon(t, Config{})
	port := startApp(t)
	req, _ := http.NewRequest("GET", d.base+"/preview/"+strconv.Itoa(port), nil)
	req.Header.Set(PreviewPathHeader, "/a//b/../c?x=1&y=%2F")
	resp, err := d.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var seen map[string]string
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(raw, &seen); err != nil {
		t.Fatalf("%d %s: %v", resp.StatusCode, raw, err)
	}
	if seen["uri"] != "/a//b/../c?x=1&y=%2F" || seen["host"] != "localhost:"+strconv.Itoa(port) {
		t.Fatalf("the app saw %v; want the path untouched and Host localhost:%d", seen, port)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := http.Header{}
	h.Set(PreviewPathHeader, "/ws")
	c, _, err := websocket.Dial(ctx, d.base+"/preview/"+strconv.Itoa(port), &websocket.DialOptions{HTTPClient: d.hc, HTTPHeader: h})
	if err != nil {
		t.Fatalf("websocket through the preview: %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	_, b, err := c.Read(ctx)
	if err != nil || string(b) != "echo:hi" {
		t.Fatalf("read %q, %v; want echo:hi", b, err)
	}
}

func TestPreviewNothingListening(t *testing.T) {
	d := startDaemon(t, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	resp, err := d.hc.Get(d.base + "/preview/" + strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "Nothing is listening on port "+strconv.Itoa(port)) ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("got %d %s %q; want 502 with the nothing-listening page", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	for _, bad := range []string{"0", "65536", "x"} {
		resp, err := d.hc.Get(d.base + "/preview/" + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("port %q: %d, want 400", bad, resp.StatusCode)
		}
	}
}

func TestPortsWatchStreamsChanges(t *testing.T) {
	d := startDaemon(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", d.base+"/ports?watch=1", nil)
	resp, err := d.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	want := ln.Addr().(*net.TCPAddr).Port
	dec := newEventReader(resp.Body)
	for {
		data, err := dec.next()
		if err != nil {
			t.Fatalf("stream ended before port %d was listed: %v", want, err)
		}
		var pl PortList
		if err := json.Unmarshal([]byte(data), &pl); err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(pl.Ports, func(p Port) bool { return p.Port == want }) {
			return
		}
	}
}

// eventReader reads the data lines of a text/event-stream.
type eventReader struct {
	r   io.Reader
	buf []byte
}

func newEventReader(r io.Reader) *eventReader { return &eventReader{r: r} }

func (e *eventReader) next() (string, error) {
	for {
		if i := strings.Index(string(e.buf), "\n\n"); i >= 0 {
			ev := string(e.buf[:i])
			e.buf = e.buf[i+2:]
			for _, line := range strings.Split(ev, "\n") {
				if d, ok := strings.CutPrefix(line, "data: "); ok {
					return d, nil
				}
			}
			continue
		}
		b := make([]byte, 4096)
		n, err := e.r.Read(b)
		e.buf = append(e.buf, b[:n]...)
		if err != nil {
			return "", err
		}
	}
}
