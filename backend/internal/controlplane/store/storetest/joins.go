package storetest

import (
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// The calls of a learner's register and join: Register's events, GetLearner
// and JoinSeat.

func testRegisterEvents(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "events@example.com")
	w := mkWorkshop(t, s, u.ID, 1)
	ev := func(msg string) store.Event { return store.Event{WorkshopID: w.ID, Message: msg} }
	messages := func() []string {
		t.Helper()
		list, err := s.ListEvents(ctx, w.ID, 0, 0)
		must(t, err)
		out := []string{}
		for _, e := range list {
			if e.Level != "info" || e.At.IsZero() {
				t.Fatalf("event %+v: want level info and a time", e)
			}
			out = append(out, e.Message)
		}
		return out
	}

	r, created, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: "A", Email: "a@example.com"}, ev("a registered"))
	must(t, err)
	if !created {
		t.Fatal("first Register: created = false")
	}
	equal(t, "events after a new registration", messages(), []string{"a registered"})

	// Registering again creates nothing, so adds no event.
	_, created, err = s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: "A", Email: "A@example.com"}, ev("a again"))
	must(t, err)
	if created {
		t.Fatal("second Register: created = true")
	}
	// Neither does a full workshop, nor a taken access code.
	_, _, err = s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: "B", Email: "b@example.com"}, ev("b registered"))
	wantErr(t, err, store.ErrFull)
	w2 := mkWorkshop(t, s, u.ID, 2)
	_, _, err = s.Register(ctx, &store.Registration{WorkshopID: w2.ID, Email: "c@example.com", AccessCode: r.AccessCode},
		store.Event{WorkshopID: w2.ID, Message: "c registered"})
	wantErr(t, err, store.ErrConflict)
	equal(t, "events after refused registrations", messages(), []string{"a registered"})
	list, err := s.ListEvents(ctx, w2.ID, 0, 0)
	must(t, err)
	equal(t, "events of the workshop whose registration was refused", len(list), 0)

	// Several events, in order, and no event at all.
	_, _, err = s.Register(ctx, &store.Registration{WorkshopID: w2.ID, Email: "d@example.com"},
		store.Event{WorkshopID: w2.ID, Message: "one"}, store.Event{WorkshopID: w2.ID, Level: "warn", Message: "two"})
	must(t, err)
	register(t, s, w2.ID, "e@example.com")
	list, err = s.ListEvents(ctx, w2.ID, 0, 0)
	must(t, err)
	if len(list) != 2 || list[0].Message != "one" || list[1].Message != "two" || list[1].Level != "warn" {
		t.Fatalf("events %+v: want one, then two (warn)", list)
	}
}

func testGetLearner(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "learner@example.com")
	w := mkWorkshop(t, s, u.ID, 3)
	ends := odd(time.Hour)
	_, err := s.UpdateWorkshop(ctx, w.ID, func(w *store.Workshop) error {
		w.EndsAt, w.LabGuide, w.Status = &ends, "# Lab", store.StatusRunning
		return nil
	})
	must(t, err)
	r := register(t, s, w.ID, "lin@example.com")
	register(t, s, mkWorkshop(t, s, u.ID, 3).ID, "lin@example.com")

	gotR, gotW, err := s.GetLearner(ctx, r.AccessCode)
	must(t, err)
	equal(t, "GetLearner registration", gotR, r)
	wantW, err := s.GetWorkshop(ctx, w.ID)
	must(t, err)
	equal(t, "GetLearner workshop", gotW, wantW)

	// A revoked registration is still found (the caller tells it apart).
	_, err = s.RevokeRegistration(ctx, w.ID, r.ID)
	must(t, err)
	gotR, _, err = s.GetLearner(ctx, r.AccessCode)
	must(t, err)
	if gotR.RevokedAt == nil {
		t.Fatal("GetLearner of a revoked registration: RevokedAt nil")
	}
	for _, code := range []string{"WRONGCODE1", "", r.AccessCode[:len(r.AccessCode)-1]} {
		_, _, err = s.GetLearner(ctx, code)
		wantErr(t, err, store.ErrNotFound)
	}
}

