package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseSlabActive(t *testing.T) {
	in := `slabinfo - version: 2.1
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
pid_namespace        184    276    344   23    2 : tunables    0    0    0 : slabdata     12     12      0
net_namespace        518    560   4224    7    8 : tunables    0    0    0 : slabdata     80     80      0
`
	f, err := os.CreateTemp(t.TempDir(), "slabinfo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(in); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	if n, ok := parseSlabActive(f, "net_namespace"); !ok || n != 518 {
		t.Errorf("parseSlabActive = %d, %v; want 518, true", n, ok)
	}
	if _, ok := parseSlabActive(strings.NewReader(in), "user_namespace"); ok {
		t.Error("parseSlabActive found a cache that is not there")
	}
}

// A seat's processes are left until its init is reaped, not only killed:
// an init killed and not yet waited for is still there (a zombie), and so
// is the pid namespace's other process until the kernel has ended it.
func TestSeatProcsLeftUntilReaped(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a new pid namespace needs root")
	}
	cmd := exec.Command("sh", "-c", "sleep 60 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := cmd.Start(); err != nil {
		t.Skipf("no pid namespace here: %v", err)
	}
	reaped := false
	defer func() {
		if !reaped {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	var s seatProcs
	if !s.addInit(cmd.Process.Pid) {
		t.Fatal("the init is not there")
	}
	if _, ok := pollUntil(10*time.Second, func() bool { return s.left() == 2 }); !ok {
		t.Fatalf("left = %d, want 2 (the init and its sleep)", s.left())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, ok := pollUntil(300*time.Millisecond, func() bool { return s.left() == 0 }); ok {
		t.Fatal("left = 0 with the killed init not yet reaped")
	}
	if n := s.left(); n < 1 {
		t.Fatalf("left = %d with the killed init not yet reaped, want >= 1", n)
	}
	cmd.Wait()
	reaped = true
	if _, ok := pollUntil(10*time.Second, func() bool { return s.left() == 0 }); !ok {
		t.Fatalf("left = %d after the init was reaped, want 0", s.left())
	}
}
