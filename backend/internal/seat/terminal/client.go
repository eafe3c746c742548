package terminal

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/coder/websocket"
)

// DialOptions say which session to attach to and how.
type DialOptions struct {
	Session    string       // empty = newest or new
	Offset     uint64       // output already seen
	Mode       string       // rw (default) or ro
	Cols, Rows int          // 0 = do not send a size
	HTTPClient *http.Client // e.g. one that dials a unix socket
	Header     http.Header  // e.g. Authorization for the agent's proxy
}

// Client is a Go client of the terminal protocol. Reads happen only inside
// its Read* methods (there is no background reader), so a client that is not
// read from applies back-pressure exactly like a stalled browser. Send,
// Resize, Pause, Resume and Close may be called concurrently with a read.
type Client struct {
	conn    *websocket.Conn
	Hello   Hello  // the server's HELLO
	offset  uint64 // offset of the next output byte expected
	resets  int
	exited  bool
	code    int
	pending []Frame // frames read while waiting for a PONG
	// skipping: a SKIP was sent; OUTPUT is dropped until its RESET.
	skipping bool
	dropped  int    // OUTPUT bytes dropped while skipping
	behind   uint64 // the latest BEHIND's output end (0: none yet)
	// msg holds the last message read, reused by the next read: a stream of
	// 64 KiB OUTPUT frames then costs no allocation (reading each into a
	// new slice cost more CPU than the rest of the client).
	msg []byte
}

// Frame is one decoded server message. Its Data and Payload are valid until
// the Client's next read (Next, ReadOutput, Ping...): copy what you keep.
type Frame struct {
	Op      byte
	Offset  uint64 // OUTPUT: offset of Data[0]; RESET: offset output resumes at
	Data    []byte // OUTPUT bytes, PONG/PING payload, HELLO JSON
	Code    int    // EXIT
	Payload []byte
}

// ExitError is returned by reads once the shell exited.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("terminal: shell exited with code %d", e.Code) }

// Dial connects to a daemon's (or agent proxy's) terminal endpoint, e.g.
// "ws://workspace/terminal" or "http://127.0.0.1:9090/proxy/ws1/3/terminal",
// and reads the HELLO.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Client, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("terminal dial: %w", err)
	}
	q := u.Query()
	if opts.Session != "" {
		q.Set("session", opts.Session)
	}
	if opts.Offset > 0 {
		q.Set("offset", strconv.FormatUint(opts.Offset, 10))
	}
	if opts.Mode != "" {
		q.Set("mode", opts.Mode)
	}
	if opts.Cols > 0 && opts.Rows > 0 {
		q.Set("cols", strconv.Itoa(opts.Cols))
		q.Set("rows", strconv.Itoa(opts.Rows))
	}
	u.RawQuery = q.Encode()
	conn, _, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient:      opts.HTTPClient,
		HTTPHeader:      opts.Header,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return nil, fmt.Errorf("terminal dial %s: %w", u.Redacted(), err)
	}
	conn.SetReadLimit(1 << 20)
	c := &Client{conn: conn}
	f, err := c.readFrame(ctx)
	if err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("terminal dial: waiting for HELLO: %w", err)
	}
	if f.Op == OpExit {
		conn.CloseNow()
		return nil, &ExitError{Code: f.Code}
	}
	if f.Op != OpHello {
		conn.CloseNow()
		return nil, fmt.Errorf("terminal dial: first frame is 0x%02x, want HELLO", f.Op)
	}
	if err := json.Unmarshal(f.Data, &c.Hello); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("terminal dial: bad HELLO: %w", err)
	}
	c.offset = c.Hello.Offset
	return c, nil
}

// CloseStatus returns the WebSocket close code in err (or -1).
func CloseStatus(err error) int { return int(websocket.CloseStatus(err)) }

// readMessage reads the next WebSocket message into c.msg.
func (c *Client) readMessage(ctx context.Context) (websocket.MessageType, []byte, error) {
	typ, r, err := c.conn.Reader(ctx)
	if err != nil {
		return 0, nil, err
	}
	n := 0
	for {
		if n == len(c.msg) {
			c.msg = append(c.msg, make([]byte, max(9+maxOutputData+1, len(c.msg)))...)
		}
		k, err := r.Read(c.msg[n:])
		n += k
		if errors.Is(err, io.EOF) {
			return typ, c.msg[:n], nil
		}
		if err != nil {
			return 0, nil, err
		}
	}
}

func (c *Client) readFrame(ctx context.Context) (Frame, error) {
	for {
		typ, p, err := c.readMessage(ctx)
		if err != nil {
			return Frame{}, err
		}
		if typ != websocket.MessageBinary || len(p) == 0 {
			continue
		}
		f := Frame{Op: p[0], Payload: p[1:]}
		switch f.Op {
		case OpOutput, OpReset, OpBehind:
			if len(p) < 9 {
				return f, fmt.Errorf("terminal: short frame 0x%02x", f.Op)
			}
			f.Offset = binary.BigEndian.Uint64(p[1:9])
			f.Data = p[9:]
		case OpExit:
			if len(p) != 5 {
				return f, errors.New("terminal: bad EXIT frame")
			}
			f.Code = int(int32(binary.BigEndian.Uint32(p[1:])))
		default:
			f.Data = p[1:]
		}
		return f, nil
	}
}

