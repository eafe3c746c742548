package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

func testPushes(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "pushes@example.com")
	w := mkWorkshop(t, s, u.ID, 3)
	other := mkWorkshop(t, s, u.ID, 3)
	a := register(t, s, w.ID, "a@example.com")
	b := register(t, s, w.ID, "b@example.com")
	t0 := odd(0)
	all := &store.PushedFile{WorkshopID: w.ID, Path: "notes/a.txt", Content: []byte{0, 1, 255}, PushedBy: u.Email, PushedAt: t0}
	toB := &store.PushedFile{WorkshopID: w.ID, RegistrationID: b.ID, Path: "b.txt", Content: []byte("for b"), PushedAt: t0.Add(time.Second)}
	must(t, s.AddPushedFile(ctx, all))
	must(t, s.AddPushedFile(ctx, toB))
	must(t, s.AddPushedFile(ctx, &store.PushedFile{WorkshopID: other.ID, Path: "x", Content: []byte("x")}))
	if all.ID == "" || all.Size != 3 {
		t.Fatalf("prepared push: %+v", all)
	}
	got, err := s.GetPushedFile(ctx, all.ID)
	must(t, err)
	if string(got.Content) != string(all.Content) || got.Path != "notes/a.txt" || got.PushedBy != u.Email || micro(got.PushedAt) != micro(t0) || got.Size != 3 {
		t.Fatalf("push reads back as %+v", got)
	}
	if _, err := s.GetPushedFile(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown push: %v", err)
	}
	// a sees the push to everyone; b also the one to them; neither is
	// delivered yet; no content in lists.
	la, err := s.ListLearnerPushes(ctx, w.ID, a.ID)
	must(t, err)
	if len(la) != 1 || la[0].ID != all.ID || la[0].Delivery != "" || la[0].DeliveredAt != nil || la[0].Size != 3 || la[0].Content != nil {
		t.Fatalf("a's pushes: %+v", la)
	}
	lb, err := s.ListLearnerPushes(ctx, w.ID, b.ID)
	must(t, err)
	if len(lb) != 2 || lb[0].ID != all.ID || lb[1].ID != toB.ID || lb[1].RegistrationID != b.ID {
		t.Fatalf("b's pushes: %+v", lb)
	}
	// A delivery is claimed once; a running claim past the stale cut-off is
	// taken over; a done one never.
	t1 := t0.Add(time.Minute)
	claimed, err := s.ClaimPushDelivery(ctx, all.ID, a.ID, t1, t0)
	must(t, err)
	equal(t, "first claim", claimed, true)
	claimed, err = s.ClaimPushDelivery(ctx, all.ID, a.ID, t1.Add(time.Second), t1)
	must(t, err)
	equal(t, "claim while running", claimed, false)
	claimed, err = s.ClaimPushDelivery(ctx, all.ID, a.ID, t1.Add(time.Hour), t1.Add(time.Second))
	must(t, err)
	equal(t, "stale claim taken over", claimed, true)
	la, err = s.ListLearnerPushes(ctx, w.ID, a.ID)
	must(t, err)
	if la[0].Delivery != store.DeliveryRunning || la[0].DeliveredAt == nil || micro(*la[0].DeliveredAt) != micro(t1.Add(time.Hour)) {
		t.Fatalf("a running delivery: %+v", la[0])
	}
	t2 := t1.Add(2 * time.Hour)
	must(t, s.FinishPushDelivery(ctx, all.ID, a.ID, t2))
	claimed, err = s.ClaimPushDelivery(ctx, all.ID, a.ID, t2.Add(time.Hour), t2.Add(time.Hour))
	must(t, err)
	equal(t, "claim of a done delivery", claimed, false)
	la, err = s.ListLearnerPushes(ctx, w.ID, a.ID)
	must(t, err)
	if la[0].Delivery != store.DeliveryDone || micro(*la[0].DeliveredAt) != micro(t2) {
		t.Fatalf("a done delivery: %+v", la[0])
	}
	// b's deliveries are their own; finish without a claim inserts; a
	// deleted delivery is claimed again.
	lb, err = s.ListLearnerPushes(ctx, w.ID, b.ID)
	must(t, err)
	equal(t, "b untouched", lb[0].Delivery, "")
	must(t, s.FinishPushDelivery(ctx, toB.ID, b.ID, t2))
	must(t, s.DeletePushDelivery(ctx, all.ID, a.ID))
	claimed, err = s.ClaimPushDelivery(ctx, all.ID, a.ID, t2, t0)
	must(t, err)
	equal(t, "claim after delete", claimed, true)
	lb, err = s.ListLearnerPushes(ctx, w.ID, b.ID)
	must(t, err)
	equal(t, "b's own push delivered", [2]string{lb[0].Delivery, lb[1].Delivery}, [2]string{"", store.DeliveryDone})
}
