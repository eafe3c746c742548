package agent

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/clarateach/backend/internal/envflag"
	"github.com/clarateach/backend/internal/host/imagecache"
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox"
	"github.com/clarateach/backend/internal/logging"
)

// DefaultMetadataURL is the GCE metadata server's base URL.
const DefaultMetadataURL = "http://metadata.google.internal/computeMetadata/v1"

// DaemonBinaryName is the workspace daemon's file name, looked up next to the
// agent's executable and then in PATH.
const DaemonBinaryName = "clarateach-workspace"

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

// Options are the agent command's parsed flags and environment.
type Options struct {
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
	Firecracker FirecrackerPaths

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

// ParseArgs parses the agent's command line (without the program name) and
// environment (getenv; nil = os.Getenv): flags win over the variables,
// which win over the defaults.
func ParseArgs(args []string, getenv func(string) string, stderr io.Writer) (*Options, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	o := &Options{}
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
		o.WarmSeats = min(o.Capacity, DefaultMaxWarmSeats)
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
	bindOptions(s, &Options{}, &origins)
	return s.Vars()
}

// bindOptions declares every setting of the agent: its field, flag,
// variables and default.
func bindOptions(s *envflag.Set, o *Options, origins *string) {
	E := envflag.Env
	s.String(&o.Listen, "listen", E("AGENT_LISTEN"), DefaultListen, "address to serve on (host:port)")
	s.String(&o.Token, "token", E("AGENT_TOKEN", "FC_AGENT_TOKEN"), "", "agent token required on control routes (prefer the variable: flags are visible in ps)")
	s.String(&o.StateDir, "state-dir", E("AGENT_STATE_DIR"), "", "state directory (default "+DefaultStateDir+" as root, else ~/.local/state/clarateach/agent)")
	s.String(&o.Runtime, "runtime", E("AGENT_RUNTIME"), "", "seat runtime: sandbox | firecracker | process (default: sandbox on Linux; process, unisolated, only by name or where namespaces cannot work)")
	s.Int(&o.Capacity, "capacity", E("AGENT_CAPACITY"), DefaultCapacity, "most seats on this host")
	s.Int(&o.WarmSeats, "warm-seats", E("AGENT_WARM_SEATS"), 0, fmt.Sprintf("sandbox seats kept started ahead of demand, so that creating a seat is a claim instead of a start; each costs an idle seat's few MiB (default: the capacity, at most %d; 0 = none)", DefaultMaxWarmSeats))
	s.String(origins, "allowed-origins", E("AGENT_ALLOWED_ORIGINS", "CORS_ORIGINS"), "", "comma-separated browser origins allowed on /proxy (\"*\" = any)")
	s.String(&o.DaemonPath, "daemon-path", E("AGENT_DAEMON_PATH"), "", "workspace daemon binary (default: "+DaemonBinaryName+" next to this executable, else in PATH)")
	s.String(&o.SeatsDir, "seats-dir", E("AGENT_SEATS_DIR"), "", "seat directories (default: <state-dir>/../seats for sandbox, <state-dir>/process for process)")
	s.String(&o.SeatNetwork, "seat-network", E("AGENT_SEAT_NETWORK"), "on", "sandbox seats' network: on (own namespace with NAT egress; installs host firewall rules) | off (loopback only)")
	s.Int(&o.SeatDiskMB, "seat-disk-mb", E("AGENT_SEAT_DISK_MB"), sandbox.DefaultDiskMB, "size of a sandbox seat's home in MiB when the request sets none (the workshop's disk_mb does); -1 = no limit, the home on the host's disk")
	s.Duration(&o.SeatOrphanTimeout, "seat-orphan-timeout", E("AGENT_SEAT_ORPHAN_TIMEOUT"), DefaultSeatOrphanTimeout, "a sandbox seat whose agent has been gone this long ends by itself, keeping its home (0 = never)")
	s.String(&o.Shell, "shell", E("AGENT_SHELL"), "", "learner shell inside seats (default: the daemon's)")
	s.String(&o.Metadata, "metadata", E("AGENT_METADATA"), "auto", "read secrets from GCE instance metadata: auto | on | off (auto: on when running on GCE)")
	s.String(&o.MetadataURL, "metadata-url", E("AGENT_METADATA_URL"), DefaultMetadataURL, "metadata server base URL")
	s.String(&o.LogLevel, "log-level", E("AGENT_LOG_LEVEL", "LOG_LEVEL"), "info", "debug | info | warn | error")
	s.String(&o.TLSCertFile, "tls-cert", E("AGENT_TLS_CERT"), "", "PEM file of this host's TLS certificate (default on GCE: metadata agent-tls-cert); required unless --listen is loopback")
	s.String(&o.TLSKeyFile, "tls-key", E("AGENT_TLS_KEY"), "", "PEM file of that certificate's private key (default on GCE: metadata agent-tls-key)")
	s.String(&o.WorkspaceKeyHex, "", E("WORKSPACE_KEY"), "", "hex key of this host's workshop")
	s.String(&o.WorkspaceSecret, "", E("WORKSPACE_TOKEN_SECRET"), "", "local mode: the root of the per-workshop keys")
	bindFirecracker(s, &o.Firecracker)
}

// check range-checks the parsed options.
func (o *Options) check() error {
	if o.WarmSeats < 0 || o.WarmSeats > o.Capacity {
		return fmt.Errorf("--warm-seats must be between 0 and --capacity (%d), not %d", o.Capacity, o.WarmSeats)
	}
	if o.SeatOrphanTimeout < 0 || (o.SeatOrphanTimeout > 0 && o.SeatOrphanTimeout < MinSeatOrphanTimeout) {
		return fmt.Errorf("--seat-orphan-timeout must be 0 (never) or at least %s, not %s", MinSeatOrphanTimeout, o.SeatOrphanTimeout)
	}
	if o.SeatDiskMB != -1 && o.SeatDiskMB < MinDiskMB {
		return fmt.Errorf("--seat-disk-mb must be -1 (no limit) or at least %d, not %d", MinDiskMB, o.SeatDiskMB)
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

// Main is the whole agent command: it parses args (without the program name)
// and the environment, runs until SIGINT/SIGTERM and returns the exit code.
// cmd/agent and the `clarateach agent` subcommand both call it.
func Main(args []string, mo MainOptions) int {
	if mo.Stderr == nil {
		mo.Stderr = os.Stderr
	}
	o, err := ParseArgs(args, mo.Getenv, mo.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(mo.Stderr, "agent:", err)
		return 2
	}
	level, _ := logging.ParseLevel(o.LogLevel) // checked by ParseArgs
	log := logging.New(mo.Stderr, level)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := Build(ctx, o, mo, log)
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

// Build turns parsed options into a ready Agent: it resolves secrets
// (flags, environment, GCE metadata), picks and builds the seat runtime and
// reattaches to the seats in the state directory.
func Build(ctx context.Context, o *Options, mo MainOptions, log *slog.Logger) (*Agent, error) {
	if mo.OnGCE == nil {
		mo.OnGCE = onGCE
	}
	useMetadata := o.Metadata == "on" || (o.Metadata == "auto" && mo.OnGCE())
	md := &metadataClient{base: strings.TrimRight(o.MetadataURL, "/"), hc: &http.Client{Timeout: 5 * time.Second}}

	tok := o.Token
	if tok == "" && useMetadata {
		v, err := md.attribute(ctx, "agent-token")
		if err != nil {
			return nil, fmt.Errorf("read agent token from instance metadata: %w", err)
		}
		tok = strings.TrimSpace(v)
		if tok != "" {
			log.Info("agent token read from instance metadata")
		}
	}
	var key, secret []byte
	keyHex := o.WorkspaceKeyHex
	if keyHex == "" && useMetadata {
		v, err := md.attribute(ctx, "workspace-key")
		if err != nil {
			return nil, fmt.Errorf("read workspace key from instance metadata: %w", err)
		}
		keyHex = strings.TrimSpace(v)
	}
	if keyHex != "" {
		k, err := hex.DecodeString(keyHex)
		if err != nil || len(k) < 16 {
			return nil, errors.New("the workspace key (WORKSPACE_KEY or metadata workspace-key) must be at least 16 bytes, hex-encoded")
		}
		key = k
	} else if o.WorkspaceSecret != "" {
		secret = []byte(o.WorkspaceSecret)
	}

	tlsCert, tlsKey, err := tlsKeyPair(ctx, o, md, useMetadata, log)
	if err != nil {
		return nil, err
	}

	stateDir := o.StateDir
	if stateDir == "" {
		stateDir = defaultStateDir()
	}
	listen := o.Listen
	daemon, err := daemonCommand(o.DaemonPath, mo.DaemonCommand)
	if err != nil && o.Runtime != "firecracker" {
		return nil, err
	}
	ropts := RuntimeOptions{
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
	}
	rt, name, err := ChooseRuntime(o.Runtime, ropts)
	if err != nil {
		return nil, err
	}
	log.Info("seat runtime chosen", "runtime", name)
	if name == "process" && !o.listenSet && !IsLoopback(listen) {
		if _, port, err := net.SplitHostPort(listen); err == nil {
			listen = net.JoinHostPort("127.0.0.1", port)
			log.Warn("the process runtime is served on loopback only", "listen", listen)
		}
	}
	images, err := imageCache(name, stateDir, log)
	if err != nil {
		return nil, err
	}
	return New(Config{
		Images:          images,
		MetadataURL:     o.MetadataURL,
		Listen:          listen,
		Token:           tok,
		TLSCert:         tlsCert,
		TLSKey:          tlsKey,
		StateDir:        stateDir,
		Runtime:         rt,
		Capacity:        o.Capacity,
		AllowedOrigins:  o.AllowedOrigins,
		WorkspaceKey:    key,
		WorkspaceSecret: secret,
		Logger:          log,
	})
}

// imageCache is the host's image cache (<state>/images) for a runtime
// that runs seats on images: the sandbox, as root.
func imageCache(runtimeName, stateDir string, log *slog.Logger) (*imagecache.Cache, error) {
	if runtimeName != "sandbox" || os.Geteuid() != 0 {
		return nil, nil
	}
	c, err := imagecache.New(imagecache.Config{Dir: filepath.Join(stateDir, "images"), Logger: log})
	if err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	return c, nil
}

func defaultStateDir() string {
	if os.Geteuid() == 0 {
		return DefaultStateDir
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "clarateach", "agent")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "clarateach", "agent")
	}
	return filepath.Join(os.TempDir(), "clarateach-agent")
}

// daemonCommand finds the workspace daemon: --daemon-path, else the
// caller's default, else clarateach-workspace next to this executable, else
// in PATH.
func daemonCommand(path string, def []string) ([]string, error) {
	if path != "" {
		p, err := exec.LookPath(path)
		if err != nil {
			return nil, fmt.Errorf("--daemon-path %s: %w", path, err)
		}
		// Seats start in their own directories: a relative path would
		// not resolve there.
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		return []string{p}, nil
	}
	if len(def) > 0 {
		return def, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), DaemonBinaryName)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return []string{p}, nil
		}
	}
	if p, err := exec.LookPath(DaemonBinaryName); err == nil {
		return []string{p}, nil
	}
	return nil, fmt.Errorf("cannot find the workspace daemon %q next to the agent or in PATH: build it (go build -o %s ./cmd/workspace/) or pass --daemon-path",
		DaemonBinaryName, DaemonBinaryName)
}

// onGCE reports whether this is a Google Compute Engine VM, from the DMI
// product name (no network access).
func onGCE() bool {
	if runtime.GOOS != "linux" {
		return false
	}
	b, err := os.ReadFile("/sys/class/dmi/id/product_name")
	return err == nil && strings.Contains(string(b), "Google")
}

// metadataClient reads instance attributes from the GCE metadata server.
type metadataClient struct {
	base string
	hc   *http.Client
}

// attribute returns instance attribute name, or "" if it is not set.
func (m *metadataClient) attribute(ctx context.Context, name string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base+"/instance/attributes/"+name, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Metadata-Flavor", "Google")
	resp, err := m.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return "", nil
	default:
		return "", fmt.Errorf("metadata %s: HTTP %d", name, resp.StatusCode)
	}
	if resp.Header.Get("Metadata-Flavor") != "Google" {
		return "", fmt.Errorf("metadata %s: answer lacks Metadata-Flavor: Google", name)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("metadata %s: %w", name, err)
	}
	return string(b), nil
}

// ErrRuntimeUnavailable is returned for a runtime this build or machine
// cannot run.
var ErrRuntimeUnavailable = errors.New("runtime not available")
