// Package agent is the workshop host agent: the HTTP server on every
// workshop host (":9090") that creates and destroys learner seats through a
// seat runtime, keeps their state in a state directory so a restarted agent
// reattaches to them, and proxies learners' terminal and file traffic to the
// workspace daemon inside each seat.
//
// Routes (see docs/ARCHITECTURE.md):
//
//	GET    /health                       no auth
//	POST   /vms/  (or /vms)              agent token; {"workshop_id","seat_id","vcpus"?,"memory_mb"?,"disk_mb"?}
//	GET    /vms                          agent token
//	GET    /vms/{ws}/{seat}              agent token
//	DELETE /vms/{ws}/{seat}              agent token
//	POST   /vms/{ws}/{seat}/disconnect   agent token; {"min_generation"?: n}
//	GET    /metrics                      agent token (none in dev mode)
//	*      /proxy/{ws}/{seat}/terminal|sessions...|files...   workspace token
//	OPTIONS /proxy/...                   CORS preflight, no auth
package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/connlimit"
	"github.com/clarateach/backend/internal/fdlimit"
	"github.com/clarateach/backend/internal/host/agentapi"
	"github.com/clarateach/backend/internal/host/imagecache"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/logging"
	"github.com/clarateach/backend/internal/release"
)

// Defaults.
const (
	DefaultListen   = ":9090"
	DefaultStateDir = "/var/lib/clarateach/agent"
	DefaultCapacity = 30
	// DefaultMaxWarmSeats caps the sandbox's default warm seats (the
	// capacity): a class of 30 starts from warm seats.
	DefaultMaxWarmSeats = 30
	DefaultMaxBodyBytes = 64<<20 + 1<<20 // the daemon's file limit (64 MiB) plus room for its own 413
	DefaultMaxVCPUs     = 16
	DefaultMaxMemoryMB  = 64 << 10
	MinMemoryMB         = 64
	// DefaultSeatOrphanTimeout: a sandbox seat whose agent has been gone
	// this long ends by itself (its home stays).
	DefaultSeatOrphanTimeout = 24 * time.Hour
	// MinSeatOrphanTimeout keeps an agent restart or upgrade from ending
	// seats.
	MinSeatOrphanTimeout = time.Minute
	// MinDiskMB and DefaultMaxDiskMB bound a seat's requested home size.
	MinDiskMB        = 64
	DefaultMaxDiskMB = 64 << 10
)

// Config configures an Agent. Zero values mean the defaults above.
type Config struct {
	// Listen is the TCP address to serve on (default ":9090").
	Listen string
	// Token is the agent token required on control routes. Empty means dev
	// mode (no auth), which is allowed only when Listen is a loopback address.
	Token string
	// TLSCert and TLSKey (PEM) make the agent serve HTTPS: the certificate
	// the control plane made for this host and pins. Plain HTTP is served
	// only on a loopback Listen.
	TLSCert []byte
	TLSKey  []byte
	// StateDir holds <StateDir>/seats/<ws>.<seat>.json and generations.json.
	StateDir string
	// Runtime creates and destroys seats. Required.
	Runtime seatruntime.Runtime
	// Capacity is the most seats this host holds (default 30).
	Capacity int
	// AllowedOrigins may call the proxy routes from a browser. "*" allows
	// any origin (the matching origin is echoed, never "*").
	AllowedOrigins []string
	// WorkspaceKey is the workshop's derived workspace-token key (a host
	// serving a single workshop). WorkspaceSecret is WORKSPACE_TOKEN_SECRET,
	// from which each workshop's key is derived (local mode). One of them is
	// needed for the proxy routes; WorkspaceKey wins when both are set.
	WorkspaceKey    []byte
	WorkspaceSecret []byte
	// MaxBodyBytes bounds proxied request bodies (default 65 MiB).
	MaxBodyBytes int64
	// MaxVCPUs and MaxMemoryMB bound a seat's requested size.
	MaxVCPUs    int
	MaxMemoryMB int
	// MaxDiskMB bounds a seat's requested home size (default 64 GiB).
	MaxDiskMB int
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// FDGuard sheds new requests with 503 near the descriptor limit; nil =
	// one watching this process.
	FDGuard *fdlimit.Guard
	// SeatCheckInterval is how often Serve health-checks every seat and
	// restarts in place those whose daemon does not answer (default 5s;
	// negative: never).
	SeatCheckInterval time.Duration
	// Images is the host's image cache; nil: this host runs seats on its
	// own root only (images.go).
	Images *imagecache.Cache
	// MetadataURL is the GCE metadata server (registry tokens).
	MetadataURL string
}

