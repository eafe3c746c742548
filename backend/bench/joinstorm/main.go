// Command joinstorm measures the control plane under a class arriving at
// once: N learners register and join concurrently across several running
// workshops, against PostgreSQL (or SQLite with -db sqlite). It prints
// throughput and p50/p99 latency per request kind.
//
//	go run ./bench/joinstorm [-learners 300] [-seats 30] [-db postgres|sqlite]
package main

import (
	"github.com/clarateach/backend/bench/internal/cputime"

	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/clarateach/backend/bench/internal/benchdb"
	"github.com/clarateach/backend/bench/internal/learnerhttp"
	"github.com/clarateach/backend/bench/internal/machine"
	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
)

// poolSize is -pool; waits is -waits; cold is -cold.
var (
	poolSize int
	waits    bool
	cold     bool
)

func main() {
	learners := flag.Int("learners", 300, "learners arriving at once")
	seats := flag.Int("seats", 30, "seats per workshop (workshops = learners/seats)")
	engine := flag.String("db", "postgres", "postgres or sqlite")
	flag.IntVar(&poolSize, "pool", 0, "PostgreSQL pool size of the server (pool_max_conns; 0: the store's default)")
	flag.BoolVar(&cold, "cold", false, "open the store without the server's warm pool (open.WarmPool): connections opened and warmed during the storm, as before")
	flag.BoolVar(&waits, "waits", false, "sample what PostgreSQL's backends wait for during the storm (pg_stat_activity)")
	calls := flag.Int("calls", 0, "after the storm, make each store call of a register and a join this many times in a row and print its CPU (0: off)")
	flag.StringVar(&profiles.cpu, "cpuprofile", "", "write a CPU profile of this process (server and client) during the storm to this file")
	flag.StringVar(&profiles.mem, "memprofile", "", "write an allocation profile of the storm (every allocation sampled) to this file")
	flag.StringVar(&pgPerf, "pgperf", "", "perf record -g the run's PostgreSQL backends over the storm into this file (needs perf, root)")
	loadAddr := flag.String("load", "", "(internal) be the load process: the learners' HTTP client against the server at this host:port")
	loadCodes := flag.String("codes", "", "(internal, with -load) the workshops' codes, comma-separated")
	flag.Parse()
	if *loadAddr != "" {
		if err := runLoad(*loadAddr, strings.Split(*loadCodes, ","), *learners); err != nil {
			fmt.Fprintln(os.Stderr, "joinstorm -load:", err)
			os.Exit(1)
		}
		return
	}
	machine.Print()
	if err := run(*learners, *seats, *engine, *calls); err != nil {
		fmt.Fprintln(os.Stderr, "joinstorm:", err)
		os.Exit(1)
	}
}

