// Package config is ClaraTeach's one configuration loader. Precedence, from
// strongest to weakest: command-line flags, the process environment, a .env
// file in the project root, Secret Manager (for secrets, when GCP_PROJECT is
// set), generated local secrets (local mode only), defaults.
package config

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/envflag"
	"github.com/clarateach/backend/internal/host/agentapi"
	"github.com/clarateach/backend/internal/logging"
)

// Provisioner names.
const (
	ProvisionerLocal = "local"
	ProvisionerGCP   = "gcp"
)

// Config is the control plane's configuration.
type Config struct {
	Port      int    // PORT, default 8080
	Listen    string // LISTEN host:port; default "127.0.0.1:PORT" locally, ":PORT" on GCP
	PublicURL string // PUBLIC_URL: the URL browsers use; default http://localhost:PORT
	DataDir   string // DATA_DIR: local mode state (SQLite file, generated secrets); default ./data

	DatabaseURL string // DATABASE_URL; local default sqlite:DATA_DIR/clarateach.db

	Provisioner string // PROVISIONER: local | gcp; default gcp when GCP_PROJECT is set, else local

	GCPProject            string
	GCPZone               string
	SnapshotName          string // FC_SNAPSHOT_NAME
	UseSpot               bool   // GCP_USE_SPOT
	MachineType           string // GCP_MACHINE_TYPE; default sized for the seats
	ComputeEndpoint       string // GCP_COMPUTE_ENDPOINT (emulators, tests; no auth)
	SecretManagerEndpoint string // GCP_SECRETMANAGER_ENDPOINT

	AgentToken           string // FC_AGENT_TOKEN: token for the local agent / static agents
	WorkspaceTokenSecret string // WORKSPACE_TOKEN_SECRET
	JWTSecret            string // JWT_SECRET: signs instructor sessions
	InternalToken        string // INTERNAL_TOKEN: bearer for POST /internal/reconcile (default: FC_AGENT_TOKEN)
	// MetricsToken is the bearer a Prometheus scraper presents on GET
	// /metrics (METRICS_TOKEN); empty = the metrics are not served.
	MetricsToken string

	CORSOrigins []string // CORS_ORIGINS, comma separated; empty = same origin only

	// PreviewDomain is the wildcard domain learners' web apps are served
	// from, each at {port}-{seat}-{workshop}.PREVIEW_DOMAIN (a learner's
	// app is untrusted content: never on PUBLIC_URL's origin). Default
	// "localhost" in local mode, "" (previews off) otherwise; "off" turns
	// them off.
	PreviewDomain string
	// PreviewListen is the preview listener's host:port (PREVIEW_LISTEN):
	// default LISTEN's host and port + 1 in local mode (127.0.0.1:8081); "" = previews are served on
	// the main listener to requests for a host under PreviewDomain (Cloud
	// Run: one port, a load balancer with a wildcard certificate in front).
	PreviewListen string
	// PreviewListenDefaulted: PreviewListen is local mode's default (the
	// main listener's port + 1), not a setting; when that port is taken
	// the server runs without previews rather than not at all.
	PreviewListenDefaulted bool
	// PreviewPort is the port preview URLs name: PreviewListen's in local
	// mode, "" otherwise (https on 443).
	PreviewPort string

	MaxSeats int // MAX_SEATS, default 30
	// SeatsPerHost is how many seats one workshop host holds
	// (SEATS_PER_HOST, default 30: the seed's machine type); a workshop
	// of N seats runs on ceil(N / SeatsPerHost) hosts.
	SeatsPerHost int
	// LocalHosts is how many agents local mode runs (LOCAL_HOSTS, default
	// 1), each a separate workshop host: with more than one, a local
	// workshop spans ceil(seats / SeatsPerHost) of them as on GCP; with
	// one, every seat of a workshop is on it (as many as it holds).
	LocalHosts     int
	WorkspaceTTL   time.Duration // WORKSPACE_TOKEN_TTL, default 15m
	SessionTTL     time.Duration // SESSION_TTL, default 7 days
	TrustProxyHops int           // TRUST_PROXY_HOPS: X-Forwarded-For entries added by trusted proxies

	AdminEmail    string // ADMIN_EMAIL
	AdminPassword string // ADMIN_PASSWORD

	// Signup is who may create instructor accounts (SIGNUP): closed
	// (default), invite or open; see the Signup* constants.
	Signup string
	// InviteTTL is how long an invite link stays usable (INVITE_TTL,
	// default 72h).
	InviteTTL time.Duration
	// Quota is every instructor's default quota (QUOTA_RUNNING_WORKSHOPS,
	// QUOTA_SEATS, QUOTA_WORKSHOP_HOURS); admins change it per instructor.
	Quota Quota

	// Local provisioner.
	AgentRuntime string // AGENT_RUNTIME: sandbox | process | "" (best available)
	DaemonPath   string // WORKSPACE_DAEMON: path of the workspace daemon binary
	// SeatNetwork gives local sandbox seats NAT egress (SEAT_NETWORK,
	// default true; off = loopback only, and no host firewall rules).
	SeatNetwork bool
	// WarmSeats keeps that many local sandbox seats started ahead of
	// demand (WARM_SEATS, default 0), so a workshop's seats are claimed
	// rather than started.
	WarmSeats int
	// SeatDiskMB is the local sandbox seats' home size when a request
	// gives none (SEAT_DISK_MB, default 0: 2048); -1 turns the seats' disk
	// limit off, for machines without loop devices.
	SeatDiskMB int
	// SeatOrphanTimeout ends a local sandbox seat whose control plane has
	// been gone that long (SEAT_ORPHAN_TIMEOUT, default 24h; 0 = never).
	SeatOrphanTimeout time.Duration

	// Archive is where learners' homes are saved (ARCHIVE_*).
	Archive ArchiveConfig

	// ReconcileInterval is how often the reconciler loop runs.
	ReconcileInterval time.Duration // RECONCILE_INTERVAL, default 2s

	// LogLevel is LOG_LEVEL: debug, info (default), warn or error.
	LogLevel string

	// Sources records where each secret came from (never the value).
	Sources map[string]string
}

