// Package local provisions workshops on this machine: one in-process agent,
// listening on loopback, holds every local workshop's seats. It is what
// `make dev` uses, and what the end-to-end tests exercise.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/provision"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/token"
)

// Config configures the local provisioner's agent.
type Config struct {
	StateDir        string
	Runtime         seatruntime.Runtime
	WorkspaceSecret []byte
	// Token is the agent token; empty = the one kept in the state
	// directory, or a fresh random one (then kept there).
	Token string
	// Listen is the agent's address; default the address the agent had
	// last time (kept in the state directory), so that a restarted control
	// plane finds its seats where the database says they are, else
	// 127.0.0.1:0 (a free port).
	Listen   string
	Capacity int // default 240
	Logger   *slog.Logger
}

// stateFile keeps the local agent's address and token across restarts of
// the control plane (the seats, in their own sessions, outlive it).
const stateFile = "local-agent.json"

type savedAgent struct {
	Listen string `json:"listen"`
	Token  string `json:"token"`
}

// Provisioner is the local provisioner.
type Provisioner struct {
	url    string
	token  string
	client *agentclient.Client
	stop   context.CancelFunc
	done   chan error

	mu      sync.Mutex
	created map[string]time.Time
}

// Start starts the in-process agent and returns the provisioner. Close
// stops the agent (seats keep running, as with any agent restart). The
// agent comes back on the address and with the token it had before (kept
// in StateDir/local-agent.json) when that port is still free; otherwise it
// takes a new port and the reconciler re-registers it.
func Start(ctx context.Context, cfg Config) (*Provisioner, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	saved := loadSaved(cfg.StateDir, log)
	if cfg.Token == "" {
		cfg.Token = saved.Token
	}
	if cfg.Token == "" {
		cfg.Token = token.NewAgentToken()
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = 240
	}
	ln, err := listen(cfg.Listen, saved.Listen, log)
	if err != nil {
		return nil, err
	}
	a, err := agent.New(agent.Config{
		Listen:          ln.Addr().String(),
		Token:           cfg.Token,
		StateDir:        cfg.StateDir,
		Runtime:         cfg.Runtime,
		Capacity:        cfg.Capacity,
		WorkspaceSecret: cfg.WorkspaceSecret,
		Logger:          cfg.Logger,
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("local agent: %w", err)
	}
	if err := save(cfg.StateDir, savedAgent{Listen: ln.Addr().String(), Token: cfg.Token}); err != nil {
		ln.Close()
		return nil, err
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &Provisioner{
		url:     "http://" + ln.Addr().String(),
		token:   cfg.Token,
		stop:    cancel,
		done:    make(chan error, 1),
		created: map[string]time.Time{},
	}
	p.client = agentclient.New(p.url, p.token, nil)
	go func() { p.done <- a.Serve(actx, ln) }()
	return p, nil
}

// listen listens on the configured address, else on the saved one, else on
// a free loopback port.
func listen(configured, saved string, log *slog.Logger) (net.Listener, error) {
	if configured != "" {
		ln, err := net.Listen("tcp", configured)
		if err != nil {
			return nil, fmt.Errorf("local agent: listen: %w", err)
		}
		return ln, nil
	}
	if saved != "" {
		ln, err := net.Listen("tcp", saved)
		if err == nil {
			return ln, nil
		}
		log.Warn("the local agent's previous address is taken; using a new port (running workshops are re-registered)", "address", saved, "err", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("local agent: listen: %w", err)
	}
	return ln, nil
}

func loadSaved(dir string, log *slog.Logger) savedAgent {
	var s savedAgent
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return s
	}
	if err := json.Unmarshal(b, &s); err != nil {
		log.Warn("ignoring an unreadable local agent state file", "file", filepath.Join(dir, stateFile), "err", err)
		return savedAgent{}
	}
	if host, _, err := net.SplitHostPort(s.Listen); err != nil || !agent.IsLoopback(s.Listen) || host == "" {
		s.Listen = "" // only ever a loopback address
	}
	return s
}

// save writes the agent's address and token (mode 0600: the token is a
// secret), atomically.
func save(dir string, s savedAgent) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("local agent state: %w", err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+stateFile+"-*")
	if err != nil {
		return fmt.Errorf("local agent state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("local agent state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("local agent state: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("local agent state: %w", err)
	}
	return nil
}

// URL is the local agent's address.
func (p *Provisioner) URL() string { return p.url }

// Token is the local agent's token.
func (p *Provisioner) Token() string { return p.token }

// Close stops the agent.
func (p *Provisioner) Close() error {
	p.stop()
	return <-p.done
}

func (p *Provisioner) Name() string { return "local" }

func (p *Provisioner) host(workshopID string) *provision.Host {
	p.mu.Lock()
	created := p.created[workshopID]
	p.mu.Unlock()
	return &provision.Host{WorkshopID: workshopID, Name: "local", IP: "127.0.0.1",
		State: provision.HostRunning, Status: "RUNNING",
		AgentURL: p.url, AgentToken: p.token, CreatedAt: created}
}

// EnsureHost returns the shared local agent.
func (p *Provisioner) EnsureHost(ctx context.Context, req provision.Request) (*provision.Host, error) {
	p.mu.Lock()
	if _, ok := p.created[req.WorkshopID]; !ok {
		p.created[req.WorkshopID] = time.Now()
	}
	p.mu.Unlock()
	return p.host(req.WorkshopID), nil
}

// GetHost returns the local agent when it answers.
func (p *Provisioner) GetHost(ctx context.Context, workshopID string) (*provision.Host, error) {
	if _, err := p.client.Health(ctx); err != nil {
		return nil, provision.ErrNotFound
	}
	return p.host(workshopID), nil
}

// StopHost ends the workshop's seats on the local agent and keeps their
// homes (provision.HomeKeeper).
func (p *Provisioner) StopHost(ctx context.Context, workshopID string) error {
	return p.endSeats(ctx, workshopID, true)
}

// DeleteHost removes the workshop's seats and their homes from the local
// agent, including the homes of seats already stopped.
func (p *Provisioner) DeleteHost(ctx context.Context, workshopID string) error {
	err := p.endSeats(ctx, workshopID, false)
	p.mu.Lock()
	delete(p.created, workshopID)
	p.mu.Unlock()
	return err
}

func (p *Provisioner) endSeats(ctx context.Context, workshopID string, keepHomes bool) error {
	seats, err := p.client.ListSeats(ctx)
	if err != nil {
		return fmt.Errorf("list local seats: %w", err)
	}
	todo := map[int]bool{}
	for _, s := range seats {
		if s.WorkshopID == workshopID {
			todo[s.Seat] = true
		}
	}
	if !keepHomes {
		homes, err := p.client.ListHomes(ctx)
		if err != nil {
			return fmt.Errorf("list local homes: %w", err)
		}
		for _, h := range homes {
			if h.WorkshopID == workshopID {
				todo[h.Seat] = true
			}
		}
	}
	var errs []error
	for n := range todo {
		if keepHomes {
			err = p.client.StopSeat(ctx, workshopID, n)
		} else {
			err = p.client.DeleteSeat(ctx, workshopID, n)
		}
		if err != nil && !agentclient.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ListHosts reports one host per workshop that has seats or kept homes on
// the agent.
func (p *Provisioner) ListHosts(ctx context.Context) ([]provision.Host, error) {
	seats, err := p.client.ListSeats(ctx)
	if err != nil {
		return nil, fmt.Errorf("list local seats: %w", err)
	}
	homes, err := p.client.ListHomes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list local homes: %w", err)
	}
	seen := map[string]bool{}
	var out []provision.Host
	add := func(ws string, running bool) {
		if !seen[ws] {
			seen[ws] = true
			h := *p.host(ws)
			if !running {
				h.State, h.Status = provision.HostStopped, "STOPPED"
			}
			out = append(out, h)
		}
	}
	for _, s := range seats {
		add(s.WorkshopID, true)
	}
	for _, h := range homes {
		add(h.WorkshopID, false)
	}
	return out, nil
}
