package reconcile_test

import (
	"context"
	"errors"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/provision/local"
	"github.com/clarateach/backend/internal/controlplane/reconcile"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/localagent"
)

// The tests in this file drive the reconciler with the local provisioner
// (process seats, real workspace daemons): whatever happens to the
// control plane or its agent, a learner's home is only ever removed when
// the workshop is deleted.

// localHost is a local provisioner's state directory, restartable.
type localHost struct {
	t   *testing.T
	dir string
	a   *localagent.Agent
	p   *local.Provisioner // handed a's URL and token, as package cli does
}

func newLocalHost(t *testing.T) *localHost {
	t.Helper()
	dir, err := os.MkdirTemp("", "keep")
	if err != nil {
		t.Fatal(err)
	}
	h := &localHost{t: t, dir: dir}
	h.start()
	t.Cleanup(func() {
		if h.a != nil {
			c := h.client()
			ctx := context.Background()
			if seats, err := c.ListSeats(ctx); err == nil {
				for _, s := range seats {
					_ = c.DeleteSeat(ctx, s.WorkshopID, s.Seat)
				}
			}
			_ = h.a.Close()
		}
		os.RemoveAll(dir)
	})
	return h
}

// start starts the local agent on the state directory (as a control plane
// that starts again does).
func (h *localHost) start() {
	h.t.Helper()
	rt, err := agent.NewRuntime("process", agent.RuntimeOptions{StateDir: h.dir, DaemonCommand: []string{daemonBin}, Shell: "/bin/sh"})
	if err != nil {
		h.t.Fatal(err)
	}
	a, err := localagent.Start(context.Background(), localagent.Config{StateDir: h.dir, Runtime: rt, WorkspaceSecret: []byte(secret)})
	if err != nil {
		h.t.Fatal(err)
	}
	h.a, h.p = a, local.New(a.URL(), a.Token())
}

// stop stops the agent (its seats keep running).
func (h *localHost) stop() {
	h.t.Helper()
	if err := h.a.Close(); err != nil {
		h.t.Fatal(err)
	}
}

func (h *localHost) client() *agentclient.Client {
	return agentclient.New(h.p.URL(), h.p.Token(), nil)
}

// home is the host directory of a seat's home (process runtime layout).
func (h *localHost) home(ws string, seat int) string {
	return filepath.Join(h.dir, "process", ws, strconv.Itoa(seat), "home")
}

