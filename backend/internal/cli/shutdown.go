package cli

import (
	"context"
	"log/slog"
	"time"
)

// Deadlines of the server's shutdown steps. A step that outlasts its
// deadline is logged and left behind: the process still exits, so a
// supervisor (or Ctrl-C) never waits on a hung database, agent or archive
// store.
const (
	shutdownHTTP       = 10 * time.Second // open requests finish
	shutdownReconciler = 10 * time.Second // the reconciler's work in flight returns (its context is cancelled)
	shutdownFlush      = 5 * time.Second  // the relay's pending seat activity is written
	shutdownClose      = 10 * time.Second // each of: preview, archiver, seats' agent, database
)

// shutdownStep runs one step of the shutdown within limit and logs how it
// went: done (and how long it took) or given up at the deadline. It
// reports whether the step finished. fn gets a context that ends at the
// deadline; a step that ignores it is abandoned, still running.
func shutdownStep(log *slog.Logger, name string, limit time.Duration, fn func(context.Context)) bool {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	done := make(chan struct{})
	t0 := time.Now()
	go func() {
		defer close(done)
		fn(ctx)
	}()
	select {
	case <-done:
		log.Info("shutdown: "+name, "took", time.Since(t0).Round(time.Millisecond))
		return true
	case <-ctx.Done():
		log.Warn("shutdown: "+name+" did not finish in time; exiting without it", "deadline", limit)
		return false
	}
}
