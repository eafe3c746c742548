// Package procinfo reads what the seat runtimes need to know about host
// processes from /proc: whether a recorded pid is still the same process
// (its start time), whether it is a zombie, and its descendants. Outside
// Linux every call reports an error or nothing.
package procinfo

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// statBufSize holds a whole /proc/PID/stat line (~300 bytes; 52 numeric
// fields at most); a longer one is read again with os.ReadFile.
const statBufSize = 1024

// readStat reads path, a /proc/PID/stat, into buf with three system calls (open, one
// read, close) and returns what follows the command name: " S ppid ...".
// os.ReadFile also asks for the file's size and tries to add the file to
// the network poller (an epoll_ctl that /proc refuses), per file; a scan
// of /proc (Children) makes that call for every process on the host.
func readStat(path string, buf []byte) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	for err == syscall.EINTR { // as os.ReadFile retries (a signal, e.g. the Go runtime's preemption)
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	n, err := syscall.Read(fd, buf)
	for err == syscall.EINTR {
		n, err = syscall.Read(fd, buf)
	}
	syscall.Close(fd)
	var b []byte
	switch {
	case err != nil:
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	case n < len(buf):
		b = buf[:n]
	default: // longer than buf: read it whole
		if b, err = os.ReadFile(path); err != nil {
			return nil, err
		}
	}
	// The command name is in parentheses and may hold anything, ')' and
	// spaces included; every field after it is a number or the state.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("%s: malformed", path)
	}
	return b[i+1:], nil
}

// Stat returns the fields of /proc/PID/stat after the command name: index 0
// is field 3 (the state), index 1 the parent pid, index 19 field 22 (the
// start time).
func Stat(pid int) ([]string, error) {
	var buf [statBufSize]byte
	b, err := readStat("/proc/"+strconv.Itoa(pid)+"/stat", buf[:])
	if err != nil {
		return nil, err
	}
	f := strings.Fields(string(b))
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
// (nil without /proc). Scan once, then call Below for many pids. The scan
// reads each process's stat line into one buffer and takes the parent pid
// from it without allocating (TestChildrenAllocations).
func Children() map[int][]int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	buf := make([]byte, statBufSize)
	for _, name := range names {
		p, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		b, err := readStat("/proc/"+name+"/stat", buf)
		if err != nil {
			continue
		}
		if ppid, ok := parentPID(b); ok {
			children[ppid] = append(children[ppid], p)
		}
	}
	return children
}

// parentPID is the parent pid in the part of a stat line after the command
// name: " S ppid ...".
func parentPID(b []byte) (int, bool) {
	field := func() []byte { // the next space-separated field of b
		b = bytes.TrimLeft(b, " ")
		i := bytes.IndexByte(b, ' ')
		if i < 0 {
			i = len(b)
		}
		f := b[:i]
		b = b[i:]
		return f
	}
	field() // the state
	// The parent pid: digits only, no sign, as the kernel writes it.
	n, err := strconv.ParseUint(string(field()), 10, 31)
	return int(n), err == nil
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