func testJoinSeat(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "joinseat@example.com")
	w := mkWorkshop(t, s, u.ID, 2)
	r1 := register(t, s, w.ID, "a@example.com")
	r2 := register(t, s, w.ID, "b@example.com")

	j1, err := s.JoinSeat(ctx, r1.ID)
	must(t, err)
	if j1.Seat == nil || j1.Seat.Seat != 1 || j1.Seat.RegistrationID != r1.ID || j1.ResetPending || j1.RestoredFrom != nil {
		t.Fatalf("first JoinSeat: %+v", j1)
	}
	again, err := s.JoinSeat(ctx, r1.ID)
	must(t, err)
	equal(t, "JoinSeat again", again, j1)
	seat, err := s.AssignSeat(ctx, r1.ID)
	must(t, err)
	equal(t, "AssignSeat after JoinSeat", seat, j1.Seat)

	// The learner's work was restored from an archive: RestoredFrom is when
	// that archive was saved; an archive not restored says nothing.
	saved := odd(-time.Hour)
	a := &store.Archive{WorkshopID: w.ID, RegistrationID: r1.ID, Seat: 1, BlobKey: "k1", Reason: "stop", CreatedAt: saved}
	must(t, s.AddArchive(ctx, a))
	j, err := s.JoinSeat(ctx, r1.ID)
	must(t, err)
	if j.RestoredFrom != nil {
		t.Fatalf("RestoredFrom = %v before any restore", j.RestoredFrom)
	}
	must(t, s.MarkArchiveRestored(ctx, a.ID, odd(0)))
	j, err = s.JoinSeat(ctx, r1.ID)
	must(t, err)
	if j.RestoredFrom == nil || !j.RestoredFrom.Equal(micro(saved)) || j.RestoredFrom.Location() != time.UTC {
		t.Fatalf("RestoredFrom = %v, want %v (UTC)", j.RestoredFrom, micro(saved))
	}
	// A newer save that was not restored replaces it.
	must(t, s.AddArchive(ctx, &store.Archive{WorkshopID: w.ID, RegistrationID: r1.ID, Seat: 1, BlobKey: "k2", Reason: "periodic", CreatedAt: odd(time.Hour)}))
	j, err = s.JoinSeat(ctx, r1.ID)
	must(t, err)
	if j.RestoredFrom != nil {
		t.Fatalf("RestoredFrom = %v after a newer save", j.RestoredFrom)
	}

	// Revoking r1 leaves seat 1 waiting for its reset: the next learner to
	// take it sees ResetPending until the host confirms.
	p, err := s.RevokeRegistration(ctx, w.ID, r1.ID)
	must(t, err)
	_, err = s.JoinSeat(ctx, r1.ID)
	wantErr(t, err, store.ErrRevoked)
	j2, err := s.JoinSeat(ctx, r2.ID)
	must(t, err)
	if j2.Seat.Seat != 1 || !j2.ResetPending || j2.Seat.Generation <= p.MinGeneration {
		t.Fatalf("JoinSeat of the revoked learner's seat: %+v (seat %+v), want seat 1, reset pending, generation above %d", j2, j2.Seat, p.MinGeneration)
	}
	must(t, s.ConfirmRevoke(ctx, w.ID, 1, p.MinGeneration))
	j2, err = s.JoinSeat(ctx, r2.ID)
	must(t, err)
	if j2.ResetPending {
		t.Fatal("ResetPending after the reset was confirmed")
	}

	// A reissue's pending revoke is no reset.
	r3 := register(t, s, w.ID, "c@example.com")
	_, err = s.JoinSeat(ctx, r3.ID)
	must(t, err)
	_, _, err = s.ReissueAccessCode(ctx, w.ID, r3.ID, "")
	must(t, err)
	j3, err := s.JoinSeat(ctx, r3.ID)
	must(t, err)
	if j3.ResetPending {
		t.Fatal("ResetPending after a reissue")
	}

	// Unknown, as AssignSeat.
	_, err = s.JoinSeat(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
}
