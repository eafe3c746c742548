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
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/clarateach/backend/internal/seat/terminal"
)

// Config is everything the daemon needs. Zero values mean the defaults below.
type Config struct {
	Listen string // unix:/path.sock | tcp:HOST:PORT
	Root   string // the learner's workspace; the shell starts here and the file API is confined to it
	Shell  string // shell to run in new sessions; default $SHELL, /bin/bash, /bin/sh

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
}

// Defaults.
const (
	DefaultListen       = "tcp:127.0.0.1:7681"
	DefaultRingSize     = 1 << 20
	DefaultIdleTimeout  = time.Hour
	DefaultPingInterval = 25 * time.Second
	DefaultStallTimeout = 30 * time.Second
	DefaultMaxFileSize  = 64 << 20
	DefaultMaxSessions  = 16
)

// ParseArgs parses the daemon's command line (without the program name):
//
//	--listen unix:/path.sock|tcp:HOST:PORT  --root DIR  --shell PATH
//	--ring-size BYTES --idle-timeout DUR --ping-interval DUR --stall-timeout DUR
//	--max-file-size BYTES --max-sessions N --memory-limit-mb N
//
// Flags may be written with one or two dashes.
func ParseArgs(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("workspace", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Listen, "listen", DefaultListen, "where to listen: unix:/path.sock, tcp:HOST:PORT or fd:N (an inherited listening socket)")
	fs.StringVar(&c.Root, "root", "", "workspace root directory (default: the current directory)")
	fs.StringVar(&c.Shell, "shell", "", "shell for terminal sessions (default $SHELL, /bin/bash, /bin/sh)")
	fs.IntVar(&c.RingSize, "ring-size", DefaultRingSize, "replay buffer per terminal session, bytes")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", DefaultIdleTimeout, "kill terminal sessions without clients after this long")
	fs.DurationVar(&c.PingInterval, "ping-interval", DefaultPingInterval, "WebSocket ping interval")
	fs.DurationVar(&c.StallTimeout, "stall-timeout", DefaultStallTimeout, "disconnect a terminal client that makes no progress for this long")
	fs.Int64Var(&c.MaxFileSize, "max-file-size", DefaultMaxFileSize, "largest file the file API accepts, bytes")
	fs.IntVar(&c.MaxSessions, "max-sessions", DefaultMaxSessions, "most terminal sessions at once")
	fs.IntVar(&c.MemoryLimitMB, "memory-limit-mb", 0, "soft Go heap limit in MiB (0 = default 24, negative = none)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
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
	if c.RingSize <= 0 {
		c.RingSize = DefaultRingSize
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.MaxFileSize <= 0 {
		c.MaxFileSize = DefaultMaxFileSize
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
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
