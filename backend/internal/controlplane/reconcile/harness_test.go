package reconcile_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/gce/gcename"
	"github.com/clarateach/backend/internal/controlplane/gce/gcetest"
	"github.com/clarateach/backend/internal/controlplane/provision"
	"github.com/clarateach/backend/internal/controlplane/provision/gcevm"
	"github.com/clarateach/backend/internal/controlplane/reconcile"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
	"github.com/clarateach/backend/internal/controlplane/store/storetest"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/seatruntime/process"
	"github.com/clarateach/backend/internal/hostcert"
)

const (
	project  = "clarateach"
	zone     = "us-central1-b"
	snapshot = "clarateach-snapshot-test"
	secret   = "test-workspace-secret-0123456789"
)

// engines are the store engines the reconciler tests run on.
var engines = []string{"sqlite", "postgres"}

func openStore(t testing.TB, engine string) store.Store {
	t.Helper()
	if engine == "postgres" {
		return storetest.NewPostgres(t) // a fresh, migrated schema
	}
	st, err := open.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatalf("open %s store: %v", engine, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// clock is the reconciler's fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newWorkshop stores a workshop (desired running unless mod changes it).
func newWorkshop(t testing.TB, st store.Store, seats int, mod func(*store.Workshop)) *store.Workshop {
	t.Helper()
	ctx := context.Background()
	u := &store.User{Email: "i-" + authtoken.Random(4) + "@example.test", Name: "Instructor", PasswordHash: "x"}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatalf("create user: %v", err)
	}
	w := &store.Workshop{OwnerID: u.ID, Name: "Intro to Linux", Seats: seats,
		Status: store.StatusCreated, DesiredState: store.DesiredRunning, Provisioner: "gcp"}
	if mod != nil {
		mod(w)
	}
	if err := st.CreateWorkshop(ctx, w); err != nil {
		t.Fatalf("create workshop: %v", err)
	}
	return w
}

func get(t testing.TB, st store.Store, id string) *store.Workshop {
	t.Helper()
	w, err := st.GetWorkshop(context.Background(), id)
	if err != nil {
		t.Fatalf("get workshop %s: %v", id, err)
	}
	return w
}

func update(t testing.TB, st store.Store, id string, fn func(*store.Workshop)) {
	t.Helper()
	if _, err := st.UpdateWorkshop(context.Background(), id, func(w *store.Workshop) error { fn(w); return nil }); err != nil {
		t.Fatalf("update workshop %s: %v", id, err)
	}
}

// retry does what the server's retry route does.
func retry(t testing.TB, st store.Store, id string) {
	update(t, st, id, func(w *store.Workshop) { w.Attempts, w.NextAttemptAt = 0, nil })
}

func events(t testing.TB, st store.Store, id string) []string {
	t.Helper()
	evs, err := st.ListEvents(context.Background(), id, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Level + " " + string(e.Step) + ": " + e.Message
	}
	return out
}

func hasEvent(evs []string, sub string) bool {
	return slices.ContainsFunc(evs, func(e string) bool { return strings.Contains(e, sub) })
}

func pass(t testing.TB, r *reconcile.Reconciler) {
	t.Helper()
	if err := r.RunOnce(context.Background()); err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
}

func wantStatus(t testing.TB, st store.Store, id string, status store.Status) *store.Workshop {
	t.Helper()
	w := get(t, st, id)
	if w.Status != status {
		t.Fatalf("workshop %s is %s (step %q, reason %q), want %s\nevents:\n%s", id, w.Status, w.Step, w.StatusReason, status,
			strings.Join(events(t, st, id), "\n"))
	}
	return w
}

// gauge reads a gauge or the sample count of a histogram from a registry.
func metric(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// killableStore simulates a control plane that is killed: after kill, every
// write (and every lease call) fails, the way a dead process writes nothing
// and never releases its lease.
type killableStore struct {
	store.Store
	dead atomic.Bool
}

var errKilled = errors.New("killed")

func (k *killableStore) kill() { k.dead.Store(true) }

func (k *killableStore) check() error {
	if k.dead.Load() {
		return errKilled
	}
	return nil
}

func (k *killableStore) UpdateWorkshop(ctx context.Context, id string, fn func(*store.Workshop) error) (*store.Workshop, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	return k.Store.UpdateWorkshop(ctx, id, fn)
}

func (k *killableStore) UpsertWorkshopVM(ctx context.Context, vm *store.WorkshopVM) error {
	if err := k.check(); err != nil {
		return err
	}
	return k.Store.UpsertWorkshopVM(ctx, vm)
}

func (k *killableStore) DeleteWorkshopVM(ctx context.Context, id string) error {
	if err := k.check(); err != nil {
		return err
	}
	return k.Store.DeleteWorkshopVM(ctx, id)
}

func (k *killableStore) AddEvent(ctx context.Context, e *store.Event) error {
	if err := k.check(); err != nil {
		return err
	}
	return k.Store.AddEvent(ctx, e)
}

func (k *killableStore) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if err := k.check(); err != nil {
		return false, err
	}
	return k.Store.TryLease(ctx, name, holder, ttl)
}

func (k *killableStore) ReleaseLease(ctx context.Context, name, holder string) error {
	if err := k.check(); err != nil {
		return err
	}
	return k.Store.ReleaseLease(ctx, name, holder)
}

// ---------------------------------------------------------------------------
// The fake cloud: the gcetest Compute server, the real gcp provisioner, and
// on each RUNNING VM a real agent (process runtime) booted with the VM's
// metadata. The agent clients reach a VM's agent at http://<its IP>:9090
// through a transport that connects that address to the VM's stand-in on
// loopback (nothing is ever sent to the real address): when the VM is
// deleted, stopped or gets a new IP, the old address stops answering.

type cloud struct {
	t    testing.TB
	fake *gcetest.Compute
	prov *gcevm.Provisioner
	tr   *http.Transport // every dial finds the VM by its IP

	mu       sync.Mutex
	agents   map[string]*standin // key: VM name/id/IP
	brokenWS map[string]bool     // workshops whose VMs' agents never answer
	brokenVM map[uint64]bool     // VMs whose agent stopped answering
	hook     func(ws string, r *http.Request) error
}

// standin is the agent of one boot of one VM.
type standin struct {
	ws, name, ip, token string
	cert                string // the TLS certificate from the VM's metadata
	dir                 string
	agent               *agent.Agent
	srv                 *httptest.Server
}

func newCloud(t testing.TB, mod func(*gcevm.Config)) *cloud {
	t.Helper()
	c := &cloud{t: t, fake: gcetest.NewCompute(t.Cleanup), agents: map[string]*standin{},
		brokenWS: map[string]bool{}, brokenVM: map[uint64]bool{}}
	c.fake.AddSnapshot(project, &gcetest.Snapshot{Name: snapshot})
	c.prov = c.newProvisioner(mod)
	c.tr = &http.Transport{
		DialContext:       c.dialVM,
		DisableKeepAlives: true, // every request finds the VM anew
		Proxy:             nil,
	}
	t.Cleanup(c.close)
	return c
}

// newProvisioner opens another gcp provisioner on the fake (a replica has
// its own clients).
func (c *cloud) newProvisioner(mod func(*gcevm.Config)) *gcevm.Provisioner {
	cfg := gcevm.Config{Project: project, Zone: zone, SnapshotName: snapshot, ComputeEndpoint: c.fake.URL,
		PollInterval: time.Millisecond, ReadyTimeout: 20 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	p, err := gcevm.New(context.Background(), cfg)
	if err != nil {
		c.t.Fatalf("gcevm.New: %v", err)
	}
	c.t.Cleanup(func() { p.Close() })
	return p
}

// dial is reconcile.Config.Dial: the production agent client (pinned TLS),
// over the VM-address transport.
func (c *cloud) dial(ep agentclient.Endpoint) reconcile.Agent {
	return agentclient.Connect(ep, c.tr, 0)
}

func (c *cloud) setHook(h func(ws string, r *http.Request) error) {
	c.mu.Lock()
	c.hook = h
	c.mu.Unlock()
}

func (c *cloud) breakWorkshop(ws string, broken bool) {
	c.mu.Lock()
	c.brokenWS[ws] = broken
	c.mu.Unlock()
}

// breakAgent makes the agent on the workshop's current VM stop answering.
func (c *cloud) breakAgent(ws string) {
	in := c.vm(ws)
	if in == nil {
		c.t.Fatalf("no VM for %s", ws)
	}
	c.mu.Lock()
	c.brokenVM[in.ID] = true
	c.mu.Unlock()
}

func natIP(in *gcetest.Instance) string {
	for _, ni := range in.NetworkInterfaces {
		for _, ac := range ni.AccessConfigs {
			if ac.NatIP != "" {
				return ac.NatIP
			}
		}
	}
	return ""
}

var errRefused = errors.New("connect: connection refused")

func (c *cloud) dialVM(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	s, err := c.standinAt(host, port)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", s.srv.Listener.Addr().String())
}

// standinAt finds the RUNNING VM with this address and boots its agent the
// first time it is reached.
func (c *cloud) standinAt(ip, port string) (*standin, error) {
	if port != "9090" {
		return nil, errRefused
	}
	var in *gcetest.Instance
	for _, cand := range c.fake.Instances() {
		if cand.Status == "RUNNING" && natIP(cand) == ip {
			in = cand
		}
	}
	if in == nil {
		return nil, fmt.Errorf("no running VM at %s: %w", ip, errRefused)
	}
	meta := map[string]string{}
	for k, v := range in.MetadataValues() {
		meta[k] = v
	}
	ws := meta[gcevm.MetaWorkshopID]
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.brokenWS[ws] || c.brokenVM[in.ID] {
		return nil, errRefused
	}
	key := fmt.Sprintf("%s/%d/%s", in.Name, in.ID, ip)
	if s := c.agents[key]; s != nil {
		return s, nil
	}
	s, err := c.boot(in.Name, ws, ip, meta)
	if err != nil {
		return nil, err
	}
	c.agents[key] = s
	return s, nil
}

func (c *cloud) boot(name, ws, ip string, meta map[string]string) (*standin, error) {
	key, err := hex.DecodeString(meta[gcevm.MetaWorkspaceKey])
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("VM %s has no usable workspace-key metadata", name)
	}
	if meta[gcevm.MetaAgentToken] == "" {
		return nil, fmt.Errorf("VM %s has no agent-token metadata", name)
	}
	tlsCfg, err := hostcert.ServerConfig([]byte(meta[gcevm.MetaAgentTLSCert]), []byte(meta[gcevm.MetaAgentTLSKey]))
	if err != nil {
		return nil, fmt.Errorf("VM %s has no usable TLS key pair in its metadata: %w", name, err)
	}
	dir, err := os.MkdirTemp("", "rcv")
	if err != nil {
		return nil, err
	}
	rt, err := process.New(process.Config{DaemonCommand: []string{daemonBin}, BaseDir: filepath.Join(dir, "p"), Shell: "/bin/sh"})
	if err != nil {
		return nil, err
	}
	a, err := agent.New(agent.Config{Listen: "127.0.0.1:0", Token: meta[gcevm.MetaAgentToken], StateDir: dir,
		Runtime: rt, Capacity: 30, WorkspaceKey: key})
	if err != nil {
		return nil, err
	}
	s := &standin{ws: ws, name: name, ip: ip, token: meta[gcevm.MetaAgentToken], cert: meta[gcevm.MetaAgentTLSCert], agent: a}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		h := c.hook
		c.mu.Unlock()
		if h != nil {
			// Read the body first: the server notices a client that went
			// away (and cancels r.Context()) only once the body is read.
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if err := h(ws, r); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		a.Handler().ServeHTTP(w, r)
	}))
	s.srv.TLS = tlsCfg
	s.srv.StartTLS()
	s.dir = dir
	return s, nil
}

