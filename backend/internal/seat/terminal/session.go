package terminal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
)

// Session is one PTY with its shell (one terminal tab). It belongs to the
// Manager, not to any WebSocket: clients attach and detach, the shell stays.
type Session struct {
	id      string
	m       *Manager
	created time.Time
	cmd     *exec.Cmd
	pty     *os.File

	inMu sync.Mutex // serializes writes to the PTY so frames never interleave

	mu            sync.Mutex
	ring          *ring
	changed       chan struct{} // closed and replaced whenever state changes
	clients       map[*attachment]struct{}
	cols, rows    int
	idleSince     time.Time // when the last client left (or creation)
	readerBlocked bool      // the PTY reader waits for the slowest client
	bulk          bool      // the last PTY read was large: output is streaming
	reserved      int       // bytes the reader may add when its current read returns
	blockedSince  time.Time
	readerDone    bool // PTY reached EOF/EIO
	exited        bool // shell reaped and PTY closed: EXIT may be sent
	exitCode      int
	killed        bool

	readerDoneCh chan struct{}
	done         chan struct{} // closed after exit
}

// attachment is one client's position in the session's output.
type attachment struct {
	mode   string
	off    uint64 // offset of the next byte to send to this client
	paused bool
	// resetDue: off was moved (SKIP, or a viewer overtaken by the ring);
	// the client must be sent RESET at off before any more output.
	resetDue bool
	progress time.Time     // last time off advanced (or attach/resume)
	kicked   chan struct{} // closed when the client is dropped for stalling
}

var errStalled = errors.New("terminal: client made no progress for the stall timeout")

func startSession(m *Manager, id string, cols, rows int) (*Session, error) {
	argv := []string{"-" + baseName(m.cfg.Shell)} // a login shell, by the argv[0] convention every shell understands
	if m.cfg.Args != nil {
		argv = append([]string{m.cfg.Shell}, m.cfg.Args...)
	}
	cmd := Command(context.Background(), m.cfg.Launcher, m.cfg.Shell, argv...)
	cmd.Dir = m.cfg.Dir
	cmd.Env = m.env()
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
	if err != nil {
		return nil, fmt.Errorf("start shell %s: %w", m.cfg.Shell, err)
	}
	now := m.clock.Now()
	s := &Session{
		id:           id,
		m:            m,
		created:      now,
		cmd:          cmd,
		pty:          ptmx,
		ring:         newRing(m.cfg.RingSize),
		changed:      make(chan struct{}),
		clients:      make(map[*attachment]struct{}),
		cols:         cols,
		rows:         rows,
		idleSince:    now,
		readerDoneCh: make(chan struct{}),
		done:         make(chan struct{}),
	}
	go s.readLoop()
	go s.waitLoop()
	return s, nil
}

