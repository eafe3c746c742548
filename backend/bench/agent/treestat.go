package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// treeStat counts the CPU time and minor page faults of every process a
// thread starts, and of all their descendants, the way `perf stat` follows a
// command: two software counters opened on the calling thread with inherit
// set, so that each process forked from it (and each of theirs) gets its own
// copy, whose counts the kernel adds to ours when that process exits.
//
// getrusage(RUSAGE_CHILDREN) cannot do this for bubblewrap: its shell runs
// below bwrap's pid-1 process in the new pid namespace, which outlives the
// bwrap process the bench waits for and is then reaped by the host's init,
// so its time and the shell's are never added to the bench's children.
//
// openTreeStat must be called on a locked OS thread, and the processes to
// count must be started from that same thread. The thread's own time from
// the open on (the fork) is counted too; it should exit (a goroutine that
// returns without unlocking) so that nothing else adds to the count.
type treeStat struct {
	clock, faults int
}

func openTreeStat() (*treeStat, error) {
	open := func(config uint64) (int, error) {
		attr := unix.PerfEventAttr{
			Type:   unix.PERF_TYPE_SOFTWARE,
			Config: config,
			Size:   uint32(binary.Size(unix.PerfEventAttr{})),
			Bits:   unix.PerfBitInherit | unix.PerfBitExcludeHv,
		}
		return unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	}
	clock, err := open(unix.PERF_COUNT_SW_TASK_CLOCK)
	if err != nil {
		return nil, fmt.Errorf("perf_event_open task-clock: %w", err)
	}
	faults, err := open(unix.PERF_COUNT_SW_PAGE_FAULTS_MIN)
	if err != nil {
		unix.Close(clock)
		return nil, fmt.Errorf("perf_event_open page-faults: %w", err)
	}
	return &treeStat{clock: clock, faults: faults}, nil
}

// read returns the counts so far: the thread's own and those of every
// descendant that has exited.
func (t *treeStat) read() (cpu time.Duration, faults int64, err error) {
	get := func(fd int) (uint64, error) {
		var b [8]byte
		n, err := unix.Read(fd, b[:])
		if err != nil {
			return 0, err
		}
		if n != len(b) {
			return 0, errors.New("short read of a perf counter")
		}
		return binary.NativeEndian.Uint64(b[:]), nil
	}
	ns, err1 := get(t.clock)
	f, err2 := get(t.faults)
	return time.Duration(ns), int64(f), errors.Join(err1, err2)
}

func (t *treeStat) close() {
	unix.Close(t.clock)
	unix.Close(t.faults)
}