// seats lists the seats on the workshop's live agent ("" = its VM is gone).
func (c *cloud) seats(ws string) []string {
	c.t.Helper()
	in := c.vm(ws)
	if in == nil || in.Status != "RUNNING" {
		return nil
	}
	s, err := c.standinAt(natIP(in), "9090")
	if err != nil {
		c.t.Fatalf("agent of %s: %v", ws, err)
	}
	list, err := agentclient.NewPinned(s.srv.URL, s.token, s.cert, nil).ListSeats(context.Background())
	if err != nil {
		c.t.Fatalf("list seats of %s: %v", ws, err)
	}
	var out []string
	for _, st := range list {
		out = append(out, fmt.Sprintf("%s/%d:%s", st.WorkshopID, st.Seat, st.Status))
	}
	sort.Strings(out)
	return out
}

// vm returns the workshop's VM, or nil.
func (c *cloud) vm(ws string) *gcetest.Instance {
	in, ok := c.fake.Instance(project, zone, gcename.InstancePrefix+ws)
	if !ok {
		return nil
	}
	return in
}

// vms lists the VM names.
func (c *cloud) vms() []string {
	var out []string
	for _, in := range c.fake.Instances() {
		out = append(out, in.Name)
	}
	return out
}

// inserts counts instances.insert calls per VM name.
func (c *cloud) inserts() map[string]int {
	out := map[string]int{}
	for _, in := range c.fake.InsertRequests() {
		out[in.Name]++
	}
	return out
}

