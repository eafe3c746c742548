// Package server is the ClaraTeach control plane's HTTP API: instructor
// accounts, workshops, learner registration and seat assignment, the relay
// of learner terminal and file traffic to workshop agents, health, metrics
// and the embedded web app.
package server

import (
	"context"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/connlimit"
	"github.com/clarateach/backend/internal/controlplane/api"
	"github.com/clarateach/backend/internal/controlplane/archive"
	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/reconcile"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/webui"
	"github.com/clarateach/backend/internal/fdlimit"
	"github.com/clarateach/backend/internal/logging"
)

// Deps are what the server needs.
type Deps struct {
	Config   *config.Config
	Store    store.Store
	Registry *prometheus.Registry // nil = a new one
	// Logger receives the server's logs (requests, with their ids);
	// nil discards them.
	Logger *slog.Logger
	// Reconciler is woken when a workshop's desired state changes, runs a
	// pass on POST /internal/reconcile, carries revokes to the hosts and
	// says how each seat's agent last answered. nil (tests, benchmarks):
	// revokes stay pending and /internal/reconcile answers 503.
	Reconciler *reconcile.Reconciler
	Now        func() time.Time
	Version    string
	// Web is the web app; nil = the embedded build.
	Web fs.FS
	// Transport reaches agents (the relay); nil = http.DefaultTransport.
	Transport http.RoundTripper
	// Sleep is how the guessing tarpits wait (tests pass one that moves
	// their clock); nil = real timers.
	Sleep func(ctx context.Context, d time.Duration) error
	// FDGuard sheds new requests with 503 near the descriptor limit; nil =
	// one watching this process.
	FDGuard *fdlimit.Guard
	// UnisolatedSeats says seats are unisolated development processes (the
	// process runtime): /health reports seats_isolated=false and the web
	// app shows everyone a banner.
	UnisolatedSeats bool
	// Archives serves learners' saved work (downloads, purge); nil: off.
	Archives *archive.Archiver
	// ActivityFlush is how long the relay keeps seat activity in memory
	// before writing it in one statement; 0 = 2 s.
	ActivityFlush time.Duration
	// ClassTick is the longest a watched workshop's class goes without a
	// read when the store signals no change (default 5 s): the safety net
	// for what the store does not see (the reconciler's seat health, a seat
	// turning idle) and for a lost notification. Changes the store sees are
	// read at once (Store.WatchClass).

	ClassTick time.Duration
}

// Server is the control-plane HTTP server.
type Server struct {
	log     *slog.Logger
	cfg     *config.Config
	st      store.Store
	rec     *reconcile.Reconciler
	now     func() time.Time
	version string
	reg     *prometheus.Registry
	mux     *http.ServeMux
	handler http.Handler
	started time.Time
	relayRT http.RoundTripper
	// unisolated: seats are development processes, not sandboxes.
	unisolated bool
	pinned     agentTransports // the relay's pinned TLS transports, per host certificate
	archives   *archive.Archiver
	// live are the relay's open requests per seat, closed by a revoke.
	live *relayConns
	// activity: the relay's seat activity, written in batches (activity.go).
	activity *activityBuffer
	// feeds: the class streams' shared producers, one per watched workshop (classfeed.go).
	feeds *classFeeds
	// hosts: the host records of multi-host workshops, for the relay (hosts.go).
	hosts hostCache

	jwtKey []byte
	wsKey  []byte

	// Guessing limits: they slow failing clients down, never refuse a
	// right answer; their counts are in the store (guard.go).
	guard *guards
	terms connlimit.Counter // live terminal connections per token and seat
	// relayHealth: the relay's last answer from each seat (seathealth.go).
	relayHealth relayHealth
	fds         *fdlimit.Guard

	metrics *metrics

	labs     labCache       // parsed lab versions (labs.go)
	checking sync.Map       // seats with a lab check running ("ws/seat")
	setups   labSetups      // learners' lab setups known here (labsetup.go)
	pushes   pushDeliveries // learners' pushed files looked at here (pushdeliver.go)

	previewHandler http.Handler // the preview origin (preview.go)
}

// Route is one API route, listed so the OpenAPI test can compare.
type Route struct {
	Method  string
	Pattern string
}

