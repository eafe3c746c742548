// Package connlimit caps live terminal connections per workspace token and
// per seat, so one learner (or one stolen token) opening thousands of
// WebSockets cannot use up the descriptors and memory every other learner
// needs. The excess is answered with a WebSocket close code the browser can
// read (docs/terminal-protocol.md, "Close codes").
package connlimit

import (
	"bufio"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/apierror"
)

// Caps: a learner needs a few terminals (tabs, a reconnect overlapping the
// old connection); the seat's cap leaves room for the instructor watching or
// taking over while the learner is at their own cap.
const (
	PerToken = 16
	PerSeat  = 32
)

// CloseTooManyConnections is the close code of a terminal WebSocket refused
// because its token or seat is at its cap.
const CloseTooManyConnections = 4409

// Counter counts live connections per token and per seat.
type Counter struct {
	PerToken, PerSeat int // 0 = the package defaults

	mu     sync.Mutex
	tokens map[[32]byte]int
	seats  map[string]int
}

// Acquire counts one more connection for token on seat. When either is at
// its cap it returns an error naming which; otherwise the release function
// to call when the connection ends.
func (c *Counter) Acquire(token, seat string) (release func(), err error) {
	perToken, perSeat := c.PerToken, c.PerSeat
	if perToken <= 0 {
		perToken = PerToken
	}
	if perSeat <= 0 {
		perSeat = PerSeat
	}
	tk := sha256.Sum256([]byte(token)) // no tokens kept in memory
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tokens == nil {
		c.tokens, c.seats = map[[32]byte]int{}, map[string]int{}
	}
	if c.tokens[tk] >= perToken {
		return nil, fmt.Errorf("this token already has %d terminal connections open; close other tabs", perToken)
	}
	if c.seats[seat] >= perSeat {
		return nil, fmt.Errorf("this seat already has %d terminal connections open", perSeat)
	}
	c.tokens[tk]++
	c.seats[seat]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.tokens[tk]--; c.tokens[tk] <= 0 {
				delete(c.tokens, tk)
			}
			if c.seats[seat]--; c.seats[seat] <= 0 {
				delete(c.seats, seat)
			}
		})
	}, nil
}

// TokenFull reports whether token already holds PerToken connections. It
// needs no verification of the token: only tokens that verified are
// counted, and the count is keyed by the token's hash, so a caller can
// refuse a flood on one token before any cryptography or allocation, and
// nobody without the token can fill its count.
func (c *Counter) TokenFull(token string) bool {
	perToken := c.PerToken
	if perToken <= 0 {
		perToken = PerToken
	}
	tk := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tokens[tk] >= perToken
}

// Live is the number of connections counted for seat.
func (c *Counter) Live(seat string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seats[seat]
}

// wsGUID is RFC 6455's handshake constant.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// RefuseWebSocket completes the WebSocket handshake of r only to close it
// at once with code and reason, because a browser cannot read the HTTP
// status of a failed handshake. Requests that are not WebSocket handshakes
// get a 429 JSON error instead.
func RefuseWebSocket(w http.ResponseWriter, r *http.Request, code int, reason string) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if key == "" || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		apierror.Write(w, r, apierror.TooManyRequests("%s", reason))
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		apierror.Write(w, r, apierror.TooManyRequests("%s", reason))
		return
	}
	defer conn.Close()
	sum := sha1.Sum([]byte(key + wsGUID))
	if len(reason) > 123 { // a control frame's payload is at most 125 bytes
		reason = reason[:123]
	}
	frame := append([]byte{0x88, byte(2 + len(reason)), byte(code >> 8), byte(code)}, reason...)
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n")
	_, _ = brw.Write(frame)
	if brw.Flush() != nil {
		return
	}
	lingerClose(conn, brw.Reader)
}

// lingerClose half-closes conn and reads what the peer still sends (its
// close frame) for a moment, so closing does not reset the connection
// before the peer has read our close frame.
func lingerClose(conn net.Conn, r *bufio.Reader) {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<10))
}
