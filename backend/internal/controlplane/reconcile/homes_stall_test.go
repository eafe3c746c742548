package reconcile_test

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/blob"
	"github.com/clarateach/backend/internal/controlplane/archive"
	"github.com/clarateach/backend/internal/controlplane/reconcile"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// stallingBlobs is an object store that stopped answering: a Put hangs
// until its context ends.
type stallingBlobs struct {
	blob.Store
	puts atomic.Int32
}

func (b *stallingBlobs) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	b.puts.Add(1)
	<-ctx.Done()
	return 0, ctx.Err()
}

// TestStopWithAStalledArchiveStore: a stop saves the learners' homes
// first; when the object store hangs, the save is given up after
// HomesTimeout (said in an event) and the workshop still stops. Before, the
// save had no deadline and the stop waited for the store forever.
func TestStopWithAStalledArchiveStore(t *testing.T) {
	t.Parallel()
	st := openStore(t, "sqlite")
	c := newCloud(t, nil)
	clk := newClock()
	dir, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	blobs := &stallingBlobs{Store: dir}
	arc := archive.New(archive.Config{Store: st, Blobs: blobs, Now: clk.Now})
	r, _ := c.newReconciler(st, clk, "replica-a", func(cfg *reconcile.Config) {
		cfg.Archiver = arc
		cfg.HomesTimeout = 300 * time.Millisecond
	})
	w := newWorkshop(t, st, 1, nil)
	seatLearner(t, st, w.ID, "ada@example.test")
	pass(t, r)
	wantStatus(t, st, w.ID, store.StatusRunning)

	update(t, st, w.ID, func(w *store.Workshop) { w.DesiredState = store.DesiredStopped })
	done := make(chan error, 1)
	go func() { done <- r.RunOnce(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("the stop did not finish: it waits for the stalled object store (puts: %d)\nevents:\n%s",
			blobs.puts.Load(), strings.Join(events(t, st, w.ID), "\n"))
	}
	wantStatus(t, st, w.ID, store.StatusStopped)
	if blobs.puts.Load() == 0 {
		t.Fatal("no home was saved to the store: the test proves nothing")
	}
	evs := strings.Join(events(t, st, w.ID), "\n")
	if !strings.Contains(evs, "saving the learners' work") || !strings.Contains(evs, "gave up after 300ms") {
		t.Errorf("no event says the save was given up:\n%s", evs)
	}
}
