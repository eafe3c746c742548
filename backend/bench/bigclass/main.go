// Command bigclass measures the control plane with one big class: N learners
// register and join one N-seat workshop at once (latency p50/p99 and CPU per
// join), V class views watch it while a tenth of the seats change every
// second (store reads per second, bytes per view per second, CPU per view),
// and M idle terminals are held open through the relay (memory per
// terminal in the control plane). The server runs in this process on
// PostgreSQL (a fresh database, dropped at the end) or SQLite; the agent is
// a stand-in that accepts terminal WebSockets and keeps them idle, so the
// figures are the control plane's own.
//
//	go run ./bench/bigclass [-learners 200] [-views 20] [-terminals 2000] [-db postgres|sqlite]
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
	flag.Parse()
	machine.Print()
	if err := run(*learners, *views, *seconds, *terminals, *engine); err != nil {
		fmt.Fprintln(os.Stderr, "bigclass:", err)
		os.Exit(1)
	}
}

// bench is one run's server, store and workshop.
type bench struct {
	st       *countingStore
	base     string // the control plane's URL
	agent    *idleAgent
	wsID     string
	code     string
	session  string // the instructor's session token
	secret   []byte // WORKSPACE_TOKEN_SECRET
	learners int
}

func run(learners, views, seconds, terminals int, engine string) error {
	ctx := context.Background()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	db, err := benchdb.Open(ctx, engine, "ct_bigclass")
	if err != nil {
		return err
	}
	defer db.Close()
	raw, err := open.Open(ctx, db.DSN, open.WarmPool())
	if err != nil {
		return err
	}
	defer raw.Close()
	b := &bench{st: &countingStore{Store: raw}, agent: newIdleAgent(), learners: learners, secret: []byte(authtoken.Random(16))}
	defer b.agent.close()
	cfg := &config.Config{Provisioner: "local", PublicURL: "http://bench", MaxSeats: learners,
		JWTSecret: authtoken.Random(16), WorkspaceTokenSecret: string(b.secret), WorkspaceTTL: time.Hour, SessionTTL: time.Hour}
	srv := server.New(server.Deps{Config: cfg, Store: b.st, Version: "bench"})
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
	tokens, err := b.joinStorm()
	if err != nil {
		return err
	}
	if err := b.watch(ctx, views, seconds); err != nil {
		return err
	}
	return b.idleTerminals(tokens, terminals)
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
