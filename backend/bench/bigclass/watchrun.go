package main

import (
	"github.com/clarateach/backend/bench/internal/cputime"

	"context"
	"fmt"
	"time"
)

// watchRound holds n class views open for the given time and returns what
// they cost: seat reads, CPU, and the views' bytes.
type watchRound struct {
	views                         int
	seconds                       float64
	seatReads                     int64
	cpu                           time.Duration
	fullBytes, deltaBytes, deltas int64
	snapshot                      int64
}

func (b *bench) watchRound(ctx context.Context, n, seconds int) (*watchRound, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	views := make([]*view, n)
	for i := range views {
		v, err := b.openView(ctx)
		if err != nil {
			return nil, err
		}
		views[i] = v
	}
	for _, v := range views {
		select {
		case <-v.started:
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("a class view got no class within 30 s")
		}
	}
	reads0, cpu0, t0 := b.st.listSeats.Load(), cputime.Self(), time.Now()
	var full0, delta0, deltaN0 int64
	for _, v := range views {
		full0, delta0, deltaN0 = full0+v.full.Load(), delta0+v.delta.Load(), deltaN0+v.deltaN.Load()
	}
	time.Sleep(time.Duration(seconds) * time.Second) // the measured window
	r := &watchRound{views: n, seconds: time.Since(t0).Seconds(), seatReads: b.st.listSeats.Load() - reads0, cpu: cputime.Self() - cpu0, snapshot: views[0].firstFull.Load()}
	for _, v := range views {
		r.fullBytes += v.full.Load()
		r.deltaBytes += v.delta.Load()
		r.deltas += v.deltaN.Load()
	}
	r.fullBytes -= full0
	r.deltaBytes -= delta0
	r.deltas -= deltaN0
	return r, nil
}

// watch measures the class views with one view, then with n, while the
// class changes every second.
func (b *bench) watch(ctx context.Context, n, seconds int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := b.churn(ctx); err != nil {
		return err
	}
	one, err := b.watchRound(ctx, 1, seconds)
	if err != nil {
		return err
	}
	many, err := b.watchRound(ctx, n, seconds)
	if err != nil {
		return err
	}
	fmt.Printf("  class views: a tenth of the %d seats active each second, %d s per round\n", b.learners, seconds)
	for _, r := range []*watchRound{one, many} {
		perView := float64(r.deltaBytes+r.fullBytes) / float64(r.views) / r.seconds
		fmt.Printf("    %2d view(s): seat reads %.1f/s, CPU %.1f ms/s, per view %.0f bytes/s (%.1f deltas/s); the whole class is %d bytes\n",
			r.views, float64(r.seatReads)/r.seconds, ms(r.cpu)/r.seconds, perView, float64(r.deltas)/float64(r.views)/r.seconds, r.snapshot)
	}
	extra := (ms(many.cpu)/many.seconds - ms(one.cpu)/one.seconds) / float64(n-1)
	fmt.Printf("    CPU per extra view      %7.2f ms/s (the whole class per change would be %.0f bytes/s per view)\n",
		extra, float64(many.snapshot)*float64(many.deltas)/float64(many.views)/many.seconds)
	return nil
}
