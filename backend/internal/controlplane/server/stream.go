package server

import (
	"fmt"
	"net/http"
	"time"
)

// streamKeepAlive is the longest a stream stays silent: a comment then keeps
// proxies from closing it.
const streamKeepAlive = 20 * time.Second

// handleStream sends the class view live updates as Server-Sent Events from
// the workshop's shared feed (classfeed.go): an event named "workshop" with
// the whole api.ClassSnapshot at once, then events named "delta"
// (api.ClassDelta: only what changed) as the class changes (read every
// second), and a comment every 20 s so proxies keep the connection open.
// A "workshop" event may come again at any time (a stream that fell
// behind): it replaces everything.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) error {
	rc := http.NewResponseController(w)
	ws := workshopFrom(r.Context())
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sub, leave := s.feeds.join(ws.ID, s.access(r.Context(), ws))
	defer leave()
	keep := time.NewTimer(streamKeepAlive)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case f, ok := <-sub.ch:
			if !ok {
				return nil
			}
			n, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", f.event, f.data(sub.access))
			if err != nil {
				return nil
			}
			s.metrics.streamBytes.WithLabelValues(f.event).Add(float64(n))
		case <-keep.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		keep.Reset(streamKeepAlive)
	}
}
