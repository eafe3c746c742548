package postgres

// Class change notifications across replicas. A write signals this store's
// own watchers at once (classwatch.Hub) and queues its workshop for the
// other replicas; the queue is sent a moment later as one statement,
// pg_notify once per changed workshop however many writes changed it. Each
// store that has watchers LISTENs on its own connection and signals its
// watchers of the workshops it hears about, skipping its own notifications
// (tagged with the store's origin), which its watchers have already had.
// After a lost connection it signals every watcher: what it missed is
// unknown.

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/store/internal/classwatch"
)

// classChannel is the LISTEN/NOTIFY channel; a payload is "origin workshopID".
const classChannel = "clarateach_class"

// notifyDelay is how long a change waits for others to share its
// pg_notify; relistenDelay is the pause before listening again after the
// listening connection failed.
const (
	notifyDelay   = 50 * time.Millisecond
	relistenDelay = time.Second
)

// classNotifier is a store's half of the notifications.
type classNotifier struct {
	hub    classwatch.Hub
	origin string

	mu        sync.Mutex
	pending   map[string]bool // workshops to notify the other replicas of
	flushing  bool
	listening bool
	closed    bool
	ready     chan struct{} // closed once the first LISTEN is in place
	readyOnce sync.Once
	stop      context.CancelFunc // ends the listener
	ctx       context.Context
}

func newClassNotifier() *classNotifier {
	ctx, cancel := context.WithCancel(context.Background())
	return &classNotifier{origin: authtoken.NewID(), pending: map[string]bool{}, ready: make(chan struct{}), ctx: ctx, stop: cancel}
}

// listenWait bounds how long the first WatchClass waits for the LISTEN to be
// in place; a database that does not answer must not hold up the watcher.
const listenWait = 2 * time.Second

// WatchClass implements store.Store: writes through any replica sharing the
// database signal the channel (PostgreSQL LISTEN/NOTIFY). The first call
// starts listening and returns once the LISTEN is in place (or after
// listenWait), so a write made after it returns is heard.
func (s *Store) WatchClass(ctx context.Context, workshopID string) (<-chan struct{}, error) {
	n := s.classes
	n.mu.Lock()
	if !n.listening && !n.closed {
		n.listening = true
		go s.listen(n.ctx)
	}
	n.mu.Unlock()
	ch := n.hub.Watch(ctx, workshopID)
	t := time.NewTimer(listenWait)
	defer t.Stop()
	select {
	case <-n.ready:
	case <-ctx.Done():
	case <-t.C:
	}
	return ch, nil
}

// changed, when err is nil, signals this store's watchers of workshopIDs'
// classes and queues the workshops for the other replicas. It returns err.
func (s *Store) changed(err error, workshopIDs ...string) error {
	if err != nil || len(workshopIDs) == 0 {
		return err
	}
	n := s.classes
	n.hub.Changed(workshopIDs...)
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, id := range workshopIDs {
		n.pending[id] = true
	}
	if !n.flushing && !n.closed {
		n.flushing = true
		time.AfterFunc(notifyDelay, s.flushNotifies)
	}
	return nil
}

// flushNotifies sends the queued workshops' notifications in one statement.
// A failure loses them: the other replicas' feeds re-read on their own
// schedule.
func (s *Store) flushNotifies() {
	n := s.classes
	n.mu.Lock()
	ids := make([]string, 0, len(n.pending))
	for id := range n.pending {
		ids = append(ids, id)
	}
	n.pending, n.flushing = map[string]bool{}, false
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify('`+classChannel+`', $1 || ' ' || id) FROM unnest($2::text[]) AS id`,
		n.origin, ids); err != nil && n.ctx.Err() == nil {
		slog.Warn("class notifications not sent", "workshops", len(ids), "err", err)
	}
}

// listen holds a connection LISTENing on the class channel until the store
// closes, reconnecting after a failure.
func (s *Store) listen(ctx context.Context) {
	for first := true; ctx.Err() == nil; first = false {
		err := s.listenOnce(ctx, !first)
		if ctx.Err() != nil {
			return
		}
		slog.Warn("class notifications: listening again", "err", err, "in", relistenDelay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(relistenDelay):
		}
	}
}

// listenOnce connects, LISTENs and hands notifications to the hub until the
// connection fails. After a reconnect (gap) every watcher is signalled once
// the LISTEN is in place.
func (s *Store) listenOnce(ctx context.Context, gap bool) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN `+classChannel); err != nil {
		return err
	}
	n := s.classes
	if gap {
		n.hub.ChangedAll()
	}
	n.readyOnce.Do(func() { close(n.ready) })
	for {
		note, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		origin, id, ok := strings.Cut(note.Payload, " ")
		if ok && origin != n.origin {
			n.hub.Changed(id)
		}
	}
}

// closeClasses stops the listener and the sending of notifications.
func (s *Store) closeClasses() {
	n := s.classes
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.stop()
}