// pids maps "ws/seat" to the seat's daemon PID, for the workshop's live
// seats.
func (h *localHost) pids(ws string) map[int]int {
	h.t.Helper()
	seats, err := h.client().ListSeats(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[int]int{}
	for _, s := range seats {
		if s.WorkshopID == ws && s.Status == agentclient.StatusRunning {
			out[s.Seat] = s.PID
		}
	}
	return out
}

func (h *localHost) newReconciler(st store.Store, clk *clock) *reconcile.Reconciler {
	return reconcile.New(reconcile.Config{Store: st, Provisioner: h.p, Now: clk.Now, WorkspaceSecret: []byte(secret)})
}

func writeHomeFile(t *testing.T, home string) string {
	t.Helper()
	p := filepath.Join(home, "work.txt")
	if err := os.WriteFile(p, []byte("an hour of work"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func wantFile(t *testing.T, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "an hour of work" {
		t.Fatalf("the learner's file %s: %q, %v", p, b, err)
	}
}

// runningLocal is the setup of every test here: a sqlite store, a fake
// clock, a local host of its own, and a workshop of seats seats running
// on it after one pass of a reconciler.
func runningLocal(t *testing.T, seats int) (store.Store, *localHost, *clock, *store.Workshop, *reconcile.Reconciler) {
	t.Helper()
	st := openStore(t, "sqlite")
	h := newLocalHost(t)
	clk := newClock()
	w := newWorkshop(t, st, seats, func(w *store.Workshop) { w.Provisioner = "local" })
	r := h.newReconciler(st, clk)
	pass(t, r)
	wantStatus(t, st, w.ID, store.StatusRunning)
	if n := len(h.pids(w.ID)); n != seats {
		t.Fatalf("%d live seats, want %d", n, seats)
	}
	return st, h, clk, w, r
}

// TestControlPlaneRestartKeepsSeats: the control plane dies and starts
// again; its local agent finds its old port taken and comes up on another.
// The very first pass of the new reconciler re-registers the workshop at
// the new address, with the same seat processes and files: nothing is
// deleted or recreated.
func TestControlPlaneRestartKeepsSeats(t *testing.T) {
	t.Parallel()
	st, h, clk, w, _ := runningLocal(t, 2)
	file := writeHomeFile(t, h.home(w.ID, 1))
	before := h.pids(w.ID)
	oldURL := h.p.URL()

	h.stop()
	// Something else takes the old port while the control plane is down.
	// Another process's socket can hold the freed port for a moment (an
	// outgoing connection given it as its local port): wait for it.
	var hold net.Listener
	eventually(t, 30*time.Second, "the old port to be free to take", func() bool {
		var err error
		hold, err = net.Listen("tcp", strings.TrimPrefix(oldURL, "http://"))
		if err != nil && !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatal(err)
		}
		return err == nil
	})
	defer hold.Close()
	h.start()
	if h.p.URL() == oldURL {
		t.Fatal("the agent came back on a port that is taken")
	}

	r := h.newReconciler(st, clk) // a new process: nothing in memory
	pass(t, r)
	got := wantStatus(t, st, w.ID, store.StatusRunning)
	if got.AgentURL != h.p.URL() {
		t.Fatalf("after one pass the workshop points at %s, the agent is at %s\nevents:\n%s", got.AgentURL, h.p.URL(), strings.Join(events(t, st, w.ID), "\n"))
	}
	if got.StatusReason != "" {
		t.Errorf("reason = %q", got.StatusReason)
	}
	if after := h.pids(w.ID); !maps.Equal(after, before) {
		t.Errorf("seat processes %v → %v: the seats were recreated", before, after)
	}
	wantFile(t, file)
	if evs := events(t, st, w.ID); !hasEvent(evs, "answers at its new address") {
		t.Errorf("no re-registration event:\n%s", strings.Join(evs, "\n"))
	}
}

// TestUnreachableLocalAgentIsWaitedFor: a local agent that does not answer
// for far longer than UnhealthyAfter is waited for, never recreated; when
// it is back (same address) the same seats carry on.
func TestUnreachableLocalAgentIsWaitedFor(t *testing.T) {
	t.Parallel()
	st, h, clk, w, r := runningLocal(t, 2)
	file := writeHomeFile(t, h.home(w.ID, 2))
	before := h.pids(w.ID)

	h.stop()
	for i := 0; i < 6; i++ {
		clk.Advance(2 * time.Minute)
		pass(t, r)
		got := wantStatus(t, st, w.ID, store.StatusRunning)
		if got.StatusReason != "the workshop machine's agent is not answering" {
			t.Fatalf("reason after %s = %q", time.Duration(i+1)*2*time.Minute, got.StatusReason)
		}
		wantFile(t, file)
	}
	h.start()
	clk.Advance(15 * time.Second)
	pass(t, r)
	got := wantStatus(t, st, w.ID, store.StatusRunning)
	if got.StatusReason != "" {
		t.Errorf("reason after the agent came back = %q", got.StatusReason)
	}
	if after := h.pids(w.ID); !maps.Equal(after, before) {
		t.Errorf("seat processes %v → %v", before, after)
	}
	wantFile(t, file)
}

// TestDeadSeatComesBackWithItsHome: a seat whose daemon died is started
// again by the next health check of its running workshop, with its home.
func TestDeadSeatComesBackWithItsHome(t *testing.T) {
	t.Parallel()
	_, h, clk, w, r := runningLocal(t, 2)
	file := writeHomeFile(t, h.home(w.ID, 1))
	before := h.pids(w.ID)
	if err := syscall.Kill(-before[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the seat to be reported dead", func() bool { _, ok := h.pids(w.ID)[1]; return !ok })
	clk.Advance(15 * time.Second)
	pass(t, r)
	after := h.pids(w.ID)
	if after[1] == 0 || after[1] == before[1] || after[2] != before[2] {
		t.Fatalf("seat processes %v → %v: want seat 1 started again and seat 2 untouched", before, after)
	}
	wantFile(t, file)
}

// TestStopStartKeepsHomes: stopping a workshop ends its seats and keeps
// their homes; starting it gives each seat its home back; deleting it
// removes them.
func TestStopStartKeepsHomes(t *testing.T) {
	t.Parallel()
	st, h, _, w, r := runningLocal(t, 2)
	file := writeHomeFile(t, h.home(w.ID, 1))
	before := h.pids(w.ID)

	update(t, st, w.ID, func(w *store.Workshop) { w.DesiredState = store.DesiredStopped })
	pass(t, r)
	wantStatus(t, st, w.ID, store.StatusStopped)
	if n := len(h.pids(w.ID)); n != 0 {
		t.Fatalf("%d seats still run after stop", n)
	}
	for _, pid := range before {
		eventually(t, 5*time.Second, "the seat's processes to end", func() bool { return processGone(pid) })
	}
	wantFile(t, file)
	// Garbage collection keeps a stopped workshop's homes.
	if _, err := r.GC(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantFile(t, file)

	update(t, st, w.ID, func(w *store.Workshop) { w.DesiredState = store.DesiredRunning })
	pass(t, r)
	wantStatus(t, st, w.ID, store.StatusRunning)
	if n := len(h.pids(w.ID)); n != 2 {
		t.Fatalf("%d seats after start, want 2", n)
	}
	wantFile(t, file)

	update(t, st, w.ID, func(w *store.Workshop) { w.DesiredState = store.DesiredDeleted })
	pass(t, r)
	wantStatus(t, st, w.ID, store.StatusDeleted)
	if _, err := os.Stat(h.home(w.ID, 1)); !os.IsNotExist(err) {
		t.Errorf("a deleted workshop's home is still there: %v", err)
	}
}

// TestGCRemovesOrphanedHomes: the homes of a workshop the database does not
// know (deleted while the control plane was away, or a reset database) are
// removed by garbage collection, which runs when the server starts.
func TestGCRemovesOrphanedHomes(t *testing.T) {
	t.Parallel()
	_, h, _, w, r := runningLocal(t, 1)
	c := h.client()
	ctx := context.Background()
	// An orphan: a stopped seat (home kept) of an unknown workshop.
	if _, _, err := c.CreateSeat(ctx, "ghost", 1, agentclient.SeatOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.StopSeat(ctx, "ghost", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(h.home("ghost", 1)); err != nil {
		t.Fatalf("stopped seat's home: %v", err)
	}
	if n, err := r.GC(ctx); err != nil || n != 1 {
		t.Errorf("GC = %d, %v; want the one orphan", n, err)
	}
	if _, err := os.Stat(h.home("ghost", 1)); !os.IsNotExist(err) {
		t.Errorf("the orphaned home is still there: %v", err)
	}
	if n := len(h.pids(w.ID)); n != 1 {
		t.Errorf("the live workshop lost its seat")
	}
	homes, err := c.ListHomes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(homes, []agentclient.Home{{WorkshopID: w.ID, Seat: 1}}) {
		t.Errorf("homes = %v", homes)
	}
}

// processGone reports whether pid has exited (or is a zombie).
func processGone(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] == 'Z'
}
