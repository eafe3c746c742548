package agentcmd

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/envflag"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/seatruntime/firecracker"
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox"
	"github.com/clarateach/backend/internal/logging"
)

// options are the agent command's parsed flags and environment.
type options struct {
	Listen         string
	Token          string
	StateDir       string
	Runtime        string // sandbox | firecracker | process | "" (best available)
	Capacity       int
	WarmSeats      int
	AllowedOrigins []string
	DaemonPath     string
	Shell          string
	SeatsDir       string
	SeatNetwork    string // on | off (sandbox seats: veth + NAT, or loopback only)
	SeatDiskMB     int    // sandbox seats' home size when a request sets none; -1: no limit
	// SeatOrphanTimeout ends a sandbox seat whose agent has been gone that
	// long (0 = never).
	SeatOrphanTimeout time.Duration
	Metadata          string // auto | on | off
	MetadataURL       string
	LogLevel          string

	// Firecracker is where the firecracker runtime finds its kernel,
	// root file system and binary (FC_KERNEL, FC_ROOTFS, FC_BINARY,
	// FC_STATE_DIR, FC_LOG_DIR, as in deploy/clarateach-agent.service).
	Firecracker agent.FirecrackerPaths

	// TLSCertFile and TLSKeyFile are PEM files of the host's TLS key pair
	// (--tls-cert/--tls-key, AGENT_TLS_CERT/AGENT_TLS_KEY).
	TLSCertFile string
	TLSKeyFile  string

	WorkspaceKeyHex string // WORKSPACE_KEY
	WorkspaceSecret string // WORKSPACE_TOKEN_SECRET

	listenSet bool // --listen or AGENT_LISTEN given explicitly
}

const usageText = `Usage: agent [flags]

The ClaraTeach workshop host agent: creates learner seats and proxies their
terminals and files. Seats survive agent restarts (state in --state-dir).

Environment (flags win): AGENT_LISTEN, AGENT_TOKEN (or FC_AGENT_TOKEN),
AGENT_STATE_DIR, AGENT_RUNTIME, AGENT_CAPACITY, AGENT_WARM_SEATS,
AGENT_ALLOWED_ORIGINS (or CORS_ORIGINS), AGENT_DAEMON_PATH, AGENT_SEATS_DIR,
AGENT_SEAT_NETWORK, AGENT_SEAT_DISK_MB, AGENT_SEAT_ORPHAN_TIMEOUT, AGENT_SHELL,
AGENT_METADATA, AGENT_METADATA_URL, AGENT_LOG_LEVEL (or LOG_LEVEL),
AGENT_TLS_CERT and AGENT_TLS_KEY (PEM files of this host's TLS certificate
and key),
FC_KERNEL, FC_ROOTFS, FC_BINARY, FC_STATE_DIR, FC_LOG_DIR (firecracker),
WORKSPACE_KEY (hex key of this host's workshop) or WORKSPACE_TOKEN_SECRET
(local mode: one key per workshop is derived from it).

On GCE (or with --metadata on) the agent token, the workspace key and the TLS
key pair are read from the instance metadata attributes agent-token,
workspace-key, agent-tls-cert and agent-tls-key when no flag or environment
variable sets them. The control plane makes that key pair for this host and
pins its certificate.

An empty agent token (dev mode), and plain HTTP (no TLS key pair), are
accepted only on a loopback --listen.

Flags:
`

