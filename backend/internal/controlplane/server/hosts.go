package server

import (
	"context"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// seatHost is ws as one of its seats sees it: the workshop with the agent
// (AgentURL, AgentToken, AgentCert) of the host the seat is placed on
// (store.Workshop.HostOf). Host 1's are the workshop's own; a seat on
// another host is 503 until that host runs, whatever the other hosts do.
// The host records come from the relay's cache (hostCache): a relayed
// request to host 2.. costs no store query once they are known.
func (s *Server) seatHost(ctx context.Context, ws *store.Workshop, seat int) (*store.Workshop, error) {
	n := ws.HostOf(seat)
	if n <= 1 {
		return ws, nil
	}
	rows, err := s.hosts.get(ctx, s.st, ws.ID)
	if err != nil {
		return nil, err
	}
	for _, vm := range rows {
		if vm.HostIndex != n {
			continue
		}
		if vm.Status != store.HostRunning || vm.AgentURL == "" {
			return nil, apierror.Unavailable("seat %d is on host %d of the workshop, which is not ready yet (%s)", seat, n, vm.Status)
		}
		hv := *ws
		hv.AgentURL, hv.AgentToken, hv.AgentCert = vm.AgentURL, vm.AgentToken, vm.AgentCert
		return &hv, nil
	}
	return nil, apierror.Unavailable("seat %d is on host %d of the workshop, which is not created yet", seat, n)
}

// hostCacheTTL bounds how long host records stay cached without a signal:
// the store's class signals are a hint (a notification between replicas
// can be lost), so the records are read again at least this often.
const hostCacheTTL = 30 * time.Second

// hostCache keeps the host records (ListWorkshopHosts) of the multi-host
// workshops the relay serves. An entry watches its workshop's class
// (Store.WatchClass: in-process on SQLite, LISTEN/NOTIFY across replicas
// on PostgreSQL), and every write to a host record signals it. Each read
// looks at the signal first, so a change this replica wrote is seen by its
// very next request (both engines signal their own watchers before the
// write returns); another replica's change is seen once its notification
// arrives. The watch starts before the read, so no change falls between
// them. Other class writes (seat activity, flushed every few seconds)
// signal too: a re-read per change, not per request. The zero value is
// ready.
type hostCache struct {
	mu      sync.Mutex
	entries map[string]*hostEntry
}

// hostEntry is one workshop's records, or the read that fetches them.
type hostEntry struct {
	done    chan struct{} // closed once rows and err are set
	rows    []store.WorkshopVM
	err     error
	changes <-chan struct{} // the watch: a signal (or close) makes the entry stale
	expires time.Time       // the entry is stale from then on, signal or not
	stop    context.CancelFunc
}

// stale reports whether e (done) no longer holds the records as stored.
func (e *hostEntry) stale(now time.Time) bool {
	select {
	case <-e.changes:
		return true
	default:
		return !now.Before(e.expires)
	}
}

// get returns workshop id's host records, read once per change. Concurrent
// misses share one read.
func (c *hostCache) get(ctx context.Context, st store.Store, id string) ([]store.WorkshopVM, error) {
	for {
		c.mu.Lock()
		if c.entries == nil {
			c.entries = map[string]*hostEntry{}
		}
		e := c.entries[id]
		if e == nil {
			e = &hostEntry{done: make(chan struct{})}
			c.entries[id] = e
			c.mu.Unlock()
			c.fill(st, id, e)
			return e.rows, e.err
		}
		c.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err == nil && e.stale(time.Now()) {
			c.drop(id, e)
			continue
		}
		return e.rows, e.err
	}
}

// fill watches the workshop and reads its records into e. A failed read is
// not kept; a kept entry ends its watch after hostCacheTTL if no read has
// dropped it before.
func (c *hostCache) fill(st store.Store, id string, e *hostEntry) {
	wctx, stop := context.WithCancel(context.Background())
	e.stop = stop
	changes, err := st.WatchClass(wctx, id)
	if err == nil {
		e.changes = changes
		e.expires = time.Now().Add(hostCacheTTL)
		rctx, cancel := context.WithTimeout(wctx, 10*time.Second)
		e.rows, err = st.ListWorkshopHosts(rctx, id)
		cancel()
	}
	e.err = err
	close(e.done)
	if err != nil {
		c.drop(id, e)
		return
	}
	time.AfterFunc(hostCacheTTL, func() { c.drop(id, e) })
}

// drop forgets e (if it is still id's entry) and ends its watch.
func (c *hostCache) drop(id string, e *hostEntry) {
	c.mu.Lock()
	if c.entries[id] == e {
		delete(c.entries, id)
	}
	c.mu.Unlock()
	e.stop()
}
