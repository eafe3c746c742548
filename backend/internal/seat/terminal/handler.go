package terminal

import (
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/clarateach/backend/internal/apierror"
)

// ServeHTTP serves GET /terminal: it upgrades to a WebSocket and attaches it
// to a session. Query parameters:
//
//	session  session id; empty = the newest live session, or a new one
//	offset   output offset the client has already seen (default 0)
//	mode     rw (default) or ro
//	cols, rows  the client's terminal size (rw clients resize the PTY)
//
// Bad parameters answer 400 before the upgrade. An unknown session is
// reported after the upgrade with close code 4404 (browsers cannot read
// HTTP statuses of failed WebSocket handshakes); a session that exited
// recently answers EXIT with its code and closes normally.
func (m *Manager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("session")
	mode := q.Get("mode")
	if mode == "" {
		mode = ModeRW
	}
	if mode != ModeRW && mode != ModeRO {
		apierror.Write(w, r, apierror.Invalid("mode must be rw or ro"))
		return
	}
	var offset uint64
	if v := q.Get("offset"); v != "" {
		o, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			apierror.Write(w, r, apierror.Invalid("offset must be a non-negative integer"))
			return
		}
		offset = o
	}
	cols, rows, err := sizeParams(q.Get("cols"), q.Get("rows"))
	if err != nil {
		apierror.Write(w, r, err)
		return
	}

	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// The agent in front of the daemon checks tokens and origins.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept has answered the request
	}
	defer conn.CloseNow()
	conn.SetReadLimit(MaxInputFrame)
	ctx := r.Context()

	var s *Session
	switch {
	case id != "":
		var ok bool
		s, ok = m.Get(id)
		if !ok {
			if code, gone := m.ExitCode(id); gone {
				wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_ = conn.Write(wctx, websocket.MessageBinary, encodeExit(code))
				cancel()
				_ = conn.Close(websocket.StatusNormalClosure, "exited")
				return
			}
			_ = conn.Close(CloseNotFound, "session not found")
			return
		}
	default:
		if s = m.Newest(); s == nil {
			s, err = m.Create(cols, rows)
			if errors.Is(err, ErrTooManySessions) {
				_ = conn.Close(CloseTooManySessions, "too many sessions")
				return
			}
			if err != nil {
				m.log.Error("create terminal session", "err", err)
				_ = conn.Close(websocket.StatusInternalError, "cannot start shell")
				return
			}
		}
	}
	m.serveConn(ctx, conn, s, mode, offset, cols, rows)
}

func sizeParams(c, r string) (int, int, error) {
	if c == "" && r == "" {
		return 0, 0, nil
	}
	cols, err1 := strconv.Atoi(c)
	rows, err2 := strconv.Atoi(r)
	if err1 != nil || err2 != nil || cols < 1 || rows < 1 || cols > 1000 || rows > 1000 {
		return 0, 0, apierror.Invalid("cols and rows must be given together, each 1..1000")
	}
	return cols, rows, nil
}