// parseArgs parses the agent's command line (without the program name) and
// environment (getenv; nil = os.Getenv): flags win over the variables,
// which win over the defaults.
func parseArgs(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	o := &options{}
	s := envflag.New("agent", getenv, stderr)
	fs := s.FlagSet()
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	var origins string
	bindOptions(s, o, &origins)
	if err := s.Parse(args); err != nil {
		return nil, err
	}
	o.listenSet = s.Given("listen")
	o.Token = strings.TrimSpace(o.Token)
	o.AllowedOrigins = envflag.SplitList(origins)
	o.WorkspaceKeyHex = strings.TrimSpace(o.WorkspaceKeyHex)
	if o.Capacity <= 0 {
		return nil, fmt.Errorf("--capacity (AGENT_CAPACITY) must be positive, not %d", o.Capacity)
	}
	if !s.Given("warm-seats") {
		o.WarmSeats = min(o.Capacity, agent.DefaultMaxWarmSeats)
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	return o, nil
}

// Vars lists every environment variable the agent reads (for the test that
// keeps .env.example true).
func Vars() []string {
	s := envflag.New("agent", nil, nil)
	var origins string
	bindOptions(s, &options{}, &origins)
	return s.Vars()
}

// bindOptions declares every setting of the agent: its field, flag,
// variables and default.
func bindOptions(s *envflag.Set, o *options, origins *string) {
	E := envflag.Env
	s.String(&o.Listen, "listen", E("AGENT_LISTEN"), agent.DefaultListen, "address to serve on (host:port)")
	s.String(&o.Token, "token", E("AGENT_TOKEN", "FC_AGENT_TOKEN"), "", "agent token required on control routes (prefer the variable: flags are visible in ps)")
	s.String(&o.StateDir, "state-dir", E("AGENT_STATE_DIR"), "", "state directory (default "+agent.DefaultStateDir+" as root, else ~/.local/state/clarateach/agent)")
	s.String(&o.Runtime, "runtime", E("AGENT_RUNTIME"), "", "seat runtime: sandbox | firecracker | process (default: sandbox on Linux; process, unisolated, only by name or where namespaces cannot work)")
	s.Int(&o.Capacity, "capacity", E("AGENT_CAPACITY"), agent.DefaultCapacity, "most seats on this host")
	s.Int(&o.WarmSeats, "warm-seats", E("AGENT_WARM_SEATS"), 0, fmt.Sprintf("sandbox seats kept started ahead of demand, so that creating a seat is a claim instead of a start; each costs an idle seat's few MiB (default: the capacity, at most %d; 0 = none)", agent.DefaultMaxWarmSeats))
	s.String(origins, "allowed-origins", E("AGENT_ALLOWED_ORIGINS", "CORS_ORIGINS"), "", "comma-separated browser origins allowed on /proxy (\"*\" = any)")
	s.String(&o.DaemonPath, "daemon-path", E("AGENT_DAEMON_PATH"), "", "workspace daemon binary (default: "+agent.DaemonBinaryName+" next to this executable, else in PATH)")
	s.String(&o.SeatsDir, "seats-dir", E("AGENT_SEATS_DIR"), "", "seat directories (default: <state-dir>/../seats for sandbox, <state-dir>/process for process)")
	s.String(&o.SeatNetwork, "seat-network", E("AGENT_SEAT_NETWORK"), "on", "sandbox seats' network: on (own namespace with NAT egress; installs host firewall rules) | off (loopback only)")
	s.Int(&o.SeatDiskMB, "seat-disk-mb", E("AGENT_SEAT_DISK_MB"), sandbox.DefaultDiskMB, "size of a sandbox seat's home in MiB when the request sets none (the workshop's disk_mb does); -1 = no limit, the home on the host's disk")
	s.Duration(&o.SeatOrphanTimeout, "seat-orphan-timeout", E("AGENT_SEAT_ORPHAN_TIMEOUT"), agent.DefaultSeatOrphanTimeout, "a sandbox seat whose agent has been gone this long ends by itself, keeping its home (0 = never)")
	s.String(&o.Shell, "shell", E("AGENT_SHELL"), "", "learner shell inside seats (default: the daemon's)")
	s.String(&o.Metadata, "metadata", E("AGENT_METADATA"), "auto", "read secrets from GCE instance metadata: auto | on | off (auto: on when running on GCE)")
	s.String(&o.MetadataURL, "metadata-url", E("AGENT_METADATA_URL"), agent.DefaultMetadataURL, "metadata server base URL")
	s.String(&o.LogLevel, "log-level", E("AGENT_LOG_LEVEL", "LOG_LEVEL"), "info", "debug | info | warn | error")
	s.String(&o.TLSCertFile, "tls-cert", E("AGENT_TLS_CERT"), "", "PEM file of this host's TLS certificate (default on GCE: metadata agent-tls-cert); required unless --listen is loopback")
	s.String(&o.TLSKeyFile, "tls-key", E("AGENT_TLS_KEY"), "", "PEM file of that certificate's private key (default on GCE: metadata agent-tls-key)")
	s.String(&o.WorkspaceKeyHex, "", E("WORKSPACE_KEY"), "", "hex key of this host's workshop")
	s.String(&o.WorkspaceSecret, "", E("WORKSPACE_TOKEN_SECRET"), "", "local mode: the root of the per-workshop keys")
	bindFirecracker(s, &o.Firecracker)
}

// bindFirecracker declares the FC_* settings (variables only).
func bindFirecracker(s *envflag.Set, p *agent.FirecrackerPaths) {
	E := envflag.Env
	s.String(&p.Kernel, "", E("FC_KERNEL"), "/var/lib/clarateach/images/vmlinux", "microVM kernel")
	s.String(&p.RootFS, "", E("FC_ROOTFS"), "/var/lib/clarateach/images/rootfs.ext4", "microVM base image")
	s.String(&p.Binary, "", E("FC_BINARY"), "firecracker", "firecracker executable")
	s.String(&p.StateDir, "", E("FC_STATE_DIR"), firecracker.DefaultStateDir, "microVMs' state")
	s.String(&p.LogDir, "", E("FC_LOG_DIR"), firecracker.DefaultLogDir, "microVMs' logs")
}

// check range-checks the parsed options.
func (o *options) check() error {
	if o.WarmSeats < 0 || o.WarmSeats > o.Capacity {
		return fmt.Errorf("--warm-seats must be between 0 and --capacity (%d), not %d", o.Capacity, o.WarmSeats)
	}
	if o.SeatOrphanTimeout < 0 || (o.SeatOrphanTimeout > 0 && o.SeatOrphanTimeout < agent.MinSeatOrphanTimeout) {
		return fmt.Errorf("--seat-orphan-timeout must be 0 (never) or at least %s, not %s", agent.MinSeatOrphanTimeout, o.SeatOrphanTimeout)
	}
	if o.SeatDiskMB != -1 && o.SeatDiskMB < agent.MinDiskMB {
		return fmt.Errorf("--seat-disk-mb must be -1 (no limit) or at least %d, not %d", agent.MinDiskMB, o.SeatDiskMB)
	}
	switch o.Metadata {
	case "auto", "on", "off":
	default:
		return fmt.Errorf("--metadata must be auto, on or off, not %q", o.Metadata)
	}
	switch o.SeatNetwork {
	case "on", "off":
	default:
		return fmt.Errorf("--seat-network must be on or off, not %q", o.SeatNetwork)
	}
	switch o.Runtime {
	case "", "sandbox", "firecracker", "process":
	default:
		return fmt.Errorf("--runtime must be sandbox, firecracker or process, not %q", o.Runtime)
	}
	if _, err := logging.ParseLevel(o.LogLevel); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	return nil
}
