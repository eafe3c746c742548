package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// defaultActivityFlush is how long relayed activity waits in memory before
// one statement writes it (the class view's "last active" is this stale at
// most).
const defaultActivityFlush = 2 * time.Second

// seatKey names one seat assignment.
type seatKey struct {
	ws   string
	seat int
	gen  int64
}

// activityBuffer keeps what the relay saw of each seat in memory and writes
// it at most once per flush interval, in one TouchSeats statement, instead
// of one UPDATE per relayed request. A replica that dies loses at most one
// interval of "last active" times; statuses are rewritten on the next
// terminal open or close.
type activityBuffer struct {
	st       store.Store
	log      *slog.Logger
	interval time.Duration

	mu      sync.Mutex
	pending map[seatKey]store.SeatActivity
	open    map[seatKey]int // open relayed terminals per seat, in this replica
	timer   *time.Timer
	flushMu sync.Mutex // one flush at a time, in order
}

func newActivityBuffer(st store.Store, log *slog.Logger, interval time.Duration) *activityBuffer {
	if interval <= 0 {
		interval = defaultActivityFlush
	}
	return &activityBuffer{st: st, log: log, interval: interval, pending: map[seatKey]store.SeatActivity{}, open: map[seatKey]int{}}
}

// touch records activity on a seat; terminal is +1 when a terminal opened,
// -1 when one closed, 0 for other traffic.
func (b *activityBuffer) touch(k seatKey, terminal int, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, ok := b.pending[k]
	if !ok {
		a = store.SeatActivity{WorkshopID: k.ws, Seat: k.seat, Generation: k.gen}
	}
	if at.After(a.At) {
		a.At = at
	}
	if terminal != 0 {
		n := b.open[k] + terminal
		if n <= 0 {
			delete(b.open, k)
			a.Status = store.SeatAssigned
		} else {
			b.open[k] = n
			a.Status = store.SeatConnected
		}
	}
	b.pending[k] = a
	if b.timer == nil {
		b.timer = time.AfterFunc(b.interval, func() { b.flush(context.Background()) })
	}
}

// flush writes what is pending now (tests and shutdown call it directly).
func (b *activityBuffer) flush(ctx context.Context) {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	batch := make([]store.SeatActivity, 0, len(b.pending))
	for _, a := range b.pending {
		batch = append(batch, a)
	}
	clear(b.pending)
	b.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.st.TouchSeats(ctx, batch); err != nil {
		// Activity is a hint for the class view: it is not retried, the
		// next relayed request brings it back.
		b.log.WarnContext(ctx, "relay: writing seat activity failed", "seats", len(batch), "err", err)
	}
}

// FlushActivity writes the relay's pending seat activity now; the server
// command calls it on shutdown.
func (s *Server) FlushActivity(ctx context.Context) { s.activity.flush(ctx) }
