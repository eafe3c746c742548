package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// Multi-host workshops: host records per workshop, and seat placement
// (store.Workshop.HostOf) under concurrent joins.

func mkBigWorkshop(t *testing.T, s store.Store, owner string, seats, perHost int) *store.Workshop {
	t.Helper()
	w := &store.Workshop{OwnerID: owner, Name: "Big " + randomSuffix(), Seats: seats, SeatsPerHost: perHost}
	must(t, s.CreateWorkshop(ctxT(t), w))
	return w
}

func testWorkshopHosts(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "hosts@example.com")
	w := mkBigWorkshop(t, s, u.ID, 70, 30)
	got, err := s.GetWorkshop(ctx, w.ID)
	must(t, err)
	equal(t, "seats per host read back", got.SeatsPerHost, 30)
	equal(t, "hosts of 70 seats at 30 per host", got.Hosts(), 3)

	// One row per host, each with its own token and certificate.
	for i := 3; i >= 1; i-- {
		vm := &store.WorkshopVM{WorkshopID: w.ID, HostIndex: i, Name: fmt.Sprintf("h%d", i), Status: "creating",
			AgentToken: fmt.Sprintf("token-%d", i), AgentCert: fmt.Sprintf("cert-%d", i)}
		must(t, s.UpsertWorkshopVM(ctx, vm))
	}
	hosts, err := s.ListWorkshopHosts(ctx, w.ID)
	must(t, err)
	if len(hosts) != 3 {
		t.Fatalf("ListWorkshopHosts: %d rows, want 3", len(hosts))
	}
	for i, h := range hosts {
		if h.HostIndex != i+1 || h.AgentToken != fmt.Sprintf("token-%d", i+1) || h.AgentCert != fmt.Sprintf("cert-%d", i+1) {
			t.Fatalf("host %d: %+v", i+1, h)
		}
	}
	first, err := s.GetWorkshopVM(ctx, w.ID)
	must(t, err)
	equal(t, "GetWorkshopVM is host 1", first.Name, "h1")

	// Upserting host 2 changes host 2 only; no index is host 1.
	must(t, s.UpsertWorkshopVM(ctx, &store.WorkshopVM{WorkshopID: w.ID, HostIndex: 2, Name: "h2", Status: "running", AgentToken: "new"}))
	must(t, s.UpsertWorkshopVM(ctx, &store.WorkshopVM{WorkshopID: w.ID, Name: "h1", Status: "running"}))
	hosts, err = s.ListWorkshopHosts(ctx, w.ID)
	must(t, err)
	equal(t, "statuses", []string{hosts[0].Status, hosts[1].Status, hosts[2].Status}, []string{"running", "running", "creating"})
	equal(t, "host 2's new token", hosts[1].AgentToken, "new")

	// A transition writes the host named by its index.
	_, err = s.Transition(ctx, w.ID, store.Transition{Host: &store.WorkshopVM{HostIndex: 3, Name: "h3", Status: "running"}})
	must(t, err)
	must(t, s.DeleteWorkshopHost(ctx, w.ID, 2))
	must(t, s.DeleteWorkshopHost(ctx, w.ID, 2)) // gone already: no error
	hosts, err = s.ListWorkshopHosts(ctx, w.ID)
	must(t, err)
	equal(t, "hosts after deleting host 2", []string{hosts[0].Name + "/" + hosts[0].Status, hosts[1].Name + "/" + hosts[1].Status},
		[]string{"h1/running", "h3/running"})

	// Placement never changes: seats per host is fixed.
	_, err = s.UpdateWorkshop(ctx, w.ID, func(x *store.Workshop) error { x.SeatsPerHost = 10; return nil })
	wantErr(t, err, store.ErrSeatsPerHostFixed)
	_, err = s.Transition(ctx, w.ID, store.Transition{Workshop: func(x *store.Workshop) error { x.SeatsPerHost = 0; return nil }})
	wantErr(t, err, store.ErrSeatsPerHostFixed)
	got, err = s.UpdateWorkshop(ctx, w.ID, func(x *store.Workshop) error { x.Seats = 100; return nil })
	must(t, err)
	equal(t, "seats per host after growing", got.SeatsPerHost, 30)
	equal(t, "hosts after growing to 100", got.Hosts(), 4)

	// DeleteWorkshopVM removes every host of the workshop.
	must(t, s.DeleteWorkshopVM(ctx, w.ID))
	hosts, err = s.ListWorkshopHosts(ctx, w.ID)
	must(t, err)
	equal(t, "hosts after DeleteWorkshopVM", len(hosts), 0)
}

// PlacementStorm (part of Run): 500 learners, and 20 more than there are
// seats, join a 500-seat workshop of 5 hosts at once. No seat is given
// twice, every seat maps to a host in 1..5, no host holds more than its
// seats per host, and the learners past 500 are told the workshop is full.
func PlacementStorm(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "storm-owner@example.com")
	const seats, perHost, extra = 500, 100, 20
	mk := mkBigWorkshop(t, s, u.ID, seats, perHost)
	w, err := s.GetWorkshop(ctx, mk.ID) // placement as the store has it
	must(t, err)
	got := make([]int, seats+extra)
	errs := make([]error, seats+extra)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range seats + extra {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			email := fmt.Sprintf("p%04d@example.com", i)
			r, _, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: email, Email: email})
			if err != nil {
				errs[i] = err
				return
			}
			j, err := s.JoinSeat(ctx, r.ID)
			if err == nil {
				got[i] = j.Seat.Seat
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	held := map[int]int{}
	perHostCount := map[int]int{}
	full := 0
	for i, err := range errs {
		switch {
		case err == nil:
			held[got[i]]++
			perHostCount[w.HostOf(got[i])]++
		case errors.Is(err, store.ErrFull):
			full++
		default:
			t.Errorf("learner %d: %v", i, err)
		}
	}
	for seat, n := range held {
		if n != 1 || seat < 1 || seat > seats {
			t.Errorf("seat %d given %d times (seats 1..%d)", seat, n, seats)
		}
	}
	for h, n := range perHostCount {
		if h < 1 || h > w.Hosts() || n > perHost {
			t.Errorf("host %d holds %d seats (hosts 1..%d, %d each)", h, n, w.Hosts(), perHost)
		}
	}
	if len(held) != seats || full != extra {
		t.Errorf("%d seated, %d full; want %d and %d", len(held), full, seats, extra)
	}
	// What the store lists agrees: every seat row's host is in range.
	rows, err := s.ListSeats(ctx, w.ID)
	must(t, err)
	for _, st := range rows {
		if first, last := w.HostSeats(w.HostOf(st.Seat)); st.Seat < first || st.Seat > last {
			t.Errorf("seat %d outside its host's range %d..%d", st.Seat, first, last)
		}
	}
}
