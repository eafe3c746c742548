//go:build linux

package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// statFields returns the fields of /proc/PID/stat after the command name
// (index 0 is field 3, the state).
func statFields(pid int) ([]string, error) {
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

// processStartTime is field 22 of /proc/PID/stat (clock ticks after boot):
// with the pid it identifies a process even after pid reuse.
func processStartTime(pid int) (uint64, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(f[19], 10, 64)
}

func isZombie(pid int) bool {
	f, err := statFields(pid)
	return err == nil && (f[0] == "Z" || f[0] == "X")
}
