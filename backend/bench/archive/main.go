// Command archive measures saving and restoring learners' homes: 30 seats
// with 50 MB each (random bytes: incompressible, the worst case for gzip)
// are archived through the agent (GET /vms/{ws}/{seat}/archive, made by each
// seat's workspace daemon) into the local blob store, and restored into 30
// new empty seats (PUT .../restore). The archive time is what a stop adds
// before the host goes; the restore time is what a start adds before the
// workshop is running. Seats run on the process runtime (the daemon, tar
// and gzip are the same as in sandbox seats; isolation is not measured).
//
//	go run ./bench/archive [--seats 30] [--mb 50] [--runs 3]
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/clarateach/backend/bench/internal/machine"
	"github.com/clarateach/backend/internal/blob"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/archive"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
	"github.com/clarateach/backend/internal/host/agent"
	rtproc "github.com/clarateach/backend/internal/host/seatruntime/process"
)

func main() {
	seats := flag.Int("seats", 30, "seats")
	mb := flag.Int("mb", 50, "MB written into each home")
	runs := flag.Int("runs", 3, "runs")
	flag.Parse()
	machine.Print()
	if err := run(context.Background(), *seats, *mb, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench archive:", err)
		os.Exit(1)
	}
}

type env struct {
	client *agentclient.Client
	rt     *rtproc.Runtime
	st     store.Store
	w      *store.Workshop
	tmp    string
}

func run(ctx context.Context, seats, mb, runs int) error {
	tmp, err := os.MkdirTemp("", "bench-archive-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	e, stop, err := setup(ctx, tmp, seats)
	if err != nil {
		return err
	}
	defer stop()
	total := float64(seats*mb) * 1e6
	fmt.Printf("ClaraTeach archive bench — %d seats × %d MB of random bytes (incompressible), process runtime, %d CPUs, local blob store\n",
		seats, mb, runtime.NumCPU())
	var saves, restores []time.Duration
	for i := 1; i <= runs; i++ {
		s, r, err := oneRun(ctx, e, seats, mb, i)
		if err != nil {
			return err
		}
		saves, restores = append(saves, s), append(restores, r)
		fmt.Printf("run %d: archive %s (%.0f MB/s)   restore %s (%.0f MB/s)\n", i, s.Round(time.Millisecond), total/s.Seconds()/1e6,
			r.Round(time.Millisecond), total/r.Seconds()/1e6)
	}
	report := func(what string, d []time.Duration) {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		med := d[len(d)/2]
		fmt.Printf("%s: median %s = %.0f MB/s (runs %s … %s, spread %.0f%%)\n", what, med.Round(time.Millisecond),
			total/med.Seconds()/1e6, d[0].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond),
			100*float64(d[len(d)-1]-d[0])/float64(med))
	}
	report("time added to stop (archive every home)", saves)
	report("time added to start (restore every home)", restores)
	return nil
}

func setup(ctx context.Context, tmp string, seats int) (*env, func(), error) {
	daemon := filepath.Join(tmp, "clarateach-workspace")
	cmd := exec.Command("go", "build", "-trimpath", "-o", daemon, "github.com/clarateach/backend/cmd/workspace")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, nil, fmt.Errorf("build workspace daemon: %w", err)
	}
	quiet := slog.New(slog.DiscardHandler)
	rt, err := rtproc.New(rtproc.Config{DaemonCommand: []string{daemon}, BaseDir: filepath.Join(tmp, "p"), Shell: "/bin/sh", Logger: quiet})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	a, err := agent.New(agent.Config{Listen: ln.Addr().String(), StateDir: filepath.Join(tmp, "state"), Runtime: rt,
		Capacity: seats, WorkspaceSecret: []byte("bench-workspace-secret-0123456789"), Logger: quiet})
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: a.Handler()}
	go srv.Serve(ln)
	st, err := open.Open(ctx, "sqlite:"+filepath.Join(tmp, "bench.db"))
	if err != nil {
		return nil, nil, err
	}
	u := &store.User{Email: "bench@example.test", PasswordHash: "x"}
	if err := st.CreateUser(ctx, u); err != nil {
		return nil, nil, err
	}
	w := &store.Workshop{OwnerID: u.ID, Name: "bench", Seats: seats, DesiredState: store.DesiredRunning}
	if err := st.CreateWorkshop(ctx, w); err != nil {
		return nil, nil, err
	}
	for i := 1; i <= seats; i++ {
		reg, _, err := st.Register(ctx, &store.Registration{WorkshopID: w.ID, Email: "l" + strconv.Itoa(i) + "@example.test"})
		if err != nil {
			return nil, nil, err
		}
		if _, err := st.AssignSeat(ctx, reg.ID); err != nil {
			return nil, nil, err
		}
	}
	e := &env{client: agentclient.New("http://"+ln.Addr().String(), "", nil), rt: rt, st: st, w: w, tmp: tmp}
	stop := func() {
		for i := 1; i <= seats; i++ {
			_ = e.client.DeleteSeat(context.Background(), w.ID, i)
		}
		srv.Close()
		st.Close()
	}
	return e, stop, nil
}

// oneRun fills fresh seats, archives them all, then restores them into new
// empty seats, and returns both times.
func oneRun(ctx context.Context, e *env, seats, mb, n int) (time.Duration, time.Duration, error) {
	if err := freshSeats(ctx, e, seats); err != nil {
		return 0, 0, err
	}
	for i := 1; i <= seats; i++ {
		if err := fill(filepath.Join(e.rt.SeatDir(e.w.ID, i), "home", "data.bin"), mb); err != nil {
			return 0, 0, err
		}
	}
	blobs, err := blob.NewDir(filepath.Join(e.tmp, "blobs-"+strconv.Itoa(n)))
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(blobs.Describe())
	arc := archive.New(archive.Config{Store: e.st, Blobs: blobs})
	start := time.Now()
	rep, err := arc.SaveAll(ctx, e.client, e.w, archive.ReasonStop)
	save := time.Since(start)
	if err != nil || rep.Saved != seats {
		return 0, 0, fmt.Errorf("archive: %s: %v", rep, err)
	}
	if err := freshSeats(ctx, e, seats); err != nil {
		return 0, 0, err
	}
	start = time.Now()
	restored, err := arc.RestoreAll(ctx, e.client, e.w)
	restore := time.Since(start)
	if err != nil || restored != seats {
		return 0, 0, fmt.Errorf("restore: %d of %d: %v", restored, seats, err)
	}
	fi, err := os.Stat(filepath.Join(e.rt.SeatDir(e.w.ID, seats), "home", "data.bin"))
	if err != nil || fi.Size() != int64(mb)*1e6 {
		return 0, 0, fmt.Errorf("restored file: %v %v", fi, err)
	}
	if _, err := arc.PurgeWorkshop(ctx, e.w.ID); err != nil {
		return 0, 0, err
	}
	return save, restore, nil
}

func freshSeats(ctx context.Context, e *env, seats int) error {
	var wg sync.WaitGroup
	errs := make(chan error, seats)
	sem := make(chan struct{}, 8)
	for i := 1; i <= seats; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := e.client.DeleteSeat(ctx, e.w.ID, i); err != nil {
				errs <- err
				return
			}
			if _, _, err := e.client.CreateSeat(ctx, e.w.ID, i, agentclient.SeatOptions{}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func fill(path string, mb int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.CopyN(f, rand.Reader, int64(mb)*1e6)
	return errorsJoin(err, f.Close())
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
