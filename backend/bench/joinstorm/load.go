package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The load: the learners' HTTP client runs in a process of its own (this
// binary with -load), so that the server's CPU per request is the server
// process's alone; the two still share the machine's CPUs.

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
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("waiting for the start: %w", err)
	}
	cpu0, t0 := selfCPU(), time.Now()
	close(start)
	wg.Wait()
	out := loadResult{Reg: r.regLat, Join: r.joinLat, Errs: r.errs, FirstErr: r.firstErr, Wall: time.Since(t0), CPU: selfCPU() - cpu0}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// learnerConn is one learner's connection to the server: one TCP
// connection, kept alive from the register to the join, as a browser
// would; requests written by hand and answers read with
// http.ReadResponse (no transport goroutines, no pools).
type learnerConn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
	buf  []byte
}

// answer is what the load reads of the server's answers.
type answer struct {
	AccessCode string `json:"access_code"`
	Status     string `json:"status"`
	Seat       int    `json:"seat"`
}

// post sends a JSON body to path and reads the answer.
func (l *learnerConn) post(path, body string) (int, *answer, time.Duration, error) {
	t0 := time.Now()
	if l.c == nil {
		c, err := net.Dial("tcp", l.addr)
		if err != nil {
			return 0, nil, 0, err
		}
		l.c, l.br = c, bufio.NewReaderSize(c, 2048)
	}
	b := l.buf[:0]
	b = append(b, "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, l.addr...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	l.buf = b
	if _, err := l.c.Write(b); err != nil {
		return 0, nil, 0, err
	}
	res, err := http.ReadResponse(l.br, nil)
	if err != nil {
		return 0, nil, 0, err
	}
	var a answer
	err = json.NewDecoder(res.Body).Decode(&a)
	if _, cerr := io.Copy(io.Discard, res.Body); err == nil {
		err = cerr
	}
	res.Body.Close()
	return res.StatusCode, &a, time.Since(t0), err
}

// learner is learner i: it registers for the workshop of code and joins,
// recording both latencies; a seat given twice is an error.
func (r *stormResult) learner(addr, code string, i int) {
	l := &learnerConn{addr: addr, buf: make([]byte, 0, 256)}
	defer func() {
		if l.c != nil {
			l.c.Close()
		}
	}()
	st, a, d, err := l.post("/api/register", `{"workshop_code":"`+code+`","name":"Learner","email":"l`+strconv.Itoa(i)+`@example.com"}`)
	if err != nil || st != http.StatusCreated {
		r.fail(fmt.Sprintf("register: %d %+v %v", st, a, err))
		return
	}
	r.mu.Lock()
	r.regLat = append(r.regLat, d)
	r.mu.Unlock()
	st, a, d, err = l.post("/api/join", `{"access_code":"`+a.AccessCode+`"}`)
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
