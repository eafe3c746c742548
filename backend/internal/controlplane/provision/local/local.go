// Package local provisions workshops on this machine: local agents,
// listening on loopback, hold every local workshop's seats. By default
// there is one agent, and a workshop is one host on it. With several
// agents (LOCAL_HOSTS), each is a separate workshop host to the control
// plane: host i of every workshop is agent i, with its own address, token
// and seats, so multi-host placement, the failure of one host and draining
// run on one machine as they do on GCP. It is what `make dev` uses, and
// what the end-to-end tests exercise. The agents themselves are started by
// package cli (host/localagent); this package is handed each one's URL
// and token (and how to start it again) and talks to it like to any
// agent, over its API.
package local

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/provision"
)

// Agent is one local agent as the provisioner sees it.
type Agent interface {
	URL() string
	Token() string
	// Running reports whether the agent serves (false: it stopped, and
	// Start brings it back).
	Running() bool
	// Start starts the agent again if it stopped; it is a no-op when it
	// runs.
	Start(ctx context.Context) error
}

// Provisioner is the local provisioner.
type Provisioner struct {
	agents []Agent
	hc     *http.Client

	mu      sync.Mutex
	created map[string]time.Time
}

// New returns the provisioner of one local agent at url (loopback, plain
// HTTP) with its token, which it takes to be always running.
func New(url, token string) *Provisioner {
	return NewSet([]Agent{fixed{url: url, token: token}})
}

// NewSet returns the provisioner of the local agents: agents[i-1] is host
// i of every workshop.
func NewSet(agents []Agent) *Provisioner {
	return &Provisioner{agents: agents, hc: &http.Client{Timeout: 60 * time.Second}, created: map[string]time.Time{}}
}

// fixed is an agent the provisioner cannot start: one always running.
type fixed struct{ url, token string }

func (f fixed) URL() string                 { return f.url }
func (f fixed) Token() string               { return f.token }
func (f fixed) Running() bool               { return true }
func (f fixed) Start(context.Context) error { return nil }

// URL is the first local agent's address.
func (p *Provisioner) URL() string { return p.agents[0].URL() }

// Token is the first local agent's token.
func (p *Provisioner) Token() string { return p.agents[0].Token() }

// Hosts is how many local agents there are.
func (p *Provisioner) Hosts() int { return len(p.agents) }

func (p *Provisioner) Name() string { return "local" }

// agent is the local agent of a workshop's host n (0 or 1: the first).
func (p *Provisioner) agent(n int) (Agent, int, error) {
	n = max(n, 1)
	if n > len(p.agents) {
		return nil, n, fmt.Errorf("this workshop needs host %d but local mode runs %d (LOCAL_HOSTS); raise LOCAL_HOSTS or SEATS_PER_HOST", n, len(p.agents))
	}
	return p.agents[n-1], n, nil
}

func (p *Provisioner) client(a Agent) *agentclient.Client {
	return agentclient.New(a.URL(), a.Token(), p.hc)
}

// host is host n of the workshop: its agent, running or stopped.
func (p *Provisioner) host(workshopID string, n int, a Agent) *provision.Host {
	p.mu.Lock()
	created := p.created[workshopID]
	p.mu.Unlock()
	name := "local"
	if n > 1 {
		name += "-" + strconv.Itoa(n)
	}
	h := &provision.Host{WorkshopID: workshopID, Index: n, Name: name, IP: "127.0.0.1",
		State: provision.HostRunning, Status: "RUNNING",
		AgentURL: a.URL(), AgentToken: a.Token(), CreatedAt: created}
	if !a.Running() {
		h.State, h.Status = provision.HostStopped, "STOPPED"
	}
	return h
}

// EnsureHost returns the workshop's host req.Host: its local agent, which
// is started again if it stopped.
func (p *Provisioner) EnsureHost(ctx context.Context, req provision.Request) (*provision.Host, error) {
	a, n, err := p.agent(req.Host)
	if err != nil {
		return nil, err
	}
	if err := a.Start(ctx); err != nil {
		return nil, fmt.Errorf("start local host %d: %w", n, err)
	}
	p.mu.Lock()
	if _, ok := p.created[req.WorkshopID]; !ok {
		p.created[req.WorkshopID] = time.Now()
	}
	p.mu.Unlock()
	return p.host(req.WorkshopID, n, a), nil
}

