package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/postgres"
	"github.com/clarateach/backend/internal/controlplane/store/storetest"
)

// TestWatchClassAcrossReplicas: a write through one replica signals the
// class watchers of another replica sharing the database (LISTEN/NOTIFY),
// and not the watchers of other workshops.
func TestWatchClassAcrossReplicas(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresSchemaURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := postgres.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	open := func() *postgres.Store {
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	u := &store.User{Email: "owner@example.com", Name: "O", Role: store.RoleInstructor, PasswordHash: "x"}
	if err := a.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	mk := func() *store.Workshop {
		w := &store.Workshop{OwnerID: u.ID, Name: "class", Seats: 3}
		if err := a.CreateWorkshop(ctx, w); err != nil {
			t.Fatal(err)
		}
		return w
	}
	w, quiet := mk(), mk()
	ch, err := b.WatchClass(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	quietCh, err := b.WatchClass(ctx, quiet.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := a.AddEvent(ctx, &store.Event{WorkshopID: w.ID, Message: "burst"}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatal("a write through replica a never reached replica b's watcher")
	}
	// The quiet workshop's watcher hears nothing of w: a write to the quiet
	// workshop, made after w's burst, is heard after anything the burst
	// sent, and then the quiet watcher has had that one signal only.
	if err := a.AddEvent(ctx, &store.Event{WorkshopID: quiet.ID, Message: "marker"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-quietCh:
	case <-ctx.Done():
		t.Fatal("the marker write never reached replica b")
	}
	select {
	case <-quietCh:
		t.Fatal("the quiet workshop's watcher was signalled for another workshop")
	default:
	}
}