func baseName(p string) string {
	if i := bytes.LastIndexByte([]byte(p), '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// WaitOutput blocks until the session's shell has written something
// (normally its first prompt), the shell has ended, or ctx is done.
func (s *Session) WaitOutput(ctx context.Context) error {
	for {
		s.mu.Lock()
		ready := s.ring.end > 0 || s.readerDone
		ch := s.changed
		s.mu.Unlock()
		if ready {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ID is the session id.
func (s *Session) ID() string { return s.id }

// Done is closed once the shell has exited and all its output was read.
func (s *Session) Done() <-chan struct{} { return s.done }

// notifyLocked wakes everyone waiting for a state change. s.mu must be held.
func (s *Session) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// holds reports whether a client may hold the PTY reader back (flow
// control): only read-write clients do. A read-only viewer that falls
// behind the ring skips forward with RESET instead, so an instructor's
// paused or background tab never freezes the learner's terminal.
func (a *attachment) holds() bool { return a.mode == ModeRW }

// spaceLocked is how many bytes the PTY reader may add to the ring without
// overwriting bytes an attached read-write client has not been sent yet.
func (s *Session) spaceLocked() int {
	minOff := s.ring.end
	for a := range s.clients {
		if a.holds() {
			minOff = min(minOff, a.off)
		}
	}
	return s.ring.size - int(s.ring.end-minOff)
}

// lowWater is the room a blocked reader waits for before reading again.
func (s *Session) lowWater() int { return max(1, min(s.ring.size/4, 16<<10)) }

// readLoop copies PTY output into the ring, never overwriting bytes some
// attached client has not been sent (flow control). With no client attached
// it keeps reading and the ring drops the oldest bytes.
func (s *Session) readLoop() {
	defer close(s.readerDoneCh)
	buf := make([]byte, 16<<10) // PTY reads return at most ~4 KiB
	for {
		n, ok := s.waitForSpace(len(buf))
		if !ok {
			break
		}
		k, err := s.pty.Read(buf[:n])
		s.mu.Lock()
		s.reserved = 0
		if k > 0 {
			s.ring.write(buf[:k])
			s.bulk = k >= bulkRead
			s.notifyLocked()
		}
		s.mu.Unlock()
		if err != nil {
			break
		}
	}
	s.mu.Lock()
	s.readerDone = true
	s.readerBlocked = false
	s.notifyLocked()
	s.mu.Unlock()
}

// waitForSpace blocks until the ring has room, dropping clients that stall
// the session for longer than the stall timeout. It returns how many bytes
// the reader may read, or false if the session is closing.
func (s *Session) waitForSpace(want int) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.exited {
			return 0, false
		}
		if s.killed {
			// A killed session drains without flow control so it dies now.
			s.reserved = min(want, s.lowWater())
			return s.reserved, true
		}
		// Once blocked, wait for a useful amount of room (hysteresis), so a
		// client at the limit does not turn the stream into tiny reads.
		need := 1
		if s.readerBlocked {
			need = s.lowWater()
		}
		if sp := s.spaceLocked(); sp >= need {
			if s.readerBlocked {
				s.readerBlocked = false
				s.notifyLocked()
			}
			// Keep reads well below the ring size, so a client attaching
			// during a read still finds most of the ring to replay.
			s.reserved = min(sp, want, s.lowWater())
			return s.reserved, true
		}
		now := s.m.clock.Now()
		if !s.readerBlocked {
			s.readerBlocked = true
			s.blockedSince = now
			s.notifyLocked()
		}
		// The laggards are the clients that leave less than the low-water
		// room: they are the ones holding the reader.
		var next time.Duration = -1
		kicked := false
		for a := range s.clients {
			if !a.holds() || s.ring.size-int(s.ring.end-a.off) >= s.lowWater() {
				continue
			}
			since := a.progress
			if s.blockedSince.After(since) {
				since = s.blockedSince
			}
			left := s.m.cfg.StallTimeout - now.Sub(since)
			if left <= 0 {
				s.dropLocked(a)
				close(a.kicked)
				kicked = true
				continue
			}
			if next < 0 || left < next {
				next = left
			}
		}
		if kicked {
			s.notifyLocked()
			continue
		}
		ch := s.changed
		s.mu.Unlock()
		if next > 0 {
			select {
			case <-ch:
			case <-s.m.clock.After(next):
			}
		} else {
			<-ch
		}
		s.mu.Lock()
	}
}

// waitLoop reaps the shell, lets the reader drain the PTY, then marks the
// session exited and removes it from the manager.
func (s *Session) waitLoop() {
	awaitExit(s.cmd.Process.Pid)
	err := s.cmd.Wait()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			code = -1
		}
	}
	if st := s.cmd.ProcessState; st != nil {
		code = st.ExitCode()
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	}
	// Background jobs may keep the PTY open after the shell is gone: give the
	// reader time to drain (unbounded while a slow client holds it back),
	// then close the master, which hangs them up.
	for drained := false; !drained; {
		select {
		case <-s.readerDoneCh:
			drained = true
		case <-time.After(2 * time.Second):
			s.mu.Lock()
			blocked := s.readerBlocked
			s.mu.Unlock()
			if !blocked {
				_ = s.pty.Close()
				<-s.readerDoneCh
				drained = true
			}
		}
	}
	_ = s.pty.Close()
	s.mu.Lock()
	s.exited = true
	s.exitCode = code
	s.notifyLocked()
	s.mu.Unlock()
	s.m.removeExited(s, code)
	close(s.done)
}

// Kill hangs up the shell (SIGHUP to its process group, as a terminal
// hangup does) and SIGKILLs whatever is left after a grace period. It
// reports false if the session was already killed or gone.
func (s *Session) Kill() bool {
	s.mu.Lock()
	if s.killed || s.exited {
		s.mu.Unlock()
		return false
	}
	s.killed = true
	s.notifyLocked() // a reader blocked on flow control drains freely now
	s.mu.Unlock()
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGHUP)
	_ = syscall.Kill(pid, syscall.SIGHUP)
	_ = syscall.Kill(-pid, syscall.SIGCONT)
	go func() {
		// A shell still starting up can lose a SIGHUP (bash, caught and
		// dropped before its interactive set-up is done): say it again
		// until it goes, and only then kill it hard.
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		hard := time.After(3 * time.Second)
		for {
			select {
			case <-s.done:
				return
			case <-tick.C:
				_ = syscall.Kill(-pid, syscall.SIGHUP)
				_ = syscall.Kill(pid, syscall.SIGHUP)
			case <-hard:
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				_ = syscall.Kill(pid, syscall.SIGKILL)
				_ = s.pty.Close()
				return
			}
		}
	}()
	return true
}

