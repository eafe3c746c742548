package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// RegisterByCode and JoinByCode: the request's lookup by code and the write
// in one call; a workshop that is not open to learners (deleted, being
// deleted, ended at the given time) gets nothing written.

func testRegisterByCode(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "bycode@example.com")
	w := mkWorkshop(t, s, u.ID, 2)
	ends := micro(time.Now().Add(time.Hour))
	_, err := s.UpdateWorkshop(ctx, w.ID, func(w *store.Workshop) error { w.EndsAt = &ends; return nil })
	must(t, err)
	at := ends.Add(-time.Minute)

	gotW, r, created, err := s.RegisterByCode(ctx, w.Code, &store.Registration{Name: "A", Email: "A@example.com"}, at,
		store.Event{Message: "a registered"})
	must(t, err)
	if !created || r.WorkshopID != w.ID || r.Email != "a@example.com" || gotW.ID != w.ID || gotW.Seats != 2 {
		t.Fatalf("RegisterByCode: %+v %+v created=%v", gotW, r, created)
	}
	got, err := s.GetRegistrationByAccessCode(ctx, r.AccessCode)
	must(t, err)
	equal(t, "registration stored", got, r)
	// Register's rules: again is the existing one, not created; full.
	_, again, created, err := s.RegisterByCode(ctx, w.Code, &store.Registration{Name: "A", Email: "a@example.com"}, at)
	must(t, err)
	if created || again.ID != r.ID {
		t.Fatalf("RegisterByCode again: %+v created=%v", again, created)
	}
	register(t, s, w.ID, "b@example.com")
	gotW, _, _, err = s.RegisterByCode(ctx, w.Code, &store.Registration{Name: "C", Email: "c@example.com"}, at)
	wantErr(t, err, store.ErrFull)
	if gotW == nil || gotW.ID != w.ID {
		t.Fatalf("RegisterByCode of a full workshop: workshop %+v", gotW)
	}
	_, _, _, err = s.RegisterByCode(ctx, "NOPE42", &store.Registration{Name: "C", Email: "c@example.com"}, at)
	wantErr(t, err, store.ErrNotFound)

	// Not open: ended at `at` (the end itself included), deleted, being
	// deleted. The workshop is returned, nothing is written.
	w2 := mkWorkshop(t, s, u.ID, 5)
	_, err = s.UpdateWorkshop(ctx, w2.ID, func(w *store.Workshop) error { w.EndsAt = &ends; return nil })
	must(t, err)
	closed := func(code string, at time.Time) {
		t.Helper()
		gotW, r, created, err := s.RegisterByCode(ctx, code, &store.Registration{Name: "D", Email: "d@example.com"}, at,
			store.Event{Message: "d registered"})
		must(t, err)
		if gotW == nil || gotW.Code != code || r != nil || created {
			t.Fatalf("RegisterByCode of a closed workshop: %+v %+v created=%v", gotW, r, created)
		}
	}
	closed(w2.Code, ends)
	closed(w2.Code, ends.Add(time.Second))
	_, err = s.UpdateWorkshop(ctx, w2.ID, func(w *store.Workshop) error { w.EndsAt, w.DesiredState = nil, store.DesiredDeleted; return nil })
	must(t, err)
	closed(w2.Code, at)
	_, err = s.UpdateWorkshop(ctx, w2.ID, func(w *store.Workshop) error {
		w.DesiredState, w.Status = store.DesiredRunning, store.StatusDeleted
		return nil
	})
	must(t, err)
	closed(w2.Code, at)
	n, err := s.SeatsUsed(ctx, w2.ID)
	must(t, err)
	events, err := s.ListEvents(ctx, w2.ID, 0, 0)
	must(t, err)
	if n != 0 || len(events) != 0 {
		t.Fatalf("closed workshop: %d registrations, %d events written", n, len(events))
	}
}

