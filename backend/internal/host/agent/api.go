package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/egress"
	"github.com/clarateach/backend/internal/host/agentapi"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/release"
)

func (a *Agent) routes() {
	m := http.NewServeMux()
	m.Handle("GET /health", a.handle(a.handleHealth))
	m.Handle("GET /metrics", a.requireAgentToken(a.metrics.handler))
	m.Handle("POST /vms/", a.requireAgentToken(a.handle(a.handleCreate)))
	m.Handle("POST /vms", a.requireAgentToken(a.handle(a.handleCreate)))
	m.Handle("GET /vms", a.requireAgentToken(a.handle(a.handleList)))
	m.Handle("GET /vms/", a.requireAgentToken(a.handle(a.handleList)))
	m.Handle("GET /vms/{ws}/{seat}", a.requireAgentToken(a.handle(a.handleGet)))
	m.Handle("DELETE /vms/{ws}/{seat}", a.requireAgentToken(a.handle(a.handleDelete)))
	m.Handle("GET /homes", a.requireAgentToken(a.handle(a.handleHomes)))
	m.Handle("POST /vms/{ws}/{seat}/disconnect", a.requireAgentToken(a.handle(a.handleDisconnect)))
	m.Handle("GET /vms/{ws}/{seat}/archive", a.requireAgentToken(a.handle(a.handleArchive)))
	m.Handle("PUT /vms/{ws}/{seat}/restore", a.requireAgentToken(a.handle(a.handleRestore)))
	m.Handle("POST /vms/{ws}/{seat}/exec", a.requireAgentToken(a.handle(a.handleExec)))
	m.Handle("POST /images/pull", a.requireAgentToken(a.handle(a.handlePullImage)))
	m.Handle("GET /images/pull", a.requireAgentToken(a.handle(a.handlePullStatus)))
	m.Handle("GET /images", a.requireAgentToken(a.handle(a.handleListImages)))
	m.Handle("POST /images/prune", a.requireAgentToken(a.handle(a.handlePruneImages)))
	m.Handle("/proxy/{ws}/{seat}/{rest...}", a.handle(a.handleProxy))
	m.Handle("/proxy/{ws}/{seat}/preview/{port}", a.handle(a.handlePreview))
	m.Handle("/", a.handle(func(w http.ResponseWriter, r *http.Request) error {
		return apierror.NotFound("no route for %s %s", r.Method, r.URL.Path)
	}))
	a.mux = m
}

// handle adapts an error-returning handler: its error is written as the
// API's answer, the agent's own errors mapped by apiError.
func (a *Agent) handle(h apierror.HandlerFunc) http.Handler {
	return apierror.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return apiError(h(w, r))
	})
}

// apiError maps the agent's domain errors to API errors, in one place: a
// full host is 503 unavailable, a seat that would not start 500
// seat_failed. Other errors pass as they are (an *apierror.Error, or a 500).
func apiError(err error) error {
	var se *SeatError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return apierror.New(http.StatusInternalServerError, "seat_failed", "%s", se.Error())
	case errors.Is(err, seatruntime.ErrCapacity):
		return apierror.Unavailable("%s", err.Error())
	}
	return err
}

