package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/host/seatruntime"
)

// settleRecorder is a runtime that records Settle calls and how many
// terminal sessions the seat's daemon had at each.
type settleRecorder struct {
	seatruntime.Runtime
	mu      sync.Mutex
	settled map[string]int // "workshop/seat" → sessions seen
	settles int
}

func (r *settleRecorder) Settle(s *seatruntime.Seat) {
	n := -1
	if resp, err := seatruntime.UnixClient(s.Address).Get("http://workspace/sessions"); err == nil {
		var list struct {
			Sessions []json.RawMessage `json:"sessions"`
		}
		if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&list) == nil {
			n = len(list.Sessions)
		}
		resp.Body.Close()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settles++
	r.settled[s.WorkshopID+"/"+strconv.Itoa(s.Seat)] = n
}

// TestSeatSettledAfterItsFirstShell: the agent tells a runtime that
// prioritises starting seats (seatruntime.Settler) that a new seat is up
// once, after its first shell runs, and not for a seat that was running.
func TestSeatSettledAfterItsFirstShell(t *testing.T) {
	t.Parallel()
	rec := &settleRecorder{settled: map[string]int{}}
	ta := newTestAgent(t, "", func(c *Config) { rec.Runtime = c.Runtime; c.Runtime = rec })
	ta.destroyAllOnCleanup(t)
	ctx := context.Background()
	for range 2 { // the second call finds the seat running
		if _, _, err := ta.client().CreateSeat(ctx, "wss", 1, agentclient.SeatOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.settles != 1 || rec.settled["wss/1"] != 1 {
		t.Fatalf("Settle calls %d, sessions at the call %v: want one call, after the first shell (1 session)", rec.settles, rec.settled)
	}
}