// Next returns the next frame, answering server PINGs on the way and
// checking that OUTPUT continues exactly at the expected offset.
func (c *Client) Next(ctx context.Context) (Frame, error) {
	for {
		var f Frame
		if len(c.pending) > 0 {
			f, c.pending = c.pending[0], c.pending[1:]
		} else {
			var err error
			if f, err = c.readFrame(ctx); err != nil {
				return f, err
			}
		}
		switch f.Op {
		case OpPingS:
			if err := c.write(ctx, append([]byte{OpPongC}, f.Data...)); err != nil {
				return f, err
			}
			continue
		case OpOutput:
			if c.skipping {
				c.dropped += len(f.Data)
				continue
			}
			if f.Offset != c.offset {
				return f, fmt.Errorf("terminal: output at offset %d, expected %d (lost or duplicated output)", f.Offset, c.offset)
			}
			c.offset += uint64(len(f.Data))
		case OpReset:
			c.resets++
			c.offset = f.Offset
			c.skipping = false
		case OpBehind:
			c.behind = f.Offset
		case OpExit:
			c.exited, c.code = true, f.Code
		}
		return f, nil
	}
}

// ReadOutput returns the next chunk of output. It returns *ExitError when
// the shell exited and all output was read.
func (c *Client) ReadOutput(ctx context.Context) ([]byte, error) {
	for {
		if c.exited {
			return nil, &ExitError{Code: c.code}
		}
		f, err := c.Next(ctx)
		if err != nil {
			return nil, err
		}
		if f.Op == OpOutput {
			return f.Data, nil
		}
	}
}

// ReadUntil reads output until what it read (in this call) contains substr,
// and returns it.
func (c *Client) ReadUntil(ctx context.Context, substr string) ([]byte, error) {
	var got []byte
	for !bytes.Contains(got, []byte(substr)) {
		p, err := c.ReadOutput(ctx)
		if err != nil {
			return got, fmt.Errorf("waiting for %q (got %q): %w", substr, tail(got), err)
		}
		got = append(got, p...)
	}
	return got, nil
}

func tail(b []byte) string {
	if len(b) > 200 {
		b = b[len(b)-200:]
	}
	return strings.ToValidUTF8(string(b), "?")
}

// WaitExit reads until the EXIT frame and returns the exit code.
func (c *Client) WaitExit(ctx context.Context) (int, error) {
	for {
		_, err := c.ReadOutput(ctx)
		var ee *ExitError
		if errors.As(err, &ee) {
			return ee.Code, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// Offset is the offset of the next output byte expected: pass it as
// DialOptions.Offset to resume after a reconnect.
func (c *Client) Offset() uint64 { return c.offset }

// Resets counts RESET frames received.
func (c *Client) Resets() int { return c.resets }

func (c *Client) write(ctx context.Context, p []byte) error {
	return c.conn.Write(ctx, websocket.MessageBinary, p)
}

// Send types p (an INPUT frame). Large inputs are split into frames.
func (c *Client) Send(ctx context.Context, p []byte) error {
	for len(p) > 0 {
		n := min(len(p), MaxInputFrame-1)
		if err := c.write(ctx, append([]byte{OpInput}, p[:n]...)); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// Resize sends a RESIZE frame.
func (c *Client) Resize(ctx context.Context, cols, rows int) error {
	return c.write(ctx, EncodeResize(cols, rows))
}

// Skip asks the server to drop this client's backlog and RESET it to the
// newest output; reads drop the OUTPUT already in flight until that RESET.
func (c *Client) Skip(ctx context.Context) error {
	c.skipping = true
	return c.write(ctx, []byte{OpSkip})
}

// Dropped is how many OUTPUT bytes reads dropped after Skip.
func (c *Client) Dropped() int { return c.dropped }

// Behind is the output end the server last reported with BEHIND (0: none).
func (c *Client) Behind() uint64 { return c.behind }

// Pause asks the server to stop sending output.
func (c *Client) Pause(ctx context.Context) error { return c.write(ctx, []byte{OpPause}) }

// Resume asks the server to send output again.
func (c *Client) Resume(ctx context.Context) error { return c.write(ctx, []byte{OpResume}) }

// Ping sends a PING with payload and reads until its PONG; frames read
// meanwhile are kept for the next reads.
func (c *Client) Ping(ctx context.Context, payload []byte) error {
	if err := c.write(ctx, append([]byte{OpPing}, payload...)); err != nil {
		return err
	}
	for {
		f, err := c.readFrame(ctx)
		if err != nil {
			return err
		}
		if f.Op == OpPong && bytes.Equal(f.Data, payload) {
			return nil
		}
		c.pending = append(c.pending, cloneFrame(f)) // the next read reuses f's bytes
	}
}

// cloneFrame copies f's bytes out of the client's read buffer.
func cloneFrame(f Frame) Frame {
	if f.Payload == nil {
		return f
	}
	p := bytes.Clone(f.Payload)
	if f.Data != nil {
		f.Data = p[len(p)-len(f.Data):]
	}
	f.Payload = p
	return f
}

// Close closes the connection without waiting for the server.
func (c *Client) Close() error { return c.conn.CloseNow() }