// New builds the server.
func New(d Deps) *Server {
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		log:        log,
		cfg:        d.Config,
		st:         d.Store,
		rec:        d.Reconciler,
		now:        d.Now,
		version:    d.Version,
		reg:        d.Registry,
		started:    time.Now(),
		relayRT:    d.Transport,
		unisolated: d.UnisolatedSeats,
		archives:   d.Archives,
		live:       newRelayConns(),
		jwtKey:     []byte(d.Config.JWTSecret),
		wsKey:      []byte(d.Config.WorkspaceTokenSecret),
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.activity = newActivityBuffer(s.st, s.log, d.ActivityFlush)
	if d.ClassTick <= 0 {
		d.ClassTick = 5 * time.Second
	}
	s.feeds = newClassFeeds(s.readClass, s.st.WatchClass, d.ClassTick)
	s.guard = newGuards(s.st, s.now, d.Sleep)
	s.guard.log = s.log
	if s.fds = d.FDGuard; s.fds == nil {
		s.fds = &fdlimit.Guard{}
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	if s.relayRT == nil {
		s.relayRT = http.DefaultTransport
	}
	if s.version == "" {
		s.version = "dev"
	}
	if s.signupMode() == config.SignupOpen {
		s.log.Warn("SIGNUP=open: anyone who can reach this server can create an instructor account; use SIGNUP=invite or closed unless that is what you want")
	}
	s.metrics = newMetrics(s.reg, s.st, s.log)
	web := d.Web
	if web == nil {
		web = webui.FS()
	}
	s.mux = http.NewServeMux()
	for _, rt := range s.routes() {
		s.mux.Handle(rt.Method+" "+rt.Pattern, rt.h)
	}
	webHandler := webui.Handler(web)
	s.mux.Handle("/", serve(func(w http.ResponseWriter, r *http.Request) error {
		if allow := s.allowedMethods(r); allow != "" {
			w.Header().Set("Allow", allow)
			return apierror.New(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow)
		}
		if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/internal/") {
			return apierror.NotFound("no API route %s %s", r.Method, r.URL.Path)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			return apierror.New(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed here", r.Method)
		}
		webHandler.ServeHTTP(w, r)
		return nil
	}))
	s.handler = s.withMiddleware(s.fds.Shed(s.mux, "/health", "/metrics"))
	s.previewHandler = s.newPreviewHandler()
	s.handler = s.previewDispatch(s.handler)
	return s
}

// allowedMethods lists the methods some API route accepts for r's path,
// for a 405 answer; "" when none does.
func (s *Server) allowedMethods(r *http.Request) string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	return strings.Join(allow, ", ")
}

type route struct {
	Route
	h http.Handler
}

