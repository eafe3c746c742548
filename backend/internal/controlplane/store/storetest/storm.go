package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// StormResult is what JoinStorm measured.
type StormResult struct {
	Learners, Seated, Full, Errors int
	Elapsed                        time.Duration
	P50, P99, Max                  time.Duration
}

func (r StormResult) String() string {
	return fmt.Sprintf("%d learners in %v (%.0f joins/s): %d seated, %d full, %d errors; latency p50 %v p99 %v max %v",
		r.Learners, r.Elapsed.Round(time.Millisecond), float64(r.Learners)/r.Elapsed.Seconds(), r.Seated, r.Full, r.Errors,
		r.P50.Round(100*time.Microsecond), r.P99.Round(100*time.Microsecond), r.Max.Round(100*time.Microsecond))
}

// JoinStorm has `learners` learners register and take a seat at once, spread
// evenly over the given workshops, and measures each learner's
// Register+AssignSeat latency. It needs an owner's user ID.
func JoinStorm(ctx context.Context, s store.Store, workshops []*store.Workshop, learners int) StormResult {
	lat := make([]time.Duration, learners)
	errs := make([]error, learners)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range learners {
		w := workshops[i%len(workshops)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			email := fmt.Sprintf("storm%05d@example.com", i)
			r, _, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: email, Email: email})
			if err == nil {
				_, err = s.AssignSeat(ctx, r.ID)
			}
			lat[i], errs[i] = time.Since(t0), err
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	res := StormResult{Learners: learners, Elapsed: time.Since(t0)}
	for _, err := range errs {
		switch {
		case err == nil:
			res.Seated++
		case errors.Is(err, store.ErrFull):
			res.Full++
		default:
			res.Errors++
		}
	}
	slices.Sort(lat)
	res.P50, res.P99, res.Max = lat[learners/2], lat[(learners*99+99)/100-1], lat[learners-1]
	return res
}
