// Package cputime reads the CPU time the benches divide by their work: this
// process's (getrusage), one thread's (/proc/PID/schedstat, else
// /proc/PID/stat) and the whole machine's busy time (/proc/stat). A figure
// that cannot be read is 0.
package cputime

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clarateach/backend/internal/host/procinfo"
)

// clockTick is USER_HZ, the unit of the times in /proc/stat and
// /proc/PID/stat (100 on every Linux architecture Go supports).
const clockTick = 100

// Usage is what getrusage counts for this process or its reaped children:
// user + system CPU time and minor page faults.
type Usage struct {
	CPU    time.Duration
	Faults int64
}

func rusage(who int) Usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return Usage{}
	}
	return Usage{CPU: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), Faults: ru.Minflt}
}

// SelfUsage is this process's usage so far, all its threads.
func SelfUsage() Usage { return rusage(syscall.RUSAGE_SELF) }

// Reaped is the usage of the children this process has waited for (and of
// what they waited for), RUSAGE_CHILDREN: a seat's init with what it
// reaped, once the init is reaped itself.
func Reaped() Usage { return rusage(syscall.RUSAGE_CHILDREN) }

// Self is the user + system CPU time of this process so far, all its
// threads (getrusage, microseconds).
func Self() time.Duration { return SelfUsage().CPU }

// Faults is the minor page faults of this process so far, all its threads
// (getrusage). On this machine's VM kind a fault traps to the host and costs
// up to ~30 µs (bench/agent README), so the count is part of what a figure
// of CPU time is made of.
func Faults() int64 { return SelfUsage().Faults }

// Thread is the CPU time thread pid (a single-threaded process such as a
// PostgreSQL backend) has used so far: the nanoseconds on CPU from
// /proc/PID/schedstat, else utime + stime from /proc/PID/stat (10 ms
// ticks); 0 when neither can be read (it is gone). /proc/PID/schedstat is
// the thread PID's alone, so a Go process's own CPU is Self.
func Thread(pid int) time.Duration {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid)); err == nil {
		if d, ok := parseSchedstat(string(b)); ok {
			return d
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	return parseStatCPU(string(b))
}

// Threads is the sum of Thread over pids.
func Threads(pids []int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		sum += Thread(pid)
	}
	return sum
}

// ThreadFaults is the minor page faults of the processes pids so far
// (field 10 of /proc/PID/stat, read with procinfo.Stat; a PostgreSQL
// backend is one thread, and a process's count there is all its
// threads'); a process that is gone counts 0.
func ThreadFaults(pids []int) int64 {
	var sum int64
	for _, pid := range pids {
		if f, err := procinfo.Stat(pid); err == nil {
			n, _ := strconv.ParseInt(f[7], 10, 64) // f[0] is field 3
			sum += n
		}
	}
	return sum
}

// MachineBusy is the CPU time the whole machine has spent busy so far: all
// CPUs, everything in /proc/stat's first line but idle and iowait (guest
// time is already inside user time, so it is not added again).
func MachineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseMachineBusy(line)
}

// parseMachineBusy reads the "cpu" line of /proc/stat: user nice system
// idle iowait irq softirq steal (guest guest_nice), in clock ticks.
func parseMachineBusy(line string) time.Duration {
	f := strings.Fields(line)
	var ticks int64
	for i := 1; i < len(f) && i <= 8; i++ {
		if i == 4 || i == 5 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTick
}

// parseSchedstat reads the first field of /proc/PID/schedstat: nanoseconds
// spent on a CPU.
func parseSchedstat(s string) (time.Duration, bool) {
	f := strings.Fields(s)
	if len(f) < 1 {
		return 0, false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(n), err == nil
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/PID/stat line. The command name (field 2) may hold spaces and
// parentheses, so fields are counted after its closing parenthesis.
func parseStatCPU(stat string) time.Duration {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * time.Second / clockTick
}