// Sign-up modes.
const (
	// SignupClosed: accounts come only from admins: the CLI, or an invite
	// made out to one email address.
	SignupClosed = "closed"
	// SignupInvite: as closed, and admins may also make invite links for
	// anyone who holds them (single use, expiring).
	SignupInvite = "invite"
	// SignupOpen: anyone may create an instructor account.
	SignupOpen = "open"
)

// Quota is an instructor's limits: workshops desired running at once, seats
// across them, and hours one started workshop may run.
type Quota struct {
	RunningWorkshops int
	Seats            int
	WorkshopHours    int
}

// DefaultQuota is the default instructor quota: sized for a small team on
// one host of about 30 seats per workshop (two full workshops at once, each
// at most a working day).
var DefaultQuota = Quota{RunningWorkshops: 2, Seats: 60, WorkshopHours: 8}

// DefaultInviteTTL is how long an invite link stays usable by default.
const DefaultInviteTTL = 72 * time.Hour

// Local reports whether the configuration is local (single machine) mode.
func (c *Config) Local() bool { return c.Provisioner == ProvisionerLocal }

// Limits of multi-host workshops.
const (
	// MaxSeatsLimit is the most MAX_SEATS may be: the highest seat
	// number an agent takes.
	MaxSeatsLimit = agentapi.MaxSeatID
	// MaxSeatsPerHost is the most SEATS_PER_HOST may be: what the seat
	// runtimes number on one host.
	MaxSeatsPerHost = 240
	// MaxHostsPerWorkshop bounds ceil(MAX_SEATS / SEATS_PER_HOST).
	MaxHostsPerWorkshop = 64
)

