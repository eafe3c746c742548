// Package localagent runs the host agent inside the control plane's
// process, for local mode: one agent on loopback holds every local
// workshop's seats. Its address and token are kept in the state directory,
// so a restarted control plane finds its seats where the database says
// they are. The control plane's local provisioner (provision/local) is
// handed only its URL and token: package cli starts this agent and builds
// the provisioner, so the control plane's provisioning never imports the
// host agent.
package localagent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/imagecache"
	"github.com/clarateach/backend/internal/host/seatruntime"
)

// Config configures the local agent.
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
	// Images is the host's image cache (agent.ImageCache); nil: seats
	// run on the host's root only and workshops on an image fail.
	Images *imagecache.Cache
	Logger *slog.Logger
}

// stateFile keeps the local agent's address and token across restarts of
// the control plane (the seats, in their own sessions, outlive it).
const stateFile = "local-agent.json"

type savedAgent struct {
	Listen string `json:"listen"`
	Token  string `json:"token"`
}

// Agent is the running local agent.
type Agent struct {
	url   string
	token string
	stop  context.CancelFunc
	// exited is closed once the agent has stopped serving (Close, or an
	// error of its own); err is then why.
	exited chan struct{}
	err    error
}

// Start starts the in-process agent. Close stops it (seats keep running,
// as with any agent restart). The agent comes back on the address and
// with the token it had before (kept in StateDir/local-agent.json) when
// that port is still free; otherwise it takes a new port and the
// reconciler re-registers it.
func Start(ctx context.Context, cfg Config) (*Agent, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	saved := loadSaved(cfg.StateDir, log)
	if cfg.Token == "" {
		cfg.Token = saved.Token
	}
	if cfg.Token == "" {
		cfg.Token = authtoken.NewAgentToken()
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
		Images:          cfg.Images,
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
	la := &Agent{url: "http://" + ln.Addr().String(), token: cfg.Token, stop: cancel, exited: make(chan struct{})}
	go func() {
		la.err = a.Serve(actx, ln)
		if la.err != nil {
			log.Error("the local agent stopped", "url", la.url, "err", la.err)
		}
		close(la.exited)
	}()
	return la, nil
}

// URL is the local agent's address.
func (a *Agent) URL() string { return a.url }

// Token is the local agent's token.
func (a *Agent) Token() string { return a.token }

// Running reports whether the agent still serves.
func (a *Agent) Running() bool {
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

// Close stops the agent.
func (a *Agent) Close() error {
	a.stop()
	<-a.exited
	return a.err
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
