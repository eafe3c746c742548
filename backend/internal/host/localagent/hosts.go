package localagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/clarateach/backend/internal/host/imagecache"
	"github.com/clarateach/backend/internal/host/seatruntime"
)

// Host is one of the local agents of a control plane that runs several
// (LOCAL_HOSTS): a separate workshop host to the control plane, with its
// own state directory, address, agent token and seats. It can stop (Stop,
// or an error of its own) and start again (Start), each start building
// the agent's seat runtime anew from the state directory, where the seats
// that outlived the agent are found again.
type Host struct {
	index int
	start func(ctx context.Context) (*Agent, error)

	mu  sync.Mutex
	cur *Agent // nil before the first start
}

// HostsConfig configures the local agents.
type HostsConfig struct {
	// Count is how many agents run (LOCAL_HOSTS, at least 1).
	Count int
	// StateDir is host 1's state directory; host i's is StateDir-i.
	StateDir string
	// Runtime builds a host's seat runtime and image cache in its state
	// directory, at each start (a stopped agent has closed its runtime).
	Runtime func(stateDir string) (seatruntime.Runtime, *imagecache.Cache, error)
	// Token is host 1's agent token (empty: the kept or a fresh one); the
	// other hosts always have their own.
	Token           string
	WorkspaceSecret []byte
	Capacity        int
	Logger          *slog.Logger
}

// HostStateDir is the state directory of local host i given host 1's.
func HostStateDir(first string, i int) string {
	if i <= 1 {
		return first
	}
	return first + "-" + strconv.Itoa(i)
}

// StartHosts starts cfg.Count local agents. On an error the agents already
// started are stopped.
func StartHosts(ctx context.Context, cfg HostsConfig) ([]*Host, error) {
	if cfg.Count < 1 {
		cfg.Count = 1
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	var hosts []*Host
	for i := 1; i <= cfg.Count; i++ {
		dir := HostStateDir(cfg.StateDir, i)
		token := ""
		if i == 1 {
			token = cfg.Token
		}
		hlog := log
		if cfg.Count > 1 {
			hlog = log.With("local_host", i)
		}
		h := &Host{index: i, start: func(ctx context.Context) (*Agent, error) {
			rt, images, err := cfg.Runtime(dir)
			if err != nil {
				return nil, fmt.Errorf("local host %d: %w", i, err)
			}
			return Start(ctx, Config{StateDir: dir, Runtime: rt, Images: images, Token: token,
				WorkspaceSecret: cfg.WorkspaceSecret, Capacity: cfg.Capacity, Logger: hlog})
		}}
		if err := h.Start(ctx); err != nil {
			for _, o := range hosts {
				_ = o.Stop()
			}
			return nil, err
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// Index is the host's number (1 for the first).
func (h *Host) Index() int { return h.index }

// URL is the agent's address (its last one while it is stopped).
func (h *Host) URL() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cur == nil {
		return ""
	}
	return h.cur.URL()
}

// Token is the agent's token.
func (h *Host) Token() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cur == nil {
		return ""
	}
	return h.cur.Token()
}

// Running reports whether the agent serves.
func (h *Host) Running() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur != nil && h.cur.Running()
}

// Start starts the agent unless it runs. It comes back on the address and
// with the token it had (kept in its state directory) when it can.
func (h *Host) Start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cur != nil && h.cur.Running() {
		return nil
	}
	if h.cur != nil {
		_ = h.cur.Close() // it stopped on its own: collect it
	}
	a, err := h.start(ctx)
	if err != nil {
		return err
	}
	h.cur = a
	return nil
}

// Stop stops the agent (its seats keep running, as with any agent
// restart). A stopped host is started again by Start.
func (h *Host) Stop() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cur == nil {
		return nil
	}
	return h.cur.Close()
}

// StopAll stops every host.
func StopAll(hosts []*Host) error {
	var errs []error
	for _, h := range hosts {
		errs = append(errs, h.Stop())
	}
	return errors.Join(errs...)
}