// validateHosts checks MAX_SEATS and SEATS_PER_HOST.
func (c *Config) validateHosts() error {
	if c.MaxSeats < 1 || c.MaxSeats > MaxSeatsLimit {
		return fmt.Errorf("MAX_SEATS must be between 1 and %d, not %d", MaxSeatsLimit, c.MaxSeats)
	}
	if c.SeatsPerHost < 1 || c.SeatsPerHost > MaxSeatsPerHost {
		return fmt.Errorf("SEATS_PER_HOST must be between 1 and %d, not %d", MaxSeatsPerHost, c.SeatsPerHost)
	}
	hosts := (c.MaxSeats + c.SeatsPerHost - 1) / c.SeatsPerHost
	if hosts > MaxHostsPerWorkshop {
		return fmt.Errorf("MAX_SEATS=%d at SEATS_PER_HOST=%d is %d hosts per workshop; at most %d", c.MaxSeats, c.SeatsPerHost, hosts, MaxHostsPerWorkshop)
	}
	if c.LocalHosts < 1 || c.LocalHosts > MaxHostsPerWorkshop {
		return fmt.Errorf("LOCAL_HOSTS must be between 1 and %d, not %d", MaxHostsPerWorkshop, c.LocalHosts)
	}
	if c.Local() && c.LocalHosts > 1 && hosts > c.LocalHosts {
		return fmt.Errorf("MAX_SEATS=%d at SEATS_PER_HOST=%d is %d hosts per workshop, but local mode runs LOCAL_HOSTS=%d", c.MaxSeats, c.SeatsPerHost, hosts, c.LocalHosts)
	}
	return nil
}

// WorkshopSeatsPerHost is the seats per host a new workshop is created
// with: 0 in local mode with one agent (it holds every seat, as before
// multi-host workshops), SEATS_PER_HOST otherwise (GCP, and local mode
// with LOCAL_HOSTS above 1).
func (c *Config) WorkshopSeatsPerHost() int {
	if c.Local() && c.LocalHosts <= 1 {
		return 0
	}
	return c.SeatsPerHost
}

// SecretNames are the secrets Secret Manager may supply.
var SecretNames = []string{"DATABASE_URL", "FC_AGENT_TOKEN", "WORKSPACE_TOKEN_SECRET", "JWT_SECRET"}

// SecretSource loads secrets (Secret Manager). It returns only the names it
// has; a name it lacks falls back to the environment.
type SecretSource func(ctx context.Context, project, endpoint string, names []string) (map[string]string, error)

// Options control Load.
type Options struct {
	Args    []string            // command-line arguments after the subcommand
	Getenv  func(string) string // default os.Getenv
	EnvFile string              // default: .env in the working directory or its parent
	Secrets SecretSource        // used when GCP_PROJECT is set
	Output  io.Writer           // flag usage output, default os.Stderr
	// ReadOnly is for commands that only read state (operators' commands,
	// migrate): no secret is generated, and the server's own secrets are
	// not required.
	ReadOnly bool
	// SecretTimeout bounds the Secret Manager read (default
	// DefaultSecretTimeout), so an unreachable service fails start-up
	// with its name instead of hanging.
	SecretTimeout time.Duration
}

// ErrHelp is returned when -h/--help was given.
var ErrHelp = flag.ErrHelp