// requireAgentToken checks "Authorization: Bearer <agent token>" in
// constant time. In dev mode (no token) everything passes.
func (a *Agent) requireAgentToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.devMode {
			got, ok := bearer(r)
			if !ok || !authtoken.Equal(got, a.cfg.Token) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="clarateach-agent"`)
				apierror.Write(w, r, apierror.Unauthorized("missing or wrong agent token"))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// bearer returns the token of an "Authorization: Bearer X" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func (a *Agent) handleHealth(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	apierror.JSON(w, http.StatusOK, agentapi.Health{
		Status:        "ok",
		Version:       release.Version,
		VMCount:       a.runningCount(ctx),
		Capacity:      a.cfg.Capacity,
		Runtime:       a.rt.Name(),
		UptimeSeconds: float64(a.now().Sub(a.started).Milliseconds()) / 1000,
		WarmSeats:     a.warmReady(),
	})
	return nil
}

// validWorkshopID accepts 1-64 letters, digits, '-' and '_', starting with a
// letter or digit: safe in file names, cgroup names and log file names.
func validWorkshopID(id string) error {
	if id == "" {
		return apierror.Invalid("workshop_id is required")
	}
	if len(id) > 64 {
		return apierror.Invalid("workshop_id is longer than 64 characters")
	}
	for i, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || (i > 0 && (c == '-' || c == '_'))
		if !ok {
			return apierror.Invalid("workshop_id may only contain letters, digits, '-' and '_' (and must start with a letter or digit)")
		}
	}
	return nil
}

// validSeat checks a seat number. Numbers are the workshop's (host 2 of a
// multi-host workshop holds seats 31..60 at 30 per host), so they are
// bounded by the largest workshop, not by this host's capacity: how many
// seats the host holds at once is checked when one is created.
func (a *Agent) validSeat(n int) error {
	if n < 1 || n > agentapi.MaxSeatID {
		return apierror.Invalid("seat_id must be between 1 and %d", agentapi.MaxSeatID)
	}
	return nil
}

// pathSeat parses {ws} and {seat} from the request path.
func (a *Agent) pathSeat(r *http.Request) (seatKey, error) {
	ws := r.PathValue("ws")
	if err := validWorkshopID(ws); err != nil {
		return seatKey{}, err
	}
	n, err := strconv.Atoi(r.PathValue("seat"))
	if err != nil {
		return seatKey{}, apierror.Invalid("seat must be a number")
	}
	if err := a.validSeat(n); err != nil {
		return seatKey{}, err
	}
	return seatKey{ws, n}, nil
}

func (a *Agent) handleCreate(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path != "/vms" && r.URL.Path != "/vms/" {
		return apierror.NotFound("no route for %s %s", r.Method, r.URL.Path)
	}
	var req agentapi.CreateSeatRequest
	if err := apierror.Decode(w, r, &req, 0); err != nil {
		return err
	}
	if err := validWorkshopID(req.WorkshopID); err != nil {
		return err
	}
	if err := a.validSeat(req.SeatID); err != nil {
		return err
	}
	if req.VCPUs < 0 || req.VCPUs > a.cfg.MaxVCPUs {
		return apierror.Invalid("vcpus must be between 1 and %d (or omitted for the default)", a.cfg.MaxVCPUs)
	}
	if req.MemoryMB != 0 && (req.MemoryMB < MinMemoryMB || req.MemoryMB > a.cfg.MaxMemoryMB) {
		return apierror.Invalid("memory_mb must be between %d and %d (or omitted for the default)", MinMemoryMB, a.cfg.MaxMemoryMB)
	}
	if req.DiskMB != 0 && (req.DiskMB < MinDiskMB || req.DiskMB > a.cfg.MaxDiskMB) {
		return apierror.Invalid("disk_mb must be between %d and %d (or omitted for the default)", MinDiskMB, a.cfg.MaxDiskMB)
	}
	allow, err := egress.ParseRules(req.EgressAllow)
	if err != nil {
		return apierror.Invalid("egress_allow: %v", err)
	}
	img, err := a.seatImage(req.Image)
	if err != nil {
		return err
	}
	seat, created, err := a.CreateSeat(r.Context(), seatruntime.Spec{
		WorkshopID: req.WorkshopID, Seat: req.SeatID, VCPUs: req.VCPUs, MemoryMB: req.MemoryMB, DiskMB: req.DiskMB, Egress: allow,
		Image: img, LearnerRoot: req.LearnerRoot,
	})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	apierror.JSON(w, status, a.seatView(seat, true))
	return nil
}

// SeatError is a seat the runtime could not start or restart in place.
// The API answers it 500 seat_failed (apiError).
type SeatError struct {
	Op   string // start, restart
	Seat string // "workshop/seat"
	Err  error
}

func (e *SeatError) Error() string {
	return "could not " + e.Op + " seat " + e.Seat + ": " + e.Err.Error()
}
func (e *SeatError) Unwrap() error { return e.Err }

// CreateSeat creates the seat of spec, or returns the running one (created
// is false). A seat that exists but died is destroyed and created again.
// Concurrent calls for the same seat create it once.
func (a *Agent) CreateSeat(ctx context.Context, spec seatruntime.Spec) (*seatruntime.Seat, bool, error) {
	k := seatKey{spec.WorkshopID, spec.Seat}
	a.mu.Lock()
	e := a.entryLocked(k)
	a.mu.Unlock()

	e.op.Lock()
	defer e.op.Unlock()

	a.mu.Lock()
	existing := e.seat
	a.mu.Unlock()
	if existing != nil {
		if a.rt.Alive(ctx, existing) {
			return existing, false, nil
		}
		a.log.WarnContext(ctx, "seat died; restarting it in place", "seat", k.String(), "pid", existing.PID)
		seat, err := a.repairLocked(ctx, k, e, existing)
		return seat, err == nil, err
	}

	// Reserve a slot.
	a.mu.Lock()
	used := a.pending
	for _, other := range a.seats {
		if other.seat != nil {
			used++
		}
	}
	if used >= a.cfg.Capacity {
		a.mu.Unlock()
		return nil, false, fmt.Errorf("%w (%d seats)", seatruntime.ErrCapacity, a.cfg.Capacity)
	}
	a.pending++
	a.mu.Unlock()
	pending := true // until the seat is installed, when it counts as a seat
	defer func() {
		a.mu.Lock()
		if pending {
			a.pending--
		}
		a.mu.Unlock()
	}()

	start := time.Now()
	// The seat must not be half-created because the caller went away.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	seat, err := a.rt.Create(cctx, spec)
	created := time.Now()
	if err == nil {
		seat.LearnerRoot = spec.LearnerRoot
	}
	if err == nil && spec.Image != nil {
		seat.Image = spec.Image.Digest
		_ = a.cfg.Images.Use(spec.Image.Digest)
	}
	if err != nil {
		a.metrics.failures.Inc()
		if errors.Is(err, seatruntime.ErrCapacity) {
			return nil, false, fmt.Errorf("%w: %v", seatruntime.ErrCapacity, err)
		}
		a.log.ErrorContext(ctx, "create seat", "seat", k.String(), "err", err)
		return nil, false, &SeatError{Op: "start", Seat: k.String(), Err: err}
	}
	if err := a.state.saveSeat(seat); err != nil {
		a.metrics.failures.Inc()
		_ = a.rt.Destroy(cctx, seat)
		return nil, false, err
	}
	saved := time.Now()
	a.mu.Lock()
	a.setSeatLocked(e, seat)
	e.restartedAt = time.Time{}
	a.pending--
	pending = false
	host := e.host
	a.mu.Unlock()
	if !seat.ShellReady {
		a.startFirstShell(cctx, k, host)
	}
	if st, ok := a.rt.(seatruntime.Settler); ok {
		st.Settle(seat) // its start is over: back to a running seat's CPU share
	}
	a.metrics.startSeconds.Observe(time.Since(start).Seconds())
	a.invalidateHealth()
	a.log.InfoContext(ctx, "seat created", "seat", k.String(), "runtime", seat.Runtime, "pid", seat.PID, "took", time.Since(start).Round(time.Millisecond),
		"runtime_create", created.Sub(start), "state_file", saved.Sub(created), "first_shell", time.Since(saved))
	return seat, true, nil
}

// startFirstShell starts a new seat's first terminal session and waits
// (bounded) for its prompt, so that the learner's first connection attaches
// to a shell that is already up (the daemon gives a client without a
// session id its newest session). Failure only costs that speed-up: the
// daemon starts a shell on the first connection as before.
func (a *Agent) startFirstShell(ctx context.Context, k seatKey, host string) {
	tq := time.Now()
	select {
	case a.shellStarts <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-a.shellStarts }()
	t0 := time.Now()
	defer func() {
		a.log.DebugContext(ctx, "first shell", "seat", k.String(), "queued", t0.Sub(tq), "took", time.Since(t0))
	}()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+host+"/sessions", strings.NewReader(`{"wait_output_ms":3000}`))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: a.tr}).Do(req)
	if err != nil {
		a.log.WarnContext(ctx, "start first shell", "seat", k.String(), "err", err)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		a.log.WarnContext(ctx, "start first shell", "seat", k.String(), "status", resp.Status)
	}
}

// DeleteSeat closes the seat's connections, destroys it, removes its home
// (also the kept home of a stopped seat) and forgets it. Deleting a seat
// that does not exist succeeds.
func (a *Agent) DeleteSeat(ctx context.Context, workshopID string, seat int) error {
	return a.endSeat(ctx, seatKey{workshopID, seat}, false)
}

// StopSeat is DeleteSeat keeping the seat's home on the host (with a
// runtime that can): the next CreateSeat of the seat gets it back.
func (a *Agent) StopSeat(ctx context.Context, workshopID string, seat int) error {
	return a.endSeat(ctx, seatKey{workshopID, seat}, true)
}

func (a *Agent) endSeat(ctx context.Context, k seatKey, keepHome bool) error {
	a.mu.Lock()
	e := a.entryLocked(k)
	a.mu.Unlock()
	e.op.Lock()
	defer e.op.Unlock()
	a.mu.Lock()
	s := e.seat
	a.mu.Unlock()
	if s != nil {
		a.closeConns(k)
		if err := a.stopOrDestroy(context.WithoutCancel(ctx), s, keepHome); err != nil {
			return fmt.Errorf("end seat %s: %w", k, err)
		}
		a.mu.Lock()
		a.setSeatLocked(e, nil)
		a.mu.Unlock()
		a.tr.CloseIdleConnections()
		a.invalidateHealth()
	}
	if err := a.state.removeSeat(k); err != nil {
		return err
	}
	if hk, ok := a.rt.(seatruntime.HomeKeeper); ok && !keepHome {
		if err := hk.RemoveHome(context.WithoutCancel(ctx), k.ws, k.seat); err != nil {
			return fmt.Errorf("remove the home of seat %s: %w", k, err)
		}
	}
	if s != nil {
		a.log.InfoContext(ctx, "seat ended", "seat", k.String(), "home_kept", keepHome)
	}
	return nil
}

// stopOrDestroy ends a seat, keeping its home when asked and the runtime
// can.
func (a *Agent) stopOrDestroy(ctx context.Context, s *seatruntime.Seat, keepHome bool) error {
	if hk, ok := a.rt.(seatruntime.HomeKeeper); ok && keepHome {
		return hk.Stop(ctx, s)
	}
	return a.rt.Destroy(ctx, s)
}

// Homes lists the seat homes on this host (nil when the runtime keeps none).
func (a *Agent) Homes() ([]seatruntime.Home, error) {
	hk, ok := a.rt.(seatruntime.HomeKeeper)
	if !ok {
		return nil, nil
	}
	return hk.Homes()
}

func (a *Agent) handleHomes(w http.ResponseWriter, r *http.Request) error {
	homes, err := a.Homes()
	if err != nil {
		return err
	}
	out := agentapi.HomeList{Homes: make([]agentapi.Home, 0, len(homes))}
	for _, h := range homes {
		out.Homes = append(out.Homes, agentapi.Home{WorkshopID: h.WorkshopID, Seat: h.Seat})
	}
	apierror.JSON(w, http.StatusOK, out)
	return nil
}

func (a *Agent) handleList(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path != "/vms" && r.URL.Path != "/vms/" {
		return apierror.NotFound("no route for %s %s", r.Method, r.URL.Path)
	}
	refs := a.snapshot()
	seats := make([]*seatruntime.Seat, len(refs))
	for i, ref := range refs {
		seats[i] = ref.seat
	}
	alive := a.aliveStatus(r.Context(), seats)
	out := agentapi.SeatList{VMs: make([]agentapi.Seat, 0, len(seats))}
	for i, s := range seats {
		out.VMs = append(out.VMs, a.seatView(s, alive[i]))
	}
	sortSeats(out.VMs)
	apierror.JSON(w, http.StatusOK, out)
	return nil
}

func sortSeats(v []agentapi.Seat) {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && lessSeat(v[j], v[j-1]); j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}

func lessSeat(x, y agentapi.Seat) bool {
	if x.WorkshopID != y.WorkshopID {
		return x.WorkshopID < y.WorkshopID
	}
	return x.Seat < y.Seat
}

func (a *Agent) handleGet(w http.ResponseWriter, r *http.Request) error {
	k, err := a.pathSeat(r)
	if err != nil {
		return err
	}
	s, _ := a.lookup(k)
	if s == nil {
		return apierror.NotFound("seat %s not found", k)
	}
	apierror.JSON(w, http.StatusOK, a.seatView(s, a.rt.Alive(r.Context(), s)))
	return nil
}

func (a *Agent) handleDelete(w http.ResponseWriter, r *http.Request) error {
	k, err := a.pathSeat(r)
	if err != nil {
		return err
	}
	keep := false
	switch r.URL.Query().Get("keep_home") {
	case "", "false", "0":
	case "true", "1":
		keep = true
	default:
		return apierror.Invalid("keep_home must be true or false")
	}
	if err := a.endSeat(r.Context(), k, keep); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *Agent) handleDisconnect(w http.ResponseWriter, r *http.Request) error {
	k, err := a.pathSeat(r)
	if err != nil {
		return err
	}
	var req agentapi.DisconnectRequest
	if r.ContentLength != 0 {
		if err := apierror.Decode(w, r, &req, 0); err != nil {
			return err
		}
	}
	if req.MinGeneration < 0 {
		return apierror.Invalid("min_generation must not be negative")
	}
	res, err := a.Disconnect(k.ws, k.seat, req.MinGeneration)
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, res)
	return nil
}

// Disconnect raises the seat's lowest valid token generation to minGen
// (persisted in the state directory before it returns, so it outlives a
// restart) and closes the live proxy connections whose token is below it.
// With minGen zero it closes every connection of the seat. The new minimum
// and the close happen under a.mu, where handleProxy checks a token and
// tracks its connection: a request either sees the new minimum or is
// tracked in time to be closed.
func (a *Agent) Disconnect(workshopID string, seat int, minGen int64) (*agentapi.DisconnectResult, error) {
	k := seatKey{workshopID, seat}
	res := &agentapi.DisconnectResult{}
	if minGen > 0 {
		a.revMu.Lock()
		defer a.revMu.Unlock()
		a.mu.Lock()
		if minGen > a.minGen[k] {
			a.minGen[k] = minGen
		}
		res.MinGeneration = a.minGen[k]
		snap := make(map[seatKey]int64, len(a.minGen))
		for kk, v := range a.minGen {
			snap[kk] = v
		}
		a.mu.Unlock()
		// Connections first: they must not wait for the disk.
		res.Closed = a.closeConnsBelow(k, res.MinGeneration)
		if err := a.state.saveGenerations(snap); err != nil {
			return nil, err
		}
	} else {
		res.Closed = a.closeConns(k)
	}
	a.log.Info("seat disconnected", "seat", k.String(), "closed", res.Closed, "min_generation", res.MinGeneration)
	return res, nil
}
