package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// testWatchClass: each write the class view shows signals the watchers of
// that workshop by the time it returns (the class view reads at once instead
// of on its next tick), and only them; a burst of writes is one signal; the
// channel closes when the watch's context ends.
func testWatchClass(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	w := mkWorkshop(t, s, u.ID, 3)
	other := mkWorkshop(t, s, u.ID, 3)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.WatchClass(wctx, w.ID)
	must(t, err)
	signalled := func(what string, want bool) {
		t.Helper()
		select {
		case <-ch:
			if !want {
				t.Fatalf("%s signalled the watcher of another workshop", what)
			}
		default:
			if want {
				t.Fatalf("%s: the watcher was not signalled", what)
			}
		}
	}
	signalled("nothing yet", false)
	register(t, s, other.ID, "elsewhere@example.com")
	signalled("a registration to another workshop", false)

	r := register(t, s, w.ID, "ada@example.com")
	signalled("Register", true)
	_, err = s.JoinSeat(ctx, r.ID)
	must(t, err)
	signalled("JoinSeat", true)
	st, err := s.GetSeat(ctx, w.ID, 1)
	must(t, err)
	must(t, s.TouchSeats(ctx, []store.SeatActivity{{WorkshopID: w.ID, Seat: st.Seat, Generation: st.Generation, Status: store.SeatConnected, At: time.Now()}}))
	signalled("TouchSeats", true)
	must(t, s.AddEvent(ctx, &store.Event{WorkshopID: w.ID, Message: "hello"}))
	signalled("AddEvent", true)
	_, err = s.UpdateWorkshop(ctx, w.ID, func(w *store.Workshop) error { w.Name = "renamed"; return nil })
	must(t, err)
	signalled("UpdateWorkshop", true)
	must(t, s.SaveProgress(ctx, &store.Progress{WorkshopID: w.ID, RegistrationID: r.ID, StepID: "one", Status: store.ProgressCurrent, EnteredAt: time.Now()}))
	signalled("SaveProgress", true)
	_, err = s.RaiseHand(ctx, &store.Hand{WorkshopID: w.ID, RegistrationID: r.ID, Question: "?"})
	must(t, err)
	signalled("RaiseHand", true)
	ls := &store.LabSetup{RegistrationID: r.ID, WorkshopID: w.ID, LabID: "lab", Version: 1}
	claimed, err := s.ClaimLabSetup(ctx, ls)
	must(t, err)
	if !claimed {
		t.Fatal("ClaimLabSetup: not claimed")
	}
	signalled("ClaimLabSetup", true)
	ls.Status, ls.FinishedAt = store.SetupDone, ptr(time.Now())
	must(t, s.FinishLabSetup(ctx, ls))
	signalled("FinishLabSetup", true)
	must(t, s.DeleteLabSetup(ctx, r.ID, "lab", 1))
	signalled("DeleteLabSetup", true)

	// A burst is one signal.
	for i := 0; i < 5; i++ {
		must(t, s.AddEvent(ctx, &store.Event{WorkshopID: w.ID, Message: "burst"}))
	}
	signalled("a burst of five events", true)
	signalled("the same burst again", false)

	_, err = s.RevokeRegistration(ctx, w.ID, r.ID)
	must(t, err)
	signalled("RevokeRegistration", true)

	cancel()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, open := <-ch:
			if !open {
				return
			}
		case <-deadline:
			t.Fatal("the channel stayed open after its context ended")
		}
	}
}
