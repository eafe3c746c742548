package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// view is one open class view: what its stream brought.
type view struct {
	full, delta   atomic.Int64 // bytes of "workshop" and "delta" events
	fullN, deltaN atomic.Int64 // how many
	firstFull     atomic.Int64 // the size of the first whole class
	started       chan struct{}
	startOnce     sync.Once
}

// openView opens a class view's stream and counts what it brings until ctx ends.
func (b *bench) openView(ctx context.Context) (*view, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", b.base+"/api/workshops/"+b.wsID+"/stream", nil)
	if err != nil {
		return nil, err
	}
	req.AddCookie(&http.Cookie{Name: "ct_session", Value: b.session})
	res, err := (&http.Client{}).Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		return nil, fmt.Errorf("stream: %d", res.StatusCode)
	}
	v := &view{started: make(chan struct{})}
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			n := int64(len(line) + 1)
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "workshop":
				v.full.Add(n)
				v.fullN.Add(1)
				v.firstFull.CompareAndSwap(0, n)
				v.startOnce.Do(func() { close(v.started) })
			case strings.HasPrefix(line, "data: ") && event == "delta":
				v.delta.Add(n)
				v.deltaN.Add(1)
			}
		}
	}()
	return v, nil
}

// churn marks a tenth of the seats active every second (as the relay's
// activity flush does), so the class changes every tick.
func (b *bench) churn(ctx context.Context) error {
	seats, err := b.st.ListSeats(ctx, b.wsID)
	if err != nil {
		return err
	}
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for k := 0; ; k++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			var batch []store.SeatActivity
			for i, s := range seats {
				if i%10 == k%10 {
					batch = append(batch, store.SeatActivity{WorkshopID: b.wsID, Seat: s.Seat, Generation: s.Generation, Status: store.SeatConnected, At: time.Now()})
				}
			}
			_ = b.st.TouchSeats(ctx, batch)
		}
	}()
	return nil
}
