// Package runtime defines the seat runtime interface of the workshop host
// agent. A seat is one learner's isolated machine running the workspace
// daemon; implementations live in the sub-packages sandbox (Linux
// namespaces), firecracker (KVM microVMs) and process (no isolation, dev only).
package seatruntime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/egress"
)

// ErrCapacity is returned by Create when the host has no room for a seat.
var ErrCapacity = errors.New("host is at capacity")

// Spec asks for a seat.
type Spec struct {
	WorkshopID string
	Seat       int
	VCPUs      int // 0 = runtime default
	MemoryMB   int // 0 = runtime default
	PidsMax    int // 0 = runtime default
	// DiskMB and DiskInodes bound the seat's home (0 = runtime default).
	// The process runtime ignores them.
	DiskMB     int
	DiskInodes int
	// Egress opens destinations the default block list refuses (a lab
	// server), for this seat only. Runtimes without a seat network
	// ignore it.
	Egress []egress.Rule
	// Image is the seat's root file system, an OCI image the agent has
	// pulled (nil: the host's own root, read-only). The process runtime
	// ignores it.
	Image *Image
	// LearnerRoot makes the learner root: inside the seat's user
	// namespace (sandbox), or the guest's root (firecracker: the boot
	// argument clarateach.learner_root=1). The process runtime ignores it.
	LearnerRoot bool
}

// Image is an unpacked OCI image a seat runs on.
type Image struct {
	Digest string `json:"digest"`
	// RootFS is the unpacked tree on the host (the sandbox's lower layer).
	RootFS string `json:"rootfs"`
	// Disk is the tree as an ext4 file system (firecracker).
	Disk string `json:"disk,omitempty"`
	// Env is the image's environment (PATH and the like), given to the
	// learner's shells.
	Env []string `json:"env,omitempty"`
}

// ImageWarmer is a Runtime with warm seats that can keep them on an image
// (the sandbox): WarmImage(nil) is the host's root again.
type ImageWarmer interface {
	WarmImage(img *Image)
}

// ImageForgetter is a Runtime that keeps things made ahead for an image
// (the sandbox: its seats' system layers): the agent calls ForgetImage
// with the digest of each image it removes from the host's cache.
type ImageForgetter interface {
	ForgetImage(digest string)
}

// Seat describes a running seat: what a runtime's Create returns and its
// other methods take back. The agent keeps it in its state directory as its
// own record (so a restarted agent can reattach) and reports a wire type of
// its own (agentapi.Seat) to the control plane; runtimes that keep records
// of their own (warm seats, firecracker) store this JSON form.
type Seat struct {
	WorkshopID string `json:"workshop_id"`
	Seat       int    `json:"seat_id"`
	Runtime    string `json:"runtime"`
	VCPUs      int    `json:"vcpus"`
	MemoryMB   int    `json:"memory_mb"`
	DiskMB     int    `json:"disk_mb,omitempty"` // size of the home (0: no limit)
	// Image is the digest of the image the seat runs on (set by the
	// agent from Spec.Image; empty: the host's root).
	Image string `json:"image,omitempty"`
	// LearnerRoot: the seat was made with Spec.LearnerRoot (set by the
	// agent), for a restart that is not a runtime's repair.
	LearnerRoot bool      `json:"learner_root,omitempty"`
	PID         int       `json:"pid,omitempty"` // the seat's top process on the host
	IP          string    `json:"ip,omitempty"`
	Dir         string    `json:"dir,omitempty"` // host directory holding the seat's files
	CreatedAt   time.Time `json:"created_at"`
	// The workspace daemon is reached by dialling Network/Address:
	// "unix" + socket path (sandbox, process) or "tcp" + host:port (firecracker).
	Network string `json:"network"`
	Address string `json:"address"`
	// Extra is runtime-specific state needed to reattach or destroy.
	Extra json.RawMessage `json:"extra,omitempty"`
	// ShellReady, set by Create, says that the seat's first terminal
	// session is already running (a warm seat's pre-started shell): the
	// agent does not start one. Not persisted.
	ShellReady bool `json:"-"`
}

// Runtime creates and destroys seats.
type Runtime interface {
	// Name is "sandbox", "firecracker" or "process".
	Name() string
	// Create starts a seat and returns once its workspace daemon accepts
	// connections on Seat.Network/Address.
	Create(ctx context.Context, spec Spec) (*Seat, error)
	// Alive reports whether a seat (possibly created by an earlier agent
	// process) is still running and its daemon answers.
	Alive(ctx context.Context, s *Seat) bool
	// Destroy stops the seat and frees everything it held. Destroying a seat
	// that is already gone is not an error.
	Destroy(ctx context.Context, s *Seat) error
}

// Repairer is a Runtime that can restart a seat that died (or whose daemon
// no longer answers) in place: same workshop, seat and sizes, the learner's
// files kept. The agent's seat watcher uses it; without it, a dead seat is
// destroyed and created again.
type Repairer interface {
	Repair(ctx context.Context, s *Seat) (*Seat, error)
}