// serveConn runs one attached client until it leaves, stalls or the shell
// exits.
func (m *Manager) serveConn(ctx context.Context, conn *websocket.Conn, s *Session, mode string, offset uint64, cols, rows int) {
	if mode == ModeRW && cols > 0 {
		if err := s.Resize(cols, rows); err != nil {
			m.log.Warn("resize", "session", s.id, "err", err)
		}
	}
	a, hello, reset := s.attach(mode, offset)
	defer s.detach(a)
	hello.Ping = int(m.cfg.PingInterval / time.Millisecond)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	write := func(p []byte) error {
		wctx, wcancel := context.WithTimeout(ctx, m.cfg.StallTimeout)
		defer wcancel()
		return conn.Write(wctx, websocket.MessageBinary, p)
	}
	if err := write(encodeHello(hello)); err != nil {
		return
	}
	if reset {
		if err := write(encodeU64(OpReset, hello.Offset)); err != nil {
			return
		}
	}

	var lastRecv atomic.Int64
	lastRecv.Store(time.Now().UnixNano())
	go func() {
		defer cancel()
		m.readClient(ctx, conn, s, a, write, &lastRecv)
	}()
	go func() {
		defer cancel()
		m.pingClient(ctx, conn, write, &lastRecv)
	}()

	// The writer: this client's cursor over the session's ring.
	frame := make([]byte, 9+maxOutputData)
	var lastBehind time.Time
	for {
		c, err := s.next(ctx.Done(), a, frame[9:])
		switch {
		case errors.Is(err, errStalled):
			m.log.Info("dropping stalled terminal client", "session", s.id, "mode", a.mode)
			_ = conn.Close(CloseStalled, "client too slow")
			return
		case err != nil:
			return
		case c.reset:
			if write(encodeU64(OpReset, c.off)) != nil {
				return
			}
		case c.exited:
			if write(encodeExit(c.code)) == nil {
				_ = conn.Close(websocket.StatusNormalClosure, "exited")
			}
			return
		default:
			frame[0] = OpOutput
			binary.BigEndian.PutUint64(frame[1:9], c.off)
			if write(frame[:9+c.n]) != nil {
				return
			}
			s.sent(a, c.off, c.n)
			// A client far behind learns how far, so it can SKIP (and drop
			// what is already in flight to it) instead of replaying it all.
			if lag := c.end - (c.off + uint64(c.n)); lag >= behindMin && time.Since(lastBehind) >= behindEvery {
				lastBehind = time.Now()
				if write(encodeU64(OpBehind, c.end)) != nil {
					return
				}
			}
		}
	}
}

// BEHIND is sent while a client's unsent output is at least behindMin
// bytes, at most every behindEvery.
const (
	behindMin   = 64 << 10
	behindEvery = 250 * time.Millisecond
)

// readClient handles the client's messages.
func (m *Manager) readClient(ctx context.Context, conn *websocket.Conn, s *Session, a *attachment, write func([]byte) error, lastRecv *atomic.Int64) {
	for {
		typ, p, err := conn.Read(ctx)
		if err != nil {
			return
		}
		lastRecv.Store(time.Now().UnixNano())
		if typ != websocket.MessageBinary || len(p) == 0 {
			continue
		}
		switch p[0] {
		case OpInput:
			if a.mode == ModeRW && len(p) > 1 {
				if _, err := s.Write(p[1:]); err != nil {
					m.log.Debug("pty write", "session", s.id, "err", err)
				}
			}
		case OpResize:
			if a.mode != ModeRW {
				continue
			}
			cols, rows, err := decodeResize(p[1:])
			if err != nil {
				continue
			}
			if err := s.Resize(cols, rows); err != nil {
				m.log.Warn("resize", "session", s.id, "err", err)
			}
		case OpPause:
			s.setPaused(a, true)
		case OpResume:
			s.setPaused(a, false)
		case OpSkip:
			s.skip(a)
		case OpPing:
			pong := append([]byte{OpPong}, p[1:]...)
			if write(pong) != nil {
				return
			}
		default:
			// OpPongC and unknown opcodes are ignored (forward compatible).
		}
	}
}

// silentPings is how many pings in a row a client may leave unanswered.
const silentPings = 3

// pingClient sends PING every interval and closes a connection on which the
// client answered none of the last three: it counts pings, not time, so a
// pinger scheduled late on a busy host never takes its own delay for the
// client's silence.
func (m *Manager) pingClient(ctx context.Context, conn *websocket.Conn, write func([]byte) error, lastRecv *atomic.Int64) {
	t := time.NewTicker(m.cfg.PingInterval)
	defer t.Stop()
	heard, unanswered := lastRecv.Load(), 0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if r := lastRecv.Load(); r != heard {
				heard, unanswered = r, 0
			}
			if unanswered >= silentPings {
				_ = conn.Close(CloseStalled, "client silent")
				return
			}
			unanswered++
			if write(encodeU64(OpPingS, uint64(now.UnixMilli()))) != nil {
				return
			}
		}
	}
}