func run(learners, seats int, engine string, calls int) error {
	ctx := context.Background()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	db, err := benchdb.Open(ctx, engine, "ct_bench")
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := openStore(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	addr, stopServer, err := startServer(st, seats)
	if err != nil {
		return err
	}
	defer stopServer()
	ownerID, codes, err := seedWorkshops(ctx, st, learners, seats)
	if err != nil {
		return err
	}
	r, err := storm(ctx, db, addr, codes, learners)
	if err != nil {
		return err
	}
	report(ctx, r, db, st, engine, learners, len(codes), seats)
	if calls > 0 {
		pgNow := func() time.Duration { return sumCPU(db.Backends(ctx)) }
		if err := storeCalls(ctx, st, ownerID, calls, seats, pgNow); err != nil {
			return fmt.Errorf("store calls: %w", err)
		}
	}
	fmt.Printf("  reference: JupyterHub's default concurrent_spawn_limit is 100; beyond it, it answers 429\n")
	if r.errs > 0 {
		return fmt.Errorf("%d errors; first: %s", r.errs, r.firstErr)
	}
	return nil
}

// openStore opens the bench database as the server does (warm pool unless
// -cold; -pool sizes PostgreSQL's).
func openStore(ctx context.Context, db *benchdb.DB) (store.Store, error) {
	dsn := db.PoolDSN(poolSize)
	var opts []open.Option
	if !cold {
		opts = append(opts, open.WarmPool()) // as the server opens it
	}
	return open.Open(ctx, dsn, opts...)
}

// startServer serves the control plane's API on st on a loopback port and
// returns its address (host:port) and its stop.
func startServer(st store.Store, seats int) (string, func(), error) {
	cfg := &config.Config{Provisioner: "local", PublicURL: "http://bench", MaxSeats: seats,
		JWTSecret: authtoken.Random(16), WorkspaceTokenSecret: authtoken.Random(16), WorkspaceTTL: 15 * time.Minute, SessionTTL: time.Hour}
	srv := server.New(server.Deps{Config: cfg, Store: st, Version: "bench"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	return ln.Addr().String(), func() { hs.Close() }, nil
}

// seedWorkshops makes one instructor and enough running workshops for the
// learners (the reconciler is not under test); it returns the owner and
// the workshops' codes.
func seedWorkshops(ctx context.Context, st store.Store, learners, seats int) (string, []string, error) {
	owner := &store.User{Email: "bench@example.com", Name: "Bench", PasswordHash: "x", Role: store.RoleInstructor}
	if err := st.CreateUser(ctx, owner); err != nil {
		return "", nil, err
	}
	codes := make([]string, (learners+seats-1)/seats)
	for i := range codes {
		w := &store.Workshop{OwnerID: owner.ID, Name: fmt.Sprintf("bench %d", i), Code: authtoken.Code(authtoken.WorkshopCodeLen),
			Seats: seats, Status: store.StatusRunning, DesiredState: store.DesiredRunning, AgentURL: "http://127.0.0.1:1"}
		if err := st.CreateWorkshop(ctx, w); err != nil {
			return "", nil, err
		}
		codes[i] = w.Code
	}
	return owner.ID, codes, nil
}

// stormResult is what a storm measured.
type stormResult struct {
	mu               sync.Mutex
	regLat, joinLat  []time.Duration
	errs             int
	firstErr         string
	seatsGiven       map[string]bool
	total            time.Duration // wall time
	selfUsed, pgCPU  time.Duration // CPU of this process (the server) and of PostgreSQL's backends
	faults, pgFaults int64         // minor page faults of this process and of PostgreSQL's backends
	loadCPU          time.Duration // CPU of the load process (the learners' client)
	waitSummary      string
	checkpoints      string // checkpointLine
}

// fail counts a learner's failure, keeping the first message.
func (r *stormResult) fail(what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs++
	if r.firstErr == "" {
		r.firstErr = what
	}
}

// storm lets every learner register and join at once, from the load
// process, measuring the wall time and the CPU spent.
func storm(ctx context.Context, db *benchdb.DB, addr string, codes []string, learners int) (*stormResult, error) {
	p, err := learnerhttp.StartProcess(loadFlags(addr, codes, learners)...)
	if err != nil {
		return nil, err
	}
	r := &stormResult{seatsGiven: map[string]bool{}}
	pg := db.Backends(ctx)
	stopPerf := perfBackends(pg)
	selfBefore, faultsBefore := cputime.Self(), cputime.Faults()
	pgBefore, pgFaultsBefore := cpuTimes(pg), cputime.ThreadFaults(pg)
	stopProfiles := profileStorm()
	ckpt := checkpoints(ctx, db)
	stopWaits := func() string { return "" }
	if waits && db.Admin != nil {
		stopWaits = sampleWaits(ctx, db)
	}
	var lr loadResult
	err = p.Go(&lr)
	r.waitSummary = stopWaits()
	r.checkpoints = checkpointLine(ckpt, checkpoints(ctx, db))
	stopProfiles()
	r.selfUsed = cputime.Self() - selfBefore
	r.pgCPU = cpuDelta(pgBefore, cpuTimes(db.Backends(ctx)))
	r.faults, r.pgFaults = cputime.Faults()-faultsBefore, cputime.ThreadFaults(pg)-pgFaultsBefore
	stopPerf()
	if err != nil {
		return nil, err
	}
	r.regLat, r.joinLat, r.errs, r.firstErr, r.total, r.loadCPU = lr.Reg, lr.Join, lr.Errs, lr.FirstErr, lr.Wall, lr.CPU
	return r, nil
}

// report prints the storm's figures (and, on PostgreSQL, the baseline).
func report(ctx context.Context, r *stormResult, db *benchdb.DB, st store.Store, engine string, learners, nws, seats int) {
	all := append(append([]time.Duration{}, r.regLat...), r.joinLat...)
	pool := "warm pool (as the server opens it)"
	if cold {
		pool = "cold pool (-cold)"
	}
	fmt.Printf("join storm: %d learners (register + join) across %d workshops of %d seats, %s store, %s\n", learners, nws, seats, engine, pool)
	fmt.Printf("  wall time        %8.0f ms\n", ms(r.total))
	fmt.Printf("  throughput       %8.0f requests/s (%d requests)\n", float64(len(all))/r.total.Seconds(), len(all))
	fmt.Printf("  register p50/p99 %8.1f / %.1f ms\n", ms(pct(r.regLat, 50)), ms(pct(r.regLat, 99)))
	fmt.Printf("  join     p50/p99 %8.1f / %.1f ms\n", ms(pct(r.joinLat, 50)), ms(pct(r.joinLat, 99)))
	fmt.Printf("  all      p50/p99 %8.1f / %.1f ms   (target p99 <= 250 ms)\n", ms(pct(all, 50)), ms(pct(all, 99)))
	fmt.Printf("  errors           %8d\n", r.errs)
	fmt.Print(r.waitSummary)
	fmt.Print(r.checkpoints)
	n := float64(len(all))
	fmt.Printf("  CPU per request  %8.2f ms in the server (this process)\n", ms(r.selfUsed)/n)
	fmt.Printf("                   %8.2f ms in the load (the learners' HTTP client, a process of its own on the same CPUs)\n", ms(r.loadCPU)/n)
	if engine != "postgres" {
		return
	}
	fmt.Printf("                   %8.2f ms in PostgreSQL (its backends for this database, /proc/PID/schedstat)\n", ms(r.pgCPU)/n)
	fmt.Printf("  faults/request   %8.1f in the server, %.1f in PostgreSQL's backends (minor)\n", float64(r.faults)/n, float64(r.pgFaults)/n)
	if pool := poolOf(st); pool != nil {
		pgNow := func() time.Duration { return sumCPU(db.Backends(ctx)) }
		if err := baseline(ctx, pool, len(all), learners, r.total, pgNow); err != nil {
			fmt.Printf("  baseline: not measured: %v\n", err)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration{}, d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}
