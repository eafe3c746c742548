// Package reconcile drives every workshop towards its desired state:
//
//	created → provisioning → running → stopping → stopped   (or deleted)
//
// with failures going to error (a reason, and retries with backoff). The
// state machine is next (loop.go): from a workshop's DesiredState and
// Status it picks one action; provisioning walks the Steps create_host,
// wait_agent, create_seats (provision.go), teardown the step delete_host
// (teardown.go), and a running workshop is watched (watch.go). Every step
// transition is one store call (store.Transition: the workshop, its host
// record and its events in one transaction; state.go). Each
// workshop's work is claimed with a lease row in the database (renewed in
// the background while a long step runs), so several
// control-plane replicas never provision the same workshop twice, and every
// step is idempotent, so a replica killed mid-step is resumed by the next
// pass (its own after a restart, or another replica's once the lease
// expires) without orphaning or duplicating anything.
package reconcile

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/archive"
	"github.com/clarateach/backend/internal/controlplane/provision"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// Agent is the part of the agent API the reconciler uses
// (*agentclient.Client implements it).
type Agent interface {
	Health(ctx context.Context) (*agentclient.Health, error)
	CreateSeat(ctx context.Context, workshopID string, seat int, opts agentclient.SeatOptions) (*agentclient.Seat, bool, error)
	ListSeats(ctx context.Context) ([]agentclient.Seat, error)
	DeleteSeat(ctx context.Context, workshopID string, seat int) error
	// StopSeat ends a seat and keeps its home on the host.
	StopSeat(ctx context.Context, workshopID string, seat int) error
	Disconnect(ctx context.Context, workshopID string, seat int, minGeneration int64) (*agentclient.DisconnectResult, error)
}

// Step is a step of provisioning or teardown, as shown to the instructor
// (the workshop's current step, and its host record's step list).
type Step = store.StepName

// Steps of provisioning and teardown.
const (
	StepCreateHost  Step = "create_host"
	StepWaitAgent   Step = "wait_agent"
	StepCreateSeats Step = "create_seats"
	StepDeleteHost  Step = "delete_host"
	// StepAgentDown is running while a running workshop's agent fails its
	// health checks; its start is when it stopped answering.
	StepAgentDown Step = "agent_down"
)

// Config configures a Reconciler.
type Config struct {
	Store       store.Store
	Provisioner provision.Provisioner
	// Dial returns a client for an agent: pinned TLS when the endpoint
	// has a certificate, plain HTTP only to loopback; default
	// agentclient.Connect.
	Dial func(ep agentclient.Endpoint) Agent
	// Now is the clock; tests pass a fake one.
	Now func() time.Time
	// Holder names this replica in leases; default a random id.
	Holder string
	// Logger receives the reconciler's logs; nil discards them.
	Logger *slog.Logger
	// WorkspaceSecret is WORKSPACE_TOKEN_SECRET; hosts get only the
	// per-workshop key derived from it.
	WorkspaceSecret []byte
	BackendURL      string
	Registry        prometheus.Registerer
	// Archiver saves learners' homes before teardown and periodically,
	// and restores them into new seats (homes.go); nil: off.
	Archiver *archive.Archiver

	LeaseTTL        time.Duration // default 2m
	HealthTimeout   time.Duration // how long a new host may take to answer; default 10m
	UnhealthyAfter  time.Duration // how long a running host may fail health checks before it is recreated; default 3m
	WatchEvery      time.Duration // health-check period of running workshops; default 15s
	MaxAttempts     int           // automatic retries before waiting for a manual retry; default 5
	ProvisionAhead  time.Duration // scheduled workshops are provisioned this long before starts_at; default 10m
	SeatConcurrency int           // concurrent seat creations; default 10
	StepTimeout     time.Duration // bound on one provider call; default 10m
	// HomesTimeout bounds one save or restore of learners' homes (a
	// teardown's or a reset's save, a periodic pass, a restore); default
	// 10m. Past it the work is given up (the last saved copy is kept) and
	// the workshop goes on: a stalled archive stream or object store never
	// holds a stop forever.
	HomesTimeout time.Duration
}

// Reconciler is the control loop.
type Reconciler struct {
	cfg  Config
	log  *slog.Logger
	kick chan string

	// work counts Run and the workshops' goroutines it and RunOnce start
	// (Wait).
	work sync.WaitGroup

	mu       sync.Mutex
	inflight map[string]bool
	again    map[string]bool // asked for again while in flight
	watched  map[string]time.Time
	// seatStates: each watched workshop's seats as its agent last
	// reported them (GET /vms), for the join path and the class view.
	seatStates map[string]map[int]agentclient.SeatState

	provisionSeconds prometheus.Histogram
	errorsTotal      prometheus.Counter
	orphaned         prometheus.Gauge
	agentUp          *prometheus.GaugeVec
}

// New returns a reconciler.
func New(cfg Config) *Reconciler {
	if cfg.Dial == nil {
		cfg.Dial = func(ep agentclient.Endpoint) Agent { return agentclient.Connect(ep, nil, 0) }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Holder == "" {
		cfg.Holder = "replica-" + authtoken.Random(6)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.LeaseTTL, 2*time.Minute)
	def(&cfg.HealthTimeout, 10*time.Minute)
	def(&cfg.UnhealthyAfter, 3*time.Minute)
	def(&cfg.WatchEvery, 15*time.Second)
	def(&cfg.ProvisionAhead, 10*time.Minute)
	def(&cfg.StepTimeout, 10*time.Minute)
	def(&cfg.HomesTimeout, 10*time.Minute)
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.SeatConcurrency == 0 {
		cfg.SeatConcurrency = 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Reconciler{
		cfg:      cfg,
		log:      cfg.Logger,
		kick:     make(chan string, 64),
		inflight: map[string]bool{},
		again:    map[string]bool{},
		watched:  map[string]time.Time{},

		seatStates: map[string]map[int]agentclient.SeatState{},
		provisionSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "clarateach_workshop_provision_seconds",
			Help:    "Time from the start of provisioning to a running workshop.",
			Buckets: []float64{0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600},
		}),
		errorsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarateach_reconcile_errors_total",
			Help: "Failed reconcile steps.",
		}),
		orphaned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clarateach_orphaned_vms",
			Help: "Hosts found by the last garbage collection that belong to no live workshop.",
		}),
		agentUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "clarateach_workshop_agent_up",
			Help: "1 when the running workshop's agent answered its last health check.",
		}, []string{"workshop"}),
	}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(r.provisionSeconds, r.errorsTotal, r.orphaned, r.agentUp)
	}
	return r
}

// Kick asks for a pass over one workshop soon.
func (r *Reconciler) Kick(workshopID string) {
	select {
	case r.kick <- workshopID:
	default:
	}
}