func (s *Server) routes() []route {
	r := func(method, pattern string, h apierror.HandlerFunc) route {
		return route{Route{method, pattern}, serve(h)}
	}
	return []route{
		r("GET", "/health", s.handleHealth),
		r("GET", "/metrics", s.handleMetrics),
		r("POST", "/internal/reconcile", s.handleInternalReconcile),

		r("POST", "/api/auth/register", s.handleRegisterUser),
		r("POST", "/api/auth/login", s.handleLogin),
		r("POST", "/api/auth/logout", s.handleLogout),
		r("GET", "/api/auth/me", s.auth(s.handleMe)),
		r("GET", "/api/auth/signup", s.handleSignupInfo),

		r("POST", "/api/invites", s.auth(s.adminOnly(s.handleCreateInvite))),
		r("GET", "/api/invites", s.auth(s.adminOnly(s.handleListInvites))),
		r("DELETE", "/api/invites/{iid}", s.auth(s.adminOnly(s.handleDeleteInvite))),
		r("GET", "/api/admin/users", s.auth(s.adminOnly(s.handleListUsers))),
		r("PUT", "/api/admin/users/{uid}/quota", s.auth(s.adminOnly(s.handleSetQuota))),
		r("DELETE", "/api/admin/users/{uid}/quota", s.auth(s.adminOnly(s.handleResetQuota))),

		r("POST", "/api/workshops", s.auth(s.handleCreateWorkshop)),
		r("GET", "/api/workshops", s.auth(s.handleListWorkshops)),
		r("GET", "/api/workshops/{id}", s.auth(s.member(s.handleGetWorkshop))),
		r("DELETE", "/api/workshops/{id}", s.auth(s.owned(s.handleDeleteWorkshop))),
		r("PATCH", "/api/workshops/{id}", s.auth(s.owned(s.handlePatchWorkshop))),
		r("POST", "/api/workshops/{id}/start", s.auth(s.owned(s.handleStartWorkshop))),
		r("POST", "/api/workshops/{id}/stop", s.auth(s.owned(s.handleStopWorkshop))),
		r("POST", "/api/workshops/{id}/retry", s.auth(s.owned(s.handleRetryWorkshop))),
		r("POST", "/api/workshops/{id}/extend", s.auth(s.owned(s.handleExtendWorkshop))),
		r("GET", "/api/workshops/{id}/registrations", s.auth(s.member(s.handleListRegistrations))),
		r("DELETE", "/api/workshops/{id}/registrations/{rid}", s.auth(s.member(s.handleRevoke))),
		r("POST", "/api/workshops/{id}/registrations/{rid}/reissue", s.auth(s.member(s.handleReissue))),
		r("GET", "/api/workshops/{id}/seats", s.auth(s.member(s.handleListSeats))),
		r("POST", "/api/workshops/{id}/seats/{seat}/token", s.auth(s.member(s.handleSeatToken))),
		r("GET", "/api/workshops/{id}/stream", s.auth(s.member(s.handleStream))),
		r("GET", "/api/workshops/{id}/members", s.auth(s.member(s.handleListMembers))),
		r("POST", "/api/workshops/{id}/members", s.auth(s.owned(s.handleAddMember))),
		r("DELETE", "/api/workshops/{id}/members/{uid}", s.auth(s.owned(s.handleRemoveMember))),

		r("POST", "/api/register", s.handleLearnerRegister),
		r("POST", "/api/join", s.handleJoin),
		r("POST", "/api/download", s.handleDownload),
		r("GET", "/api/workshops/{id}/archives.tar", s.auth(s.owned(s.handleWorkshopArchivesTar))),
		r("DELETE", "/api/workshops/{id}/archives", s.auth(s.owned(s.handlePurgeArchives))),

		r("POST", "/api/labs", s.auth(s.handleUploadLab)),
		r("GET", "/api/labs", s.auth(s.handleListLabs)),
		r("GET", "/api/labs/{lid}", s.auth(s.handleGetLab)),
		r("GET", "/api/labs/{lid}/export", s.auth(s.handleExportLab)),
		r("PUT", "/api/workshops/{id}/lab", s.auth(s.owned(s.handleSetWorkshopLab))),
		r("GET", "/api/workshops/{id}/progress", s.auth(s.member(s.handleProgress))),
		r("GET", "/api/workshops/{id}/progress.csv", s.auth(s.member(s.handleProgressCSV))),
		r("GET", "/api/workshops/{id}/hands", s.auth(s.member(s.handleListHands))),
		r("POST", "/api/workshops/{id}/hands/{hid}/pick", s.auth(s.member(s.handlePickHand))),
		r("POST", "/api/workshops/{id}/hands/{hid}/close", s.auth(s.member(s.handleCloseHand))),
		r("POST", "/api/workshops/{id}/broadcast", s.auth(s.member(s.handleBroadcast))),
		r("POST", "/api/workshops/{id}/files", s.auth(s.member(s.handlePushFile))),
		r("POST", "/api/workshops/{id}/registrations/{rid}/solve", s.auth(s.member(s.handleSolve))),
		r("POST", "/api/workshops/{id}/registrations/{rid}/reset-step", s.auth(s.member(s.handleResetStep))),
		r("GET", "/api/workspaces/{ws}/{seat}/lab", s.handleLearnerLab),
		r("GET", "/api/workspaces/{ws}/{seat}/live", s.handleLearnerLive),
		r("POST", "/api/workspaces/{ws}/{seat}/lab/enter", s.handleLearnerEnterStep),
		r("POST", "/api/workspaces/{ws}/{seat}/lab/check", s.handleLearnerCheck),
		r("POST", "/api/workspaces/{ws}/{seat}/lab/hand", s.handleLearnerRaiseHand),
		r("DELETE", "/api/workspaces/{ws}/{seat}/lab/hand", s.handleLearnerLowerHand),

		r("POST", "/api/workspaces/{ws}/{seat}/preview", s.handlePreviewOpen),
		r("GET", "/api/workspaces/{ws}/{seat}/shares", s.handleListShares),
		r("POST", "/api/workspaces/{ws}/{seat}/shares", s.handleCreateShare),
		r("DELETE", "/api/workspaces/{ws}/{seat}/shares/{sid}", s.handleDeleteShare),

		r("GET", "/api/workspaces/{ws}/{seat}/{rest...}", s.handleRelay),
		r("POST", "/api/workspaces/{ws}/{seat}/{rest...}", s.handleRelay),
		r("PUT", "/api/workspaces/{ws}/{seat}/{rest...}", s.handleRelay),
		r("DELETE", "/api/workspaces/{ws}/{seat}/{rest...}", s.handleRelay),
	}
}

// Routes lists the server's routes (for the OpenAPI check).
func (s *Server) Routes() []Route {
	var out []Route
	for _, r := range s.routes() {
		out = append(out, r.Route)
	}
	return out
}

