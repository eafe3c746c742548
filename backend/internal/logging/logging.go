// Package logging sets up log/slog for ClaraTeach binaries: JSON when stderr
// is not a terminal (Cloud Run, journald), text otherwise, and request ids
// carried in the context onto every record.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
)

type ctxKey struct{}

// RequestIDHeader carries a request's id from the browser to the control
// plane, and from the control plane to the agent, so one id names a
// request in both logs.
const RequestIDHeader = "X-Request-Id"

// ValidRequestID reports whether id may be used as a request id (1..64
// characters of A-Z a-z 0-9 . _ -): anything else from a client is
// replaced, never logged. A hand-written check, not a package-level
// regexp: this package is in every seat process (the init, the daemon),
// and compiling one at start-up cost each of them ~860 allocations.
func ValidRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// SetRequestHeader copies ctx's request id, if any, onto an outgoing
// request's header.
func SetRequestHeader(ctx context.Context, h http.Header) {
	if id := RequestID(ctx); id != "" {
		h.Set(RequestIDHeader, id)
	}
}

// WithRequestID returns a context whose log records carry request_id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// RequestID returns the request id stored in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// New is the one logger constructor of ClaraTeach's binaries (server,
// agent, workspace daemon): it writes to w, as JSON unless w is a terminal
// (Cloud Run, journald and log files get one JSON object a line), records
// at level and above, each carrying the request id of its context.
func New(w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if isTerminal(w) {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(contextHandler{h})
}

// ParseLevel reads a level setting (LOG_LEVEL, AGENT_LOG_LEVEL, --log-level):
// debug, info, warn or error, in any case; "" is info.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return slog.LevelInfo, fmt.Errorf("log level must be debug, info, warn or error, not %q", s)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(a)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}