// Load reads the configuration, in named steps: the environment (process
// environment, then .env), the settings bound to flags and variables
// (bind), the defaults that depend on other settings (derive), range
// checks (validate), the secrets (loadSecrets: Secret Manager for what is
// still empty), then what local mode generates or production requires.
func Load(ctx context.Context, o Options) (*Config, error) {
	env, err := environment(o)
	if err != nil {
		return nil, err
	}
	out := o.Output
	if out == nil {
		out = os.Stderr
	}
	c := &Config{Sources: map[string]string{}}
	s := envflag.New("server", env, out)
	b := bind(s, c)
	if err := s.Parse(o.Args); err != nil {
		return nil, err
	}
	b.apply(c)
	if err := derive(c); err != nil {
		return nil, err
	}
	if err := validate(c); err != nil {
		return nil, err
	}
	// Secrets: flags, env and .env first as read above; Secret Manager
	// fills only what they left empty (when GCP_PROJECT is set); local
	// mode generates what is still missing.
	if err := loadSecrets(ctx, c, o, env); err != nil {
		return nil, err
	}
	if c.InternalToken == "" {
		c.InternalToken = c.AgentToken
	}
	if err := checkGivenSecrets(c, env); err != nil {
		return nil, err
	}
	if c.Local() {
		if err := fillLocal(c, o.ReadOnly); err != nil {
			return nil, err
		}
		return c, nil
	}
	if err := requireProduction(c, o.ReadOnly); err != nil {
		return nil, err
	}
	return c, nil
}

// Vars lists every environment variable the control plane reads (for the
// test that keeps .env.example true).
func Vars() []string {
	s := envflag.New("server", nil, nil)
	bind(s, &Config{})
	return s.Vars()
}

// environment is the lookup of the process environment (o.Getenv), then
// the .env file: a variable set to "" in the environment falls through to
// .env.
func environment(o Options) (func(string) string, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	dotenv, err := readDotEnv(o.EnvFile)
	if err != nil {
		return nil, err
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return dotenv[k]
	}, nil
}

// bound holds the settings that need more than a field: lists, and the
// values checked or shaped after parsing.
type bound struct {
	cors   string
	signup string
}