// checkNoLeak asserts the fake cloud has exactly one VM per running
// workshop and none for any other.
func (c *cloud) checkNoLeak(t testing.TB, st store.Store, ids ...string) {
	t.Helper()
	var want []string
	for _, id := range ids {
		w := get(t, st, id)
		switch {
		case w.Status == store.StatusRunning:
			want = append(want, gcename.InstancePrefix+id)
		case w.Status == store.StatusError && w.StatusReason == "":
			t.Errorf("workshop %s is in error without a reason", id)
		}
	}
	sort.Strings(want)
	if got := c.vms(); !slices.Equal(got, want) {
		t.Errorf("VMs in the fake cloud = %v, want %v", got, want)
	}
}

// close destroys every seat of every agent (the seats' processes run in
// their own sessions) and stops the stand-ins.
func (c *cloud) close() {
	c.mu.Lock()
	agents := c.agents
	c.agents = map[string]*standin{}
	c.mu.Unlock()
	ctx := context.Background()
	for _, s := range agents {
		cl := agentclient.NewPinned(s.srv.URL, s.token, s.cert, nil)
		if list, err := cl.ListSeats(ctx); err == nil {
			for _, st := range list {
				if err := s.agent.DeleteSeat(ctx, st.WorkshopID, st.Seat); err != nil {
					c.t.Errorf("destroy seat %s/%d: %v", st.WorkshopID, st.Seat, err)
				}
			}
		}
		s.srv.CloseClientConnections()
		s.srv.Close()
		os.RemoveAll(s.dir)
	}
}

