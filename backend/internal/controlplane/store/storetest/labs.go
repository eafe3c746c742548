package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

func testLabs(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	alice, bob := mkUser(t, s, "alice-lab@example.com"), mkUser(t, s, "bob-lab@example.com")
	l := &store.Lab{OwnerID: alice.ID, Title: "Git", Content: []byte{0x1f, 0x8b, 0, 1, 2}}
	must(t, s.SaveLab(ctx, l))
	if l.ID == "" || l.Version != 1 || l.CreatedAt.IsZero() {
		t.Fatalf("new lab = %+v", l)
	}
	v2 := &store.Lab{ID: l.ID, OwnerID: alice.ID, Title: "Git, again", Content: []byte("v2")}
	must(t, s.SaveLab(ctx, v2))
	equal(t, "second version", v2.Version, 2)
	// Someone else cannot add a version to alice's lab, nor to a lab that
	// does not exist.
	wantErr(t, s.SaveLab(ctx, &store.Lab{ID: l.ID, OwnerID: bob.ID, Title: "x", Content: []byte("x")}), store.ErrNotFound)
	wantErr(t, s.SaveLab(ctx, &store.Lab{ID: "nope", OwnerID: alice.ID, Title: "x", Content: []byte("x")}), store.ErrNotFound)

	got, err := s.GetLab(ctx, l.ID, 0)
	must(t, err)
	equal(t, "newest", [3]any{got.Version, got.Title, string(got.Content)}, [3]any{2, "Git, again", "v2"})
	got, err = s.GetLab(ctx, l.ID, 1)
	must(t, err)
	equal(t, "version 1", [2]any{got.Title, string(got.Content)}, [2]any{"Git", string([]byte{0x1f, 0x8b, 0, 1, 2})})
	_, err = s.GetLab(ctx, l.ID, 3)
	wantErr(t, err, store.ErrNotFound)

	other := &store.Lab{OwnerID: bob.ID, Title: "Python", Content: []byte("p")}
	must(t, s.SaveLab(ctx, other))
	mine, err := s.ListLabs(ctx, alice.ID)
	must(t, err)
	if len(mine) != 1 || mine[0].ID != l.ID || mine[0].Version != 2 || mine[0].Content != nil {
		t.Fatalf("alice's labs = %+v", mine)
	}
	all, err := s.ListLabs(ctx, "")
	must(t, err)
	equal(t, "all labs", len(all), 2)

	w := mkWorkshop(t, s, alice.ID, 3)
	_, err = s.GetWorkshopLab(ctx, w.ID)
	wantErr(t, err, store.ErrNotFound)
	must(t, s.SetWorkshopLab(ctx, w.ID, l.ID, 1))
	must(t, s.SetWorkshopLab(ctx, w.ID, l.ID, 2))
	wl, err := s.GetWorkshopLab(ctx, w.ID)
	must(t, err)
	equal(t, "workshop lab", [2]any{wl.LabID, wl.Version}, [2]any{l.ID, 2})
	wantErr(t, s.SetWorkshopLab(ctx, w.ID, l.ID, 9), store.ErrNotFound)
	wantErr(t, s.SetWorkshopLab(ctx, "no-such-workshop", l.ID, 1), store.ErrNotFound)

	// Concurrent saves of one lab get distinct versions.
	var wg sync.WaitGroup
	versions := make(chan int, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := &store.Lab{ID: l.ID, OwnerID: alice.ID, Title: "race", Content: []byte("r")}
			if err := s.SaveLab(ctx, v); err != nil {
				if !errors.Is(err, store.ErrConflict) {
					t.Errorf("concurrent save: %v", err)
				}
				return
			}
			versions <- v.Version
		}()
	}
	wg.Wait()
	close(versions)
	seen := map[int]bool{}
	for v := range versions {
		if seen[v] {
			t.Fatalf("version %d given twice", v)
		}
		seen[v] = true
	}
}

