package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// heartbeatName is the file under BaseDir whose modification time says the
// runtime (its agent) is alive.
const heartbeatName = ".heartbeat"

// heartbeat touches the heartbeat file while the runtime lives.
type heartbeat struct {
	path  string
	every time.Duration
	done  chan struct{}
	once  sync.Once
}

// startHeartbeat starts touching <BaseDir>/.heartbeat when seats are to end
// after OrphanTimeout without their agent.
func (r *Runtime) startHeartbeat() error {
	if r.cfg.OrphanTimeout <= 0 {
		return nil
	}
	every := r.cfg.HeartbeatEvery
	if every <= 0 {
		every = time.Minute
	}
	every = min(every, r.cfg.OrphanTimeout/4)
	b := &heartbeat{path: filepath.Join(r.cfg.BaseDir, heartbeatName), every: every, done: make(chan struct{})}
	if err := b.touch(); err != nil {
		return err
	}
	r.beat = b
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-b.done:
				return
			case <-t.C:
				if err := b.touch(); err != nil {
					r.log.Warn("sandbox: heartbeat", "err", err)
				}
			}
		}
	}()
	return nil
}

// touch sets the file's times to now, creating it (never replacing it:
// seats hold descriptors on this inode).
func (b *heartbeat) touch() error {
	f, err := os.OpenFile(b.path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("sandbox: heartbeat: %w", err)
	}
	f.Close()
	now := time.Now()
	if err := os.Chtimes(b.path, now, now); err != nil {
		return fmt.Errorf("sandbox: heartbeat: %w", err)
	}
	return nil
}

// open is a read-only descriptor on the heartbeat file, for a seat's init.
func (b *heartbeat) open() (*os.File, error) {
	f, err := os.Open(b.path)
	if err != nil {
		return nil, fmt.Errorf("sandbox: heartbeat: %w", err)
	}
	return f, nil
}

func (b *heartbeat) stop() {
	if b != nil {
		b.once.Do(func() { close(b.done) })
	}
}

// initHeartbeat tells a seat's init how to watch its agent.
type initHeartbeat struct {
	FD        int   `json:"fd"`
	TimeoutMS int64 `json:"timeout_ms"`
	CheckMS   int64 `json:"check_ms"`
}

// watchAgent runs in a seat's init: once the heartbeat file (an inherited
// descriptor, so it works inside the seat's own mounts) has not been
// touched for the timeout, the init exits, which ends every process of the
// seat's pid namespace. The home stays on the host.
func watchAgent(h *initHeartbeat) {
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