// bind declares every setting of the server: its field, flag, variables
// and default. Secrets (FC_AGENT_TOKEN, WORKSPACE_TOKEN_SECRET,
// JWT_SECRET) have no flag, so that they never show in ps, and are bound
// here only as variables; loadSecrets reads them.
func bind(s *envflag.Set, c *Config) *bound {
	b := &bound{}
	E := envflag.Env
	s.Int(&c.Port, "port", E("PORT"), 8080, "HTTP port")
	s.String(&c.Listen, "listen", E("LISTEN"), "", "listen address host:port (default 127.0.0.1:PORT in local mode, :PORT with PROVISIONER=gcp)")
	s.String(&c.PublicURL, "public-url", E("PUBLIC_URL"), "", "URL browsers use to reach this server (default http://localhost:PORT)")
	s.String(&c.DataDir, "data-dir", E("DATA_DIR"), "./data", "local-mode data directory")
	s.String(&c.DatabaseURL, "database-url", E("DATABASE_URL"), "", "PostgreSQL URL or sqlite:PATH (local default sqlite:DATA_DIR/clarateach.db)")
	s.String(&c.Provisioner, "provisioner", E("PROVISIONER"), "", "local | gcp (default gcp when GCP_PROJECT is set)")
	s.String(&c.GCPProject, "gcp-project", E("GCP_PROJECT"), "", "GCP project")
	s.String(&c.GCPZone, "gcp-zone", E("GCP_ZONE"), "", "GCP zone")
	s.String(&c.SnapshotName, "snapshot", E("FC_SNAPSHOT_NAME"), "", "agent VM snapshot")
	s.Bool(&c.UseSpot, "spot", E("GCP_USE_SPOT"), false, "use Spot VMs")
	s.String(&c.MachineType, "machine-type", E("GCP_MACHINE_TYPE"), "", "agent VM machine type (default sized for the seats)")
	s.String(&c.ComputeEndpoint, "compute-endpoint", E("GCP_COMPUTE_ENDPOINT"), "", "Compute API endpoint override")
	s.String(&c.SecretManagerEndpoint, "secretmanager-endpoint", E("GCP_SECRETMANAGER_ENDPOINT"), "", "Secret Manager endpoint override")
	s.String(&b.cors, "cors-origins", E("CORS_ORIGINS"), "", "allowed browser origins, comma separated (default same origin only)")
	s.String(&c.PreviewDomain, "preview-domain", E("PREVIEW_DOMAIN"), "", "wildcard domain of learners' app previews, {port}-{seat}-{workshop}.DOMAIN (default localhost in local mode, else off; off = no previews)")
	s.String(&c.PreviewListen, "preview-listen", E("PREVIEW_LISTEN"), "", "preview listener host:port (default LISTEN's port + 1 in local mode; empty elsewhere = the main listener serves preview hosts)")
	s.Int(&c.MaxSeats, "max-seats", E("MAX_SEATS"), 30, "maximum seats per workshop")
	s.Int(&c.SeatsPerHost, "seats-per-host", E("SEATS_PER_HOST"), 30, "seats one workshop host holds; a workshop spans ceil(seats / this) hosts")
	s.Int(&c.LocalHosts, "local-hosts", E("LOCAL_HOSTS"), 1, "local mode: agents run on this machine, each a workshop host (above 1, a workshop spans ceil(seats / SEATS_PER_HOST) of them)")
	s.Duration(&c.WorkspaceTTL, "workspace-token-ttl", E("WORKSPACE_TOKEN_TTL"), 15*time.Minute, "lifetime of learners' workspace tokens")
	s.Duration(&c.SessionTTL, "session-ttl", E("SESSION_TTL"), 7*24*time.Hour, "lifetime of instructor sessions")
	s.Int(&c.TrustProxyHops, "trust-proxy-hops", E("TRUST_PROXY_HOPS"), 0, "X-Forwarded-For entries added by trusted proxies (1 on Cloud Run)")
	s.String(&c.AgentRuntime, "agent-runtime", E("AGENT_RUNTIME"), "", "local agent seat runtime: sandbox | process (default best available)")
	s.String(&c.DaemonPath, "workspace-daemon", E("WORKSPACE_DAEMON"), "", "workspace daemon binary for local seats")
	s.Duration(&c.ReconcileInterval, "reconcile-interval", E("RECONCILE_INTERVAL"), 2*time.Second, "reconciler period")
	s.Bool(&c.SeatNetwork, "seat-network", E("SEAT_NETWORK"), true, "give local sandbox seats NAT egress (false = loopback only)")
	s.Duration(&c.SeatOrphanTimeout, "seat-orphan-timeout", E("SEAT_ORPHAN_TIMEOUT"), 24*time.Hour, "a local sandbox seat whose server has been gone this long ends by itself, keeping its home (0 = never, else at least 1m)")
	s.Int(&c.SeatDiskMB, "seat-disk-mb", E("SEAT_DISK_MB"), 0, "local sandbox seats' home size in MiB when the workshop sets none (0 = 2048, -1 = no disk limit, for machines without loop devices)")
	s.Int(&c.WarmSeats, "warm-seats", E("WARM_SEATS"), 0, "local sandbox seats kept started ahead of demand, each an idle seat's few MiB (0..240)")
	s.String(&c.LogLevel, "log-level", E("LOG_LEVEL"), "info", "debug | info | warn | error")

	s.String(&c.AdminEmail, "", E("ADMIN_EMAIL"), "", "first admin's email")
	s.String(&c.AdminPassword, "", E("ADMIN_PASSWORD"), "", "first admin's password")
	s.String(&c.MetricsToken, "", E("METRICS_TOKEN"), "", "bearer of GET /metrics")
	s.String(&c.InternalToken, "", E("INTERNAL_TOKEN"), "", "bearer of POST /internal/reconcile (default FC_AGENT_TOKEN)")
	s.String(&b.signup, "", E("SIGNUP"), "", "closed | invite | open")
	s.Duration(&c.InviteTTL, "", E("INVITE_TTL"), DefaultInviteTTL, "how long an invite link stays usable")
	s.Int(&c.Quota.RunningWorkshops, "", E("QUOTA_RUNNING_WORKSHOPS"), DefaultQuota.RunningWorkshops, "default quota: workshops running at once")
	s.Int(&c.Quota.Seats, "", E("QUOTA_SEATS"), DefaultQuota.Seats, "default quota: seats across them")
	s.Int(&c.Quota.WorkshopHours, "", E("QUOTA_WORKSHOP_HOURS"), DefaultQuota.WorkshopHours, "default quota: hours one workshop may run")
	bindArchive(s, &c.Archive)
	s.Known(SecretNames...)
	return b
}

