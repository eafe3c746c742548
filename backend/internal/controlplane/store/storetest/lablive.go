package storetest

import (
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

func testWatchers(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "watch@example.com")
	w := mkWorkshop(t, s, u.ID, 3)
	t0 := odd(0)
	old := &store.Watcher{WorkshopID: w.ID, Seat: 2, Name: "Gone", Mode: store.WatchReadOnly, Since: t0}
	must(t, s.AddWatcher(ctx, old))
	if old.ID == "" || !old.SeenAt.Equal(old.Since) {
		t.Fatalf("prepared watcher: %+v", old)
	}
	// Much later, two instructors open seat 2; the old row is stale and is
	// dropped by the next add.
	later := t0.Add(10 * time.Minute)
	ro := &store.Watcher{WorkshopID: w.ID, Seat: 2, Name: "Ada", Mode: store.WatchReadOnly, Since: later}
	rw := &store.Watcher{WorkshopID: w.ID, Seat: 2, Name: "Grace", Mode: store.WatchReadWrite, Since: later.Add(time.Second)}
	other := &store.Watcher{WorkshopID: w.ID, Seat: 3, Name: "Ada", Mode: store.WatchReadOnly, Since: later}
	for _, x := range []*store.Watcher{ro, rw, other} {
		must(t, s.AddWatcher(ctx, x))
	}
	list, err := s.ListWatchers(ctx, w.ID, 2, t0)
	must(t, err)
	if len(list) != 2 || list[0].Name != "Ada" || list[1].Name != "Grace" || list[1].Mode != store.WatchReadWrite || micro(list[0].Since) != micro(later) {
		t.Fatalf("watchers of seat 2 = %+v", list)
	}
	// Only rows seen since the cut-off count; a touch keeps one alive.
	must(t, s.TouchWatcher(ctx, rw.ID, later.Add(time.Minute)))
	list, err = s.ListWatchers(ctx, w.ID, 2, later.Add(30*time.Second))
	must(t, err)
	if len(list) != 1 || list[0].ID != rw.ID {
		t.Fatalf("watchers seen lately = %+v", list)
	}
	must(t, s.RemoveWatcher(ctx, rw.ID))
	list, err = s.ListWatchers(ctx, w.ID, 2, t0)
	must(t, err)
	equal(t, "after remove", len(list), 1)
	if err := s.AddWatcher(ctx, &store.Watcher{WorkshopID: w.ID, Seat: 1, Mode: "god"}); err == nil {
		t.Fatal("an unknown mode was stored")
	}
}

func testLabSetups(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "setup@example.com")
	w := mkWorkshop(t, s, u.ID, 3)
	a := register(t, s, w.ID, "a@example.com")
	first := &store.LabSetup{RegistrationID: a.ID, WorkshopID: w.ID, LabID: "lab1", Version: 1}
	claimed, err := s.ClaimLabSetup(ctx, first)
	must(t, err)
	equal(t, "first claim", [2]any{claimed, first.Status}, [2]any{true, store.SetupRunning})
	again := &store.LabSetup{RegistrationID: a.ID, WorkshopID: w.ID, LabID: "lab1", Version: 1}
	claimed, err = s.ClaimLabSetup(ctx, again)
	must(t, err)
	equal(t, "second claim", [2]any{claimed, again.Status}, [2]any{false, store.SetupRunning})
	done := odd(time.Minute)
	first.Status, first.Message, first.FinishedAt = store.SetupFailed, "exit 3", &done
	must(t, s.FinishLabSetup(ctx, first))
	claimed, err = s.ClaimLabSetup(ctx, again)
	must(t, err)
	if claimed || again.Status != store.SetupFailed || again.Message != "exit 3" || again.FinishedAt == nil || micro(*again.FinishedAt) != micro(done) {
		t.Fatalf("the finished setup reads back as %+v (claimed %v)", again, claimed)
	}
	// The workshop's setups of one version list with their state.
	b := register(t, s, w.ID, "b@example.com")
	claimed, err = s.ClaimLabSetup(ctx, &store.LabSetup{RegistrationID: b.ID, WorkshopID: w.ID, LabID: "lab1", Version: 1})
	must(t, err)
	equal(t, "b's claim", claimed, true)
	list, err := s.ListLabSetups(ctx, w.ID, "lab1", 1)
	must(t, err)
	byReg := map[string]store.LabSetup{}
	for _, ls := range list {
		byReg[ls.RegistrationID] = ls
	}
	if len(list) != 2 || byReg[a.ID].Status != store.SetupFailed || byReg[a.ID].Message != "exit 3" || byReg[a.ID].FinishedAt == nil ||
		byReg[b.ID].Status != store.SetupRunning || byReg[b.ID].FinishedAt != nil || byReg[b.ID].StartedAt.IsZero() {
		t.Fatalf("the workshop's setups: %+v", list)
	}
	if other, err := s.ListLabSetups(ctx, w.ID, "lab1", 2); err != nil || len(other) != 0 {
		t.Fatalf("setups of another version: %+v %v", other, err)
	}
	// Another version is another setup; a deleted one can be claimed again.
	claimed, err = s.ClaimLabSetup(ctx, &store.LabSetup{RegistrationID: a.ID, WorkshopID: w.ID, LabID: "lab1", Version: 2})
	must(t, err)
	equal(t, "version 2", claimed, true)
	must(t, s.DeleteLabSetup(ctx, a.ID, "lab1", 1))
	claimed, err = s.ClaimLabSetup(ctx, &store.LabSetup{RegistrationID: a.ID, WorkshopID: w.ID, LabID: "lab1", Version: 1})
	must(t, err)
	equal(t, "after delete", claimed, true)
}
