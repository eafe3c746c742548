package workspace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"runtime/debug"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/seat/files"
	"github.com/clarateach/backend/internal/seat/terminal"
)

// Version is reported by /health; set at build time with
// -ldflags "-X github.com/clarateach/backend/internal/seat/workspace.Version=...".
var Version = "dev"

// Server is the daemon's HTTP server: terminal sessions and the file API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	term    *terminal.Manager
	files   *files.FS
	started time.Time
	own     map[int]bool           // the daemon's own TCP ports (ports.go)
	preview *httputil.ReverseProxy // to the learner's apps (preview.go)

	closeOnce sync.Once
}

// New builds a Server from cfg (defaults filled in). Call Close when not
// using Serve (which closes it).
func New(cfg Config, log *slog.Logger) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	fsys, err := files.Open(cfg.Root, cfg.MaxFileSize, log)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		log:     log,
		mux:     http.NewServeMux(),
		files:   fsys,
		started: time.Now(),
		own:     ownPorts(cfg.Listen),
		term: terminal.NewManager(terminal.Config{
			Shell:        cfg.Shell,
			Args:         cfg.ShellArgs,
			Launcher:     cfg.ShellLauncher,
			Dir:          fsys.Dir(),
			Env:          cfg.Env,
			RingSize:     cfg.RingSize,
			IdleTimeout:  cfg.IdleTimeout,
			StallTimeout: cfg.StallTimeout,
			PingInterval: cfg.PingInterval,
			MaxSessions:  cfg.MaxSessions,
			Clock:        cfg.Clock,
			Logger:       log,
		}),
	}
	s.mux.HandleFunc("GET /health", s.health)
	s.mux.HandleFunc("GET /sessions", s.listSessions)
	s.mux.HandleFunc("POST /sessions", s.createSession)
	s.mux.HandleFunc("DELETE /sessions/{id}", s.deleteSession)
	s.mux.Handle("GET /terminal", s.term)
	s.mux.HandleFunc("POST /exec", s.handleExec)
	s.mux.HandleFunc("GET /ports", s.handlePorts)
	s.mux.HandleFunc("/preview/{port}", s.handlePreview)
	s.preview = newPreviewProxy(s)
	fsys.Register(s.mux)
	return s, nil
}

// Close kills all terminal sessions and releases the workspace root.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.term.Close()
		_ = s.files.Close()
	})
}

// Health is the body of GET /health. The counters are cumulative since the
// daemon started (Prometheus counters) except sessions, clients and
// buffered_bytes (gauges).
type Health struct {
	Status          string  `json:"status"`
	Version         string  `json:"version"`
	Sessions        int     `json:"sessions"`
	Clients         int64   `json:"clients"`
	BytesOut        uint64  `json:"bytes_out"`
	BytesIn         uint64  `json:"bytes_in"`
	SessionsCreated uint64  `json:"sessions_created"`
	BufferedBytes   int     `json:"buffered_bytes"`
	UptimeSeconds   float64 `json:"uptime_seconds"`
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	st := s.term.Stats()
	apierror.JSON(w, http.StatusOK, Health{
		Status:          "ok",
		Version:         Version,
		Sessions:        st.Sessions,
		Clients:         st.Clients,
		BytesOut:        st.BytesOut,
		BytesIn:         st.BytesIn,
		SessionsCreated: st.SessionsCreated,
		BufferedBytes:   st.Buffered,
		UptimeSeconds:   time.Since(s.started).Seconds(),
	})
}

// SessionList is the body of GET /sessions.
type SessionList struct {
	Sessions []terminal.Info `json:"sessions"`
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	apierror.JSON(w, http.StatusOK, SessionList{Sessions: s.term.List()})
}

// CreateSession is the optional body of POST /sessions.
type CreateSession struct {
	Cols int `json:"cols"`
	Rows int `json:"rows"`
	// WaitOutputMS, when set, holds the answer until the shell has
	// printed something (its prompt), for at most that many milliseconds
	// (up to 10000): the caller knows the shell has done its start-up work.
	WaitOutputMS int `json:"wait_output_ms,omitempty"`
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	var req CreateSession
	if r.ContentLength != 0 && r.Body != http.NoBody {
		if err := apierror.Decode(w, r, &req, 4096); err != nil {
			apierror.Write(w, r, err)
			return
		}
	}
	if req.Cols < 0 || req.Rows < 0 || req.Cols > 1000 || req.Rows > 1000 {
		apierror.Write(w, r, apierror.Invalid("cols and rows must be 1..1000"))
		return
	}
	if req.WaitOutputMS < 0 || req.WaitOutputMS > 10000 {
		apierror.Write(w, r, apierror.Invalid("wait_output_ms must be 0..10000"))
		return
	}
	sess, err := s.term.Create(req.Cols, req.Rows)
	if errors.Is(err, terminal.ErrTooManySessions) {
		apierror.Write(w, r, apierror.Conflict("too_many_sessions", "this seat already has %d terminal sessions", s.cfg.MaxSessions))
		return
	}
	if err != nil {
		apierror.Write(w, r, fmt.Errorf("create session: %w", err))
		return
	}
	if req.WaitOutputMS > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), time.Duration(req.WaitOutputMS)*time.Millisecond)
		_ = sess.WaitOutput(ctx) // on timeout the session is still good
		cancel()
	}
	apierror.JSON(w, http.StatusCreated, sess.Info())
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.term.Get(r.PathValue("id"))
	if !ok {
		apierror.Write(w, r, apierror.NotFound("no terminal session %q", r.PathValue("id")))
		return
	}
	sess.Kill()
	// Answer once it is gone (normally milliseconds; SIGKILL follows after 3 s).
	select {
	case <-sess.Done():
	case <-time.After(4 * time.Second):
	case <-r.Context().Done():
	}
	w.WriteHeader(http.StatusNoContent)
}

// Serve serves on ln until ctx is done, then shuts down and closes s.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.Close()
	hs := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Run starts the daemon with cfg and serves until ctx is done.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := New(cfg, log)
	if err != nil {
		return err
	}
	if s.cfg.MemoryLimitMB > 0 {
		debug.SetMemoryLimit(int64(s.cfg.MemoryLimitMB) << 20)
	}
	ln, err := Listen(s.cfg.Listen)
	if err != nil {
		s.Close()
		return err
	}
	s.log.Info("workspace daemon listening", "listen", s.cfg.Listen, "root", s.cfg.Root, "shell", s.cfg.Shell)
	return s.Serve(ctx, ln)
}
