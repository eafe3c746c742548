// Package terminal implements the terminal sessions of the workspace daemon
// and their wire protocol (docs/terminal-protocol.md): PTYs owned by the
// daemon that outlive WebSockets, a bounded replay buffer with byte offsets
// so a reconnecting client gets exactly the output it missed, several
// clients per session (read-write and read-only), flow control that stops
// reading the PTY when the slowest client falls behind, idle reaping, and a
// Go client for the protocol.
package terminal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Manager. Zero values take the defaults.
type Config struct {
	Shell string   // shell binary (required)
	Args  []string // shell arguments; nil = a login shell (argv[0] "-bash")
	// Launcher, when set, starts the shell: it is run with the shell's
	// path and whole argv as its arguments (LAUNCHER SHELL ARGV0 ARGS...)
	// and execs it. The sandbox's seat launcher makes the shell the
	// learner's through and through (see Command).
	Launcher string
	Dir      string   // working directory of new shells
	Env      []string // extra environment (KEY=VALUE), applied last

	RingSize     int           // replay buffer per session, bytes (default 1 MiB)
	IdleTimeout  time.Duration // kill a session without clients after this long (default 1 h)
	StallTimeout time.Duration // drop a client that holds the PTY back without progress this long (default 30 s)
	PingInterval time.Duration // server PING period on each WebSocket (default 25 s)
	MaxSessions  int           // default 16
	Clock        Clock         // default: real time
	Logger       *slog.Logger
}

// Defaults.
const (
	DefaultRingSize     = 1 << 20
	DefaultIdleTimeout  = time.Hour
	DefaultStallTimeout = 30 * time.Second
	DefaultPingInterval = 25 * time.Second
	DefaultMaxSessions  = 16
	DefaultCols         = 80
	DefaultRows         = 24
)

// ErrTooManySessions is returned by Create when MaxSessions are running.
var ErrTooManySessions = errors.New("terminal: too many sessions")

// ErrNotFound is returned for an unknown session id.
var ErrNotFound = errors.New("terminal: no such session")

// Manager owns a seat's terminal sessions.
type Manager struct {
	cfg   Config
	clock Clock
	log   *slog.Logger

	mu       sync.Mutex
	sessions map[string]*Session
	order    []*Session     // creation order
	exited   map[string]int // recently exited ids → exit code
	exitedQ  []string
	closed   bool

	clients  atomic.Int64
	bytesOut atomic.Uint64
	bytesIn  atomic.Uint64
	created  atomic.Uint64

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewManager returns a Manager and starts its idle reaper.
func NewManager(cfg Config) *Manager {
	if cfg.RingSize <= 0 {
		cfg.RingSize = DefaultRingSize
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = DefaultStallTimeout
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Manager{
		cfg:      cfg,
		clock:    cfg.Clock,
		log:      cfg.Logger,
		sessions: make(map[string]*Session),
		exited:   make(map[string]int),
		stop:     make(chan struct{}),
	}
	m.wg.Add(1)
	go m.reapLoop()
	return m
}

// Command is the command that runs path with argv (argv[0] included) as
// the daemon starts the learner's programs: straight, or through launcher
// when one is set (LAUNCHER PATH ARGV0 ARGS...). The sandbox's launcher is
// a few instructions that set the real and saved uid and gid to the
// effective ones (the learner's; the daemon's real uid is its own) and
// exec path.
func Command(ctx context.Context, launcher, path string, argv ...string) *exec.Cmd {
	if launcher == "" {
		cmd := exec.CommandContext(ctx, path)
		cmd.Args = argv
		return cmd
	}
	cmd := exec.CommandContext(ctx, launcher)
	cmd.Args = append([]string{launcher, path}, argv...)
	return cmd
}

// Launcher is the manager's shell launcher ("" for none).
func (m *Manager) Launcher() string { return m.cfg.Launcher }

// env is the environment of new shells.
func (m *Manager) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "TERM", "COLORTERM", "PWD", "OLDPWD", "SHELL", "SHLVL", "LINES", "COLUMNS":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "TERM=xterm-256color", "COLORTERM=truecolor", "SHELL="+m.cfg.Shell)
	if m.cfg.Dir != "" {
		env = append(env, "PWD="+m.cfg.Dir)
		if os.Getenv("HOME") == "" {
			env = append(env, "HOME="+m.cfg.Dir)
		}
	}
	if os.Getenv("LANG") == "" {
		env = append(env, "LANG=C.UTF-8")
	}
	return append(env, m.cfg.Env...)
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Create starts a new session with a shell of the given size (0 = 80x24).
func (m *Manager) Create(cols, rows int) (*Session, error) {
	if cols <= 0 || rows <= 0 {
		cols, rows = DefaultCols, DefaultRows
	}
	cols, rows = clampSize(cols, rows)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, errors.New("terminal: manager closed")
	}
	if len(m.sessions) >= m.cfg.MaxSessions {
		m.mu.Unlock()
		return nil, ErrTooManySessions
	}
	id := newID()
	// Reserve the slot while the shell starts.
	m.sessions[id] = nil
	m.mu.Unlock()

	s, err := startSession(m, id, cols, rows)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		delete(m.sessions, id)
		return nil, err
	}
	m.sessions[id] = s
	m.order = append(m.order, s)
	m.created.Add(1)
	m.log.Info("terminal session started", "session", id, "pid", s.cmd.Process.Pid)
	return s, nil
}

