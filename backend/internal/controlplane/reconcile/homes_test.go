package reconcile_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/blob"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/archive"
	"github.com/clarateach/backend/internal/controlplane/gce/gcename"
	"github.com/clarateach/backend/internal/controlplane/reconcile"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// home is the host directory of a seat's home on the workshop's live VM
// (the process runtime's <base>/<ws>/<seat>/home).
func (c *cloud) home(t testing.TB, ws string, seat int) string {
	t.Helper()
	in := c.vm(ws)
	if in == nil {
		t.Fatalf("workshop %s has no VM", ws)
	}
	s, err := c.standinAt(natIP(in), "9090")
	if err != nil {
		t.Fatalf("agent of %s: %v", ws, err)
	}
	return filepath.Join(s.dir, "p", ws, strconv.Itoa(seat), "home")
}

func readHome(t testing.TB, c *cloud, ws string, seat int, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.home(t, ws, seat), name))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func seatLearner(t testing.TB, st store.Store, ws, email string) (*store.Registration, int) {
	t.Helper()
	ctx := context.Background()
	reg, _, err := st.Register(ctx, &store.Registration{WorkshopID: ws, Name: "Learner", Email: email})
	if err != nil {
		t.Fatal(err)
	}
	seat, err := st.AssignSeat(ctx, reg.ID)
	if err != nil {
		t.Fatal(err)
	}
	return reg, seat.Seat
}

// TestHomesSurvive: a learner's files survive stop and start (the host is
// deleted in between), a lost host (recreated empty), and are deleted with
// the workshop. Real agents and seats (process runtime) on the fake cloud.
func TestHomesSurvive(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			st := openStore(t, engine)
			c := newCloud(t, nil)
			clk := newClock()
			blobs, err := blob.NewDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			arc := archive.New(archive.Config{Store: st, Blobs: blobs, Now: clk.Now})
			r, _ := c.newReconciler(st, clk, "replica-a", func(cfg *reconcile.Config) { cfg.Archiver = arc })
			ctx := context.Background()
			w := newWorkshop(t, st, 2, nil)
			reg, seat := seatLearner(t, st, w.ID, "ada@example.test")
			pass(t, r)
			wantStatus(t, st, w.ID, store.StatusRunning)
			if err := os.WriteFile(filepath.Join(c.home(t, w.ID, seat), "notes.txt"), []byte("hour one"), 0o644); err != nil {
				t.Fatal(err)
			}

			// Stop: the home is saved before the VM goes; start: it is back.
			update(t, st, w.ID, func(w *store.Workshop) { w.DesiredState = store.DesiredStopped })
			pass(t, r)
			wantStatus(t, st, w.ID, store.StatusStopped)
			if c.vm(w.ID) != nil {
				t.Fatal("the VM survived the stop; the test proves nothing")
			}
			latest, err := st.LatestArchive(ctx, reg.ID)
			if err != nil || latest.Reason != archive.ReasonStop || latest.Seat != seat {
				t.Fatalf("archive after stop: %+v, %v", latest, err)
			}
			update(t, st, w.ID, func(w *store.Workshop) { w.DesiredState = store.DesiredRunning })
			pass(t, r)
			wantStatus(t, st, w.ID, store.StatusRunning)
			if got := readHome(t, c, w.ID, seat, "notes.txt"); got != "hour one" {
				t.Fatalf("notes.txt after stop and start = %q; events:\n%s", got, strings.Join(events(t, st, w.ID), "\n"))
			}
			if latest, _ := st.LatestArchive(ctx, reg.ID); latest.RestoredAt == nil {
				t.Error("the restored archive has no restored_at (the learner is not told)")
			}

			// Work goes on; the periodic save (every 5 minutes) catches it.
			if err := os.WriteFile(filepath.Join(c.home(t, w.ID, seat), "notes.txt"), []byte("hour two"), 0o644); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				clk.Advance(3 * time.Minute)
				pass(t, r)
			}
			latest, err = st.LatestArchive(ctx, reg.ID)
			if err != nil || latest.Reason != archive.ReasonPeriodic {
				t.Fatalf("no periodic archive after 9 minutes: %+v, %v", latest, err)
			}
			// Nothing changed: the next periods store nothing new.
			for range 3 {
				clk.Advance(3 * time.Minute)
				pass(t, r)
			}
			if again, _ := st.LatestArchive(ctx, reg.ID); again.ID != latest.ID {
				t.Errorf("an unchanged home was archived again (%s → %s)", latest.ID, again.ID)
			}

			// The host is lost and comes back empty: the home is restored.
			c.fake.DeleteInstance(project, zone, gcename.InstancePrefix+w.ID)
			for range 2 {
				clk.Advance(15 * time.Second)
				pass(t, r)
			}
			wantStatus(t, st, w.ID, store.StatusRunning)
			if got := readHome(t, c, w.ID, seat, "notes.txt"); got != "hour two" {
				t.Fatalf("notes.txt after the host was lost = %q", got)
			}

			// The agent loses the seat (it says the seat does not exist): the
			// watch starts it again, with the learner's work.
			in, err := c.standinAt(natIP(c.vm(w.ID)), "9090")
			if err != nil {
				t.Fatal(err)
			}
			if err := agentclient.NewPinned(in.srv.URL, in.token, in.cert, nil).DeleteSeat(ctx, w.ID, seat); err != nil {
				t.Fatal(err)
			}
			if got := readHome(t, c, w.ID, seat, "notes.txt"); got == "hour two" {
				t.Fatal("the seat's home survived its deletion; the test proves nothing")
			}
			clk.Advance(15 * time.Second)
			pass(t, r)
			if got := readHome(t, c, w.ID, seat, "notes.txt"); got != "hour two" {
				t.Fatalf("notes.txt after the agent lost the seat = %q; events:\n%s", got, strings.Join(events(t, st, w.ID), "\n"))
			}

			// Deleting the workshop deletes its archives.
			update(t, st, w.ID, func(w *store.Workshop) { w.DesiredState = store.DesiredDeleted })
			pass(t, r)
			wantStatus(t, st, w.ID, store.StatusDeleted)
			if left, _ := st.ListArchives(ctx, store.ArchiveFilter{WorkshopID: w.ID}); len(left) != 0 {
				t.Errorf("%d archive rows left after delete", len(left))
			}
			if objs, _ := blobs.List(ctx, ""); len(objs) != 0 {
				t.Errorf("archive objects left after delete: %v", objs)
			}
		})
	}
}
