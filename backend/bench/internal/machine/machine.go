// Package machine describes the machine a bench runs on, in one line that
// every bench prints first: figures from a shared or slower machine are only
// readable next to it.
package machine

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// Info is what the line shows.
type Info struct {
	CPUModel string
	CPUs     int
	Load     string // /proc/loadavg's 1, 5 and 15 minute averages
	Kernel   string
	At       time.Time
}

// Read gathers Info now (call it at the start of a bench). Fields it cannot
// read are "unknown".
func Read() Info {
	return Info{
		CPUModel: cpuModel("/proc/cpuinfo"),
		CPUs:     runtime.NumCPU(),
		Load:     loadAvg("/proc/loadavg"),
		Kernel:   kernel("/proc/sys/kernel/osrelease"),
		At:       time.Now().UTC(),
	}
}

// String is the machine line.
func (i Info) String() string {
	return fmt.Sprintf("machine: %s, %d CPUs, load average %s at start, kernel %s, %s %s/%s, %s",
		i.CPUModel, i.CPUs, i.Load, i.Kernel, runtime.Version(), runtime.GOOS, runtime.GOARCH, i.At.Format("2006-01-02 15:04 UTC"))
}

// Print writes the machine line to stdout.
func Print() { fmt.Println(Read()) }

func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "unknown CPU"
}

func loadAvg(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func kernel(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
