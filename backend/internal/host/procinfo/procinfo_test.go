package procinfo

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
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
