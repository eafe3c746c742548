package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// revoke revokes a registration and returns the pending revoke it recorded.
func revoke(t *testing.T, s store.Store, wsID, regID string) *store.PendingRevoke {
	t.Helper()
	p, err := s.RevokeRegistration(ctxT(t), wsID, regID)
	must(t, err)
	return p
}

// testTokenGenerations: every seat assignment, revoke and reissue takes a
// new, higher generation of the workshop; a seat reused after a revoke gets
// one above the revoke's; re-joining keeps the seat's generation; and
// updating the workshop never moves the counter.
func testTokenGenerations(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	w := mkWorkshop(t, s, u.ID, 2)
	g0, err := s.TokenGeneration(ctx, w.ID)
	must(t, err)
	r1 := register(t, s, w.ID, "one@example.com")
	r2 := register(t, s, w.ID, "two@example.com")
	s1, err := s.AssignSeat(ctx, r1.ID)
	must(t, err)
	s2, err := s.AssignSeat(ctx, r2.ID)
	must(t, err)
	if s1.Generation <= g0 || s2.Generation <= s1.Generation {
		t.Fatalf("generations %d then %d, after %d: want increasing", s1.Generation, s2.Generation, g0)
	}
	again, err := s.AssignSeat(ctx, r1.ID)
	must(t, err)
	equal(t, "generation of a re-join", again.Generation, s1.Generation)
	got, err := s.GetSeat(ctx, w.ID, s1.Seat)
	must(t, err)
	equal(t, "GetSeat generation", got.Generation, s1.Generation)

	_, err = s.UpdateWorkshop(ctx, w.ID, func(w *store.Workshop) error { w.Name = "renamed"; return nil })
	must(t, err)
	g, err := s.TokenGeneration(ctx, w.ID)
	must(t, err)
	equal(t, "generation after UpdateWorkshop", g, s2.Generation)

	p := revoke(t, s, w.ID, r1.ID)
	if p == nil || p.Seat != s1.Seat || !p.Reset || p.MinGeneration <= s2.Generation || p.RegistrationID != r1.ID {
		t.Fatalf("pending revoke %+v: want seat %d, reset, min generation above %d", p, s1.Seat, s2.Generation)
	}
	if again := revoke(t, s, w.ID, r1.ID); again != nil {
		t.Fatalf("revoking twice recorded %+v", again)
	}
	r3 := register(t, s, w.ID, "three@example.com")
	s3, err := s.AssignSeat(ctx, r3.ID)
	must(t, err)
	equal(t, "reused seat", s3.Seat, s1.Seat)
	if s3.Generation <= p.MinGeneration {
		t.Fatalf("reused seat generation %d, want above the revoke's %d", s3.Generation, p.MinGeneration)
	}
	// A registration that never held a seat records no pending revoke.
	w2 := mkWorkshop(t, s, u.ID, 1)
	r4 := register(t, s, w2.ID, "four@example.com")
	if p := revoke(t, s, w2.ID, r4.ID); p != nil {
		t.Fatalf("revoke without a seat recorded %+v", p)
	}
	_, err = s.TokenGeneration(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
}

func testReissueAccessCode(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	w := mkWorkshop(t, s, u.ID, 2)
	r := register(t, s, w.ID, "one@example.com")
	seat, err := s.AssignSeat(ctx, r.ID)
	must(t, err)

	reg, p, err := s.ReissueAccessCode(ctx, w.ID, r.ID, "")
	must(t, err)
	if reg.AccessCode == "" || reg.AccessCode == r.AccessCode || reg.ID != r.ID {
		t.Fatalf("reissued %+v, old code %s", reg, r.AccessCode)
	}
	_, err = s.GetRegistrationByAccessCode(ctx, r.AccessCode)
	wantErr(t, err, store.ErrNotFound)
	byCode, err := s.GetRegistrationByAccessCode(ctx, reg.AccessCode)
	must(t, err)
	equal(t, "registration by new code", byCode.ID, r.ID)

	// The learner keeps the seat, with the reissue's generation.
	after, err := s.AssignSeat(ctx, r.ID)
	must(t, err)
	equal(t, "seat kept", after.Seat, seat.Seat)
	if p == nil || p.Reset || p.Seat != seat.Seat || p.RegistrationID != r.ID || p.MinGeneration <= seat.Generation || after.Generation != p.MinGeneration {
		t.Fatalf("pending %+v, seat before %+v, after %+v", p, seat, after)
	}

	// A given code is used as is; a taken one is ErrConflict.
	other := register(t, s, w.ID, "two@example.com")
	reg2, _, err := s.ReissueAccessCode(ctx, w.ID, r.ID, "GIVENCODE3")
	must(t, err)
	equal(t, "given code", reg2.AccessCode, "GIVENCODE3")
	_, _, err = s.ReissueAccessCode(ctx, w.ID, r.ID, other.AccessCode)
	wantErr(t, err, store.ErrConflict)

	// Unseated: a new code and no pending revoke.
	reg3, p3, err := s.ReissueAccessCode(ctx, w.ID, other.ID, "")
	must(t, err)
	if p3 != nil || reg3.AccessCode == other.AccessCode {
		t.Fatalf("unseated reissue: %+v %+v", reg3, p3)
	}

	_, _, err = s.ReissueAccessCode(ctx, "nope", r.ID, "")
	wantErr(t, err, store.ErrNotFound)
	_, _, err = s.ReissueAccessCode(ctx, w.ID, "nope", "")
	wantErr(t, err, store.ErrNotFound)
	revoke(t, s, w.ID, other.ID)
	_, _, err = s.ReissueAccessCode(ctx, w.ID, other.ID, "")
	wantErr(t, err, store.ErrRevoked)
}

// testPendingRevokes: revokes are listed until confirmed with their own
// generation; a newer revoke of the same seat replaces the older one (and a
// reset stays a reset); failures are counted.
func testPendingRevokes(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	w := mkWorkshop(t, s, u.ID, 3)
	var regs []*store.Registration
	for i := 0; i < 3; i++ {
		r := register(t, s, w.ID, fmt.Sprintf("l%d@example.com", i))
		_, err := s.AssignSeat(ctx, r.ID)
		must(t, err)
		regs = append(regs, r)
	}
	p1 := revoke(t, s, w.ID, regs[0].ID)
	_, p2, err := s.ReissueAccessCode(ctx, w.ID, regs[1].ID, "")
	must(t, err)
	list, err := s.ListPendingRevokes(ctx, w.ID)
	must(t, err)
	if len(list) != 2 || list[0].Seat != 1 || list[1].Seat != 2 {
		t.Fatalf("pending: %+v", list)
	}
	equal(t, "listed revoke", list[0], *p1)

	must(t, s.FailRevoke(ctx, w.ID, 1, p1.MinGeneration, "agent down"))
	must(t, s.FailRevoke(ctx, w.ID, 1, p1.MinGeneration, "agent still down"))
	list, err = s.ListPendingRevokes(ctx, w.ID)
	must(t, err)
	if list[0].Attempts != 2 || list[0].LastError != "agent still down" {
		t.Fatalf("after failures: %+v", list[0])
	}

	// Seat 2: a reissue then a revoke; the revoke's generation wins and
	// confirming the reissue's generation leaves it pending.
	p2b := revoke(t, s, w.ID, regs[1].ID)
	if p2b.MinGeneration <= p2.MinGeneration || !p2b.Reset {
		t.Fatalf("second revoke of seat 2: %+v after %+v", p2b, p2)
	}
	must(t, s.ConfirmRevoke(ctx, w.ID, 2, p2.MinGeneration))
	list, err = s.ListPendingRevokes(ctx, w.ID)
	must(t, err)
	if len(list) != 2 || list[1].MinGeneration != p2b.MinGeneration || list[1].Attempts != 0 {
		t.Fatalf("after a stale confirm: %+v", list)
	}
	must(t, s.ConfirmRevoke(ctx, w.ID, 2, p2b.MinGeneration))
	list, err = s.ListPendingRevokes(ctx, w.ID)
	must(t, err)
	if len(list) != 1 || list[0].Seat != 1 {
		t.Fatalf("after confirming seat 2: %+v", list)
	}

	// Concurrent revokes and reissues never lose one.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); _, err := s.RevokeRegistration(ctx, w.ID, regs[2].ID); errs <- err }()
	go func() { defer wg.Done(); _, _, err := s.ReissueAccessCode(ctx, w.ID, regs[2].ID, ""); errs <- err }()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, store.ErrRevoked) {
			t.Fatal(err)
		}
	}
	list, err = s.ListPendingRevokes(ctx, w.ID)
	must(t, err)
	if len(list) != 2 || list[1].Seat != 3 || !list[1].Reset {
		t.Fatalf("after a concurrent revoke and reissue: %+v", list)
	}
}