// newReconciler is a reconciler on the cloud with test timings.
func (c *cloud) newReconciler(st store.Store, clk *clock, holder string, mod func(*reconcile.Config)) (*reconcile.Reconciler, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	cfg := reconcile.Config{
		Store: st, Provisioner: c.prov, Dial: c.dial, Now: clk.Now, Holder: holder,
		WorkspaceSecret: []byte(secret), BackendURL: "https://api.clarateach.test", Registry: reg,
		LeaseTTL: 30 * time.Second, MaxAttempts: 3, StepTimeout: 30 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	return reconcile.New(cfg), reg
}

// ---------------------------------------------------------------------------
// Provisioner wrappers.

// gatedProvisioner lets a test hold EnsureHost (before the cloud sees
// anything) and counts calls.
type gatedProvisioner struct {
	provision.Provisioner
	mu      sync.Mutex
	calls   int
	entered chan string   // receives the workshop ID on each gated call
	release chan struct{} // closed to let gated calls through
	onCall  func()        // e.g. advance the fake clock
}

func (g *gatedProvisioner) EnsureHost(ctx context.Context, req provision.Request) (*provision.Host, error) {
	g.mu.Lock()
	g.calls++
	entered, release, onCall := g.entered, g.release, g.onCall
	g.mu.Unlock()
	if onCall != nil {
		onCall()
	}
	if entered != nil {
		select {
		case entered <- req.WorkshopID:
		default:
		}
	}
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Provisioner.EnsureHost(ctx, req)
}

func (g *gatedProvisioner) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls
}

// eventually polls cond (for real asynchronous things: lease expiry,
// goroutines finishing) until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// vmMeta is a VM's instance metadata as a map.
func vmMeta(in *gcetest.Instance) map[string]string {
	return in.MetadataValues()
}
