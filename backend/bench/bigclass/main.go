// Command bigclass measures the control plane with one big class: N learners
// register and join one N-seat workshop at once (latency p50/p99 and CPU per
// join), V class views watch it while a tenth of the seats change every
// second (store reads per second, bytes per view per second, CPU per view),
// and M idle terminals are held open through the relay (memory per
// terminal in the control plane). The server runs in this process on
// PostgreSQL (a fresh database, dropped at the end) or SQLite; the agent is
// a stand-in that accepts terminal WebSockets and keeps them idle, so the
// figures are the control plane's own. With -local-hosts N the workshop
// runs instead on N local agents with real seats (as LOCAL_HOSTS=N runs
// them), provisioned by the reconciler, and every learner then opens a
// terminal: the time until all have a live prompt.
//
//	go run ./bench/bigclass [-learners 200] [-views 20] [-terminals 2000] [-db postgres|sqlite]
//	go run ./bench/bigclass -local-hosts 5 -learners 500 [-runtime sandbox|process] [-seat-disk-mb -1]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/clarateach/backend/bench/internal/benchdb"
	"github.com/clarateach/backend/bench/internal/machine"
	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
)

func main() {
	learners := flag.Int("learners", 200, "learners joining one workshop of as many seats")
	views := flag.Int("views", 20, "class views open at once")
	seconds := flag.Int("seconds", 10, "how long the class views are watched")
	terminals := flag.Int("terminals", 2000, "idle terminals held open through the relay")
	engine := flag.String("db", "postgres", "postgres or sqlite")
	flag.StringVar(&heapProfile, "memprofile", "", "write a heap profile with the relayed idle terminals open to this file")
	var ho hostOptions
	flag.IntVar(&ho.count, "local-hosts", 0, "run the workshop on this many local agents with real seats (0: a stand-in agent, no seats); the learners then open their terminals")
	flag.StringVar(&ho.runtime, "runtime", "", "-local-hosts: seat runtime, sandbox or process (default: the best this machine runs)")
	flag.IntVar(&ho.diskMB, "seat-disk-mb", -1, "-local-hosts: each sandbox seat's home size in MiB (-1: no limit, no loop device per seat)")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of this process (the server) during the join storm to this file")
	flag.DurationVar(&idleWatch, "idle-watch", 6*time.Second, "-local-hosts: sample this process's and the machine's CPU in 100 ms windows for this long after provisioning, before the storm (0: not)")
	flag.DurationVar(&stormPhase, "storm-phase", -1, "-local-hosts, with -idle-watch: start the storm this long after a predicted round of the agents' seat health checks (negative: as soon as the watch ends)")
	flag.IntVar(&poolSize, "pool", 0, "PostgreSQL pool size of the server (pool_max_conns; 0: the store's default)")
	loadAddr := flag.String("load", "", "(internal) be the load process: the learners' HTTP client against the server at this host:port")
	loadCode := flag.String("code", "", "(internal, with -load) the workshop's code")
	flag.Parse()
	if *loadAddr != "" {
		if err := runLoad(*loadAddr, *loadCode, *learners); err != nil {
			fmt.Fprintln(os.Stderr, "bigclass -load:", err)
			os.Exit(1)
		}
		return
	}
	machine.Print()
	if err := run(*learners, *views, *seconds, *terminals, *engine, ho); err != nil {
		fmt.Fprintln(os.Stderr, "bigclass:", err)
		os.Exit(1)
	}
}

// cpuProfile is -cpuprofile.
var cpuProfile string

// bench is one run's server, store and workshop.
type bench struct {
	db       *benchdb.DB
	st       *countingStore
	base     string // the control plane's URL
	agent    *idleAgent
	wsID     string
	code     string
	session  string // the instructor's session token
	secret   []byte // WORKSPACE_TOKEN_SECRET
	learners int
	hosts    *realHosts  // -local-hosts; nil: the stand-in agent
	perHost  int         // seats per host with -local-hosts
	idle     *idleReport // -idle-watch; nil without
}

// poolSize is -pool.
var poolSize int