func testProgress(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "prog@example.com")
	w := mkWorkshop(t, s, u.ID, 3)
	a, b := register(t, s, w.ID, "a@example.com"), register(t, s, w.ID, "b@example.com")
	t0 := odd(0)
	p := &store.Progress{WorkshopID: w.ID, RegistrationID: a.ID, StepID: "one", Status: store.ProgressCurrent, EnteredAt: t0}
	must(t, s.SaveProgress(ctx, p))
	p.Status, p.Attempts, p.Message, p.CheckedAt = store.ProgressFailing, 1, "hello.sh is missing", ptr(t0.Add(time.Minute))
	must(t, s.SaveProgress(ctx, p))
	must(t, s.SaveProgress(ctx, &store.Progress{WorkshopID: w.ID, RegistrationID: b.ID, StepID: "one", Status: store.ProgressDone, Attempts: 2, EnteredAt: t0, DoneAt: ptr(t0.Add(2 * time.Minute))}))

	rows, err := s.ListProgress(ctx, w.ID, a.ID)
	must(t, err)
	if len(rows) != 1 {
		t.Fatalf("a's progress = %+v", rows)
	}
	r := rows[0]
	equal(t, "a on step one", [5]any{r.Status, r.Attempts, r.Message, micro(r.EnteredAt), micro(*r.CheckedAt)},
		[5]any{store.ProgressFailing, 1, "hello.sh is missing", micro(t0), micro(t0.Add(time.Minute))})
	if r.DoneAt != nil {
		t.Fatalf("done_at = %v", r.DoneAt)
	}
	all, err := s.ListProgress(ctx, w.ID, "")
	must(t, err)
	equal(t, "rows", len(all), 2)
	must(t, s.DeleteProgress(ctx, a.ID, "one"))
	rows, err = s.ListProgress(ctx, w.ID, a.ID)
	must(t, err)
	equal(t, "after reset", len(rows), 0)
	err = s.SaveProgress(ctx, &store.Progress{WorkshopID: w.ID, RegistrationID: a.ID, StepID: "x", Status: "bogus", EnteredAt: t0})
	if err == nil {
		t.Fatal("an unknown status was stored")
	}
}

func testHands(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "hands@example.com")
	w := mkWorkshop(t, s, u.ID, 3)
	a, b := register(t, s, w.ID, "a@example.com"), register(t, s, w.ID, "b@example.com")
	h, err := s.RaiseHand(ctx, &store.Hand{WorkshopID: w.ID, RegistrationID: a.ID, Question: "stuck on 2"})
	must(t, err)
	again, err := s.RaiseHand(ctx, &store.Hand{WorkshopID: w.ID, RegistrationID: a.ID, Question: "still stuck"})
	must(t, err)
	if again.ID != h.ID || again.Question != "still stuck" {
		t.Fatalf("a second raise opened another hand: %+v vs %+v", again, h)
	}
	hb, err := s.RaiseHand(ctx, &store.Hand{WorkshopID: w.ID, RegistrationID: b.ID})
	must(t, err)
	open, err := s.ListHands(ctx, w.ID, "")
	must(t, err)
	if len(open) != 2 || open[0].ID != h.ID || open[1].ID != hb.ID {
		t.Fatalf("open hands = %+v", open)
	}
	picked, err := s.PickHand(ctx, w.ID, h.ID, u.ID, odd(0))
	must(t, err)
	if picked.PickedBy != u.ID || picked.PickedAt == nil || micro(*picked.PickedAt) != micro(odd(0)) {
		t.Fatalf("picked = %+v", picked)
	}
	_, err = s.PickHand(ctx, "other-workshop", h.ID, u.ID, odd(0))
	wantErr(t, err, store.ErrNotFound)
	must(t, s.CloseHand(ctx, w.ID, h.ID, odd(time.Minute)))
	wantErr(t, s.CloseHand(ctx, w.ID, h.ID, odd(time.Minute)), store.ErrNotFound)
	mine, err := s.ListHands(ctx, w.ID, a.ID)
	must(t, err)
	equal(t, "a's open hands after close", len(mine), 0)
	// After a close, raising opens a new hand.
	h2, err := s.RaiseHand(ctx, &store.Hand{WorkshopID: w.ID, RegistrationID: a.ID, Question: "new"})
	must(t, err)
	if h2.ID == h.ID {
		t.Fatal("a closed hand was reopened")
	}
}

func testBroadcasts(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "bc@example.com")
	w := mkWorkshop(t, s, u.ID, 3)
	_, err := s.GetBroadcast(ctx, w.ID)
	wantErr(t, err, store.ErrNotFound)
	must(t, s.SetBroadcast(ctx, &store.Broadcast{WorkshopID: w.ID, Message: "break until 11:00", At: odd(0)}))
	must(t, s.SetBroadcast(ctx, &store.Broadcast{WorkshopID: w.ID, Message: "back to step 3", At: odd(time.Minute)}))
	b, err := s.GetBroadcast(ctx, w.ID)
	must(t, err)
	equal(t, "broadcast", [2]any{b.Message, micro(b.At)}, [2]any{"back to step 3", micro(odd(time.Minute))})
	must(t, s.SetBroadcast(ctx, &store.Broadcast{WorkshopID: w.ID, Message: ""}))
	_, err = s.GetBroadcast(ctx, w.ID)
	wantErr(t, err, store.ErrNotFound)
}