func testJoinByCode(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "joinbycode@example.com")
	w := mkWorkshop(t, s, u.ID, 2)
	ends := micro(time.Now().Add(time.Hour))
	_, err := s.UpdateWorkshop(ctx, w.ID, func(w *store.Workshop) error { w.EndsAt = &ends; return nil })
	must(t, err)
	at := ends.Add(-time.Minute)
	r1 := register(t, s, w.ID, "a@example.com")
	r2 := register(t, s, w.ID, "b@example.com")

	gotR, gotW, j, err := s.JoinByCode(ctx, r1.AccessCode, at)
	must(t, err)
	if gotR.ID != r1.ID || gotW.ID != w.ID || j == nil || j.Seat.Seat != 1 || j.Seat.RegistrationID != r1.ID || j.ResetPending {
		t.Fatalf("JoinByCode: %+v %+v %+v", gotR, gotW, j)
	}
	_, _, again, err := s.JoinByCode(ctx, r1.AccessCode, at)
	must(t, err)
	equal(t, "JoinByCode again", again, j)
	_, _, _, err = s.JoinByCode(ctx, "WRONGCODE123", at)
	wantErr(t, err, store.ErrNotFound)

	// Ended at `at`: the learner and workshop, no seat, nothing written.
	gotR, gotW, j, err = s.JoinByCode(ctx, r2.AccessCode, ends)
	must(t, err)
	if gotR.ID != r2.ID || gotW.ID != w.ID || j != nil {
		t.Fatalf("JoinByCode of an ended workshop: %+v %+v %+v", gotR, gotW, j)
	}
	if _, err := s.GetSeat(ctx, w.ID, 2); err == nil {
		t.Fatal("JoinByCode of an ended workshop gave a seat")
	}
	// Revoked: no seat either.
	_, err = s.RevokeRegistration(ctx, w.ID, r2.ID)
	must(t, err)
	gotR, _, j, err = s.JoinByCode(ctx, r2.AccessCode, at)
	must(t, err)
	if gotR.RevokedAt == nil || j != nil {
		t.Fatalf("JoinByCode of a revoked registration: %+v %+v", gotR, j)
	}
	seats, err := s.ListSeats(ctx, w.ID)
	must(t, err)
	equal(t, "seats after the refused joins", len(seats), 1)

	// Full: JoinSeat's error, with the learner and workshop.
	w3 := mkWorkshop(t, s, u.ID, 1)
	a := register(t, s, w3.ID, "a@example.com")
	_, err = s.UpdateWorkshop(ctx, w3.ID, func(w *store.Workshop) error { w.Seats = 2; return nil })
	must(t, err)
	b := register(t, s, w3.ID, "b@example.com")
	_, err = s.UpdateWorkshop(ctx, w3.ID, func(w *store.Workshop) error { w.Seats = 1; return nil })
	must(t, err)
	_, _, _, err = s.JoinByCode(ctx, a.AccessCode, at)
	must(t, err)
	gotR, gotW, _, err = s.JoinByCode(ctx, b.AccessCode, at)
	wantErr(t, err, store.ErrFull)
	if gotR == nil || gotR.ID != b.ID || gotW == nil || gotW.ID != w3.ID {
		t.Fatalf("JoinByCode of a full workshop: %+v %+v", gotR, gotW)
	}
}

// testJoinByCodeTabs: one learner joining from several tabs at once gets
// one seat, the same in every tab, and no error.
func testJoinByCodeTabs(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "tabs@example.com")
	w := mkWorkshop(t, s, u.ID, 3)
	r := register(t, s, w.ID, "a@example.com")
	const tabs = 12
	seats := make([]int, tabs)
	errs := make([]error, tabs)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range tabs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, _, j, err := s.JoinByCode(ctx, r.AccessCode, time.Now())
			if err == nil && j == nil {
				err = errors.New("no seat")
			}
			if errs[i] = err; err == nil {
				seats[i] = j.Seat.Seat
			}
		}()
	}
	close(start)
	wg.Wait()
	for i := range tabs {
		if errs[i] != nil || seats[i] != seats[0] {
			t.Fatalf("tab %d: seat %d (tab 0: %d), %v", i, seats[i], seats[0], errs[i])
		}
	}
	list, err := s.ListSeats(ctx, w.ID)
	must(t, err)
	if len(list) != 1 || list[0].RegistrationID != r.ID {
		t.Fatalf("seats after %d tabs joined: %+v", tabs, list)
	}
}