// apply moves the bound values that need shaping into c.
func (b *bound) apply(c *Config) {
	c.CORSOrigins = envflag.SplitList(b.cors)
	c.Signup = strings.ToLower(strings.TrimSpace(b.signup))
	if c.Signup == "" {
		c.Signup = SignupClosed
	}
	if c.Archive.Dir == "" {
		c.Archive.Dir = filepath.Join(c.DataDir, "archives")
	}
	c.Archive.Bucket = strings.TrimSpace(c.Archive.Bucket)
}

// derive fills the defaults that depend on other settings: the
// provisioner (gcp when GCP_PROJECT is set), the listen address and the
// public URL.
func derive(c *Config) error {
	if c.Provisioner == "" {
		c.Provisioner = ProvisionerLocal
		if c.GCPProject != "" {
			c.Provisioner = ProvisionerGCP
		}
	}
	switch c.Provisioner {
	case ProvisionerLocal, ProvisionerGCP:
	default:
		return fmt.Errorf("PROVISIONER must be local or gcp, not %q", c.Provisioner)
	}
	if c.Listen == "" {
		// Local mode serves this machine only unless LISTEN says otherwise;
		// a cloud deployment (Cloud Run) must listen on every interface.
		c.Listen = ":" + strconv.Itoa(c.Port)
		if c.Local() {
			c.Listen = "127.0.0.1:" + strconv.Itoa(c.Port)
		}
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://localhost:" + strconv.Itoa(c.Port)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return derivePreview(c)
}

// validate range-checks the settings.
func validate(c *Config) error {
	switch c.Signup {
	case SignupClosed, SignupInvite, SignupOpen:
	default:
		return fmt.Errorf("SIGNUP must be closed, invite or open, not %q", c.Signup)
	}
	if c.InviteTTL < time.Minute || c.InviteTTL > 30*24*time.Hour {
		return fmt.Errorf("INVITE_TTL must be between 1m and 720h, not %s", c.InviteTTL)
	}
	if q := c.Quota; q.RunningWorkshops < 0 || q.Seats < 0 || q.WorkshopHours < 1 {
		return fmt.Errorf("QUOTA_RUNNING_WORKSHOPS and QUOTA_SEATS must be 0 or more and QUOTA_WORKSHOP_HOURS at least 1 (got %d, %d, %d)", q.RunningWorkshops, q.Seats, q.WorkshopHours)
	}
	if err := c.validateHosts(); err != nil {
		return err
	}
	if c.SeatOrphanTimeout < 0 || (c.SeatOrphanTimeout > 0 && c.SeatOrphanTimeout < time.Minute) {
		return fmt.Errorf("SEAT_ORPHAN_TIMEOUT must be 0 (never) or at least 1m, not %s", c.SeatOrphanTimeout)
	}
	if c.SeatDiskMB < -1 || (c.SeatDiskMB > 0 && c.SeatDiskMB < 64) {
		return fmt.Errorf("SEAT_DISK_MB must be -1 (no limit), 0 (the default, 2048) or at least 64, not %d", c.SeatDiskMB)
	}
	if c.WarmSeats < 0 || c.WarmSeats > 240 {
		return fmt.Errorf("WARM_SEATS must be between 0 and 240, not %d", c.WarmSeats)
	}
	if _, err := logging.ParseLevel(c.LogLevel); err != nil {
		return fmt.Errorf("LOG_LEVEL: %w", err)
	}
	if err := checkTTLs(c); err != nil {
		return err
	}
	if err := validatePreview(c); err != nil {
		return err
	}
	for _, o := range c.CORSOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			return fmt.Errorf("CORS_ORIGINS entry %q must be an origin like https://learn.example.com", o)
		}
	}
	return nil
}

