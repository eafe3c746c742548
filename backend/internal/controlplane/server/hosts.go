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
// on PostgreSQL), and every write to a host record signals it, so any
// change drops the entry and the next request reads the records again.
// The watch starts before the read, so no change falls between them.
// Other class writes (seat activity, flushed every few seconds) drop it
// too: a re-read per change, not per request. The zero value is ready.
type hostCache struct {
	mu      sync.Mutex
	entries map[string]*hostEntry
}

// hostEntry is one workshop's records, or the read that fetches them.
type hostEntry struct {
	done chan struct{} // closed once rows and err are set
	rows []store.WorkshopVM
	err  error
	stop context.CancelFunc // ends the watch
}

// get returns workshop id's host records, read once per change. Concurrent
// misses share one read.
func (c *hostCache) get(ctx context.Context, st store.Store, id string) ([]store.WorkshopVM, error) {
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
	} else {
		c.mu.Unlock()
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return e.rows, e.err
}

// fill watches the workshop, reads its records into e and keeps e until
// the watch signals or hostCacheTTL passes. A failed read is not kept.
func (c *hostCache) fill(st store.Store, id string, e *hostEntry) {
	wctx, stop := context.WithCancel(context.Background())
	e.stop = stop
	changes, err := st.WatchClass(wctx, id)
	if err == nil {
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
	go func() {
		t := time.NewTimer(hostCacheTTL)
		defer t.Stop()
		select {
		case <-changes:
		case <-t.C:
		}
		c.drop(id, e)
	}()
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
