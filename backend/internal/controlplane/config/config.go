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

	"github.com/clarateach/backend/internal/token"
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

	MaxSeats       int           // MAX_SEATS, default 30
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

// Load reads the configuration.
func Load(ctx context.Context, o Options) (*Config, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	dotenv, err := readDotEnv(o.EnvFile)
	if err != nil {
		return nil, err
	}
	env := func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return dotenv[k]
	}

	c := &Config{Sources: map[string]string{}}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	if o.Output != nil {
		fs.SetOutput(o.Output)
	}
	port, perr := intEnv(env, "PORT", 8080)
	maxSeats, merr := intEnv(env, "MAX_SEATS", 30)
	hops, herr := intEnv(env, "TRUST_PROXY_HOPS", 0)
	spot, serr := boolEnv(env, "GCP_USE_SPOT")
	wttl, werr := durEnv(env, "WORKSPACE_TOKEN_TTL", 15*time.Minute)
	sttl, sterr := durEnv(env, "SESSION_TTL", 7*24*time.Hour)
	rint, rerr := durEnv(env, "RECONCILE_INTERVAL", 2*time.Second)
	seatNet, nerr := boolEnvDefault(env, "SEAT_NETWORK", true)
	warm, wserr := intEnv(env, "WARM_SEATS", 0)
	disk, derr := intEnv(env, "SEAT_DISK_MB", 0)
	orphan, oerr := durEnv(env, "SEAT_ORPHAN_TIMEOUT", 24*time.Hour)
	if err := errors.Join(perr, merr, herr, serr, werr, sterr, rerr, nerr, wserr, derr, oerr); err != nil {
		return nil, err
	}
	if err := loadSignup(c, env); err != nil {
		return nil, err
	}
	var cors string
	fs.IntVar(&c.Port, "port", port, "HTTP port (env PORT)")
	fs.StringVar(&c.Listen, "listen", env("LISTEN"), "listen address host:port (env LISTEN; default 127.0.0.1:PORT in local mode, :PORT with PROVISIONER=gcp)")
	fs.StringVar(&c.PublicURL, "public-url", env("PUBLIC_URL"), "URL browsers use to reach this server (env PUBLIC_URL)")
	fs.StringVar(&c.DataDir, "data-dir", or(env("DATA_DIR"), "./data"), "local-mode data directory (env DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("DATABASE_URL"), "PostgreSQL URL or sqlite:PATH (env DATABASE_URL)")
	fs.StringVar(&c.Provisioner, "provisioner", env("PROVISIONER"), "local | gcp (env PROVISIONER; default gcp when GCP_PROJECT is set)")
	fs.StringVar(&c.GCPProject, "gcp-project", env("GCP_PROJECT"), "GCP project (env GCP_PROJECT)")
	fs.StringVar(&c.GCPZone, "gcp-zone", env("GCP_ZONE"), "GCP zone (env GCP_ZONE)")
	fs.StringVar(&c.SnapshotName, "snapshot", env("FC_SNAPSHOT_NAME"), "agent VM snapshot (env FC_SNAPSHOT_NAME)")
	fs.BoolVar(&c.UseSpot, "spot", spot, "use Spot VMs (env GCP_USE_SPOT)")
	fs.StringVar(&c.MachineType, "machine-type", env("GCP_MACHINE_TYPE"), "agent VM machine type (env GCP_MACHINE_TYPE; default sized for the seats)")
	fs.StringVar(&c.ComputeEndpoint, "compute-endpoint", env("GCP_COMPUTE_ENDPOINT"), "Compute API endpoint override (env GCP_COMPUTE_ENDPOINT)")
	fs.StringVar(&c.SecretManagerEndpoint, "secretmanager-endpoint", env("GCP_SECRETMANAGER_ENDPOINT"), "Secret Manager endpoint override (env GCP_SECRETMANAGER_ENDPOINT)")
	fs.StringVar(&cors, "cors-origins", env("CORS_ORIGINS"), "allowed browser origins, comma separated (env CORS_ORIGINS; default same origin only)")
	fs.IntVar(&c.MaxSeats, "max-seats", maxSeats, "maximum seats per workshop (env MAX_SEATS)")
	fs.DurationVar(&c.WorkspaceTTL, "workspace-token-ttl", wttl, "lifetime of learners' workspace tokens (env WORKSPACE_TOKEN_TTL)")
	fs.DurationVar(&c.SessionTTL, "session-ttl", sttl, "lifetime of instructor sessions (env SESSION_TTL)")
	fs.IntVar(&c.TrustProxyHops, "trust-proxy-hops", hops, "X-Forwarded-For entries added by trusted proxies (env TRUST_PROXY_HOPS; 1 on Cloud Run)")
	fs.StringVar(&c.AgentRuntime, "agent-runtime", env("AGENT_RUNTIME"), "local agent seat runtime: sandbox | process (env AGENT_RUNTIME; default best available)")
	fs.StringVar(&c.DaemonPath, "workspace-daemon", env("WORKSPACE_DAEMON"), "workspace daemon binary for local seats (env WORKSPACE_DAEMON)")
	fs.DurationVar(&c.ReconcileInterval, "reconcile-interval", rint, "reconciler period (env RECONCILE_INTERVAL)")
	fs.BoolVar(&c.SeatNetwork, "seat-network", seatNet, "give local sandbox seats NAT egress (env SEAT_NETWORK; false = loopback only)")
	fs.DurationVar(&c.SeatOrphanTimeout, "seat-orphan-timeout", orphan, "a local sandbox seat whose server has been gone this long ends by itself, keeping its home (env SEAT_ORPHAN_TIMEOUT; 0 = never, else at least 1m)")
	fs.IntVar(&c.SeatDiskMB, "seat-disk-mb", disk, "local sandbox seats' home size in MiB when the workshop sets none (env SEAT_DISK_MB; 0 = 2048, -1 = no disk limit, for machines without loop devices)")
	fs.IntVar(&c.WarmSeats, "warm-seats", warm, "local sandbox seats kept started ahead of demand, each an idle seat's few MiB (env WARM_SEATS; 0..240)")
	if err := fs.Parse(o.Args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.CORSOrigins = splitList(cors)
	if c.Archive, err = loadArchive(env, c.DataDir); err != nil {
		return nil, err
	}
	c.AdminEmail = env("ADMIN_EMAIL")
	c.MetricsToken = env("METRICS_TOKEN")
	c.AdminPassword = env("ADMIN_PASSWORD")

	if c.Provisioner == "" {
		c.Provisioner = ProvisionerLocal
		if c.GCPProject != "" {
			c.Provisioner = ProvisionerGCP
		}
	}
	switch c.Provisioner {
	case ProvisionerLocal, ProvisionerGCP:
	default:
		return nil, fmt.Errorf("PROVISIONER must be local or gcp, not %q", c.Provisioner)
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
	if c.MaxSeats < 1 || c.MaxSeats > 240 {
		return nil, fmt.Errorf("MAX_SEATS must be between 1 and 240, not %d", c.MaxSeats)
	}
	if c.SeatOrphanTimeout < 0 || (c.SeatOrphanTimeout > 0 && c.SeatOrphanTimeout < time.Minute) {
		return nil, fmt.Errorf("SEAT_ORPHAN_TIMEOUT must be 0 (never) or at least 1m, not %s", c.SeatOrphanTimeout)
	}
	if c.SeatDiskMB < -1 || (c.SeatDiskMB > 0 && c.SeatDiskMB < 64) {
		return nil, fmt.Errorf("SEAT_DISK_MB must be -1 (no limit), 0 (the default, 2048) or at least 64, not %d", c.SeatDiskMB)
	}
	if c.WarmSeats < 0 || c.WarmSeats > 240 {
		return nil, fmt.Errorf("WARM_SEATS must be between 0 and 240, not %d", c.WarmSeats)
	}
	if err := checkTTLs(c); err != nil {
		return nil, err
	}
	for _, o := range c.CORSOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			return nil, fmt.Errorf("CORS_ORIGINS entry %q must be an origin like https://learn.example.com", o)
		}
	}

	// Secrets: flags, env and .env first as read above; Secret Manager
	// fills only what they left empty (when GCP_PROJECT is set); local
	// mode generates what is still missing.
	if err := loadSecrets(ctx, c, o, env); err != nil {
		return nil, err
	}
	c.InternalToken = or(env("INTERNAL_TOKEN"), c.AgentToken)
	if err := checkGivenSecrets(c, env); err != nil {
		return nil, err
	}

	if c.Local() {
		if c.DatabaseURL == "" {
			c.DatabaseURL = "sqlite:" + filepath.Join(c.DataDir, "clarateach.db")
			c.Sources["DATABASE_URL"] = "default"
		}
		if (c.WorkspaceTokenSecret == "" || c.JWTSecret == "") && !o.ReadOnly {
			gen, err := localSecrets(c.DataDir)
			if err != nil {
				return nil, err
			}
			if c.WorkspaceTokenSecret == "" {
				c.WorkspaceTokenSecret = gen.WorkspaceTokenSecret
				c.Sources["WORKSPACE_TOKEN_SECRET"] = "generated"
			}
			if c.JWTSecret == "" {
				c.JWTSecret = gen.JWTSecret
				c.Sources["JWT_SECRET"] = "generated"
			}
		}
		return c, nil
	}

	// Production: nothing secret has a default.
	if c.DatabaseURL == "" {
		return nil, errors.New("DATABASE_URL is required")
	}
	if o.ReadOnly {
		return c, nil
	}
	if c.WorkspaceTokenSecret == "" {
		return nil, errors.New("WORKSPACE_TOKEN_SECRET is required")
	}
	if c.JWTSecret == "" {
		return nil, errors.New("JWT_SECRET is required")
	}
	if c.Provisioner == ProvisionerGCP {
		if c.GCPProject == "" {
			return nil, errors.New("GCP_PROJECT is required for the gcp provisioner")
		}
		if c.GCPZone == "" {
			return nil, errors.New("GCP_ZONE is required for the gcp provisioner")
		}
		if c.SnapshotName == "" {
			return nil, errors.New("FC_SNAPSHOT_NAME is required for the gcp provisioner")
		}
	}
	if len(c.WorkspaceTokenSecret) < 16 || len(c.JWTSecret) < 16 {
		return nil, errors.New("WORKSPACE_TOKEN_SECRET and JWT_SECRET must be at least 16 characters")
	}
	return c, nil
}

