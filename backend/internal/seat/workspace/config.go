// Package workspace is the workspace daemon that runs inside every learner
// seat: one HTTP server (on a unix socket or a guest-private TCP address)
// serving terminal sessions (package terminal) and the confined file API
// (package files).
//
// The daemon does not authenticate anyone. It must only be reachable by the
// agent in front of it, which checks workspace tokens: it listens on a unix
// socket in the seat's state directory (sandbox and process runtimes) or on
// the microVM's private IP, which the host firewall only opens to the agent.
package workspace

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/clarateach/backend/internal/envflag"
	"github.com/clarateach/backend/internal/logging"
	"github.com/clarateach/backend/internal/seat/files"
	"github.com/clarateach/backend/internal/seat/terminal"
)

// Config is everything the daemon needs. Zero values mean the defaults below.
type Config struct {
	Listen string // unix:/path.sock | tcp:HOST:PORT
	Root   string // the learner's workspace; the shell starts here and the file API is confined to it
	Shell  string // shell to run in new sessions; default $SHELL, /bin/bash, /bin/sh
	// ShellLauncher, when set, starts every shell and exec script:
	// LAUNCHER SHELL ARGV0 ARGS... (the sandbox's seat launcher, which
	// makes them the learner's; terminal.Command).
	ShellLauncher string

	// ShellArgs replace the default login-shell invocation (argv[0] "-bash");
	// Env is added to the shells' environment. Not flags: for embedding and tests.
	ShellArgs []string
	Env       []string
	Clock     terminal.Clock // default real time (tests inject a fake)

	RingSize      int           // replay buffer per session (default 1 MiB)
	IdleTimeout   time.Duration // kill sessions with no client for this long (default 1 h)
	PingInterval  time.Duration // server pings on every WebSocket (default 25 s)
	StallTimeout  time.Duration // disconnect a client that makes no progress for this long (default 30 s)
	MaxFileSize   int64         // largest file the file API writes (default 64 MiB)
	MaxSessions   int           // terminal sessions per seat (default 16)
	MemoryLimitMB int           // soft Go memory limit (default 24 MiB; 0 = default, <0 = none)
	LogLevel      string        // debug | info (default) | warn | error
}

// DefaultListen is where the daemon listens without --listen. The other
// defaults live with what they bound: package terminal (ring size, idle,
// ping and stall timeouts, sessions) and package files (file size).
const DefaultListen = "tcp:127.0.0.1:7681"

// ParseArgs parses the daemon's command line (without the program name):
//
//	--listen unix:/path.sock|tcp:HOST:PORT  --root DIR  --shell PATH
//	--ring-size BYTES --idle-timeout DUR --ping-interval DUR --stall-timeout DUR
//	--max-file-size BYTES --max-sessions N --memory-limit-mb N --log-level LEVEL
//
// Flags may be written with one or two dashes. The daemon reads no
// environment variable: its environment is the learner's shell's.
func ParseArgs(args []string, stderr io.Writer) (Config, error) {
	var c Config
	s := envflag.New("workspace", nil, stderr)
	s.String(&c.Listen, "listen", nil, DefaultListen, "where to listen: unix:/path.sock, tcp:HOST:PORT or fd:N (an inherited listening socket)")
	s.String(&c.Root, "root", nil, "", "workspace root directory (default: the current directory)")
	s.String(&c.Shell, "shell", nil, "", "shell for terminal sessions (default $SHELL, /bin/bash, /bin/sh)")
	s.String(&c.ShellLauncher, "shell-launcher", nil, "", "start shells through this program, given the shell's path and argv (the sandbox's seat launcher)")
	s.Int(&c.RingSize, "ring-size", nil, terminal.DefaultRingSize, "replay buffer per terminal session, bytes")
	s.Duration(&c.IdleTimeout, "idle-timeout", nil, terminal.DefaultIdleTimeout, "kill terminal sessions without clients after this long")
	s.Duration(&c.PingInterval, "ping-interval", nil, terminal.DefaultPingInterval, "WebSocket ping interval")
	s.Duration(&c.StallTimeout, "stall-timeout", nil, terminal.DefaultStallTimeout, "disconnect a terminal client that makes no progress for this long")
	s.Int64(&c.MaxFileSize, "max-file-size", nil, files.DefaultMaxFileSize, "largest file the file API accepts, bytes")
	s.Int(&c.MaxSessions, "max-sessions", nil, terminal.DefaultMaxSessions, "most terminal sessions at once")
	s.Int(&c.MemoryLimitMB, "memory-limit-mb", nil, 0, "soft Go heap limit in MiB (0 = default 24, negative = none)")
	s.String(&c.LogLevel, "log-level", nil, "info", "debug | info | warn | error")
	if err := s.Parse(args); err != nil {
		return c, err
	}
	if _, err := logging.ParseLevel(c.LogLevel); err != nil {
		return c, fmt.Errorf("--log-level: %w", err)
	}
	return c, nil
}

// withDefaults fills zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return c, fmt.Errorf("workspace root: %w", err)
		}
		c.Root = wd
	}
	fi, err := os.Stat(c.Root)
	if err != nil {
		return c, fmt.Errorf("workspace root: %w", err)
	}
	if !fi.IsDir() {
		return c, fmt.Errorf("workspace root %s is not a directory", c.Root)
	}
	if c.Shell == "" {
		c.Shell = DefaultShell()
	}
	sh, err := exec.LookPath(c.Shell)
	if err != nil {
		return c, fmt.Errorf("shell: %w", err)
	}
	c.Shell = sh
	if c.ShellLauncher != "" {
		if c.ShellLauncher, err = exec.LookPath(c.ShellLauncher); err != nil {
			return c, fmt.Errorf("shell launcher: %w", err)
		}
	}
	if c.RingSize <= 0 {
		c.RingSize = terminal.DefaultRingSize
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = terminal.DefaultIdleTimeout
	}
	if c.PingInterval <= 0 {
		c.PingInterval = terminal.DefaultPingInterval
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = terminal.DefaultStallTimeout
	}
	if c.MaxFileSize <= 0 {
		c.MaxFileSize = files.DefaultMaxFileSize
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = terminal.DefaultMaxSessions
	}
	if c.MemoryLimitMB == 0 {
		c.MemoryLimitMB = 24
	}
	return c, nil
}

// DefaultShell is $SHELL if it is executable, else /bin/bash, else /bin/sh.
func DefaultShell() string {
	for _, s := range []string{os.Getenv("SHELL"), "/bin/bash", "/bin/sh"} {
		if s == "" {
			continue
		}
		if fi, err := os.Stat(s); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return s
		}
	}
	return "/bin/sh"
}
