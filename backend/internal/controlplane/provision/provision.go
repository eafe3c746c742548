// Package provision defines how the control plane gets a workshop host: a
// machine running the ClaraTeach agent that will hold the workshop's seats.
// Implementations: local (an agent on this machine) and gcp (one Compute
// Engine VM per workshop).
package provision

import (
	"context"
	"time"
)

// Request describes the host a workshop needs.
type Request struct {
	WorkshopID string
	// Host numbers the workshop's host: 0 or 1 is the first (the seed's
	// single host), 2.. the others of a workshop bigger than one host.
	Host  int
	Seats int
	// AgentToken is the fresh per-workshop token the agent must require.
	AgentToken string
	// WorkspaceKey is the workshop's derived workspace-token key (hex), so
	// the host can verify learners' tokens and nothing else.
	WorkspaceKey string
	// BackendURL is the control plane's URL, given to the host.
	BackendURL string
}

// Host is a provisioned workshop host.
type Host struct {
	WorkshopID string `json:"workshop_id"`
	// Index is the host's number within its workshop (1 for the first).
	Index int    `json:"index,omitempty"`
	Name  string `json:"name"`
	Zone  string `json:"zone,omitempty"`
	IP    string `json:"ip,omitempty"`
	// State is the host's state in the control plane's words; each
	// provisioner maps its provider's words to it.
	State HostState `json:"state"`
	// Status is the provider's own word (GCE's RUNNING, TERMINATED, ...),
	// for people and logs; decisions use State.
	Status    string    `json:"status"`
	AgentURL  string    `json:"agent_url"`
	CreatedAt time.Time `json:"created_at,omitempty"`
	Spot      bool      `json:"spot,omitempty"`
	// AgentToken, when set, is the token the host's agent requires, in
	// place of Request.AgentToken (the local provisioner's shared agent).
	AgentToken string `json:"-"`
	// AgentCert, when set, is the host's TLS certificate (PEM), which the
	// control plane pins: the agent is reached at an https AgentURL that
	// must present exactly this certificate. Empty only for a loopback
	// agent (plain http).
	AgentCert string `json:"-"`
}

// HostState is what a host is, whatever its provider calls it.
type HostState string

// Host states.
const (
	// HostRunning: up; its agent may answer.
	HostRunning HostState = "running"
	// HostStarting: being created, started or repaired; look again soon.
	HostStarting HostState = "starting"
	// HostStopping: on its way to HostStopped.
	HostStopping HostState = "stopping"
	// HostStopped: down but still there with its disk (GCE TERMINATED, a
	// preempted Spot VM); starting it again recovers it with its data.
	HostStopped HostState = "stopped"
	// HostSuspended: suspended by someone; it is not resumed automatically.
	HostSuspended HostState = "suspended"
	// HostUnknown: a provider word the provisioner does not know.
	HostUnknown HostState = "unknown"
)

// Provisioner creates and removes workshop hosts.
type Provisioner interface {
	Name() string
	// EnsureHost creates the workshop's host if it does not exist (it is
	// idempotent: a host that exists is returned as is) and returns once
	// the host has an address. It does not wait for the agent.
	EnsureHost(ctx context.Context, req Request) (*Host, error)
	// GetHost returns the workshop's host, or ErrNotFound.
	GetHost(ctx context.Context, workshopID string) (*Host, error)
	// DeleteHost removes the workshop's host. A host already gone is success.
	DeleteHost(ctx context.Context, workshopID string) error
	// ListHosts lists every host this provisioner manages (by label), for
	// garbage collection.
	ListHosts(ctx context.Context) ([]Host, error)
}

// HostSet is a Provisioner whose workshops may span several hosts
// (Request.Host). EnsureHost makes any of them; DeleteHost removes all of
// a workshop's hosts; these reach one.
type HostSet interface {
	// GetHostN returns host n of the workshop, or ErrNotFound.
	GetHostN(ctx context.Context, workshopID string, n int) (*Host, error)
	// DeleteHostN removes host n of the workshop (gone already is success).
	DeleteHostN(ctx context.Context, workshopID string, n int) error
}

// ErrNotFound is returned by GetHost when the workshop has no host.
var ErrNotFound = errNotFound{}

type errNotFound struct{}

func (errNotFound) Error() string { return "host not found" }

// HomeKeeper is a Provisioner whose hosts keep seats' homes when their
// workshop is stopped (the local provisioner: the homes stay on this
// machine). The reconciler stops such a workshop with StopHost, and only a
// deleted (or purged) workshop's host is removed with DeleteHost.
type HomeKeeper interface {
	// StopHost ends the workshop's seats and keeps their homes on the
	// host: the seats created when the workshop starts again get them back.
	StopHost(ctx context.Context, workshopID string) error
}
