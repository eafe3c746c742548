package procinfo

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestProcInfo(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("procinfo reads /proc (Linux)")
	}
	me := os.Getpid()
	st, err := StartTime(me)
	if err != nil || st == 0 {
		t.Fatalf("StartTime(self) = %d, %v", st, err)
	}
	if IsZombie(me) {
		t.Fatal("this process is not a zombie")
	}
	if !Running(me, st) || Running(me, st+1) || Running(0, 0) || Running(1<<30, st) {
		t.Fatal("Running: true only for a live pid with its own start time")
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if !slices.Contains(Descendants(me), cmd.Process.Pid) {
		t.Fatalf("Descendants(self) lacks the child %d", cmd.Process.Pid)
	}
	cst, err := StartTime(cmd.Process.Pid)
	if err != nil || cst < st {
		t.Fatalf("child start time %d (%v) before ours %d", cst, err, st)
	}
	if _, err := StartTime(1 << 30); err == nil {
		t.Fatal("StartTime of a pid that cannot exist must fail")
	}
	cmd.Process.Kill()
	// A killed, unreaped child is a zombie until Wait.
	deadline := time.Now().Add(10 * time.Second)
	for !IsZombie(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("a killed, unreaped child never showed as a zombie")
		}
		runtime.Gosched()
	}
	if Running(cmd.Process.Pid, cst) {
		t.Fatal("Running: a zombie with its recorded start time is not running")
	}
}

// TestChildren: one scan of /proc finds this process's children and gives
// every process the parent its stat line names (checked against a reading
// of the lines with os.ReadFile for this process and its children).
func TestChildren(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("procinfo reads /proc (Linux)")
	}
	me := os.Getpid()
	var kids []int
	for range 3 {
		cmd := exec.Command("sleep", "30")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		kids = append(kids, cmd.Process.Pid)
	}
	children := Children()
	for _, k := range kids {
		if !slices.Contains(children[me], k) {
			t.Fatalf("Children()[%d] = %v, lacks the child %d", me, children[me], k)
		}
	}
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ppid, _ := strconv.Atoi(f[1])
	if !slices.Contains(children[ppid], me) {
		t.Fatalf("Children()[%d] = %v, lacks this process %d", ppid, children[ppid], me)
	}
	for _, line := range []struct {
		in   string
		ppid int
		ok   bool
	}{
		{" S 1 2 3", 1, true},
		{" R 4242 1 1 0", 4242, true},
		{") S 7 0", 0, false}, // not after the last ')'
		{" S", 0, false},
		{" S x1 0", 0, false},
		{"  Z   12  0", 12, true},
	} {
		if got, ok := parentPID([]byte(line.in)); got != line.ppid || ok != line.ok {
			t.Errorf("parentPID(%q) = %d, %v, want %d, %v", line.in, got, ok, line.ppid, line.ok)
		}
	}
}

// TestChildrenAllocations: a scan of /proc costs at most five allocations per
// process on the host (the pid's name, its path, the map's slices), not a
// file, a buffer and a string per field of its stat line. A seat's
// Destroy in the process runtime scans /proc (killTree); in a cold make
// test, with a thousand processes on the host, those scans were a third of
// the reconcile package's CPU.
func TestChildrenAllocations(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("procinfo reads /proc (Linux)")
	}
	procs := 0
	if ents, err := os.ReadDir("/proc"); err == nil {
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err == nil {
				procs++
			}
		}
	}
	allocs := testing.AllocsPerRun(5, func() { Children() })
	if per := allocs / float64(procs); per > 5 {
		t.Fatalf("Children: %.0f allocations for ~%d processes, %.1f each (want at most 5)", allocs, procs, per)
	}
}

func BenchmarkChildren(b *testing.B) {
	for b.Loop() {
		Children()
	}
}
