package firecracker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/clarateach/backend/internal/host/procinfo"
)

// LaunchSpec is what Launch needs to start one Firecracker process.
type LaunchSpec struct {
	ID        string // --id: the microVM's id, [A-Za-z0-9-]{1,64}
	APISocket string // --api-sock: must not exist yet
	LogPath   string // the process's stdout and stderr (and so the guest's serial console) are appended here
}

// Process identifies a launched Firecracker process. StartTime (clock ticks
// after boot, /proc/PID/stat field 22) guards against PID reuse.
type Process struct {
	PID       int
	StartTime uint64
}

// ExecLauncher runs `Binary --api-sock SOCK --id ID Args...` in its own
// session, detached from the agent, with stdin from /dev/null and stdout and
// stderr appended to the seat's log file. The process outlives the agent (a
// restarted agent finds it again by PID and start time).
type ExecLauncher struct {
	Binary string   // default "firecracker"
	Args   []string // extra arguments, e.g. "--level", "Warning"
	Env    []string // extra environment, added to the agent's
}

// Launch starts one Firecracker process.
func (l ExecLauncher) Launch(_ context.Context, spec LaunchSpec) (Process, error) {
	bin := l.Binary
	if bin == "" {
		bin = "firecracker"
	}
	logf, err := os.OpenFile(spec.LogPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return Process{}, fmt.Errorf("firecracker: open log: %w", err)
	}
	defer logf.Close()
	args := append([]string{"--api-sock", spec.APISocket, "--id", spec.ID}, l.Args...)
	// Not CommandContext: the microVM must not die with the request (or the
	// agent) that created it.
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = append(os.Environ(), l.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Process{}, fmt.Errorf("firecracker: start %s: %w", bin, err)
	}
	pid := cmd.Process.Pid
	st, err := procinfo.StartTime(pid)
	// Reap it when it ends, while we are its parent; after an agent restart
	// init does.
	go cmd.Wait() //nolint:errcheck
	if err != nil {
		return Process{}, fmt.Errorf("firecracker: process %d vanished at start: %w", pid, err)
	}
	return Process{PID: pid, StartTime: st}, nil
}
