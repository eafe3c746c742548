// Package classwatch is the in-process half of Store.WatchClass, shared by
// both engines: the writes of a store name the workshops whose class they
// changed, and each watcher of one of those workshops gets a signal. Signals
// coalesce: a watcher's channel holds at most one, so a burst of writes to a
// workshop costs its watcher one wake-up, however many writes it was.
package classwatch

import (
	"context"
	"sync"
)

// Hub hands a store's class changes to its watchers. The zero value is
// ready to use.
type Hub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

// Watch returns a channel that receives a signal after each change to
// workshopID's class (coalesced: capacity one) and is closed when ctx ends.
func (h *Hub) Watch(ctx context.Context, workshopID string) <-chan struct{} {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[string]map[chan struct{}]struct{}{}
	}
	if h.subs[workshopID] == nil {
		h.subs[workshopID] = map[chan struct{}]struct{}{}
	}
	h.subs[workshopID][ch] = struct{}{}
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs[workshopID], ch)
		if len(h.subs[workshopID]) == 0 {
			delete(h.subs, workshopID)
		}
		close(ch)
	})
	return ch
}

// Changed signals the watchers of each workshop named. It never blocks: a
// watcher that has a signal pending keeps that one.
func (h *Hub) Changed(workshopIDs ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range workshopIDs {
		for ch := range h.subs[id] {
			signal(ch)
		}
	}
}

// ChangedAll signals every watcher: after a gap in what the hub heard (a
// lost connection to the other replicas), any class may have changed.
func (h *Hub) ChangedAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, subs := range h.subs {
		for ch := range subs {
			signal(ch)
		}
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
