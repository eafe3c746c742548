package sandbox

import (
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatinit"
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatpid1"
)

// choosePID1 picks the seat's init: clarateach-seat-pid1 (package
// seatpid1, C) for the seats it serves, where the runtime has it, else
// the Go init. It serves a seat started from scratch, on the host's root
// or on an image, with no root learner, for an agent running as root: a
// warm seat's claim and the learner's own namespaces are the Go init's
// alone. Such a seat's init gets the seat launcher's bytes in its config
// (it has no copy).
func (s *seatStart) choosePID1() {
	s.initPath, s.initName = s.r.cfg.InitPath, "clarateach-seat-init"
	ic := &s.ic
	if s.r.cfg.PID1Path == "" || s.warm || s.r.rootless || ic.LearnerRoot {
		return
	}
	s.initPath, s.initName = s.r.cfg.PID1Path, seatpid1.BinaryName
	if ic.Launcher != "" {
		ic.LauncherELF = string(seatinit.LauncherELF())
	}
}