// Get returns a live session.
func (m *Manager) Get(id string) (*Session, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[id]
	return s, s != nil
}

// ExitCode reports the exit code of a recently exited session.
func (m *Manager) ExitCode(id string) (int, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.exited[id]
	return c, ok
}

// Newest returns the most recently created live session, or nil.
func (m *Manager) Newest() *Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.order) == 0 {
		return nil
	}
	return m.order[len(m.order)-1]
}

// List describes the live sessions, oldest first.
func (m *Manager) List() []Info {
	m.mu.Lock()
	ss := append([]*Session(nil), m.order...)
	m.mu.Unlock()
	out := make([]Info, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.Info())
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// Kill kills a session; it disappears once its shell has exited.
func (m *Manager) Kill(id string) error {
	s, ok := m.Get(id)
	if !ok {
		return ErrNotFound
	}
	s.Kill()
	return nil
}

// removeExited forgets an exited session, remembering its exit code for a
// while so a client reconnecting late still learns how it ended.
func (m *Manager) removeExited(s *Session, code int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, s.id)
	for i, o := range m.order {
		if o == s {
			m.order = append(m.order[:i], m.order[i+1:]...)
			break
		}
	}
	m.exited[s.id] = code
	m.exitedQ = append(m.exitedQ, s.id)
	if len(m.exitedQ) > 64 {
		delete(m.exited, m.exitedQ[0])
		m.exitedQ = m.exitedQ[1:]
	}
	m.log.Info("terminal session exited", "session", s.id, "code", code)
}

// ReapIdle kills sessions that had no client for the idle timeout and
// returns how many it killed.
func (m *Manager) ReapIdle() int {
	now := m.clock.Now()
	m.mu.Lock()
	ss := append([]*Session(nil), m.order...)
	m.mu.Unlock()
	n := 0
	for _, s := range ss {
		s.mu.Lock()
		idle := len(s.clients) == 0 && !s.exited && now.Sub(s.idleSince) >= m.cfg.IdleTimeout
		s.mu.Unlock()
		if idle && s.Kill() {
			m.log.Info("reaped idle terminal session", "session", s.id, "idle_timeout", m.cfg.IdleTimeout)
			n++
		}
	}
	return n
}

func (m *Manager) reapLoop() {
	defer m.wg.Done()
	every := min(max(m.cfg.IdleTimeout/10, time.Second), time.Minute)
	for {
		select {
		case <-m.stop:
			return
		case <-m.clock.After(every):
			m.ReapIdle()
		}
	}
}

// Stats are the manager's counters (exposed by the daemon's /health).
type Stats struct {
	Sessions        int    `json:"sessions"`
	Clients         int64  `json:"clients"`
	BytesOut        uint64 `json:"bytes_out"`        // output bytes sent to clients
	BytesIn         uint64 `json:"bytes_in"`         // input bytes written to PTYs
	SessionsCreated uint64 `json:"sessions_created"` // since the daemon started
	Buffered        int    `json:"buffered_bytes"`   // memory held by replay buffers
}

// Stats returns the manager's counters.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	ss := append([]*Session(nil), m.order...)
	m.mu.Unlock()
	st := Stats{Sessions: len(ss), Clients: m.clients.Load(), BytesOut: m.bytesOut.Load(), BytesIn: m.bytesIn.Load(), SessionsCreated: m.created.Load()}
	for _, s := range ss {
		s.mu.Lock()
		st.Buffered += s.ring.allocated()
		s.mu.Unlock()
	}
	return st
}

// Close kills every session, waits (bounded) for them to exit and stops
// the reaper.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	ss := append([]*Session(nil), m.order...)
	m.mu.Unlock()
	close(m.stop)
	for _, s := range ss {
		s.Kill()
	}
	deadline := time.After(5 * time.Second)
	for _, s := range ss {
		select {
		case <-s.done:
		case <-deadline:
		}
	}
	m.wg.Wait()
}

// Env is the environment new shells start with; the daemon runs lab
// scripts with it too, so they see what the learner's shell sees.
func (m *Manager) Env() []string { return m.env() }