// GetHost returns the workshop's first host.
func (p *Provisioner) GetHost(ctx context.Context, workshopID string) (*provision.Host, error) {
	return p.GetHostN(ctx, workshopID, 1)
}

// GetHostN returns the workshop's host n: stopped when its agent stopped
// (EnsureHost starts it again), ErrNotFound when it runs but does not
// answer.
func (p *Provisioner) GetHostN(ctx context.Context, workshopID string, n int) (*provision.Host, error) {
	a, n, err := p.agent(n)
	if err != nil {
		return nil, provision.ErrNotFound
	}
	if a.Running() {
		if _, err := p.client(a).Health(ctx); err != nil {
			return nil, provision.ErrNotFound
		}
	}
	return p.host(workshopID, n, a), nil
}

// StopHost ends the workshop's seats on every local agent and keeps their
// homes (provision.HomeKeeper).
func (p *Provisioner) StopHost(ctx context.Context, workshopID string) error {
	var errs []error
	for _, a := range p.agents {
		errs = append(errs, p.endSeats(ctx, a, workshopID, true))
	}
	return errors.Join(errs...)
}

// DeleteHost removes the workshop's seats and their homes from every
// local agent, including the homes of seats already stopped.
func (p *Provisioner) DeleteHost(ctx context.Context, workshopID string) error {
	var errs []error
	for _, a := range p.agents {
		errs = append(errs, p.endSeats(ctx, a, workshopID, false))
	}
	p.mu.Lock()
	delete(p.created, workshopID)
	p.mu.Unlock()
	return errors.Join(errs...)
}

// DeleteHostN removes the workshop's seats and homes from its host n (a
// drained host): only from that agent, started again first if it stopped.
func (p *Provisioner) DeleteHostN(ctx context.Context, workshopID string, n int) error {
	a, n, err := p.agent(n)
	if err != nil {
		return nil // no such agent: nothing of the workshop is there
	}
	if err := a.Start(ctx); err != nil {
		return fmt.Errorf("start local host %d: %w", n, err)
	}
	return p.endSeats(ctx, a, workshopID, false)
}

func (p *Provisioner) endSeats(ctx context.Context, a Agent, workshopID string, keepHomes bool) error {
	if !a.Running() {
		if keepHomes {
			return nil // its seats are not served; they end when it starts again (GC)
		}
		if err := a.Start(ctx); err != nil {
			return fmt.Errorf("start a local agent to delete seats: %w", err)
		}
	}
	c := p.client(a)
	seats, err := c.ListSeats(ctx)
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
		homes, err := c.ListHomes(ctx)
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
			err = c.StopSeat(ctx, workshopID, n)
		} else {
			err = c.DeleteSeat(ctx, workshopID, n)
		}
		if err != nil && !agentclient.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ListHosts reports, for each running local agent, one host per workshop
// that has seats or kept homes on it.
func (p *Provisioner) ListHosts(ctx context.Context) ([]provision.Host, error) {
	var out []provision.Host
	for i, a := range p.agents {
		if !a.Running() {
			continue
		}
		hosts, err := p.listAgent(ctx, i+1, a)
		if err != nil {
			return nil, err
		}
		out = append(out, hosts...)
	}
	return out, nil
}

func (p *Provisioner) listAgent(ctx context.Context, n int, a Agent) ([]provision.Host, error) {
	c := p.client(a)
	seats, err := c.ListSeats(ctx)
	if err != nil {
		return nil, fmt.Errorf("list local seats: %w", err)
	}
	homes, err := c.ListHomes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list local homes: %w", err)
	}
	seen := map[string]bool{}
	var out []provision.Host
	add := func(ws string, running bool) {
		if !seen[ws] {
			seen[ws] = true
			h := *p.host(ws, n, a)
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
