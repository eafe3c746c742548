//go:build linux

package sandbox

// Seats being started get the CPU oldest first. Every seat has a cgroup of
// its own, and the kernel shares a busy CPU evenly between cgroups: in a
// burst of 30 cold seats on 2 CPUs, the inits, daemons and first shells of
// twenty seats in flight each got a twentieth, so the seats became ready
// all together near the end of the burst (the median seat at 0.8 of the
// last one's time, bench/agent README). A seat's cgroup therefore starts
// with a CPU weight above a running seat's, each later arrival's a
// constant factor below the one before it, and goes back to the ordinary
// weight once the seat is up (Settle: the agent's first shell answered) or
// a few seconds after Create at the latest. The kernel still gives idle
// CPU to younger seats (a weight is no reservation), but while the oldest
// ones can run they mostly do, and the burst finishes in arrival order.

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/host/seatruntime"
)

const (
	// prioFactor is each later seat's CPU weight over the one started
	// just before it. At 0.7 the oldest of many runnable seats gets ~30 %
	// of the seats' CPU; measured against the even share (bench/agent
	// README, 2026-12-05).
	prioFactor = 0.7
	// settleAfter ends a seat's start priority when nobody called Settle
	// (a caller other than the agent, a repair, a failed first shell).
	settleAfter = 10 * time.Second
)

// startPrio hands out the CPU weights of seats being started.
type startPrio struct {
	cs          *cgroupSet
	top, normal float64 // the oldest seat's weight; a running seat's

	mu         sync.Mutex
	next, base uint64 // the next start's number; the number weighted top
	live       map[string]uint64
}

func newStartPrio(cs *cgroupSet) *startPrio {
	p := &startPrio{cs: cs, top: 262144, normal: 1024, live: map[string]uint64{}} // cpu.shares
	if cs.v2 {
		p.top, p.normal = 10000, 100 // cpu.weight
	}
	return p
}

// weightFile is the seat's CPU weight file (v1 cpu.shares in the cpu
// hierarchy, v2 cpu.weight), or "".
func (cs *cgroupSet) weightFile(key string) string {
	for _, h := range cs.hiers {
		if slices.Contains(h.ctrls, "cpu") {
			if cs.v2 {
				return filepath.Join(h.parent, key, "cpu.weight")
			}
			return filepath.Join(h.parent, key, "cpu.shares")
		}
	}
	return ""
}

// weight is the weight of start number seq: top for base, prioFactor
// less for each start after it, never below a running seat's.
func (p *startPrio) weight(seq uint64) int {
	return int(max(p.normal, math.Round(p.top*math.Pow(prioFactor, float64(seq-p.base)))))
}

func (p *startPrio) write(key string, w int) {
	if f := p.cs.weightFile(key); f != "" {
		_ = os.WriteFile(f, []byte(strconv.Itoa(w)), 0o644) // a weight is only a speed-up
	}
}

// enter gives the seat whose cgroup was just made its start weight and
// returns its start number.
func (p *startPrio) enter(key string) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	seq := p.next
	p.next++
	if len(p.live) == 0 {
		p.base = seq
	} else if p.weight(seq) == int(p.normal) {
		// Starts keep coming while older ones finish: weigh from the
		// oldest seat still starting, so that the new one is not lost
		// among the running seats.
		oldest := seq
		for _, s := range p.live {
			oldest = min(oldest, s)
		}
		if oldest != p.base {
			p.base = oldest
			for k, s := range p.live {
				p.write(k, p.weight(s))
			}
		}
	}
	p.live[key] = seq
	p.write(key, p.weight(seq))
	return seq
}

// leave ends the start priority of key's seat, if its start is number seq
// (any number when seq is nil), and with reset gives it a running seat's
// weight back (not for a cgroup being removed).
func (p *startPrio) leave(key string, seq *uint64, reset bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.live[key]
	if !ok || (seq != nil && *seq != s) {
		return
	}
	delete(p.live, key)
	if reset {
		p.write(key, int(p.normal))
	}
}

// Settle implements seatruntime.Settler: s is up, its start priority ends.
func (r *Runtime) Settle(s *seatruntime.Seat) {
	if r.prio == nil {
		return
	}
	if key, err := seatKey(seatruntime.Spec{WorkshopID: s.WorkshopID, Seat: s.Seat}); err == nil {
		r.prio.leave(key, nil, true)
	}
}
