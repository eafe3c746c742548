// Package procinfo reads what the seat runtimes need to know about host
// processes from /proc: whether a recorded pid is still the same process
// (its start time), whether it is a zombie, and its descendants. Outside
// Linux every call reports an error or nothing.
package procinfo

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Stat returns the fields of /proc/PID/stat after the command name: index 0
// is field 3 (the state), index 1 the parent pid, index 19 field 22 (the
// start time).
func Stat(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return nil, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	return f, nil
}

// StartTime is field 22 of /proc/PID/stat (clock ticks after boot): with the
// pid it identifies a process even after the pid is reused.
func StartTime(pid int) (uint64, error) {
	f, err := Stat(pid)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// IsZombie reports whether pid has exited but was not reaped.
func IsZombie(pid int) bool {
	f, err := Stat(pid)
	return err == nil && (f[0] == "Z" || f[0] == "X")
}

// Running reports whether pid is still the process recorded with start time
// start, and has not exited: StartTime and IsZombie from one read of
// /proc/PID/stat.
func Running(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	f, err := Stat(pid)
	if err != nil || f[0] == "Z" || f[0] == "X" {
		return false
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	return err == nil && st == start
}

// Descendants lists every process below pid, breadth first.
func Descendants(pid int) []int {
	return Below(Children(), pid)
}

// Children maps every parent pid to its children, from one scan of /proc
// (nil without /proc). Scan once, then call Below for many pids.
func Children() map[int][]int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := Stat(p)
		if err != nil {
			continue
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		children[ppid] = append(children[ppid], p)
	}
	return children
}

// Below lists every process below pid in a parent -> children map,
// breadth first.
func Below(children map[int][]int, pid int) []int {
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}
