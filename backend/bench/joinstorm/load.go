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
// binary with -load), so that the server's CPU per request is the server
// process's alone; the two still share the machine's CPUs. Each learner is
// one learnerhttp.Conn: one kept-alive connection, requests written by hand.

// loadResult is what the load process measured, sent to the bench as JSON
// on its standard output.
type loadResult struct {
	Reg, Join []time.Duration
	Errs      int
	FirstErr  string
	Wall      time.Duration // from the start signal to the last answer
	CPU       time.Duration // the load process's CPU over the same span
}

// runLoad is the load process: learners goroutines, each waiting for the
// start signal (a line on standard input, after "ready" on standard
// output), then registering for its workshop of codes and joining through
// the server at addr. It writes its loadResult to standard output.
func runLoad(addr string, codes []string, learners int) error {
	r := &stormResult{seatsGiven: map[string]bool{}}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range learners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r.learner(addr, codes[i%len(codes)], i)
		}()
	}
	if err := learnerhttp.AwaitStart(); err != nil {
		return err
	}
	cpu0, t0 := cputime.Self(), time.Now()
	close(start)
	wg.Wait()
	out := loadResult{Reg: r.regLat, Join: r.joinLat, Errs: r.errs, FirstErr: r.firstErr, Wall: time.Since(t0), CPU: cputime.Self() - cpu0}
	return learnerhttp.Report(out)
}

// learner is learner i: it registers for the workshop of code and joins,
// recording both latencies; a seat given twice is an error.
func (r *stormResult) learner(addr, code string, i int) {
	l := &learnerhttp.Conn{Addr: addr}
	defer l.Close()
	st, a, d, err := l.Post("/api/register", `{"workshop_code":"`+code+`","name":"Learner","email":"l`+strconv.Itoa(i)+`@example.com"}`)
	if err != nil || st != http.StatusCreated {
		r.fail(fmt.Sprintf("register: %d %+v %v", st, a, err))
		return
	}
	r.mu.Lock()
	r.regLat = append(r.regLat, d)
	r.mu.Unlock()
	st, a, d, err = l.Post("/api/join", `{"access_code":"`+a.AccessCode+`"}`)
	if err != nil || st != http.StatusOK || a.Status != "ready" {
		r.fail(fmt.Sprintf("join: %d %+v %v", st, a, err))
		return
	}
	key := code + "/" + strconv.Itoa(a.Seat)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.joinLat = append(r.joinLat, d)
	if r.seatsGiven[key] {
		r.errs++
		r.firstErr = "seat given twice: " + key
	}
	r.seatsGiven[key] = true
}

// loadFlags are the load process's arguments.
func loadFlags(addr string, codes []string, learners int) []string {
	return []string{"-load", addr, "-codes", strings.Join(codes, ","), "-learners", strconv.Itoa(learners)}
}
