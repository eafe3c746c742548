package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// idleAgent stands in for a workshop's agent: it accepts terminal
// WebSockets on /proxy/... and keeps them open and idle.
type idleAgent struct {
	url string
	srv *http.Server
}

func newIdleAgent() *idleAgent {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	a := &idleAgent{url: "http://" + ln.Addr().String()}
	a.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/terminal") {
			http.NotFound(w, r)
			return
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer c.CloseNow()
		_, _, _ = c.Read(context.Background()) // idle until the other end goes
	})}
	go a.srv.Serve(ln)
	return a
}

func (a *idleAgent) close() { a.srv.Close() }

// heap is what this process holds in Go memory after a collection: heap in
// use and goroutine stacks.
func heap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// hold opens n terminal WebSockets to urlOf(i) in two halves and returns
// this process's Go memory per connection of the second half (a slope, so
// what earlier phases leave behind does not count), then closes them.
func hold(n int, urlOf func(i int) string, atFull func()) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conns := make([]*websocket.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
	}()
	open := func(from, to int) error {
		for i := from; i < to; i++ {
			c, _, err := websocket.Dial(ctx, urlOf(i), nil)
			if err != nil {
				return fmt.Errorf("terminal %d: %w", i, err)
			}
			conns = append(conns, c)
		}
		time.Sleep(time.Second) // let every goroutine of the new connections park
		return nil
	}
	half := n / 2
	if err := open(0, half); err != nil {
		return 0, err
	}
	m1 := heap()
	if err := open(half, n); err != nil {
		return 0, err
	}
	m2 := heap()
	atFull()
	return float64(m2-m1) / float64(n-half), nil
}

// idleTerminals holds n idle terminals open straight to the agent, then as
// many through the relay: the difference is the relay's memory per
// terminal (the learners' and the agent's ends are the same in both).
func (b *bench) idleTerminals(tokens []seatToken, n int) error {
	if n == 0 || len(tokens) == 0 {
		return nil
	}
	agentWS := "ws" + strings.TrimPrefix(b.agent.url, "http")
	base := "ws" + strings.TrimPrefix(b.base, "http")
	direct, err := hold(n, func(i int) string {
		t := tokens[i%len(tokens)]
		return fmt.Sprintf("%s/proxy/%s/%d/terminal", agentWS, b.wsID, t.seat)
	}, func() {})
	if err != nil {
		return err
	}
	relayed, err := hold(n, func(i int) string {
		t := tokens[i%len(tokens)]
		return fmt.Sprintf("%s/api/workspaces/%s/%d/terminal?token=%s", base, b.wsID, t.seat, t.token)
	}, writeHeapProfile)
	if err != nil {
		return err
	}
	fmt.Printf("  idle terminals: %d held open (%d per seat)\n", n, (n+len(tokens)-1)/len(tokens))
	fmt.Printf("    Go memory per terminal  %7.1f KiB straight to the agent, %.1f KiB through the relay\n", direct/1024, relayed/1024)
	fmt.Printf("    the relay's own         %7.1f KiB per idle terminal   (target <= 64 KiB; heap in use + goroutine stacks)\n", (relayed-direct)/1024)
	return nil
}

// heapProfile is -memprofile: where the memory of the relayed terminals is.
var heapProfile string

func writeHeapProfile() {
	if heapProfile == "" {
		return
	}
	f, err := os.Create(heapProfile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "memprofile:", err)
		return
	}
	defer f.Close()
	_ = pprof.Lookup("heap").WriteTo(f, 0)
}
