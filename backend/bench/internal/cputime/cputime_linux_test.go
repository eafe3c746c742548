package cputime

import (
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// ThreadFaults counts a live process's minor faults (this one's, which
// grow when it touches fresh memory) and 0 for a pid that is gone.
func TestThreadFaults(t *testing.T) {
	me := []int{os.Getpid()}
	before := ThreadFaults(me)
	buf, err := syscall.Mmap(-1, 0, 4<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(buf)
	_ = unix.Madvise(buf, unix.MADV_NOHUGEPAGE) // a fault per 4 KiB page
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	if after := ThreadFaults(me); before <= 0 || after-before < 100 {
		t.Errorf("ThreadFaults: %d, then %d after touching 1,024 fresh pages", before, after)
	}
	if got := ThreadFaults([]int{1 << 30}); got != 0 {
		t.Errorf("a pid that is gone = %d, want 0", got)
	}
}
