package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/host/seatruntime"
)

// lateRuntime is a seat runtime whose create of seat slow blocks until the
// agent is next asked whether a seat is alive once armed (the bench's
// teardown lists the seats): that seat comes up just after the list.
type lateRuntime struct {
	slow    int
	started chan struct{} // the slow create began
	release chan struct{} // closed: the slow create goes on
	done    chan struct{} // closed: the slow create returned

	mu    sync.Mutex
	armed bool
	live  map[int]bool // seats created and not destroyed
}

func newLateRuntime(slow int) *lateRuntime {
	return &lateRuntime{slow: slow, started: make(chan struct{}), release: make(chan struct{}),
		done: make(chan struct{}), live: map[int]bool{}}
}

func (r *lateRuntime) Name() string { return "late" }

func (r *lateRuntime) Create(ctx context.Context, spec seatruntime.Spec) (*seatruntime.Seat, error) {
	if spec.Seat == r.slow {
		defer close(r.done)
		close(r.started)
		<-r.release
	}
	r.mu.Lock()
	r.live[spec.Seat] = true
	r.mu.Unlock()
	return &seatruntime.Seat{WorkshopID: spec.WorkshopID, Seat: spec.Seat, Runtime: r.Name(), CreatedAt: time.Now(),
		Network: "unix", Address: "/nonexistent/seat.sock", ShellReady: true}, nil
}

func (r *lateRuntime) Alive(ctx context.Context, s *seatruntime.Seat) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.armed {
		r.armed = false
		close(r.release)
	}
	return r.live[s.Seat]
}

func (r *lateRuntime) Destroy(ctx context.Context, s *seatruntime.Seat) error {
	r.mu.Lock()
	delete(r.live, s.Seat)
	r.mu.Unlock()
	return nil
}

func (r *lateRuntime) arm() {
	r.mu.Lock()
	r.armed = true
	r.mu.Unlock()
}

func (r *lateRuntime) liveSeats() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for n := range r.live {
		out = append(out, n)
	}
	return out
}

// A seat whose create the bench gave up on (the client's timeout under a
// slowed machine), and which comes up only once the teardown has listed
// the agent's seats, is destroyed all the same when stop returns.
func TestStopDestroysSeatCreatedLate(t *testing.T) {
	rt := newLateRuntime(2)
	ag, err := serveAgent(rt, 4, t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			ag.stop()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ag.createSeat(ctx, 1); err != nil {
		t.Fatal(err)
	}
	cctx, giveUp := context.WithCancel(ctx)
	failed := make(chan error, 1)
	go func() { failed <- ag.createSeat(cctx, 2) }()
	select {
	case <-rt.started:
	case <-ctx.Done():
		t.Fatal("the create of seat 2 never reached the runtime")
	}
	giveUp()
	if err := <-failed; err == nil {
		t.Fatal("the given-up create of seat 2 succeeded")
	}

	rt.arm()
	ag.stop()
	stopped = true
	select {
	case <-rt.done:
	case <-ctx.Done():
		t.Fatal("the create of seat 2 never ended")
	}
	if live := rt.liveSeats(); len(live) > 0 {
		t.Errorf("seats left after stop: %v", live)
	}
}
