package main

import (
	"github.com/clarateach/backend/bench/internal/cputime"

	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clarateach/backend/bench/internal/learnerhttp"
)

// The load: the learners' HTTP client runs in a process of its own (this
// binary with -load), as in bench/joinstorm, so that the server's CPU per
// learner is the bench process's alone; the two still share the CPUs.

// loadResult is what the load process measured, sent to the bench as JSON
// on its standard output.
type loadResult struct {
	Lat      []time.Duration // per learner, register to the join's answer
	Seats    []int
	Tokens   []string
	FirstErr string
	Wall     time.Duration // from the start signal to the last answer
	CPU      time.Duration // the load process's CPU over the same span
	Faults   int64         // its minor page faults over the same span
}

// runLoad is the load process: learners goroutines, each waiting for the
// start signal (a line on standard input, after "ready" on standard
// output), then registering for the workshop of code and joining through
// the server at addr. It writes its loadResult to standard output.
func runLoad(addr, code string, learners int) error {
	var mu sync.Mutex
	var r loadResult
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range learners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			seat, tok, d, err := learn(addr, code, i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if r.FirstErr == "" {
					r.FirstErr = err.Error()
				}
				return
			}
			r.Lat, r.Seats, r.Tokens = append(r.Lat, d), append(r.Seats, seat), append(r.Tokens, tok)
		}()
	}
	if err := learnerhttp.AwaitStart(); err != nil {
		return err
	}
	cpu0, f0, t0 := cputime.Self(), cputime.Faults(), time.Now()
	close(start)
	wg.Wait()
	r.Wall, r.CPU, r.Faults = time.Since(t0), cputime.Self()-cpu0, cputime.Faults()-f0
	return learnerhttp.Report(r)
}

// learn is learner i: it registers for the workshop of code and joins on
// one kept-alive connection; it returns the seat, the workspace token and
// the time from the register to the join's answer.
func learn(addr, code string, i int) (int, string, time.Duration, error) {
	l := &learnerhttp.Conn{Addr: addr}
	defer l.Close()
	t0 := time.Now()
	st, a, _, err := l.Post("/api/register", `{"workshop_code":"`+code+`","name":"Learner","email":"l`+strconv.Itoa(i)+`@example.com"}`)
	if err != nil || st != http.StatusCreated {
		return 0, "", 0, fmt.Errorf("register: %d %+v %v", st, a, err)
	}
	st, a, _, err = l.Post("/api/join", `{"access_code":"`+a.AccessCode+`"}`)
	if err != nil || st != http.StatusOK || a.Status != "ready" {
		return 0, "", 0, fmt.Errorf("join: %d %+v %v", st, a, err)
	}
	return a.Seat, a.Token, time.Since(t0), nil
}

// startLoad starts the load process against the server at base and waits
// for it to be ready; go starts the storm and returns the result.
func startLoad(base, code string, learners int) (goLoad func() (*loadResult, error), err error) {
	p, err := learnerhttp.StartProcess("-load", strings.TrimPrefix(base, "http://"), "-code", code, "-learners", strconv.Itoa(learners))
	if err != nil {
		return nil, err
	}
	return func() (*loadResult, error) {
		var r loadResult
		if err := p.Go(&r); err != nil {
			return nil, err
		}
		return &r, nil
	}, nil
}
