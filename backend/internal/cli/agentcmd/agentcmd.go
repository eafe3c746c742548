// Package agentcmd is the agent command (`agent`, built from cmd/agent, and
// `clarateach agent`): it binds the flags and environment, reads the host's
// secrets (from the environment or GCE instance metadata), picks and builds
// the seat runtime and hands all of it to host/agent, which is the HTTP agent
// itself. Set-up runs in named steps; what a failed step leaves behind is
// undone by a cleanup stack, newest first.
package agentcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/logging"
)

// MainOptions lets another command (`clarateach agent`) reuse Main with its
// own defaults.
type MainOptions struct {
	// DaemonCommand is the default workspace daemon command when
	// --daemon-path is not given, e.g. [os.Executable(), "workspace"] for
	// the single clarateach binary.
	DaemonCommand []string
	// Stderr receives logs and usage (default os.Stderr).
	Stderr io.Writer
	// Getenv reads the environment (default os.Getenv).
	Getenv func(string) string
	// OnGCE reports whether this machine is a GCE VM (default: DMI product name).
	OnGCE func() bool
}

// Main is the whole agent command: it parses args (without the program name)
// and the environment, runs until SIGINT/SIGTERM and returns the exit code.
// cmd/agent and the `clarateach agent` subcommand both call it.
func Main(args []string, mo MainOptions) int {
	if mo.Stderr == nil {
		mo.Stderr = os.Stderr
	}
	o, err := parseArgs(args, mo.Getenv, mo.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(mo.Stderr, "agent:", err)
		return 2
	}
	level, _ := logging.ParseLevel(o.LogLevel) // checked by parseArgs
	log := logging.New(mo.Stderr, level)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := build(ctx, o, mo, log)
	if err != nil {
		fmt.Fprintln(mo.Stderr, "agent:", err)
		return 1
	}
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(mo.Stderr, "agent:", err)
		return 1
	}
	log.Info("agent stopped; seats keep running")
	return 0
}

// cleanups is a stack of what a failed set-up must undo.
type cleanups []func()

// push adds an undo step.
func (c *cleanups) push(f func()) { *c = append(*c, f) }

// run undoes every step, newest first.
func (c cleanups) run() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

// build turns parsed options into a ready Agent, in named steps: the
// secrets, the paths, the seat runtime, the listen address, the image
// cache, then the agent. Once the agent exists it owns the runtime (Serve
// closes it); before, a failed step closes it here.
func build(ctx context.Context, o *options, mo MainOptions, log *slog.Logger) (a *agent.Agent, err error) {
	var undo cleanups
	defer func() {
		if err != nil {
			undo.run()
		}
	}()
	cfg, err := configure(ctx, o, mo, log, &undo)
	if err != nil {
		return nil, err
	}
	return agent.New(cfg)
}

// configure runs every set-up step but the agent's own and returns the
// agent's Config; undo receives what must be undone if a later step fails.
func configure(ctx context.Context, o *options, mo MainOptions, log *slog.Logger, undo *cleanups) (agent.Config, error) {
	sec, err := readSecrets(ctx, o, mo, log)
	if err != nil {
		return agent.Config{}, err
	}
	stateDir := o.StateDir
	if stateDir == "" {
		stateDir = defaultStateDir()
	}
	rt, name, err := newRuntime(o, mo, stateDir, log, undo)
	if err != nil {
		return agent.Config{}, err
	}
	images, err := agent.ImageCache(name, stateDir, log)
	if err != nil {
		return agent.Config{}, err
	}
	return agent.Config{
		Images:          images,
		MetadataURL:     o.MetadataURL,
		Listen:          listenAddress(o, name, log),
		Token:           sec.token,
		TLSCert:         sec.tlsCert,
		TLSKey:          sec.tlsKey,
		StateDir:        stateDir,
		Runtime:         rt,
		Capacity:        o.Capacity,
		AllowedOrigins:  o.AllowedOrigins,
		WorkspaceKey:    sec.workspaceKey,
		WorkspaceSecret: sec.workspaceSecret,
		Logger:          log,
	}, nil
}

// chooseRuntime is agent.ChooseRuntime, replaceable in tests.
var chooseRuntime = agent.ChooseRuntime

// newRuntime finds the workspace daemon and builds the seat runtime
// (o.Runtime, or the best this machine can run), pushing its Close (which
// removes warm seats) onto undo. It returns the runtime and its name.
func newRuntime(o *options, mo MainOptions, stateDir string, log *slog.Logger, undo *cleanups) (seatruntime.Runtime, string, error) {
	daemon, err := daemonCommand(o.DaemonPath, mo.DaemonCommand)
	if err != nil && o.Runtime != "firecracker" {
		return nil, "", err
	}
	rt, name, err := chooseRuntime(o.Runtime, agent.RuntimeOptions{
		StateDir:      stateDir,
		SeatsDir:      o.SeatsDir,
		DaemonCommand: daemon,
		Shell:         o.Shell,
		Capacity:      o.Capacity,
		WarmSeats:     o.WarmSeats,
		NoNetwork:     o.SeatNetwork == "off",
		DiskMB:        o.SeatDiskMB,
		OrphanTimeout: o.SeatOrphanTimeout,
		Logger:        log,
		Firecracker:   o.Firecracker,
	})
	if err != nil {
		return nil, "", err
	}
	if c, ok := rt.(io.Closer); ok {
		undo.push(func() {
			if err := c.Close(); err != nil {
				log.Warn("close runtime", "err", err)
			}
		})
	}
	log.Info("seat runtime chosen", "runtime", name)
	return rt, name, nil
}

// listenAddress is --listen, except that the process runtime, which does
// not isolate seats, moves a default (not explicitly given) address to
// loopback.
func listenAddress(o *options, runtimeName string, log *slog.Logger) string {
	listen := o.Listen
	if runtimeName != "process" || o.listenSet || agent.IsLoopback(listen) {
		return listen
	}
	if _, port, err := net.SplitHostPort(listen); err == nil {
		listen = net.JoinHostPort("127.0.0.1", port)
		log.Warn("the process runtime is served on loopback only", "listen", listen)
	}
	return listen
}