// Agent is the host agent.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	rt      seatruntime.Runtime
	devMode bool
	started time.Time
	now     func() time.Time

	state   *stateDir
	metrics *metrics
	mux     *http.ServeMux
	handler http.Handler // mux behind the descriptor guard
	tls     *tls.Config  // nil = plain HTTP (loopback only)
	proxy   *httputil.ReverseProxy
	preview *httputil.ReverseProxy // to the seats' apps (preview.go)
	tr      *http.Transport

	mu      sync.Mutex
	seats   map[seatKey]*seatEntry
	byHost  map[string]*seatruntime.Seat // proxy host name -> seat
	pending int                          // creations in flight (count against capacity)
	nextID  uint64
	// minGen is each seat's lowest valid token generation (raised by a
	// revoke or reissue; persisted in generations.json).
	minGen map[seatKey]int64
	conns  map[seatKey]map[*liveConn]struct{}
	terms  connlimit.Counter // live terminal connections per token and seat

	revMu sync.Mutex // serialises writes of generations.json

	shellStarts chan struct{} // bounds first shells starting at once

	pulls imagePulls

	healthMu    sync.Mutex
	healthAt    time.Time
	healthCount int
}

type seatKey struct {
	ws   string
	seat int
}

func (k seatKey) String() string { return k.ws + "/" + strconv.Itoa(k.seat) }

// seatEntry serialises create and delete of one seat. seat and host are
// read and written under Agent.mu.
type seatEntry struct {
	op   sync.Mutex
	seat *seatruntime.Seat
	host string
	// restartedAt is when the seat watcher last restarted it in place.
	restartedAt time.Time
}

