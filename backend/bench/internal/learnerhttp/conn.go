// Package learnerhttp is a learner's HTTP client for the benches' load
// processes: one TCP connection, kept alive from the register to the join
// as a browser would, requests written by hand and answers read with
// http.ReadResponse (no transport goroutines, no pools), so that the load
// costs the machine's shared CPUs as little as it can.
package learnerhttp

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Answer is what a load reads of the server's register and join answers.
type Answer struct {
	AccessCode string `json:"access_code"`
	Status     string `json:"status"`
	Seat       int    `json:"seat"`
	Token      string `json:"token"`
}

// Conn is one learner's connection to the server at Addr (host:port),
// dialled at the first Post. The zero value with Addr set is ready.
type Conn struct {
	Addr string
	c    net.Conn
	br   *bufio.Reader
	buf  []byte
}

// Post sends a JSON body to path and reads the answer into an Answer; it
// returns the status, the answer and the time from the write (or the dial)
// to the end of the answer.
func (l *Conn) Post(path, body string) (int, *Answer, time.Duration, error) {
	t0 := time.Now()
	if l.c == nil {
		c, err := net.Dial("tcp", l.Addr)
		if err != nil {
			return 0, nil, 0, err
		}
		l.c, l.br = c, bufio.NewReaderSize(c, 2048)
	}
	b := l.buf[:0]
	b = append(b, "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, l.Addr...)
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
	var a Answer
	err = json.NewDecoder(res.Body).Decode(&a)
	if _, cerr := io.Copy(io.Discard, res.Body); err == nil {
		err = cerr
	}
	res.Body.Close()
	return res.StatusCode, &a, time.Since(t0), err
}

// Close closes the connection, if it was dialled.
func (l *Conn) Close() {
	if l.c != nil {
		l.c.Close()
	}
}
