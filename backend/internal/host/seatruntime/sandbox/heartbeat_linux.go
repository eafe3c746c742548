package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
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
