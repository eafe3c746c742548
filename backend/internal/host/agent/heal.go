package agent

// The seat watcher: every SeatCheckInterval the agent health-checks each
// seat (runtime Alive: the seat's process and its daemon's GET /health) and
// restarts in place every one that does not answer. The learner's files are
// kept (seatruntime.Repairer); the seat's live connections are closed so that
// clients reconnect to the new daemon, where the old session ids are
// unknown and a fresh shell is waiting. GET /vms reports the seat's health
// and restarted_at, which the control plane passes on to the learner ("your
// machine restarted").

import (
	"context"
	"time"

	"github.com/clarateach/backend/internal/host/seatruntime"
)

// watchSeats health-checks the seats until ctx is done: each seat once every
// SeatCheckInterval, a tenth of them (by seat number) every tenth of it, so
// a host with hundreds of seats sees a small round of checks often rather
// than all of them at once (with LOCAL_HOSTS, several agents' rounds fell
// together on the control plane's CPUs and on a join storm).
func (a *Agent) watchSeats(ctx context.Context) {
	if a.cfg.SeatCheckInterval < 0 {
		return
	}
	t := time.NewTicker(max(a.cfg.SeatCheckInterval/checkSlices, time.Millisecond))
	defer t.Stop()
	for slice := 0; ; slice = (slice + 1) % checkSlices {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.checkSeats(ctx, func(s *seatruntime.Seat) bool { return inSlice(s.Seat, slice) })
		}
	}
}

// checkSlices is how many parts of the seats watchSeats checks in turn.
const checkSlices = 10

// inSlice reports whether seat number n is checked in slice.
func inSlice(n, slice int) bool {
	return ((n%checkSlices)+checkSlices)%checkSlices == slice
}

// CheckSeats health-checks every seat once and restarts in place each one
// that does not answer. It returns how many it restarted.
//
// Only a runtime that can restart a seat in place (seatruntime.Repairer, which
// keeps the learner's files) is acted on; with others a dead seat is only
// reported (GET /vms), and replaced when the control plane asks for it
// again (POST /vms/).
func (a *Agent) CheckSeats(ctx context.Context) int {
	return a.checkSeats(ctx, func(*seatruntime.Seat) bool { return true })
}

// checkSeats is CheckSeats for the seats that want picks.
func (a *Agent) checkSeats(ctx context.Context, want func(*seatruntime.Seat) bool) int {
	if _, ok := a.rt.(seatruntime.Repairer); !ok {
		return 0
	}
	var seats []*seatruntime.Seat
	for _, r := range a.snapshot() {
		if want(r.seat) {
			seats = append(seats, r.seat)
		}
	}
	n := 0
	for i, alive := range a.aliveStatus(ctx, seats) {
		if !alive && a.repairIfDead(ctx, seats[i]) {
			n++
		}
	}
	return n
}

// repairIfDead restarts the seat dead in place unless it was replaced or
// deleted meanwhile, or answers again.
func (a *Agent) repairIfDead(ctx context.Context, dead *seatruntime.Seat) bool {
	k := seatKey{dead.WorkshopID, dead.Seat}
	a.mu.Lock()
	e := a.seats[k]
	a.mu.Unlock()
	if e == nil {
		return false
	}
	e.op.Lock()
	defer e.op.Unlock()
	a.mu.Lock()
	current := e.seat
	a.mu.Unlock()
	if current != dead || a.rt.Alive(ctx, dead) { // a second look: two failures in a row
		return false
	}
	a.log.Warn("seat not answering; restarting it in place", "seat", k.String(), "pid", dead.PID)
	_, err := a.repairLocked(ctx, k, e, dead)
	return err == nil
}

// repairLocked restarts the dead seat of e in place, keeping the learner's
// files, and installs the new one. e.op must be held.
func (a *Agent) repairLocked(ctx context.Context, k seatKey, e *seatEntry, dead *seatruntime.Seat) (*seatruntime.Seat, error) {
	a.closeConns(k)
	start := time.Now()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	seat, err := a.restart(cctx, dead)
	if err != nil {
		a.metrics.failures.Inc()
		a.log.Error("restart seat in place", "seat", k.String(), "err", err)
		return nil, &SeatError{Op: "restart", Seat: k.String(), Err: err}
	}
	if err := a.state.saveSeat(seat); err != nil {
		a.metrics.failures.Inc()
		return nil, err
	}
	a.mu.Lock()
	a.setSeatLocked(e, seat)
	e.restartedAt = a.now().UTC()
	host := e.host
	a.mu.Unlock()
	a.metrics.restarts.Inc()
	a.tr.CloseIdleConnections()
	a.invalidateHealth()
	a.startFirstShell(cctx, k, host)
	a.log.Warn("seat restarted in place; the learner's files were kept", "seat", k.String(), "pid", seat.PID,
		"took", time.Since(start).Round(time.Millisecond))
	return seat, nil
}

// restart starts dead again: in place with a seatruntime.Repairer, else by
// destroying it and creating it anew.
func (a *Agent) restart(ctx context.Context, dead *seatruntime.Seat) (*seatruntime.Seat, error) {
	if rp, ok := a.rt.(seatruntime.Repairer); ok {
		s, err := rp.Repair(ctx, dead)
		if err == nil {
			s.Image, s.LearnerRoot = dead.Image, dead.LearnerRoot
		}
		return s, err
	}
	img, err := a.seatImage(dead.Image)
	if err != nil {
		return nil, err
	}
	if err := a.stopOrDestroy(ctx, dead, true); err != nil {
		return nil, err
	}
	s, err := a.rt.Create(ctx, seatruntime.Spec{WorkshopID: dead.WorkshopID, Seat: dead.Seat, VCPUs: dead.VCPUs, MemoryMB: dead.MemoryMB, DiskMB: dead.DiskMB, Image: img, LearnerRoot: dead.LearnerRoot})
	if err == nil {
		s.Image, s.LearnerRoot = dead.Image, dead.LearnerRoot
	}
	return s, err
}
