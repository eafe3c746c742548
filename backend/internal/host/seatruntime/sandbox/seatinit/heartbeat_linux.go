//go:build linux

package seatinit

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// watchAgent runs in a seat's init: once the heartbeat file (an inherited
// descriptor, so it works inside the seat's own mounts) has not been
// touched for the timeout, the init exits, which ends every process of the
// seat's pid namespace. The home stays on the host.
func watchAgent(h *Heartbeat) {
	timeout := time.Duration(h.TimeoutMS) * time.Millisecond
	t := time.NewTicker(max(time.Duration(h.CheckMS)*time.Millisecond, 10*time.Millisecond))
	defer t.Stop()
	for range t.C {
		var st unix.Stat_t
		if err := unix.Fstat(h.FD, &st); err != nil {
			continue
		}
		age := time.Since(time.Unix(st.Mtim.Unix()))
		if age > timeout {
			fmt.Fprintf(os.Stderr, "seat init: the agent has been gone for %s (more than %s); the seat ends (its home is kept)\n",
				age.Round(time.Second), timeout)
			os.Exit(0)
		}
	}
}
