//go:build !linux

package process

import (
	"errors"
	"os/exec"
	"strconv"
	"strings"

	"github.com/clarateach/backend/internal/host/procinfo"
)

func hasProcFS() bool { return false }

func processStartTime(pid int) (uint64, error) { return 0, errors.New("no /proc on this system") }

func isZombie(pid int) bool {
	out, err := exec.Command("ps", "-o", "stat=", "-p", strconv.Itoa(pid)).Output()
	return err == nil && strings.HasPrefix(strings.TrimSpace(string(out)), "Z")
}

// descendants lists every process below pid, from ps.
func descendants(pid int) []int {
	out, err := exec.Command("ps", "-A", "-o", "pid=,ppid=").Output()
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		p, err1 := strconv.Atoi(f[0])
		pp, err2 := strconv.Atoi(f[1])
		if err1 == nil && err2 == nil {
			children[pp] = append(children[pp], p)
		}
	}
	return procinfo.Below(children, pid)
}
