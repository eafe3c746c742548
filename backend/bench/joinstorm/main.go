// Command joinstorm measures the control plane under a class arriving at
// once: N learners register and join concurrently across several running
// workshops, against PostgreSQL (or SQLite with -db sqlite). It prints
// throughput and p50/p99 latency per request kind.
//
//	go run ./bench/joinstorm [-learners 300] [-seats 30] [-db postgres|sqlite]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

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
	flag.Parse()
	machine.Print()
	if err := run(*learners, *seats, *engine, *calls); err != nil {
		fmt.Fprintln(os.Stderr, "joinstorm:", err)
		os.Exit(1)
	}
}

func run(learners, seats int, engine string, calls int) error {
	ctx := context.Background()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	db, err := database(ctx, engine)
	if err != nil {
		return err
	}
	defer db.drop()
	dsn := db.dsn
	if poolSize > 0 && engine == "postgres" {
		dsn += "&pool_max_conns=" + fmt.Sprint(poolSize)
	}
	var opts []open.Option
	if !cold {
		opts = append(opts, open.WarmPool()) // as the server opens it
	}
	st, err := open.Open(ctx, dsn, opts...)
	if err != nil {
		return err
	}
	defer st.Close()

	cfg := &config.Config{Provisioner: "local", PublicURL: "http://bench", MaxSeats: seats,
		JWTSecret: authtoken.Random(16), WorkspaceTokenSecret: authtoken.Random(16), WorkspaceTTL: 15 * time.Minute, SessionTTL: time.Hour}
	srv := server.New(server.Deps{Config: cfg, Store: st, Version: "bench"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	base := "http://" + ln.Addr().String()

	// One instructor, running workshops (the reconciler is not under test).
	owner := &store.User{Email: "bench@example.com", Name: "Bench", PasswordHash: "x", Role: store.RoleInstructor}
	if err := st.CreateUser(ctx, owner); err != nil {
		return err
	}
	nws := (learners + seats - 1) / seats
	codes := make([]string, nws)
	for i := range codes {
		w := &store.Workshop{OwnerID: owner.ID, Name: fmt.Sprintf("bench %d", i), Code: authtoken.Code(authtoken.WorkshopCodeLen),
			Seats: seats, Status: store.StatusRunning, DesiredState: store.DesiredRunning, AgentURL: "http://127.0.0.1:1"}
		if err := st.CreateWorkshop(ctx, w); err != nil {
			return err
		}
		codes[i] = w.Code
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConns: learners * 2, MaxIdleConnsPerHost: learners * 2}, Timeout: 30 * time.Second}
	post := func(path string, body any) (int, map[string]any, time.Duration, error) {
		b, _ := json.Marshal(body)
		t0 := time.Now()
		res, err := client.Post(base+path, "application/json", bytes.NewReader(b))
		if err != nil {
			return 0, nil, 0, err
		}
		defer res.Body.Close()
		var m map[string]any
		err = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m, time.Since(t0), err
	}

	var mu sync.Mutex
	var regLat, joinLat []time.Duration
	errs := 0
	var firstErr string
	seatsGiven := map[string]bool{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < learners; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fail := func(what string) {
				mu.Lock()
				errs++
				if firstErr == "" {
					firstErr = what
				}
				mu.Unlock()
			}
			code := codes[i%nws]
			st, m, d, err := post("/api/register", map[string]string{"workshop_code": code, "name": "Learner", "email": fmt.Sprintf("l%d@example.com", i)})
			if err != nil || st != http.StatusCreated {
				fail(fmt.Sprintf("register: %d %v %v", st, m, err))
				return
			}
			mu.Lock()
			regLat = append(regLat, d)
			mu.Unlock()
			st, m, d, err = post("/api/join", map[string]string{"access_code": m["access_code"].(string)})
			if err != nil || st != http.StatusOK || m["status"] != "ready" {
				fail(fmt.Sprintf("join: %d %v %v", st, m, err))
				return
			}
			key := fmt.Sprintf("%s/%v", code, m["seat"])
			mu.Lock()
			joinLat = append(joinLat, d)
			if seatsGiven[key] {
				errs++
				firstErr = "seat given twice: " + key
			}
			seatsGiven[key] = true
			mu.Unlock()
		}()
	}
	pg := db.backends(ctx)
	selfBefore := selfCPU()
	pgBefore := cpuTimes(pg)
	stopProfiles := profileStorm()
	stopWaits := func() string { return "" }
	if waits && db.admin != nil {
		stopWaits = db.sampleWaits(ctx)
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	total := time.Since(t0)
	waitSummary := stopWaits()
	stopProfiles()
	selfUsed := selfCPU() - selfBefore
	pgCPU := cpuDelta(pgBefore, cpuTimes(db.backends(ctx)))

	all := append(append([]time.Duration{}, regLat...), joinLat...)
	pool := "warm pool (as the server opens it)"
	if cold {
		pool = "cold pool (-cold)"
	}
	fmt.Printf("join storm: %d learners (register + join) across %d workshops of %d seats, %s store, %s\n", learners, nws, seats, engine, pool)
	fmt.Printf("  wall time        %8.0f ms\n", ms(total))
	fmt.Printf("  throughput       %8.0f requests/s (%d requests)\n", float64(len(all))/total.Seconds(), len(all))
	fmt.Printf("  register p50/p99 %8.1f / %.1f ms\n", ms(pct(regLat, 50)), ms(pct(regLat, 99)))
	fmt.Printf("  join     p50/p99 %8.1f / %.1f ms\n", ms(pct(joinLat, 50)), ms(pct(joinLat, 99)))
	fmt.Printf("  all      p50/p99 %8.1f / %.1f ms   (target p99 <= 250 ms)\n", ms(pct(all, 50)), ms(pct(all, 99)))
	fmt.Printf("  errors           %8d\n", errs)
	fmt.Print(waitSummary)
	n := float64(len(all))
	fmt.Printf("  CPU per request  %8.2f ms in this process (server and its HTTP client together: one process)\n", ms(selfUsed)/n)
	if engine == "postgres" {
		fmt.Printf("                   %8.2f ms in PostgreSQL (its backends for this database, /proc/PID/schedstat)\n", ms(pgCPU)/n)
		if pool := poolOf(st); pool != nil {
			pgNow := func() time.Duration { return sumCPU(db.backends(ctx)) }
			if err := baseline(ctx, pool, len(all), learners, total, pgNow); err != nil {
				fmt.Printf("  baseline: not measured: %v\n", err)
			}
		}
	}
	if calls > 0 {
		pgNow := func() time.Duration { return sumCPU(db.backends(ctx)) }
		if err := storeCalls(ctx, st, owner.ID, calls, seats, pgNow); err != nil {
			return fmt.Errorf("store calls: %w", err)
		}
	}
	fmt.Printf("  reference: JupyterHub's default concurrent_spawn_limit is 100; beyond it, it answers 429\n")
	if errs > 0 {
		return fmt.Errorf("%d errors; first: %s", errs, firstErr)
	}
	return nil
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

// benchDB is the run's fresh database.
type benchDB struct {
	dsn   string
	name  string
	admin *pgx.Conn // on the base database; nil for SQLite
	drop  func()
}

// database returns a fresh database for the run.
func database(ctx context.Context, engine string) (*benchDB, error) {
	if engine == "sqlite" {
		dir, err := os.MkdirTemp("", "joinstorm")
		if err != nil {
			return nil, err
		}
		return &benchDB{dsn: "sqlite:" + filepath.Join(dir, "bench.db"), drop: func() { os.RemoveAll(dir) }}, nil
	}
	base := os.Getenv("CLARATEACH_TEST_DATABASE_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("postgres not reachable (set CLARATEACH_TEST_DATABASE_URL): %w", err)
	}
	name := "ct_bench_" + authtoken.Random(4)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return &benchDB{dsn: u.String(), name: name, admin: conn, drop: func() {
		conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(context.Background())
	}}, nil
}

// backends lists the PostgreSQL backend processes connected to the run's
// database (other users of the same server are not counted).
func (d *benchDB) backends(ctx context.Context) []int {
	if d.admin == nil {
		return nil
	}
	rows, err := d.admin.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = $1", d.name)
	if err != nil {
		return nil
	}
	pids, _ := pgx.CollectRows(rows, pgx.RowTo[int32])
	out := make([]int, len(pids))
	for i, p := range pids {
		out[i] = int(p)
	}
	return out
}