// loadSignup reads SIGNUP, INVITE_TTL and the QUOTA_* defaults.
func loadSignup(c *Config, env func(string) string) error {
	c.Signup = strings.ToLower(strings.TrimSpace(env("SIGNUP")))
	switch c.Signup {
	case "":
		c.Signup = SignupClosed
	case SignupClosed, SignupInvite, SignupOpen:
	default:
		return fmt.Errorf("SIGNUP must be closed, invite or open, not %q", env("SIGNUP"))
	}
	ttl, terr := durEnv(env, "INVITE_TTL", DefaultInviteTTL)
	run, rerr := intEnv(env, "QUOTA_RUNNING_WORKSHOPS", DefaultQuota.RunningWorkshops)
	seats, serr := intEnv(env, "QUOTA_SEATS", DefaultQuota.Seats)
	hours, herr := intEnv(env, "QUOTA_WORKSHOP_HOURS", DefaultQuota.WorkshopHours)
	if err := errors.Join(terr, rerr, serr, herr); err != nil {
		return err
	}
	if ttl < time.Minute || ttl > 30*24*time.Hour {
		return fmt.Errorf("INVITE_TTL must be between 1m and 720h, not %s", ttl)
	}
	if run < 0 || seats < 0 || hours < 1 {
		return fmt.Errorf("QUOTA_RUNNING_WORKSHOPS and QUOTA_SEATS must be 0 or more and QUOTA_WORKSHOP_HOURS at least 1 (got %d, %d, %d)", run, seats, hours)
	}
	c.InviteTTL = ttl
	c.Quota = Quota{RunningWorkshops: run, Seats: seats, WorkshopHours: hours}
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
	g := &generated{WorkspaceTokenSecret: token.Random(32), JWTSecret: token.Random(32)}
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

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimRight(strings.TrimSpace(p), "/"); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func intEnv(env func(string) string, k string, def int) (int, error) {
	v := env(k)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s must be a whole number, not %q", k, v)
	}
	return n, nil
}

func boolEnv(env func(string) string, k string) (bool, error) {
	return boolEnvDefault(env, k, false)
}

func boolEnvDefault(env func(string) string, k string, def bool) (bool, error) {
	switch v := strings.ToLower(strings.TrimSpace(env(k))); v {
	case "":
		return def, nil
	case "on", "yes":
		return true, nil
	case "off", "no":
		return false, nil
	default:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("%s must be true or false, not %q", k, env(k))
		}
		return b, nil
	}
}

func durEnv(env func(string) string, k string, def time.Duration) (time.Duration, error) {
	v := env(k)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s must be a duration like 15m, not %q", k, v)
	}
	return d, nil
}
