package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/host/localagent"
	"github.com/clarateach/backend/internal/host/procinfo"
)

// A -local-hosts run ends only once what its seats ran is gone from the
// machine, so that the next run starts on an idle one: the seats deleted
// (their inits killed, their cgroups removed), every process of theirs
// exited and reaped, and the kernel's own teardown of their namespaces
// done. The last goes on in the kernel's workers after the seats' last
// process is reaped: a network namespace is freed by a worker (cleanup_net),
// a second or more after its processes are gone, and with 500 seats that
// was still running when the bench exited.

// teardownDeadline bounds the wait for the seats' processes, and
// kernelDeadline the wait for the kernel's teardown after them.
const (
	teardownDeadline = 60 * time.Second
	kernelDeadline   = 20 * time.Second
)

// seatProcs is what the run's seats run on the host: their inits (pid and
// start time, so that a reused pid is not taken for one) and their pid
// namespaces (as /proc/PID/ns/pid names them, "pid:[inode]").
type seatProcs struct {
	inits map[int]uint64
	pidNS map[string]bool
}

// addInit records pid as a seat's init, and its pid namespace. It is false
// when pid is no longer there.
func (s *seatProcs) addInit(pid int) bool {
	st, err := procinfo.StartTime(pid)
	if err != nil {
		return false
	}
	if s.inits == nil {
		s.inits, s.pidNS = map[int]uint64{}, map[string]bool{}
	}
	s.inits[pid] = st
	if ns, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/pid"); err == nil {
		s.pidNS[ns] = true
	}
	return true
}

// left counts the seats' processes still on the host: an init that is still
// there, running or exited but not yet reaped, and any other process in one
// of the seats' pid namespaces.
func (s *seatProcs) left() int {
	n := 0
	for pid, st := range s.inits {
		if got, err := procinfo.StartTime(pid); err == nil && got == st {
			n++
		}
	}
	if len(s.pidNS) == 0 {
		return n
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return n
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ok := s.inits[pid]; ok {
			continue
		}
		if ns, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err == nil && s.pidNS[ns] {
			n++
		}
	}
	return n
}

// pollUntil calls done every few milliseconds until it is true or the
// deadline passes, and returns how long that took and whether it became
// true.
func pollUntil(deadline time.Duration, done func() bool) (time.Duration, bool) {
	t0 := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if done() {
			return time.Since(t0), true
		}
		if time.Since(t0) > deadline {
			return time.Since(t0), false
		}
		<-tick.C
	}
}

// netNamespaces is the kernel's count of network namespaces in use, from
// /proc/slabinfo (root only): each seat has one, and the kernel frees it in
// a worker of its own after the seat's last process is reaped. ok is false
// when it cannot be read.
func netNamespaces() (n int, ok bool) {
	f, err := os.Open("/proc/slabinfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	return parseSlabActive(f, "net_namespace")
}

// parseSlabActive finds cache's active objects in a /proc/slabinfo.
func parseSlabActive(f io.Reader, cache string) (int, bool) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 2 && fields[0] == cache {
			n, err := strconv.Atoi(fields[1])
			return n, err == nil
		}
	}
	return 0, false
}

// seatProcsOf lists the workshop's seats on every host and records their
// inits.
func (r *realHosts) seatProcsOf(ctx context.Context, wsID string) (*seatProcs, int, error) {
	s := &seatProcs{}
	seats := 0
	var errs []error
	for _, h := range r.hosts {
		if !h.Running() {
			continue
		}
		list, err := agentclient.New(h.URL(), h.Token(), nil).ListSeats(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("local host %d: %w", h.Index(), err))
			continue
		}
		for _, st := range list {
			if st.WorkshopID != wsID {
				continue
			}
			seats++
			if st.PID > 0 {
				s.addInit(st.PID)
			}
		}
	}
	return s, seats, errors.Join(errs...)
}

// teardown deletes the workshop's seats on every host at once, stops the
// agents, and waits until the seats' processes are gone and reaped and the
// kernel has freed their network namespaces; it prints how long each took.
func (r *realHosts) teardown(wsID string) {
	ctx := context.Background()
	procs, seats, err := r.seatProcsOf(ctx, wsID)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bigclass: listing the seats to tear down:", err)
	}
	nsAtStart, nsOK := netNamespaces()
	t0 := time.Now()
	var wg sync.WaitGroup
	for _, h := range r.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.prov.DeleteHostN(ctx, wsID, h.Index()); err != nil {
				fmt.Fprintf(os.Stderr, "bigclass: removing the seats of local host %d: %v\n", h.Index(), err)
			}
		}()
	}
	wg.Wait()
	deleted := time.Since(t0)
	if err := localagent.StopAll(r.hosts); err != nil {
		fmt.Fprintln(os.Stderr, "bigclass: stopping the agents:", err)
	}
	reaped, ok := pollUntil(teardownDeadline, func() bool { return procs.left() == 0 })
	fmt.Printf("  teardown: %d seats deleted in %.2f s (%d hosts at once), ", seats, deleted.Seconds(), len(r.hosts))
	if !ok {
		fmt.Printf("%d of their processes still there after %.0f s\n", procs.left(), reaped.Seconds())
		return
	}
	fmt.Printf("their processes gone and reaped %.2f s later", reaped.Seconds())
	if !nsOK {
		fmt.Println(" (/proc/slabinfo unreadable: the kernel's teardown not watched)")
		return
	}
	// The kernel frees the seats' network namespaces after their
	// processes, in its own workers. /proc/slabinfo's count is not exact
	// (objects free in a CPU's slab still count, and other work on the
	// machine makes and frees some): the teardown is taken as done once
	// the count is down by nine tenths of the seats and has not fallen
	// for half a second, and the time is that of its last fall.
	t1 := time.Now()
	last, lastFall := nsAtStart, t1
	_, ok = pollUntil(kernelDeadline, func() bool {
		n, _ := netNamespaces()
		if n < last {
			lastFall = time.Now()
		}
		last = n
		return nsAtStart-n >= seats*9/10 && time.Since(lastFall) >= 500*time.Millisecond
	})
	freed := lastFall.Sub(t1)
	if !ok {
		fmt.Printf(", and %.0f s after that the kernel still held %d network namespaces (%d when the teardown began)\n", kernelDeadline.Seconds(), last, nsAtStart)
		return
	}
	fmt.Printf(", the kernel's network namespaces freed %.2f s after that (%d -> %d in use): %.1f s in all\n",
		freed.Seconds(), nsAtStart, last, (deleted + reaped + freed).Seconds())
}