// Settler is a Runtime that gives the seats it is starting more of the
// CPU, oldest first, so that a burst of new seats becomes ready one after
// another in arrival order rather than all near the end. Settle tells it
// that s is up (its first shell answered): s goes back to a running seat's
// share. The runtime ends the priority on its own a few seconds after
// Create when nobody calls Settle.
type Settler interface {
	Settle(s *Seat)
}

// UnixClient is an HTTP client for a workspace daemon listening on the unix
// socket sock (any host name in the URL reaches it). It keeps no idle
// connections: each check dials afresh.
func UnixClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext:       dialUnix(sock),
	}}
}

// dialUnix is a transport's DialContext that reaches the unix socket sock
// whatever the URL's host.
func dialUnix(sock string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}
}

// HealthClients keeps one HTTP client per workspace daemon socket for the
// seat watcher's checks, each with one connection kept open between checks.
// A check through a UnixClient builds a transport, dials, starts the
// connection's goroutines on both ends and tears them down again: with a
// few hundred seats per host checked every few seconds, that was a burst of
// CPU on the host at every round. A connection the daemon closed (it
// restarted, or its idle timeout passed) is redialled by the transport,
// which retries an idempotent GET on a reused connection that failed.
// The zero value is ready; Forget drops a socket's client when its seat
// ends.
type HealthClients struct {
	mu      sync.Mutex
	clients map[string]*http.Client
}

// healthIdle is how long a check's connection stays open unused: longer
// than the seat watcher's interval (5 s by default), shorter than the
// daemon's own idle timeout (2 min).
const healthIdle = 30 * time.Second

// Check asks the daemon on sock for GET /health (DaemonHealth).
func (h *HealthClients) Check(ctx context.Context, sock string) error {
	return DaemonHealth(ctx, h.client(sock), "http://workspace")
}

func (h *HealthClients) client(sock string) *http.Client {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.clients[sock]; ok {
		return c
	}
	if h.clients == nil {
		h.clients = make(map[string]*http.Client)
	}
	c := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     healthIdle,
		DialContext:         dialUnix(sock),
	}}
	h.clients[sock] = c
	return c
}

// Forget closes and drops sock's client (its seat was destroyed).
func (h *HealthClients) Forget(sock string) {
	h.mu.Lock()
	c, ok := h.clients[sock]
	delete(h.clients, sock)
	h.mu.Unlock()
	if ok {
		c.CloseIdleConnections()
	}
}

// DaemonHealth asks the workspace daemon at base (e.g. "http://workspace"
// through a UnixClient, or "http://192.168.100.11:8080") for GET /health
// and reports whether it answered 200.
func DaemonHealth(ctx context.Context, c *http.Client, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("daemon GET /health: %s", resp.Status)
	}
	return nil
}

// HomeKeeper is a Runtime that can end a seat while keeping the learner's
// home on the host: the next Create of the same workshop and seat gets that
// home back. Stopping a workshop, a seat found dead and an agent restart use
// Stop; only deleting the workshop (or resetting the seat for another
// learner) removes a home. The sandbox and process runtimes implement it.
type HomeKeeper interface {
	// Stop ends the seat's processes and frees what it holds, except its
	// home. Stopping a seat that is already gone is not an error.
	Stop(ctx context.Context, s *Seat) error
	// Homes lists every seat home on the host, of running and of stopped
	// seats.
	Homes() ([]Home, error)
	// RemoveHome deletes the home of a seat that is not running. A home
	// that is not there is not an error.
	RemoveHome(ctx context.Context, workshopID string, seat int) error
}

// Home names a seat home kept on the host.
type Home struct {
	WorkshopID string `json:"workshop_id"`
	Seat       int    `json:"seat_id"`
}

// Root scripts: a lab's setup scripts run as the seat's own root, which is
// root inside the seat's user namespace only (an unprivileged uid on the
// host), never the host's root.
const (
	MaxRootScript   = 64 << 10
	MaxRootOutput   = 16 << 10 // each of stdout and stderr
	DefaultRootTime = 10 * time.Second
	MaxRootTime     = 2 * time.Minute
)

// RootExecer is a Runtime that can run a script as the seat's own root.
// Runtimes without one (process: there is no root but the host's) refuse
// root scripts.
type RootExecer interface {
	ExecRoot(ctx context.Context, s *Seat, req ExecRequest) (*ExecResult, error)
}

// ExecRequest is a script to run as the seat's root: any file with a #!
// line, or shell commands; TimeoutMS 0 means DefaultRootTime.
type ExecRequest struct {
	Script    string `json:"script"`
	TimeoutMS int    `json:"timeout_ms,omitempty"`
}

// ExecResult is what a root script did: a script that ran is a result
// whatever its exit code.
type ExecResult struct {
	ExitCode   int    `json:"exit_code"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	Truncated  bool   `json:"truncated"`
	TimedOut   bool   `json:"timed_out"`
	DurationMS int64  `json:"duration_ms"`
	// Error is set by the seat when it could not run the script at all.
	Error string `json:"error,omitempty"`
}
