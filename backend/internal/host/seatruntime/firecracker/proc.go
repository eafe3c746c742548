package firecracker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/clarateach/backend/internal/host/procinfo"
)

// running reports whether p is still the same, live (not zombie) process.
func (p Process) running() bool {
	if p.PID <= 0 {
		return false
	}
	f, err := procinfo.Stat(p.PID)
	if err != nil || f[0] == "Z" || f[0] == "X" {
		return false
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	return err == nil && st == p.StartTime
}

// waitGone polls until p is no longer running or the context ends.
func (p Process) waitGone(ctx context.Context) bool {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if !p.running() {
			return true
		}
		select {
		case <-ctx.Done():
			return !p.running()
		case <-t.C:
		}
	}
}

// kill sends SIGKILL to p if it is still the same process and waits for it.
func (p Process) kill(ctx context.Context) error {
	if !p.running() {
		return nil
	}
	if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("firecracker: kill %d: %w", p.PID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if !p.waitGone(ctx) {
		return fmt.Errorf("firecracker: process %d survived SIGKILL", p.PID)
	}
	return nil
}
