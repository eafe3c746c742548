//go:build linux

package seatinit

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// usernsPlaceholder is the placeholder's whole life: wait for the agent
// to have opened our namespace (stdin closes), exit.
func usernsPlaceholder() {
	var b [1]byte
	_, _ = os.Stdin.Read(b[:])
	os.Exit(0)
}

// moveHome, in the seat's init, attaches the home mount (fd) at target.
func moveHome(fd int, target string) error {
	defer unix.Close(fd)
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move home mount to %s: %w", target, err)
	}
	return nil
}
