package workspace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/clarateach/backend/internal/apierror"
)

// Server is the daemon's HTTP server.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
}

// New builds a Server from cfg (defaults filled in).
func New(cfg Config, log *slog.Logger) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /health", s.health)
	return s, nil
}

// Handler is the daemon's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Health is the body of GET /health.
type Health struct {
	Status   string `json:"status"`
	Sessions int    `json:"sessions"`
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	apierror.JSON(w, http.StatusOK, Health{Status: "ok", Sessions: 0})
}

// Serve serves on ln until ctx is done, then shuts down.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
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
		return err
	}
	s.log.Info("workspace daemon listening", "listen", s.cfg.Listen, "root", s.cfg.Root, "shell", s.cfg.Shell)
	return s.Serve(ctx, ln)
}
