package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/server"
)

// startPreview opens the preview listener (PREVIEW_LISTEN) when it has
// one: learners' apps on an origin of their own. It returns the function
// that shuts it down.
func startPreview(ctx context.Context, cfg *config.Config, srv *server.Server, log *slog.Logger, stdout io.Writer) (func(), error) {
	if cfg.PreviewDomain == "" || cfg.PreviewListen == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", cfg.PreviewListen)
	if err != nil && cfg.PreviewListenDefaulted {
		log.Warn("previews are off: their default listener's port is taken; set PREVIEW_LISTEN (or PREVIEW_DOMAIN=off)", "preview_listen", cfg.PreviewListen, "err", err)
		cfg.PreviewDomain = ""
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("preview listener on %s (PREVIEW_LISTEN; \"off\" in PREVIEW_DOMAIN turns previews off): %w", cfg.PreviewListen, err)
	}
	hs := &http.Server{
		Handler:           srv.PreviewHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("preview listener stopped", "err", err)
		}
	}()
	fmt.Fprintf(stdout, "Previews of learners' apps: %s\n", strings.Replace(cfg.PreviewOrigin("{workshop}", 0, 0), "0-0-", "{port}-{seat}-", 1))
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}, nil
}
