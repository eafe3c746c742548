// Package local provisions workshops on this machine: one agent, listening
// on loopback, holds every local workshop's seats. It is what `make dev`
// uses, and what the end-to-end tests exercise. The agent itself is
// started by package cli (host/localagent); this package is handed its URL
// and token and talks to it like to any agent, over its API.
package local

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/provision"
)

// Provisioner is the local provisioner.
type Provisioner struct {
	url    string
	token  string
	client *agentclient.Client

	mu      sync.Mutex
	created map[string]time.Time
}

// New returns the provisioner of the local agent at url (loopback, plain
// HTTP) with its token.
func New(url, token string) *Provisioner {
	return &Provisioner{url: url, token: token, client: agentclient.New(url, token, nil), created: map[string]time.Time{}}
}

// URL is the local agent's address.
func (p *Provisioner) URL() string { return p.url }

// Token is the local agent's token.
func (p *Provisioner) Token() string { return p.token }

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