func run(learners, views, seconds, terminals int, engine string, ho hostOptions) error {
	ctx := context.Background()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	db, err := benchdb.Open(ctx, engine, "ct_bigclass")
	if err != nil {
		return err
	}
	defer db.Close()
	raw, err := open.Open(ctx, db.PoolDSN(poolSize), open.WarmPool())
	if err != nil {
		return err
	}
	defer raw.Close()
	b := &bench{db: db, st: &countingStore{Store: raw}, agent: newIdleAgent(), learners: learners, secret: []byte(authtoken.Random(16))}
	defer b.agent.close()
	cfg := &config.Config{Provisioner: "local", PublicURL: "http://bench", MaxSeats: learners,
		JWTSecret: authtoken.Random(16), WorkspaceTokenSecret: string(b.secret), WorkspaceTTL: time.Hour, SessionTTL: time.Hour}
	deps := server.Deps{Config: cfg, Store: b.st, Version: "bench"}
	if ho.count > 0 {
		if b.hosts, err = startRealHosts(ctx, ho, b.st, b.secret); err != nil {
			return err
		}
		defer func() { b.hosts.close(b.wsID) }()
		b.perHost = (learners + ho.count - 1) / ho.count
		cfg.LocalHosts, cfg.SeatsPerHost = ho.count, b.perHost
		deps.Reconciler = b.hosts.rec
	}
	srv := server.New(deps)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	b.base = "http://" + ln.Addr().String()
	if err := b.setup(ctx); err != nil {
		return err
	}
	fmt.Printf("big class: one workshop of %d seats, %s store\n", learners, engine)
	if b.hosts != nil {
		return b.runOnHosts(ctx, views, seconds)
	}
	tokens, err := b.joinStorm(ctx)
	if err != nil {
		return err
	}
	if views > 0 {
		if err := b.watch(ctx, views, seconds); err != nil {
			return err
		}
	}
	return b.idleTerminals(tokens, terminals)
}

// runOnHosts is the -local-hosts run: provisioning on the local hosts,
// the join storm, every learner's terminal, then the class views. The
// idle terminals are measured with the stand-in agent only.
func (b *bench) runOnHosts(ctx context.Context, views, seconds int) error {
	hosts := (b.learners + b.perHost - 1) / b.perHost
	if err := b.hosts.provision(ctx, b.st, b.wsID, hosts); err != nil {
		return err
	}
	b.idle = watchIdle()
	tokens, err := b.joinStorm(ctx)
	if err != nil {
		return err
	}
	if err := b.prompts(ctx, tokens); err != nil {
		return err
	}
	if err := b.hosts.watchPass(ctx, b.st, b.secret); err != nil {
		return err
	}
	if views > 0 {
		return b.watch(ctx, views, seconds)
	}
	return nil
}

// setup makes the instructor (signed in) and the running workshop.
func (b *bench) setup(ctx context.Context) error {
	hash, err := server.HashPassword("bench-password")
	if err != nil {
		return err
	}
	owner := &store.User{Email: "bench@example.com", Name: "Bench", PasswordHash: hash, Role: store.RoleInstructor}
	if err := b.st.CreateUser(ctx, owner); err != nil {
		return err
	}
	w := &store.Workshop{OwnerID: owner.ID, Name: "big class", Code: authtoken.Code(authtoken.WorkshopCodeLen),
		Seats: b.learners, Status: store.StatusRunning, DesiredState: store.DesiredRunning, AgentURL: b.agent.url}
	if b.hosts != nil {
		// Provisioned for real by the reconciler on the local hosts.
		w.Status, w.AgentURL, w.SeatsPerHost = store.StatusCreated, "", b.perHost
	}
	if err := b.st.CreateWorkshop(ctx, w); err != nil {
		return err
	}
	b.wsID, b.code = w.ID, w.Code
	st, m, _, err := post(b.base+"/api/auth/login", map[string]string{"email": owner.Email, "password": "bench-password"})
	if err != nil || st != http.StatusOK {
		return fmt.Errorf("login: %d %v %v", st, m, err)
	}
	b.session, _ = m["token"].(string)
	return nil
}
