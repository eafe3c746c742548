// Package local provisions workshops on this machine: one in-process agent,
// listening on loopback, holds every local workshop's seats. It is what
// `make dev` uses, and what the end-to-end tests exercise.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/agent"
	"github.com/clarateach/backend/internal/agentclient"
	"github.com/clarateach/backend/internal/provision"
	"github.com/clarateach/backend/internal/runtime"
	"github.com/clarateach/backend/internal/token"
)

// Config configures the local provisioner's agent.
type Config struct {
	StateDir        string
	Runtime         runtime.Runtime
	WorkspaceSecret []byte
	// Token is the agent token; empty = a fresh random one.
	Token string
	// Listen is the agent's address; default 127.0.0.1:0 (a free port).
	Listen   string
	Capacity int // default 240
	Logger   *slog.Logger
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
// stops the agent (seats keep running, as with any agent restart).
func Start(ctx context.Context, cfg Config) (*Provisioner, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Token == "" {
		cfg.Token = token.NewAgentToken()
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = 240
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("local agent: listen: %w", err)
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
	return &provision.Host{WorkshopID: workshopID, Name: "local", IP: "127.0.0.1", Status: "RUNNING",
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

// DeleteHost removes the workshop's seats from the local agent.
func (p *Provisioner) DeleteHost(ctx context.Context, workshopID string) error {
	seats, err := p.client.ListSeats(ctx)
	if err != nil {
		return fmt.Errorf("list local seats: %w", err)
	}
	var errs []error
	for _, s := range seats {
		if s.WorkshopID != workshopID {
			continue
		}
		if err := p.client.DeleteSeat(ctx, workshopID, s.Seat.Seat); err != nil && !agentclient.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	p.mu.Lock()
	delete(p.created, workshopID)
	p.mu.Unlock()
	return errors.Join(errs...)
}

// ListHosts reports one host per workshop that has seats on the agent.
func (p *Provisioner) ListHosts(ctx context.Context) ([]provision.Host, error) {
	seats, err := p.client.ListSeats(ctx)
	if err != nil {
		return nil, fmt.Errorf("list local seats: %w", err)
	}
	seen := map[string]bool{}
	var out []provision.Host
	for _, s := range seats {
		if !seen[s.WorkshopID] {
			seen[s.WorkshopID] = true
			out = append(out, *p.host(s.WorkshopID))
		}
	}
	return out, nil
}
