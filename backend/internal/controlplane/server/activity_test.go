package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// touchCounter counts the store writes of seat activity.
type touchCounter struct {
	store.Store
	single, batches, entries atomic.Int64
}

func (c *touchCounter) TouchSeat(ctx context.Context, ws string, seat int, status string, at time.Time) error {
	c.single.Add(1)
	return c.Store.TouchSeat(ctx, ws, seat, status, at)
}

func (c *touchCounter) TouchSeats(ctx context.Context, batch []store.SeatActivity) error {
	c.batches.Add(1)
	c.entries.Add(int64(len(batch)))
	return c.Store.TouchSeats(ctx, batch)
}

// TestRelayActivityIsBatched: 90 relayed file requests on three seats and a
// terminal write nothing until the flush, which writes them in one
// statement; the terminal's close is then recorded as the seat no longer
// connected.
func TestRelayActivityIsBatched(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			e := newEnv(t, engine)
			inst := e.instructor("ada@example.com")
			id, _ := e.workshop(inst, 5)
			e.start(inst, id)
			counter := &touchCounter{Store: e.st}
			srv := server.New(server.Deps{Config: e.cfg, Store: counter, Now: e.clock, Version: "test", ActivityFlush: time.Hour})
			hs := httptest.NewServer(srv.Handler())
			t.Cleanup(hs.Close)
			toks := map[int]string{}
			for seat := 1; seat <= 3; seat++ {
				toks[seat] = e.seatToken(t, id, seat, e.clock())
			}
			for i := 0; i < 90; i++ {
				seat := i%3 + 1
				r := e.callAt(hs.URL, "GET", fmt.Sprintf("/api/workspaces/%s/%d/files/a.txt", id, seat), toks[seat], nil)
				if r.Status != http.StatusOK {
					t.Fatalf("relayed request: %d %s", r.Status, r.Body)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			u := "ws" + hs.URL[len("http"):] + fmt.Sprintf("/api/workspaces/%s/1/terminal?token=%s", id, toks[1])
			c, _, err := websocket.Dial(ctx, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := echo(ctx, c); err != nil {
				t.Fatal(err)
			}
			if n := counter.single.Load() + counter.batches.Load(); n != 0 {
				t.Fatalf("%d activity writes before the flush", n)
			}
			srv.FlushActivity(ctx)
			if b, n := counter.batches.Load(), counter.entries.Load(); b != 1 || n != 3 || counter.single.Load() != 0 {
				t.Fatalf("flush: %d statements with %d entries (and %d single touches), want 1 with 3", b, n, counter.single.Load())
			}
			for seat := 1; seat <= 3; seat++ {
				st, err := e.st.GetSeat(ctx, id, seat)
				if err != nil || st.LastActivity == nil {
					t.Fatalf("seat %d after the flush: %+v %v", seat, st, err)
				}
				if want := map[bool]string{true: store.SeatConnected, false: store.SeatAssigned}[seat == 1]; st.Status != want {
					t.Fatalf("seat %d status %q, want %q", seat, st.Status, want)
				}
			}
			c.Close(websocket.StatusNormalClosure, "")
			deadline := time.Now().Add(10 * time.Second)
			for {
				srv.FlushActivity(ctx)
				st, err := e.st.GetSeat(ctx, id, 1)
				if err == nil && st.Status == store.SeatAssigned {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("seat 1 still %+v %v after its terminal closed", st, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestRelayActivityFlushesByItself: without anyone calling FlushActivity,
// the activity reaches the store within the flush interval.
func TestRelayActivityFlushesByItself(t *testing.T) {
	e := newEnv(t, "sqlite")
	inst := e.instructor("ada@example.com")
	id, _ := e.workshop(inst, 2)
	e.start(inst, id)
	srv := server.New(server.Deps{Config: e.cfg, Store: e.st, Now: e.clock, Version: "test", ActivityFlush: 50 * time.Millisecond})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	tok := e.seatToken(t, id, 1, e.clock())
	if r := e.callAt(hs.URL, "GET", fmt.Sprintf("/api/workspaces/%s/1/files/a.txt", id), tok, nil); r.Status != http.StatusOK {
		t.Fatalf("relayed request: %d %s", r.Status, r.Body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := e.st.GetSeat(context.Background(), id, 1)
		if err == nil && st.LastActivity != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no activity written: %+v %v", st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
