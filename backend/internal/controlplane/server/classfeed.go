package server

// The class view's shared feed. One producer per workshop, running while
// anyone watches it, reads the class from the store when the store says it
// changed (Store.WatchClass: in-process on SQLite, LISTEN/NOTIFY across
// replicas on PostgreSQL) and hands every open stream of that workshop the
// same frames: the whole class when a stream starts (or fell behind), then
// deltas with only what changed. A burst of writes is one read (the store's
// signals coalesce, and reads are at least classSettle apart), an idle
// workshop is read once a tick (a safety net for what the store does not
// see: seat health, idle time). The store's load thus follows the number of
// changed workshops, not the number of open class views, and a change to
// one learner's seat sends that seat, not the class.

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/controlplane/api"
)

// classSubBuffer is how many frames a stream may have unsent before it is
// resynchronised with a whole snapshot.
const classSubBuffer = 8

// classSettle is the least time between two reads of one class: the writes
// of a join storm within it make one read.
const classSettle = 100 * time.Millisecond

// classFrame is one event for the streams, marshalled once per kind of
// access (the workshop part says whether the viewer owns it).
type classFrame struct {
	event string // "workshop" (whole) or "delta"
	full  *api.ClassSnapshot
	delta *api.ClassDelta

	mu    sync.Mutex
	bytes map[string][]byte
}

// data is the frame's JSON for a viewer with this access.
func (f *classFrame) data(access string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.bytes[access]; ok {
		return b
	}
	var v any
	if f.full != nil {
		c := *f.full
		c.Workshop.Access = access
		v = c
	} else {
		c := *f.delta
		if c.Workshop != nil {
			w := *c.Workshop
			w.Access = access
			c.Workshop = &w
		}
		v = c
	}
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte("{}")
	}
	if f.bytes == nil {
		f.bytes = map[string][]byte{}
	}
	f.bytes[access] = b
	return b
}

// classSub is one open stream.
type classSub struct {
	ch       chan *classFrame // closed when the feed ends
	access   string
	needFull bool // guarded by the feed's mu
}

// classFeed is one workshop's producer and its streams.
type classFeed struct {
	id    string
	stop  chan struct{}
	wake  chan struct{} // a change the store does not see (seat health)
	mu    sync.Mutex
	subs  map[*classSub]struct{}
	state *classState // nil until the first read
	full  *classFrame // the whole of state, made when a stream needs it
}

// classFeeds are the feeds of the workshops being watched.
type classFeeds struct {
	mu    sync.Mutex
	feeds map[string]*classFeed
	// read reads one workshop's class; watch says when it changed
	// (Store.WatchClass); tick is the longest pause between reads.
	read  func(ctx context.Context, id string) (*classState, error)
	watch func(ctx context.Context, id string) (<-chan struct{}, error)
	tick  time.Duration
	// reads counts the producers' reads (tests check it does not grow with
	// the number of streams).
	reads func()
}

func newClassFeeds(read func(context.Context, string) (*classState, error), watch func(context.Context, string) (<-chan struct{}, error), tick time.Duration) *classFeeds {
	return &classFeeds{feeds: map[string]*classFeed{}, read: read, watch: watch, tick: tick, reads: func() {}}
}

// nudge makes the workshop's feed, if it has one, read the class soon: for
// changes the store does not see.
func (fs *classFeeds) nudge(id string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f := fs.feeds[id]; f != nil {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// join opens a stream on the workshop's feed, starting its producer if it is
// the first; leave closes it (and stops the producer after the last).
func (fs *classFeeds) join(id, access string) (sub *classSub, leave func()) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.feeds[id]
	if f == nil {
		f = &classFeed{id: id, stop: make(chan struct{}), wake: make(chan struct{}, 1), subs: map[*classSub]struct{}{}}
		fs.feeds[id] = f
		go fs.produce(f)
	}
	sub = &classSub{ch: make(chan *classFrame, classSubBuffer), access: access, needFull: true}
	f.mu.Lock()
	f.subs[sub] = struct{}{}
	if f.state != nil {
		f.send(sub, f.fullFrame())
	}
	f.mu.Unlock()
	return sub, func() { fs.leave(f, sub) }
}

func (fs *classFeeds) leave(f *classFeed, sub *classSub) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[sub]; !ok {
		return // the feed ended and closed it
	}
	delete(f.subs, sub)
	if len(f.subs) == 0 && fs.feeds[f.id] == f {
		delete(fs.feeds, f.id)
		close(f.stop)
	}
}

// produce reads the class at once, then after each change the store
// signals (and at least once a tick) until the last stream leaves, and hands
// each read to the streams. A failed read ends the feed: its streams close
// (the browser reconnects, and its access is checked again).
func (fs *classFeeds) produce(f *classFeed) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-f.stop
		cancel()
	}()
	// Watch before the first read, so no change falls between the two. A
	// store that cannot watch leaves the tick.
	changes, err := fs.watch(ctx, f.id)
	if err != nil {
		changes = nil
	}
	t := time.NewTimer(0)
	defer t.Stop()
	settle := time.NewTimer(0)
	defer settle.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		case <-f.wake:
		case _, ok := <-changes:
			if !ok {
				changes = nil // ctx ended: f.stop is closed
				continue
			}
		}
		fs.reads()
		st, err := fs.read(ctx, f.id)
		if err != nil {
			fs.end(f)
			return
		}
		f.publish(st)
		t.Reset(fs.tick)
		// Changes signalled while this read ran, or during the pause, make
		// one more read after it.
		settle.Reset(classSettle)
		select {
		case <-f.stop:
			return
		case <-settle.C:
		}
	}
}

// end closes every stream of a feed whose read failed and forgets it, so the
// next stream starts a new one.
func (fs *classFeeds) end(f *classFeed) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	for sub := range f.subs {
		close(sub.ch)
	}
	f.subs = map[*classSub]struct{}{}
	if fs.feeds[f.id] == f {
		delete(fs.feeds, f.id)
		close(f.stop)
	}
}

// publish makes a read the feed's state and sends each stream what it needs:
// the delta from the previous state, or the whole class if it has none yet.
func (f *classFeed) publish(st *classState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var delta *classFrame
	if f.state != nil {
		if d := st.diff(f.state); d != nil {
			delta = &classFrame{event: "delta", delta: d}
		}
	}
	f.state, f.full = st, nil
	for sub := range f.subs {
		switch {
		case sub.needFull:
			f.send(sub, f.fullFrame())
		case delta != nil:
			f.send(sub, delta)
		}
	}
}

// fullFrame is the whole of the current state as one frame, made once.
func (f *classFeed) fullFrame() *classFrame {
	if f.full == nil {
		f.full = &classFrame{event: "workshop", full: f.state.snapshot()}
	}
	return f.full
}

// send queues a frame for a stream without waiting. A stream whose queue is
// full loses what it has queued and gets the whole class instead.
func (f *classFeed) send(sub *classSub, fr *classFrame) {
	select {
	case sub.ch <- fr:
		sub.needFull = false
		return
	default:
	}
	for drained := false; !drained; {
		select {
		case <-sub.ch:
		default:
			drained = true
		}
	}
	select {
	case sub.ch <- f.fullFrame():
		sub.needFull = false
	default:
		sub.needFull = true // the stream's reader emptied nothing: try next tick
	}
}