// Handler is the server's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// handleMetrics serves the Prometheus metrics to a scraper that presents
// METRICS_TOKEN as a bearer token. The metrics name every workshop, so
// without a configured token the route answers 404 to everyone: off is
// the default a careless operator gets.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	want := s.cfg.MetricsToken
	if want == "" {
		return apierror.NotFound("metrics are off; set METRICS_TOKEN to scrape them")
	}
	got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !authtoken.Equal(got, want) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
		return apierror.Unauthorized("a valid metrics token is required")
	}
	promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status, code, db := "ok", http.StatusOK, "ok"
	if err := s.st.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "health: database unreachable", "err", err)
		status, code, db = "degraded", http.StatusServiceUnavailable, "unreachable"
	}
	apierror.JSON(w, code, api.Health{
		Status:        status,
		Version:       s.version,
		DB:            db,
		DBEngine:      s.st.Engine(),
		Provisioner:   s.cfg.Provisioner,
		SeatsIsolated: !s.unisolated,
		UptimeSeconds: int(time.Since(s.started).Seconds()),
	})
	return nil
}

func (s *Server) handleInternalReconcile(w http.ResponseWriter, r *http.Request) error {
	want := s.cfg.InternalToken
	got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if want == "" || !authtoken.Equal(got, want) {
		return apierror.Unauthorized("a valid internal token is required")
	}
	if s.rec == nil {
		return apierror.Unavailable("the reconciler is not running in this process")
	}
	if err := s.rec.RunOnce(r.Context()); err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, api.Done{Status: "ok"})
	return nil
}

// withMiddleware adds request ids, logging, metrics, panics as 500s, CORS,
// and a same-origin check on cookie-authenticated writes.
func (s *Server) withMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(logging.RequestIDHeader)
		if !logging.ValidRequestID(id) {
			id = authtoken.Random(8)
		}
		ctx := logging.WithRequestID(r.Context(), id)
		r = r.WithContext(ctx)
		w.Header().Set(logging.RequestIDHeader, id)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(ctx, "panic", "panic", p, "path", r.URL.Path)
				if sw.status == 0 {
					apierror.Write(sw, r, apierror.New(http.StatusInternalServerError, "internal", "internal server error"))
				}
			}
			pattern := r.Pattern
			if pattern == "" {
				pattern = "unmatched"
			}
			s.metrics.observe(r.Method, pattern, sw.code(), time.Since(start))
			if r.URL.Path != "/health" && r.URL.Path != "/metrics" && !sw.noLog {
				s.log.InfoContext(ctx, "request", "method", r.Method, "path", r.URL.Path, "status", sw.code(),
					"duration_ms", time.Since(start).Milliseconds(), "client", s.clientIP(r))
			}
		}()
		if !s.cors(sw, r) {
			return
		}
		next.ServeHTTP(sw, r)
	})
}

// cors applies CORS_ORIGINS exactly. It returns false when the request was
// fully answered (a preflight) or refused.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	w.Header().Add("Vary", "Origin")
	allowed, wildcard := false, false
	for _, o := range s.cfg.CORSOrigins {
		if o == "*" {
			wildcard = true
		} else if o == origin {
			allowed = true
		}
	}
	same := s.sameOrigin(r, origin)
	if allowed {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
	} else if wildcard {
		// Any origin may call, but never with credentials.
		w.Header().Set("Access-Control-Allow-Origin", "*")
	}
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		if allowed || wildcard || same {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
		} else {
			apierror.Write(w, r, apierror.Forbidden("origin %s is not allowed", origin))
		}
		return false
	}
	// A cross-site write carrying our session cookie is refused (CSRF).
	if !allowed && !same && r.Method != http.MethodGet && r.Method != http.MethodHead {
		if _, err := r.Cookie(sessionCookie); err == nil {
			apierror.Write(w, r, apierror.Forbidden("cross-origin request from %s refused", origin))
			return false
		}
	}
	return true
}

func (s *Server) sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if u.Host == r.Host {
		return true
	}
	pub, err := url.Parse(s.cfg.PublicURL)
	return err == nil && pub.Scheme == u.Scheme && pub.Host == u.Host
}

// clientIP is the client's address: the connection's peer, or, behind
// TrustProxyHops trusted proxies, the entry they saw in X-Forwarded-For.
func (s *Server) clientIP(r *http.Request) string {
	if s.cfg.TrustProxyHops > 0 {
		var parts []string
		for _, h := range r.Header.Values("X-Forwarded-For") {
			for _, p := range strings.Split(h, ",") {
				if p = strings.TrimSpace(p); p != "" {
					parts = append(parts, p)
				}
			}
		}
		if i := len(parts) - s.cfg.TrustProxyHops; i >= 0 && i < len(parts) {
			return parts[i]
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type statusWriter struct {
	http.ResponseWriter
	status int
	noLog  bool // answered a flood (a refused terminal): counted, not logged
}

func (w *statusWriter) quiet() { w.noLog = true }

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush supports streaming (SSE) through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// kick wakes the reconciler for workshopID, if one runs in this process.
func (s *Server) kick(workshopID string) {
	if s.rec != nil {
		s.rec.Kick(workshopID)
	}
}
