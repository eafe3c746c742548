package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"
)

var client = &http.Client{Transport: &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096}, Timeout: 60 * time.Second}

func post(url string, body any) (int, map[string]any, time.Duration, error) {
	b, _ := json.Marshal(body)
	t0 := time.Now()
	res, err := client.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, nil, 0, err
	}
	defer res.Body.Close()
	var m map[string]any
	err = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m, time.Since(t0), err
}

// seatToken is a joined learner's seat and workspace token.
type seatToken struct {
	seat  int
	token string
}

// joinStorm has every learner register and join at once, and prints the
// latencies and the CPU per learner.
func (b *bench) joinStorm() ([]seatToken, error) {
	var mu sync.Mutex
	var lat []time.Duration
	var tokens []seatToken
	var firstErr error
	given := map[int]bool{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < b.learners; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			st, m, _, err := post(b.base+"/api/register", map[string]string{"workshop_code": b.code, "name": "Learner", "email": fmt.Sprintf("l%d@example.com", i)})
			if err == nil && st != http.StatusCreated {
				err = fmt.Errorf("register: %d %v", st, m)
			}
			if err == nil {
				st, m, _, err = post(b.base+"/api/join", map[string]string{"access_code": m["access_code"].(string)})
				if err == nil && (st != http.StatusOK || m["status"] != "ready") {
					err = fmt.Errorf("join: %d %v", st, m)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				firstErr = err
				return
			}
			seat := int(m["seat"].(float64))
			if given[seat] {
				firstErr = fmt.Errorf("seat %d given twice", seat)
			}
			given[seat] = true
			lat = append(lat, time.Since(t0))
			tokens = append(tokens, seatToken{seat, m["token"].(string)})
		}()
	}
	cpu0 := selfCPU()
	t0 := time.Now()
	close(start)
	wg.Wait()
	wall := time.Since(t0)
	cpu := selfCPU() - cpu0
	if firstErr != nil {
		return nil, firstErr
	}
	fmt.Printf("  join storm: %d learners register and join at once: %.0f ms in all\n", b.learners, ms(wall))
	fmt.Printf("    register+join p50/p99   %7.1f / %.1f ms   (target p99 <= 500 ms)\n", ms(pct(lat, 50)), ms(pct(lat, 99)))
	fmt.Printf("    CPU per learner         %7.2f ms in this process (server and the learners' HTTP client together)\n", ms(cpu)/float64(b.learners))
	return tokens, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration{}, d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}
