package terminal

import (
	"os"

	"golang.org/x/sys/unix"
)

// awaitExit parks the calling goroutine until process pid has ended, on a
// pidfd in Go's poller, so that the cmd.Wait after it reaps at once
// instead of holding an OS thread in waitid for the shell's whole life
// (one more thread in every seat's daemon: a clone, its stacks and their
// page faults). Where pidfds do not work it returns at once, and Wait
// blocks as before. pid must be an unreaped child of this process, so
// that it cannot have been reused.
func awaitExit(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(fd uintptr) bool {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(p, 0)
		return err != nil || n > 0 // readable once the process has ended
	})
}
