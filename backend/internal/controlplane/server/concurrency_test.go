package server_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// TestConcurrentJoins fires 100 simultaneous register+join requests at each
// of several workshops at once: no seat may be given twice, and every
// learner is either seated or told the workshop is full.
func TestConcurrentJoins(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, engine, func(c *config_) { c.MaxSeats = 100 })
			inst := e.instructor("conc@example.com")
			const learners = 100
			seatCounts := []int{100, 60, 30, 1}
			type result struct {
				status int
				seat   int
				code   string
			}
			ids := make([]string, len(seatCounts))
			codes := make([]string, len(seatCounts))
			for i, n := range seatCounts {
				ids[i], codes[i] = e.workshop(inst, n)
				e.start(inst, ids[i])
			}
			results := make([][]result, len(seatCounts))
			var wg sync.WaitGroup
			start := make(chan struct{})
			for wi := range seatCounts {
				results[wi] = make([]result, learners)
				for li := 0; li < learners; li++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						r := e.call("POST", "/api/register", "", map[string]string{
							"workshop_code": codes[wi], "name": "L", "email": fmt.Sprintf("l%d-%d@example.com", wi, li)})
						if r.Status != http.StatusCreated {
							results[wi][li] = result{status: r.Status, code: r.errCode(t)}
							return
						}
						ac := r.json(t)["access_code"].(string)
						j := e.call("POST", "/api/join", "", map[string]string{"access_code": ac})
						res := result{status: j.Status}
						if j.Status == 200 {
							m := j.json(t)
							if m["status"] != "ready" {
								t.Errorf("join status %v", m["status"])
							}
							res.seat = int(m["seat"].(float64))
						} else {
							res.code = j.errCode(t)
						}
						results[wi][li] = res
					}()
				}
			}
			close(start)
			wg.Wait()
			for wi, n := range seatCounts {
				seen := map[int]bool{}
				full := 0
				for _, r := range results[wi] {
					switch {
					case r.status == 200:
						if r.seat < 1 || r.seat > n || seen[r.seat] {
							t.Fatalf("workshop %d: seat %d given twice or out of range", wi, r.seat)
						}
						seen[r.seat] = true
					case r.status == http.StatusConflict && r.code == "workshop_full":
						full++
					default:
						t.Fatalf("workshop %d: learner got %d %s", wi, r.status, r.code)
					}
				}
				if want := min(n, learners); len(seen) != want || full != learners-want {
					t.Fatalf("workshop %d (%d seats): %d seated, %d full", wi, n, len(seen), full)
				}
			}
		})
	}
}