// fillLocal gives local mode its SQLite database and, unless the command
// only reads, the secrets generated once into DATA_DIR.
func fillLocal(c *Config, readOnly bool) error {
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite:" + filepath.Join(c.DataDir, "clarateach.db")
		c.Sources["DATABASE_URL"] = "default"
	}
	if (c.WorkspaceTokenSecret != "" && c.JWTSecret != "") || readOnly {
		return nil
	}
	gen, err := localSecrets(c.DataDir)
	if err != nil {
		return err
	}
	if c.WorkspaceTokenSecret == "" {
		c.WorkspaceTokenSecret = gen.WorkspaceTokenSecret
		c.Sources["WORKSPACE_TOKEN_SECRET"] = "generated"
	}
	if c.JWTSecret == "" {
		c.JWTSecret = gen.JWTSecret
		c.Sources["JWT_SECRET"] = "generated"
	}
	return nil
}

// requireProduction refuses a production configuration that lacks what
// has no default there: nothing secret is generated outside local mode.
func requireProduction(c *Config, readOnly bool) error {
	if c.DatabaseURL == "" {
		return errors.New("DATABASE_URL is required")
	}
	if readOnly {
		return nil
	}
	if c.WorkspaceTokenSecret == "" {
		return errors.New("WORKSPACE_TOKEN_SECRET is required")
	}
	if c.JWTSecret == "" {
		return errors.New("JWT_SECRET is required")
	}
	if c.Provisioner == ProvisionerGCP {
		if c.GCPProject == "" {
			return errors.New("GCP_PROJECT is required for the gcp provisioner")
		}
		if c.GCPZone == "" {
			return errors.New("GCP_ZONE is required for the gcp provisioner")
		}
		if c.SnapshotName == "" {
			return errors.New("FC_SNAPSHOT_NAME is required for the gcp provisioner")
		}
	}
	if len(c.WorkspaceTokenSecret) < 16 || len(c.JWTSecret) < 16 {
		return errors.New("WORKSPACE_TOKEN_SECRET and JWT_SECRET must be at least 16 characters")
	}
	return nil
}

type generated struct {
	WorkspaceTokenSecret string `json:"workspace_token_secret"`
	JWTSecret            string `json:"jwt_secret"`
}

// localSecrets returns the local-mode secrets kept in dataDir/secrets.json,
// generating them on first use.
func localSecrets(dataDir string) (*generated, error) {
	path := filepath.Join(dataDir, "secrets.json")
	if b, err := os.ReadFile(path); err == nil {
		var g generated
		if err := json.Unmarshal(b, &g); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if g.WorkspaceTokenSecret != "" && g.JWTSecret != "" {
			return &g, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read local secrets: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	g := &generated{WorkspaceTokenSecret: authtoken.Random(32), JWTSecret: authtoken.Random(32)}
	b, _ := json.MarshalIndent(g, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, fmt.Errorf("write local secrets: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("write local secrets: %w", err)
	}
	return g, nil
}

// readDotEnv parses KEY=VALUE lines (optional `export `, quotes, # comments).
// Without an explicit path it looks for .env in the working directory, then
// its parent (the project root when run from backend/).
func readDotEnv(path string) (map[string]string, error) {
	out := map[string]string{}
	if path == "" {
		for _, p := range []string{".env", filepath.Join("..", ".env")} {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
		if path == "" {
			return out, nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return out, nil
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: expected KEY=VALUE", path, n)
		}
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		} else if i := strings.Index(v, " #"); i >= 0 {
			v = strings.TrimSpace(v[:i])
		} else if strings.HasPrefix(v, "#") {
			v = ""
		}
		out[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}
