package storetest

import (
	"context"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// testWatchHosts: every write to a host of a multi-host workshop (host 2's
// record written, moved through a transition, deleted when the workshop
// shrank) signals the class watchers of that workshop: the class view shows
// each host's state, and the relay's host cache drops what it knew.
func testWatchHosts(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "hosts-owner@example.com")
	w := mkWorkshop(t, s, u.ID, 4)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.WatchClass(wctx, w.ID)
	must(t, err)
	signalled := func(what string) {
		t.Helper()
		select {
		case <-ch:
		default:
			t.Fatalf("%s: the class watcher was not signalled", what)
		}
	}
	vm := &store.WorkshopVM{WorkshopID: w.ID, HostIndex: 2, Name: "h-2", Status: "pending"}
	must(t, s.UpsertWorkshopVM(ctx, vm))
	signalled("UpsertWorkshopVM of host 2")
	vm.Status, vm.AgentURL = store.HostRunning, "https://10.0.0.2:9090"
	_, err = s.Transition(ctx, w.ID, store.Transition{Host: vm})
	must(t, err)
	signalled("Transition of host 2")
	must(t, s.DeleteWorkshopHost(ctx, w.ID, 2))
	signalled("DeleteWorkshopHost of host 2")
}
