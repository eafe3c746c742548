package storetest

import (
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// testTouchSeats: one batch records many seats' activity; an empty status
// keeps the stored one; a seat held at another generation, or not held at
// all, is skipped.
func testTouchSeats(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	w := mkWorkshop(t, s, u.ID, 3)
	var seats []*store.Seat
	for _, email := range []string{"a@example.com", "b@example.com"} {
		r := register(t, s, w.ID, email)
		st, err := s.AssignSeat(ctx, r.ID)
		must(t, err)
		seats = append(seats, st)
	}
	at := odd(5 * time.Minute)
	must(t, s.TouchSeats(ctx, []store.SeatActivity{
		{WorkshopID: w.ID, Seat: seats[0].Seat, Generation: seats[0].Generation, Status: store.SeatConnected, At: at},
		{WorkshopID: w.ID, Seat: seats[1].Seat, Generation: seats[1].Generation + 1, Status: store.SeatConnected, At: at},
		{WorkshopID: w.ID, Seat: 3, Generation: 1, Status: store.SeatConnected, At: at},
	}))
	got, err := s.GetSeat(ctx, w.ID, seats[0].Seat)
	must(t, err)
	if got.Status != store.SeatConnected || got.LastActivity == nil || !got.LastActivity.Equal(micro(at)) {
		t.Fatalf("touched seat: %+v", got)
	}
	other, err := s.GetSeat(ctx, w.ID, seats[1].Seat)
	must(t, err)
	if other.Status != store.SeatAssigned || other.LastActivity != nil {
		t.Fatalf("a seat at another generation was touched: %+v", other)
	}
	if _, err := s.GetSeat(ctx, w.ID, 3); err == nil {
		t.Fatal("touching a free seat created it")
	}
	must(t, s.TouchSeats(ctx, []store.SeatActivity{{WorkshopID: w.ID, Seat: seats[0].Seat, Generation: seats[0].Generation, At: at.Add(time.Second)}}))
	got, err = s.GetSeat(ctx, w.ID, seats[0].Seat)
	must(t, err)
	equal(t, "status kept by an empty status", got.Status, store.SeatConnected)
	if !got.LastActivity.Equal(micro(at.Add(time.Second))) {
		t.Fatalf("last activity %v", got.LastActivity)
	}
	// More than one statement's worth.
	big := make([]store.SeatActivity, store.MaxActivityBatch+1)
	for i := range big {
		big[i] = store.SeatActivity{WorkshopID: w.ID, Seat: 100 + i, Generation: 1, At: at}
	}
	big[len(big)-1] = store.SeatActivity{WorkshopID: w.ID, Seat: seats[1].Seat, Generation: seats[1].Generation, Status: store.SeatConnected, At: at}
	must(t, s.TouchSeats(ctx, big))
	other, err = s.GetSeat(ctx, w.ID, seats[1].Seat)
	must(t, err)
	equal(t, "status after a two-statement batch", other.Status, store.SeatConnected)
}