// Write sends input to the PTY.
func (s *Session) Write(p []byte) (int, error) {
	s.inMu.Lock()
	defer s.inMu.Unlock()
	n, err := s.pty.Write(p)
	s.m.bytesIn.Add(uint64(n))
	return n, err
}

// Resize sets the PTY window size (the last call wins).
func (s *Session) Resize(cols, rows int) error {
	cols, rows = clampSize(cols, rows)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exited {
		return nil
	}
	if cols == s.cols && rows == s.rows {
		return nil
	}
	if err := pty.Setsize(s.pty, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)}); err != nil {
		return fmt.Errorf("resize: %w", err)
	}
	s.cols, s.rows = cols, rows
	return nil
}

func clampSize(cols, rows int) (int, int) {
	return min(max(cols, 1), 1000), min(max(rows, 1), 1000)
}

// attach adds a client that wants the output from offset off. If off is no
// longer (or never was) in the ring, the client starts at the oldest byte
// still held, at a line start when one is near, and reset reports it.
func (s *Session) attach(mode string, off uint64) (a *attachment, h Hello, reset bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start, end := s.ring.start(), s.ring.end
	if off < s.keepLocked() || off > end {
		reset = true
		off = s.cleanStartLocked(s.keepLocked())
	}
	a = &attachment{mode: mode, off: off, progress: s.m.clock.Now(), kicked: make(chan struct{})}
	s.clients[a] = struct{}{}
	s.m.clients.Add(1)
	s.notifyLocked()
	h = Hello{Protocol: 1, Session: s.id, Offset: off, Start: start, End: end, Cols: s.cols, Rows: s.rows, Mode: mode}
	return a, h, reset
}

// keepLocked is the oldest offset a client can still be sent: a read in
// flight may overwrite the ring's oldest bytes, so a client must start
// after what it will drop.
func (s *Session) keepLocked() uint64 {
	keep := s.ring.start()
	if k := s.ring.end + uint64(s.reserved); k > uint64(s.ring.size) {
		keep = max(keep, k-uint64(s.ring.size))
	}
	return keep
}

// lineProbe is how far past a resume point a line start is looked for.
const lineProbe = 4096

// cleanStartLocked is where output resumes after a RESET at or after from:
// the start of the first whole line within lineProbe bytes (so the replay
// does not begin mid-line), else from itself. Offset 0 is a line start.
func (s *Session) cleanStartLocked(from uint64) uint64 {
	if from == 0 || from >= s.ring.end {
		return from
	}
	probe := make([]byte, min(lineProbe, int(s.ring.end-from)))
	n := s.ring.read(from, probe)
	if i := bytes.IndexByte(probe[:n], '\n'); i >= 0 {
		return from + uint64(i) + 1
	}
	return from
}

// skipTail is how much of the newest output a SKIP keeps (a few screens).
const skipTail = 16 << 10

// skip moves a client that asked (SKIP) to the newest output: a line start
// within the last skipTail bytes. Its next message is RESET there; what it
// had not rendered yet is obsolete, so after Ctrl-C under a flood it shows
// the prompt at once instead of replaying megabytes.
func (s *Session) skip(a *attachment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[a]; !ok {
		return
	}
	from := s.keepLocked()
	if s.ring.end > skipTail {
		from = max(from, s.ring.end-skipTail)
	}
	a.off = s.cleanStartLocked(from)
	a.resetDue = true
	a.progress = s.m.clock.Now()
	s.notifyLocked()
}

// detach removes a client.
func (s *Session) detach(a *attachment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[a]; ok {
		s.dropLocked(a)
		s.notifyLocked()
	}
}

func (s *Session) dropLocked(a *attachment) {
	delete(s.clients, a)
	s.m.clients.Add(-1)
	if len(s.clients) == 0 {
		s.idleSince = s.m.clock.Now()
	}
}

func (s *Session) setPaused(a *attachment, paused bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.paused == paused {
		return
	}
	a.paused = paused
	if !paused {
		a.progress = s.m.clock.Now()
	}
	s.notifyLocked()
}

