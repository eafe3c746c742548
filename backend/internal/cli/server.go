package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/archive"
	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/provision"
	"github.com/clarateach/backend/internal/controlplane/provision/gcevm"
	"github.com/clarateach/backend/internal/controlplane/provision/local"
	"github.com/clarateach/backend/internal/controlplane/reconcile"
	"github.com/clarateach/backend/internal/controlplane/secrets"
	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/imagecache"
	"github.com/clarateach/backend/internal/host/localagent"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/logging"
	"github.com/clarateach/backend/internal/release"
)

func loadConfig(ctx context.Context, args []string, stderr io.Writer) (*config.Config, error) {
	return load(ctx, args, stderr, false)
}

// loadConfigReadOnly is the configuration of commands that only read state:
// nothing is generated in the data directory, and the server's secrets are
// not required.
func loadConfigReadOnly(ctx context.Context, stderr io.Writer) (*config.Config, error) {
	return load(ctx, nil, stderr, true)
}

func load(ctx context.Context, args []string, stderr io.Writer, readOnly bool) (*config.Config, error) {
	return config.Load(ctx, config.Options{
		Args:     args,
		Output:   stderr,
		ReadOnly: readOnly,
		Secrets:  secrets.SecretManager,
	})
}

// runServer is `clarateach server`: the control plane, in named steps.
func runServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(ctx, args, stderr)
	if err != nil {
		return err
	}
	log := serverLogger(cfg, stderr)
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer shutdownStep(log, "close the database", shutdownClose, func(context.Context) { st.Close() })
	firstLogin, err := bootstrapAdmin(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	prov, isolated, closeProv, err := newProvisioner(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer shutdownStep(log, "stop the seats' agent", shutdownClose, func(context.Context) { closeProv() })
	arc, closeArc, err := newArchiver(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	defer shutdownStep(log, "close the archiver", shutdownClose, func(context.Context) { closeArc() })
	rec, srv := newControlPlane(cfg, st, prov, !isolated, arc, log)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	stopPreview, err := startPreview(ctx, cfg, srv, log, stdout)
	if err != nil {
		ln.Close()
		return err
	}
	defer shutdownStep(log, "stop the preview proxy", shutdownClose, func(context.Context) { stopPreview() })
	rctx, stopRec := context.WithCancel(ctx)
	defer stopRec()
	go rec.Run(rctx, cfg.ReconcileInterval)
	printBanner(stdout, cfg, st.Engine(), prov.Name(), firstLogin)
	return serveHTTP(ctx, ln, srv.Handler(), func() { stopRec(); rec.Wait() }, srv.FlushActivity, log)
}

// serverLogger is the server's logger (also the default one, for the few
// packages not handed one); it logs where each secret came from.
func serverLogger(cfg *config.Config, stderr io.Writer) *slog.Logger {
	level, _ := logging.ParseLevel(cfg.LogLevel) // checked by config.Load
	log := logging.New(stderr, level)
	slog.SetDefault(log)
	for name, src := range cfg.Sources {
		log.Info("secret loaded", "name", name, "source", src)
	}
	return log
}

// openStore opens the database (creating the local data directory first).
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (store.Store, error) {
	if cfg.Local() {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
	}
	st, err := open.Open(ctx, cfg.DatabaseURL, open.WarmPool())
	if err != nil {
		return nil, err
	}
	log.Info("database ready", "engine", st.Engine())
	return st, nil
}

// newControlPlane builds the reconciler and the HTTP server on one metrics
// registry (with the Go and process collectors).
func newControlPlane(cfg *config.Config, st store.Store, prov provision.Provisioner, unisolated bool, arc *archive.Archiver, log *slog.Logger) (*reconcile.Reconciler, *server.Server) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rec := reconcile.New(reconcile.Config{
		Store:           st,
		Provisioner:     prov,
		WorkspaceSecret: []byte(cfg.WorkspaceTokenSecret),
		BackendURL:      cfg.PublicURL,
		Registry:        reg,
		Archiver:        arc,
		Logger:          log,
	})
	srv := server.New(server.Deps{
		Config:          cfg,
		Store:           st,
		Registry:        reg,
		Reconciler:      rec,
		Logger:          log,
		Version:         release.Version,
		UnisolatedSeats: unisolated,
		Archives:        arc,
	})
	return rec, srv
}

// printBanner tells the operator where the server runs and how to sign in.
func printBanner(stdout io.Writer, cfg *config.Config, engine, provisioner, firstLogin string) {
	fmt.Fprintf(stdout, "\nClaraTeach %s is running at %s  (database: %s, provisioner: %s)\n", release.Version, cfg.PublicURL, engine, provisioner)
	switch {
	case firstLogin != "":
		fmt.Fprint(stdout, firstLogin)
	case cfg.Signup == config.SignupOpen:
		fmt.Fprintf(stdout, "Sign in at %s/login, or create an instructor account at %s/signup (SIGNUP=open: anyone can)\n", cfg.PublicURL, cfg.PublicURL)
	default:
		fmt.Fprintf(stdout, "Sign in at %s/login (sign-up: %s; admins invite instructors from the Admin page)\n", cfg.PublicURL, cfg.Signup)
	}
	fmt.Fprintln(stdout)
}

// serveHTTP serves h on ln until ctx ends, then shuts down in steps, each
// with a deadline and a log line (shutdownStep): it shuts the HTTP server
// down (open requests finish), stops the reconciler and waits for its work
// in flight (stopRec), and writes what is left in memory (flush).
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, stopRec func(), flush func(context.Context), log *slog.Logger) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	herr := make(chan error, 1)
	shutdownStep(log, "stop serving HTTP", shutdownHTTP, func(sctx context.Context) { herr <- hs.Shutdown(sctx) })
	shutdownStep(log, "stop the reconciler", shutdownReconciler, func(context.Context) { stopRec() })
	shutdownStep(log, "write pending seat activity", shutdownFlush, flush)
	var err error
	select {
	case err = <-herr:
	default: // abandoned at its deadline
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// newProvisioner builds the configured provisioner and says whether its
// seats are isolated (every runtime but the local process one).
func newProvisioner(ctx context.Context, cfg *config.Config, log *slog.Logger) (provision.Provisioner, bool, func(), error) {
	switch cfg.Provisioner {
	case config.ProvisionerGCP:
		p, err := gcevm.New(ctx, gcevm.Config{
			Project:         cfg.GCPProject,
			Zone:            cfg.GCPZone,
			SnapshotName:    cfg.SnapshotName,
			MachineType:     cfg.MachineType,
			UseSpot:         cfg.UseSpot,
			ComputeEndpoint: cfg.ComputeEndpoint,
		})
		if err != nil {
			return nil, false, nil, err
		}
		return p, true, func() {
			if c, ok := any(p).(io.Closer); ok {
				_ = c.Close()
			}
		}, nil
	default:
		stateDir, err := filepath.Abs(filepath.Join(cfg.DataDir, "agent"))
		if err != nil {
			return nil, false, nil, err
		}
		ro := agent.RuntimeOptions{StateDir: stateDir, DaemonCommand: daemonCommand(cfg.DaemonPath), NoNetwork: !cfg.SeatNetwork, WarmSeats: cfg.WarmSeats, DiskMB: cfg.SeatDiskMB, OrphanTimeout: cfg.SeatOrphanTimeout, Logger: log}
		if cfg.AgentRuntime == "sandbox" || (cfg.AgentRuntime == "" && agent.DefaultRuntime() == "sandbox") {
			ro.SeatsDir = agent.LocalSeatsDir(stateDir)
		}
		rt, rtName, err := agent.ChooseRuntime(cfg.AgentRuntime, ro)
		if err != nil {
			return nil, false, nil, fmt.Errorf("local seats: %w", err)
		}
		first := &firstRuntime{dir: stateDir, rt: rt}
		// The local agents run in this process; the provisioner is handed
		// only their URLs and tokens (and how to start one again).
		hosts, err := localagent.StartHosts(ctx, localagent.HostsConfig{
			Count:    cfg.LocalHosts,
			StateDir: stateDir,
			Runtime: func(dir string) (seatruntime.Runtime, *imagecache.Cache, error) {
				if rt := first.take(dir); rt != nil {
					images, err := agent.ImageCache(rtName, dir, log)
					return rt, images, err
				}
				return localRuntime(ro, dir, rtName, log)
			},
			WorkspaceSecret: []byte(cfg.WorkspaceTokenSecret),
			Token:           cfg.AgentToken,
			Logger:          log,
		})
		if err != nil {
			return nil, false, nil, err
		}
		agents := make([]local.Agent, len(hosts))
		for i, h := range hosts {
			agents[i] = h
			log.Info("local agent started", "host", i+1, "url", h.URL(), "runtime", rtName)
		}
		return local.NewSet(agents), agent.Isolated(rtName), func() { _ = localagent.StopAll(hosts) }, nil
	}
}

// firstRuntime is the runtime chosen at start for host 1 (state directory
// dir): its first start uses it; later starts, and the other hosts, build
// their own.
type firstRuntime struct {
	mu  sync.Mutex
	dir string
	rt  seatruntime.Runtime
}

func (f *firstRuntime) take(dir string) seatruntime.Runtime {
	f.mu.Lock()
	defer f.mu.Unlock()
	if dir != f.dir {
		return nil
	}
	rt := f.rt
	f.rt = nil
	return rt
}

// localRuntime builds the seat runtime (named rtName, as ChooseRuntime
// chose it for host 1) and image cache of the local agent whose state
// directory is dir.
func localRuntime(ro agent.RuntimeOptions, dir, rtName string, log *slog.Logger) (seatruntime.Runtime, *imagecache.Cache, error) {
	ro.StateDir = dir
	ro.SeatsDir = ""
	if rtName == "sandbox" {
		ro.SeatsDir = agent.LocalSeatsDir(dir)
	}
	rt, _, err := agent.ChooseRuntime(rtName, ro)
	if err != nil {
		return nil, nil, fmt.Errorf("local seats: %w", err)
	}
	images, err := agent.ImageCache(rtName, dir, log)
	if err != nil {
		return nil, nil, err
	}
	return rt, images, nil
}

// daemonCommand finds the workspace daemon for local seats: the configured
// path, the small clarateach-workspace binary next to this one, or this
// binary's own `workspace` subcommand.
func daemonCommand(configured string) []string {
	if configured != "" {
		return []string{configured}
	}
	self, err := os.Executable()
	if err != nil {
		return []string{"clarateach-workspace"}
	}
	sibling := filepath.Join(filepath.Dir(self), agent.DaemonBinaryName)
	if fi, err := os.Stat(sibling); err == nil && !fi.IsDir() {
		return []string{sibling}
	}
	return []string{self, "workspace"}
}

// bootstrapAdmin creates the first admin from ADMIN_EMAIL/ADMIN_PASSWORD;
// in local mode with no account at all it creates admin@localhost with a
// generated password, kept in DATA_DIR/first-login.txt, and returns the
// sign-in hint to print.
func bootstrapAdmin(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger) (string, error) {
	if cfg.AdminEmail != "" {
		if cfg.AdminPassword == "" {
			return "", errors.New("ADMIN_EMAIL is set but ADMIN_PASSWORD is not")
		}
		_, created, err := server.EnsureAdmin(ctx, st, cfg.AdminEmail, cfg.AdminPassword, "")
		if err != nil {
			return "", err
		}
		if created {
			log.Info("admin account created", "email", cfg.AdminEmail)
		}
		return "", nil
	}
	if !cfg.Local() {
		return "", nil
	}
	path := filepath.Join(cfg.DataDir, "first-login.txt")
	n, err := st.CountUsers(ctx)
	if err != nil {
		return "", err
	}
	if n == 0 {
		pw := authtoken.Random(9)
		if _, _, err := server.EnsureAdmin(ctx, st, "admin@localhost", pw, "Local admin"); err != nil {
			return "", err
		}
		body := fmt.Sprintf("email: admin@localhost\npassword: %s\n", pw)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			return "", fmt.Errorf("write %s: %w", path, err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil // accounts exist and were made another way
	}
	return fmt.Sprintf("Sign in at %s/login with the first admin account (kept in %s):\n%s", cfg.PublicURL, path, b), nil
}