// setDefaults fills in what the configuration leaves unset.
func (cfg *Config) setDefaults() {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir
	}
	if cfg.Capacity <= 0 {
		cfg.Capacity = DefaultCapacity
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxVCPUs <= 0 {
		cfg.MaxVCPUs = DefaultMaxVCPUs
	}
	if cfg.MaxMemoryMB <= 0 {
		cfg.MaxMemoryMB = DefaultMaxMemoryMB
	}
	if cfg.MaxDiskMB <= 0 {
		cfg.MaxDiskMB = DefaultMaxDiskMB
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SeatCheckInterval == 0 {
		cfg.SeatCheckInterval = 5 * time.Second
	}
}

// maxSpareSeatFiles bounds the spare seat files of the state directory.
const maxSpareSeatFiles = 256

// New checks cfg, opens the state directory and reattaches to the seats an
// earlier agent left running (seats that died are destroyed and forgotten).
func New(cfg Config) (*Agent, error) {
	if cfg.Runtime == nil {
		return nil, errors.New("agent: no seat runtime configured")
	}
	cfg.setDefaults()
	loopback := IsLoopback(cfg.Listen)
	if cfg.Token == "" && !loopback {
		return nil, fmt.Errorf("agent: refusing to start without an agent token while listening on %q, which is reachable from other machines: "+
			"anyone could create seats and run commands on this host. Set the token with --token or AGENT_TOKEN (FC_AGENT_TOKEN, or the "+
			"GCE metadata attribute agent-token), or listen on loopback only (--listen 127.0.0.1:9090) for local development", cfg.Listen)
	}
	if cfg.Runtime.Name() == "process" && !loopback {
		return nil, fmt.Errorf("agent: the process runtime does not isolate seats, so it is served on loopback only, but --listen is %q: "+
			"listen on 127.0.0.1, or use the sandbox or firecracker runtime", cfg.Listen)
	}
	tlsCfg, err := serverTLS(cfg, loopback)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:     cfg,
		tls:     tlsCfg,
		log:     cfg.Logger.With("component", "agent"),
		rt:      cfg.Runtime,
		devMode: cfg.Token == "",
		now:     cfg.Now,
		seats:   map[seatKey]*seatEntry{},
		byHost:  map[string]*seatruntime.Seat{},
		minGen:  map[seatKey]int64{},
		conns:   map[seatKey]map[*liveConn]struct{}{},
		// Shell start-up is CPU-bound: one per CPU at a time, in
		// arrival order, so a burst's prompts come one after another
		// instead of all at the end.
		shellStarts: make(chan struct{}, max(1, runtime.NumCPU())),
	}
	a.started = a.now()
	if a.devMode {
		a.log.Warn("DEV MODE: no agent token configured; control routes are open to anyone who can reach " + cfg.Listen)
	}
	if len(cfg.WorkspaceKey) == 0 && len(cfg.WorkspaceSecret) == 0 {
		a.log.Warn("no workspace-token key configured (WORKSPACE_KEY, metadata workspace-key or WORKSPACE_TOKEN_SECRET): the proxy routes will refuse every learner")
	}
	// A spare seat file per seat the host holds (state.go).
	st, err := openStateDir(cfg.StateDir, min(cfg.Capacity, maxSpareSeatFiles))
	if err != nil {
		return nil, err
	}
	a.state = st
	if gens, err := st.loadGenerations(); err != nil {
		return nil, err
	} else {
		for k, v := range gens {
			a.minGen[k] = v
		}
	}
	a.tr = &http.Transport{
		DialContext:         a.dialSeat,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		// The daemon is local (or a guest on a private bridge): no proxy, no TLS.
		Proxy:                 nil,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	a.proxy = a.newReverseProxy()
	a.preview = a.newPreviewProxy()
	a.metrics = newMetrics(a)
	a.routes()
	guard := cfg.FDGuard
	if guard == nil {
		guard = &fdlimit.Guard{}
	}
	a.handler = guard.Shed(a.withRequestID(a.mux), "/health")
	if err := a.reattach(context.Background()); err != nil {
		return nil, err
	}
	return a, nil
}

// Handler is the agent's HTTP handler.
func (a *Agent) Handler() http.Handler { return a.handler }

// Run serves on cfg.Listen until ctx is done, then shuts the server down.
// Seats keep running: stopping the agent never stops a seat.
func (a *Agent) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("agent: listen: %w", err)
	}
	return a.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	if a.tls != nil {
		ln = tls.NewListener(ln, a.tls)
	}
	hs := &http.Server{
		Handler: a.handler,
		// No ReadTimeout/WriteTimeout: they would also cut long-lived
		// WebSockets and downloads. Headers must come quickly.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	a.log.Info("agent listening", "listen", ln.Addr().String(), "runtime", a.rt.Name(), "capacity", a.cfg.Capacity,
		"state_dir", a.cfg.StateDir, "version", release.Version, "dev_mode", a.devMode, "tls", a.tls != nil)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go a.watchSeats(wctx)
	select {
	case err := <-errc:
		return fmt.Errorf("agent: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.closeAllConns()
	_ = hs.Shutdown(sctx)
	a.tr.CloseIdleConnections()
	// Warm seats cannot be claimed by a later agent: remove them now.
	// Claimed seats live on.
	if c, ok := a.rt.(io.Closer); ok {
		if err := c.Close(); err != nil {
			a.log.Warn("close runtime", "err", err)
		}
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("agent: serve: %w", err)
	}
	return nil
}

// warmReady is the runtime's count of warm seats (0 if it has none).
func (a *Agent) warmReady() int {
	if w, ok := a.rt.(interface{ WarmReady() int }); ok {
		return w.WarmReady()
	}
	return 0
}

// IsLoopback reports whether a listen address ("host:port") only accepts
// connections from this machine. ":9090" (all interfaces) is not loopback.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// reattach loads the persisted seats, keeps those still alive and destroys
// the rest.
func (a *Agent) reattach(ctx context.Context) error {
	seats, err := a.state.loadSeats(a.log)
	if err != nil {
		return err
	}
	type result struct {
		s     *seatruntime.Seat
		alive bool
	}
	results := make([]result, len(seats))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, s := range seats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			results[i] = result{s: s, alive: a.rt.Alive(actx, s)}
		}()
	}
	wg.Wait()
	kept := 0
	for _, r := range results {
		k := seatKey{r.s.WorkshopID, r.s.Seat}
		if r.s.Runtime != "" && r.s.Runtime != a.rt.Name() {
			a.log.Error("seat in the state directory belongs to another runtime; leaving it alone",
				"seat", k.String(), "seat_runtime", r.s.Runtime, "runtime", a.rt.Name())
			continue
		}
		if r.alive {
			a.mu.Lock()
			e := a.entryLocked(k)
			a.setSeatLocked(e, r.s)
			a.mu.Unlock()
			kept++
			a.log.Info("reattached seat", "seat", k.String(), "pid", r.s.PID, "address", r.s.Address)
			continue
		}
		// Its processes are gone, not its home: the learner's files stay
		// for the seat's next start (only deleting a seat removes a home).
		a.log.Warn("seat died while the agent was away; cleaning it up (its home is kept)", "seat", k.String(), "pid", r.s.PID)
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := a.stopOrDestroy(dctx, r.s, true); err != nil {
			a.log.Error("clean up dead seat", "seat", k.String(), "err", err)
		}
		cancel()
		if err := a.state.removeSeat(k); err != nil {
			a.log.Error("remove dead seat's state", "seat", k.String(), "err", err)
		}
		a.metrics.failures.Inc()
	}
	if len(seats) > 0 {
		a.log.Info("state directory loaded", "seats", len(seats), "reattached", kept, "cleaned_up", len(seats)-kept)
	}
	return nil
}

// entryLocked returns the entry of k, creating it. a.mu must be held.
func (a *Agent) entryLocked(k seatKey) *seatEntry {
	e := a.seats[k]
	if e == nil {
		e = &seatEntry{}
		a.seats[k] = e
	}
	return e
}