// chunk is what next found for a client.
type chunk struct {
	off    uint64 // offset of data[0]
	n      int    // bytes copied into the caller's buffer
	end    uint64 // the session's output end when the chunk was read
	reset  bool   // the client must reset; output resumes at off
	exited bool   // all output sent and the shell is gone
	code   int
}

// next waits until there is output for a (copied into p) or the session has
// exited with everything sent. It returns errStalled if a was dropped and
// ctx's error if ctx ends first.
func (s *Session) next(done <-chan struct{}, a *attachment, p []byte) (chunk, error) {
	var coalesce <-chan time.Time // armed while waiting to fill a bigger frame
	s.mu.Lock()
	for {
		select {
		case <-a.kicked:
			s.mu.Unlock()
			return chunk{}, errStalled
		default:
		}
		if a.off < s.ring.start() {
			// A viewer the ring overtook (viewers never hold the reader), or
			// any client after Kill lifted flow control.
			a.off = s.cleanStartLocked(s.keepLocked())
			a.resetDue = true
		}
		if a.resetDue {
			a.resetDue = false
			c := chunk{off: a.off, reset: true}
			s.mu.Unlock()
			return c, nil
		}
		if !a.paused && a.off < s.ring.end {
			// While output streams (large PTY reads), wait a moment for more
			// so frames carry tens of KiB instead of one 4 KiB PTY read each.
			// Interactive output (echo, prompts) comes in small reads and is
			// sent at once.
			streaming := s.bulk && !s.readerDone && !s.readerBlocked && s.ring.end-a.off < coalesceBytes
			if streaming && coalesce != closedTimeChan {
				if coalesce == nil {
					coalesce = time.After(coalesceWait)
				}
				ch := s.changed
				s.mu.Unlock()
				select {
				case <-ch:
				case <-coalesce:
					coalesce = closedTimeChan
				case <-done:
					return chunk{}, errClientGone
				}
				s.mu.Lock()
				continue
			}
			n := s.ring.read(a.off, p)
			c := chunk{off: a.off, n: n, end: s.ring.end}
			s.mu.Unlock()
			return c, nil
		}
		if s.exited && a.off >= s.ring.end {
			c := chunk{exited: true, code: s.exitCode}
			s.mu.Unlock()
			return c, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-a.kicked:
		case <-done:
			return chunk{}, errClientGone
		}
		s.mu.Lock()
	}
}

var errClientGone = errors.New("terminal: client gone")

// Output coalescing while streaming.
const (
	bulkRead      = 2048             // a PTY read this large means output is streaming
	coalesceBytes = 32 << 10         // send at once when this much is pending
	coalesceWait  = time.Millisecond // else wait at most this long for more
)

// closedTimeChan marks an expired coalescing wait.
var closedTimeChan = func() <-chan time.Time {
	c := make(chan time.Time)
	close(c)
	return c
}()

// sent records that n bytes from offset from reached the client.
func (s *Session) sent(a *attachment, from uint64, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.resetDue || a.off != from {
		return // a SKIP moved the client meanwhile; RESET comes next
	}
	a.off += uint64(n)
	a.progress = s.m.clock.Now()
	s.m.bytesOut.Add(uint64(n))
	if s.readerBlocked {
		s.notifyLocked()
	}
}

// Info describes a session (GET /sessions).
type Info struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	Clients   int       `json:"clients"`
	Cols      int       `json:"cols"`
	Rows      int       `json:"rows"`
	Exited    bool      `json:"exited"`
	Offset    uint64    `json:"offset"` // bytes of output so far
}

// Info returns the session's description.
func (s *Session) Info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Info{ID: s.id, CreatedAt: s.created, Clients: len(s.clients), Cols: s.cols, Rows: s.rows, Exited: s.exited, Offset: s.ring.end}
}

// SessionStats are a session's flow-control figures (tests and metrics).
type SessionStats struct {
	Start, End    uint64 // the ring holds output bytes [Start, End)
	Allocated     int    // bytes of memory held by the ring (≤ the ring size)
	Clients       int
	SlowestOffset uint64 // lowest offset of an attached client (End if none)
	ReaderBlocked bool   // the PTY reader waits for the slowest client
}

// Stats returns the session's flow-control figures.
func (s *Session) Stats() SessionStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SessionStats{Start: s.ring.start(), End: s.ring.end, Allocated: s.ring.allocated(), Clients: len(s.clients), SlowestOffset: s.ring.end, ReaderBlocked: s.readerBlocked}
	for a := range s.clients {
		st.SlowestOffset = min(st.SlowestOffset, a.off)
	}
	return st
}