// setSeatLocked installs s (nil to clear) in e. a.mu must be held. Each
// installed seat gets a fresh proxy host name, so pooled connections to an
// earlier daemon of the same seat are never reused.
func (a *Agent) setSeatLocked(e *seatEntry, s *seatruntime.Seat) {
	if e.host != "" {
		delete(a.byHost, e.host)
		e.host = ""
	}
	e.seat = s
	if s != nil {
		a.nextID++
		e.host = "s" + strconv.FormatUint(a.nextID, 10) + ".seat.invalid"
		a.byHost[e.host] = s
	}
}

// lookup returns the seat of k and its proxy host name.
func (a *Agent) lookup(k seatKey) (*seatruntime.Seat, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.seats[k]
	if e == nil || e.seat == nil {
		return nil, ""
	}
	return e.seat, e.host
}

// snapshot returns every installed seat with its proxy host name.
func (a *Agent) snapshot() []seatRef {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]seatRef, 0, len(a.seats))
	for _, e := range a.seats {
		if e.seat != nil {
			out = append(out, seatRef{seat: e.seat, host: e.host})
		}
	}
	return out
}

type seatRef struct {
	seat *seatruntime.Seat
	host string
}

// dialSeat is the proxy transport's dialer: the host name says which seat.
func (a *Agent) dialSeat(ctx context.Context, _, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	a.mu.Lock()
	s := a.byHost[host]
	a.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("seat for %s is gone", host)
	}
	var d net.Dialer
	return d.DialContext(ctx, s.Network, s.Address)
}

// aliveStatus asks the runtime whether each seat runs, concurrently.
func (a *Agent) aliveStatus(ctx context.Context, seats []*seatruntime.Seat) []bool {
	out := make([]bool, len(seats))
	var wg sync.WaitGroup
	for i, s := range seats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			actx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			out[i] = a.rt.Alive(actx, s)
		}()
	}
	wg.Wait()
	return out
}

// runningCount counts seats that really run, cached for a second so that
// health checks cannot make the agent probe every daemon in a tight loop.
func (a *Agent) runningCount(ctx context.Context) int {
	a.healthMu.Lock()
	defer a.healthMu.Unlock()
	if now := a.now(); now.Sub(a.healthAt) < time.Second && !a.healthAt.IsZero() {
		return a.healthCount
	}
	refs := a.snapshot()
	seats := make([]*seatruntime.Seat, len(refs))
	for i, r := range refs {
		seats[i] = r.seat
	}
	n := 0
	for _, ok := range a.aliveStatus(ctx, seats) {
		if ok {
			n++
		}
	}
	a.healthAt, a.healthCount = a.now(), n
	return n
}

func (a *Agent) invalidateHealth() {
	a.healthMu.Lock()
	a.healthAt = time.Time{}
	a.healthMu.Unlock()
}

// seatView is s as the API shows it: alive (just checked) and what the
// seat watcher knows of it. Only what the control plane may see of the
// runtime's seat travels (not its directory, address or private state).
func (a *Agent) seatView(s *seatruntime.Seat, alive bool) agentapi.Seat {
	v := agentapi.Seat{
		WorkshopID: s.WorkshopID, Seat: s.Seat, Runtime: s.Runtime,
		VCPUs: s.VCPUs, MemoryMB: s.MemoryMB, DiskMB: s.DiskMB, Image: s.Image, PID: s.PID, CreatedAt: s.CreatedAt,
		Status: agentapi.StatusRunning, Health: agentapi.HealthOK,
	}
	a.mu.Lock()
	if e := a.seats[seatKey{s.WorkshopID, s.Seat}]; e != nil && e.seat == s {
		if !e.restartedAt.IsZero() {
			t := e.restartedAt
			v.RestartedAt = &t
		}
	}
	a.mu.Unlock()
	if !alive {
		v.Status, v.Health = agentapi.StatusDead, agentapi.HealthDown
	}
	return v
}

// ensureDir creates dir with mode 0700.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent: state dir: %w", err)
	}
	return nil
}

// withRequestID gives each request the control plane's request id (header
// X-Request-Id, when valid), so that the agent's log records of the
// request carry it, and logs each control request with it: changes at
// info, reads (the reconciler's polls) at debug. The learner proxy is not
// logged per request.
func (a *Agent) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get(logging.RequestIDHeader); logging.ValidRequestID(id) {
			r = r.WithContext(logging.WithRequestID(r.Context(), id))
		}
		if strings.HasPrefix(r.URL.Path, "/proxy/") || r.URL.Path == "/health" {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		level := slog.LevelInfo
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			level = slog.LevelDebug
		}
		a.log.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path, "status", sw.code(),
			"duration_ms", time.Since(start).Milliseconds())
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) code() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}

// Unwrap lets http.ResponseController reach the connection (flushes,
// deadlines of streamed archives).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
