package terminal

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// newTestManager runs a Manager with a plain interactive bash (no rc files,
// prompt "$ ") behind an httptest server and returns the terminal URL.
func newTestManager(t testing.TB, cfg Config) (*Manager, string) {
	t.Helper()
	if _, err := os.Stat("/bin/bash"); err != nil {
		t.Skip("needs /bin/bash")
	}
	if cfg.Shell == "" {
		cfg.Shell = "/bin/bash"
		cfg.Args = []string{"--noprofile", "--norc", "-i"}
	}
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	cfg.Env = append(cfg.Env, "PS1=$ ", "HISTFILE=/dev/null")
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
		if os.Getenv("TERMINAL_TEST_LOG") != "" {
			cfg.Logger = slog.Default()
		}
	}
	m := NewManager(cfg)
	srv := httptest.NewServer(m)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		m.Close()
		srv.Close()
	})
	return m, "ws" + strings.TrimPrefix(srv.URL, "http") + "/terminal"
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, ctx context.Context, url string, o *DialOptions) *Client {
	t.Helper()
	c, err := Dial(ctx, url, o)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// run types cmd and reads until the marker it prints. The marker is
// computed by the shell so the echoed command line never matches it.
func run(t *testing.T, ctx context.Context, c *Client, cmd, marker string) []byte {
	t.Helper()
	if err := c.Send(ctx, []byte(cmd+"\n")); err != nil {
		t.Fatalf("send: %v", err)
	}
	out, err := c.ReadUntil(ctx, marker)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEchoRoundTrip(t *testing.T) {
	t.Parallel()
	m, url := newTestManager(t, Config{})
	ctx := testCtx(t)
	c := dial(t, ctx, url, nil)
	if c.Hello.Session == "" || c.Hello.Mode != ModeRW || c.Hello.Protocol != 1 || c.Hello.Offset != 0 {
		t.Fatalf("hello = %+v", c.Hello)
	}
	run(t, ctx, c, "echo hi-$((20+22))", "hi-42")
	// The input is counted once the PTY write returns, which can be after
	// the shell has already answered: polled, with a deadline.
	deadline := time.Now().Add(5 * time.Second)
	for st := m.Stats(); st.Sessions != 1 || st.Clients != 1 || st.BytesOut == 0 || st.BytesIn == 0; st = m.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("stats = %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
	// The shell starts in the configured directory with TERM set.
	out := run(t, ctx, c, `echo "term=$TERM pwd=$PWD" x-$((1+2))`, "x-3")
	if !bytes.Contains(out, []byte("term=xterm-256color pwd="+m.cfg.Dir)) {
		t.Fatalf("env: %q", out)
	}
}

func TestReattachAtOffsetGetsExactlyTheRest(t *testing.T) {
	t.Parallel()
	_, url := newTestManager(t, Config{})
	ctx := testCtx(t)
	// b stays attached the whole time: its bytes are the full transcript.
	b := dial(t, ctx, url, nil)
	transcript := run(t, ctx, b, "echo one-$((1+1))", "one-2")

	a := dial(t, ctx, url, &DialOptions{Session: b.Hello.Session})
	if a.Hello.Offset != 0 {
		t.Fatalf("new client at offset %d", a.Hello.Offset)
	}
	first, err := a.ReadUntil(ctx, "one-2")
	if err != nil {
		t.Fatal(err)
	}
	n := a.Offset()
	a.Close() // a drops (page refresh, Wi-Fi gone)

	transcript = append(transcript, run(t, ctx, b, "seq 1 5000; echo two-$((2+3))", "two-5")...)
	end := b.Offset()

	for _, off := range []uint64{n, 0, 1, n / 2, end - 3, end} {
		c := dial(t, ctx, url, &DialOptions{Session: b.Hello.Session, Offset: off})
		if c.Hello.Offset != off || c.Resets() != 0 {
			t.Fatalf("attach at %d: hello %+v resets %d", off, c.Hello, c.Resets())
		}
		var got []byte
		for c.Offset() < end {
			p, err := c.ReadOutput(ctx)
			if err != nil {
				t.Fatalf("attach at %d: %v", off, err)
			}
			got = append(got, p...)
		}
		got = got[:end-off] // the last frame may run past end (the next prompt)
		if want := transcript[off:end]; !bytes.Equal(got, want) {
			t.Fatalf("attach at %d: got %d bytes, want %d; differs", off, len(got), len(want))
		}
		c.Close()
	}
	if !bytes.Equal(first, transcript[:n]) {
		t.Fatalf("first attach got %q, transcript starts %q", first, transcript[:n])
	}
}

func TestReattachTooOldGetsReset(t *testing.T) {
	t.Parallel()
	_, url := newTestManager(t, Config{RingSize: 4096})
	ctx := testCtx(t)
	b := dial(t, ctx, url, nil)
	transcript := run(t, ctx, b, "seq 1 3000; echo big-$((6*7))", "big-42")
	if len(transcript) < 3*4096 {
		t.Fatalf("transcript only %d bytes", len(transcript))
	}
	end := b.Offset()

	for _, off := range []uint64{0, 100, end + 1000} {
		c := dial(t, ctx, url, &DialOptions{Session: b.Hello.Session, Offset: off})
		f, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.Op != OpReset || f.Offset != c.Hello.Offset {
			t.Fatalf("offset %d: first frame %#x at %d, hello %+v", off, f.Op, f.Offset, c.Hello)
		}
		r := f.Offset
		if r < c.Hello.Start || r < end-4096 || transcript[r-1] != '\n' {
			t.Fatalf("offset %d: replay starts at %d (start %d), not after a newline", off, r, c.Hello.Start)
		}
		var got []byte
		for c.Offset() < end {
			p, err := c.ReadOutput(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, p...)
		}
		got = got[:end-r] // the last frame may run past end (the next prompt)
		if !bytes.Equal(got, transcript[r:end]) {
			i := 0
			for i < min(len(got), int(end-r)) && got[i] == transcript[int(r)+i] {
				i++
			}
			t.Fatalf("offset %d: replay (%d bytes) differs from transcript[%d:%d] at %d: %q vs %q", off, len(got), r, end, i, got[i:min(len(got), i+40)], transcript[int(r)+i:min(int(end), int(r)+i+40)])
		}
		c.Close()
	}
}

func TestTwoClientsSeeTheSameOutput(t *testing.T) {
	t.Parallel()
	_, url := newTestManager(t, Config{})
	ctx := testCtx(t)
	a := dial(t, ctx, url, nil)
	b := dial(t, ctx, url, &DialOptions{Session: a.Hello.Session})
	outA := run(t, ctx, a, "echo from-a-$((1+1))", "from-a-2")
	outB, err := b.ReadUntil(ctx, "from-a-2")
	if err != nil {
		t.Fatal(err)
	}
	// b types too (instructor taking over); a sees it.
	outB = append(outB, run(t, ctx, b, "echo from-b-$((2+2))", "from-b-4")...)
	outA2, err := a.ReadUntil(ctx, "from-b-4")
	if err != nil {
		t.Fatal(err)
	}
	outA = append(outA, outA2...)
	n := min(len(outA), len(outB))
	if !bytes.Equal(outA[:n], outB[:n]) {
		t.Fatalf("clients differ:\n%q\n%q", outA[:n], outB[:n])
	}
}

func TestReadOnlyClientCannotTypeOrResize(t *testing.T) {
	t.Parallel()
	m, url := newTestManager(t, Config{})
	ctx := testCtx(t)
	rw := dial(t, ctx, url, &DialOptions{Cols: 90, Rows: 30})
	ro := dial(t, ctx, url, &DialOptions{Session: rw.Hello.Session, Mode: ModeRO, Cols: 50, Rows: 10})
	if ro.Hello.Mode != ModeRO || ro.Hello.Cols != 90 || ro.Hello.Rows != 30 {
		t.Fatalf("ro hello %+v", ro.Hello)
	}
	if err := ro.Send(ctx, []byte("echo ro-$((3*3))\n")); err != nil {
		t.Fatal(err)
	}
	if err := ro.Resize(ctx, 20, 5); err != nil {
		t.Fatal(err)
	}
	// Messages of one connection are handled in order, so once the ro
	// client's PONG arrives its input and resize were handled (ignored).
	if err := ro.Ping(ctx, []byte("sync")); err != nil {
		t.Fatal(err)
	}
	out := run(t, ctx, rw, "echo rw-$((4*4)); stty size; echo z-$((2+2))", "z-4")
	if !bytes.Contains(out, []byte("30 90")) {
		t.Fatalf("size changed by the ro client: %q", out)
	}
	if bytes.Contains(out, []byte("ro-")) {
		t.Fatalf("read-only input reached the shell: %q", out)
	}
	roOut, err := ro.ReadUntil(ctx, "rw-16")
	if err != nil || bytes.Contains(roOut, []byte("ro-")) {
		t.Fatalf("ro view: %q %v", roOut, err)
	}
	s, _ := m.Get(rw.Hello.Session)
	if i := s.Info(); i.Cols != 90 || i.Rows != 30 || i.Clients != 2 {
		t.Fatalf("info %+v", i)
	}
}

func TestResizeLastWriterWins(t *testing.T) {
	t.Parallel()
	_, url := newTestManager(t, Config{})
	ctx := testCtx(t)
	a := dial(t, ctx, url, &DialOptions{Cols: 100, Rows: 40})
	b := dial(t, ctx, url, &DialOptions{Session: a.Hello.Session, Cols: 120, Rows: 50})
	if b.Hello.Cols != 120 || b.Hello.Rows != 50 {
		t.Fatalf("hello %+v", b.Hello)
	}
	run(t, ctx, a, "stty size; echo s-$((1+1))", "50 120")
	if err := a.Resize(ctx, 132, 43); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, a, "stty size", "43 132")
}

func TestFlowControlBoundsMemoryAndCtrlCWorks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		pause bool // PAUSE frame, or simply never reading the socket
	}{{"not-reading", false}, {"paused", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const ringSize = 64 << 10
			m, url := newTestManager(t, Config{RingSize: ringSize})
			ctx := testCtx(t)
			c := dial(t, ctx, url, nil)
			run(t, ctx, c, "echo ready-$((1+1))", "ready-2")
			s, _ := m.Get(c.Hello.Session)
			if tc.pause {
				if err := c.Pause(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Send(ctx, []byte("yes flow-control-test\n")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the PTY reader to block on the slow client", func() bool { return s.Stats().ReaderBlocked })
			st := s.Stats()
			if st.Allocated > ringSize || st.End-st.SlowestOffset > ringSize || m.Stats().Buffered > ringSize {
				t.Fatalf("buffer not bounded: %+v", st)
			}
			// Ctrl-C goes through while output is throttled.
			if err := c.Send(ctx, []byte{0x03}); err != nil {
				t.Fatal(err)
			}
			if err := c.Send(ctx, []byte("echo after-$((5+5))\n")); err != nil {
				t.Fatal(err)
			}
			if tc.pause {
				if err := c.Resume(ctx); err != nil {
					t.Fatal(err)
				}
			}
			// Reading everything back: offsets are checked frame by frame,
			// so a single overwritten byte would fail here.
			if _, err := c.ReadUntil(ctx, "after-10"); err != nil {
				t.Fatal(err)
			}
			if c.Resets() != 0 {
				t.Fatalf("client got %d RESETs", c.Resets())
			}
			if st := s.Stats(); st.Allocated > ringSize {
				t.Fatalf("ring grew to %d", st.Allocated)
			}
		})
	}
}

func TestStalledClientIsDroppedOthersContinue(t *testing.T) {
	t.Parallel()
	clock := NewFakeClock(time.Unix(1_700_000_000, 0))
	m, url := newTestManager(t, Config{RingSize: 16 << 10, Clock: clock, StallTimeout: 30 * time.Second})
	ctx := testCtx(t)
	slow := dial(t, ctx, url, nil)
	run(t, ctx, slow, "echo ready-$((1+1))", "ready-2")
	s, _ := m.Get(slow.Hello.Session)
	if err := slow.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if err := slow.Ping(ctx, nil); err != nil { // PAUSE handled
		t.Fatal(err)
	}
	fast := dial(t, ctx, url, &DialOptions{Session: slow.Hello.Session, Offset: slow.Offset()})
	if err := fast.Send(ctx, []byte("yes\n")); err != nil {
		t.Fatal(err)
	}
	// fast reads nothing yet either; the reader blocks and arms a stall timer
	// (the reaper holds the other clock waiter).
	waitFor(t, "reader blocked with a stall timer", func() bool { return s.Stats().ReaderBlocked && clock.Waiters() >= 2 })
	// fast drains what it can; slow stays paused and holds the reader back.
	for s.Stats().SlowestOffset == fast.Offset() || fast.Offset() < s.Stats().End {
		if _, err := fast.ReadOutput(ctx); err != nil {
			t.Fatal(err)
		}
		if fast.Offset() >= s.Stats().End && s.Stats().ReaderBlocked {
			break
		}
	}
	// The reader re-arms its stall timer each time it wakes (fast's last
	// reads wake it): one armed from a Now read just before this Advance
	// would be due 30 s after it, and never fire. So the fake clock moves
	// on a second per poll until the drop is seen (fast is caught up, so it
	// holds nothing back and cannot be the one dropped).
	clock.Advance(31 * time.Second)
	waitFor(t, "the stalled client to be dropped", func() bool {
		if s.Stats().Clients == 1 {
			return true
		}
		clock.Advance(time.Second)
		return false
	})
	// The slow client learns why: close code 4408.
	var err error
	for err == nil {
		_, err = slow.Next(ctx)
	}
	if CloseStatus(err) != CloseStalled {
		t.Fatalf("slow client closed with %v", err)
	}
	// Output flows again for the fast client.
	before := fast.Offset()
	for fast.Offset() < before+256<<10 {
		if _, err := fast.ReadOutput(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := fast.Send(ctx, []byte{0x03}); err != nil {
		t.Fatal(err)
	}
}

func TestIdleSessionIsReaped(t *testing.T) {
	t.Parallel()
	clock := NewFakeClock(time.Unix(1_700_000_000, 0))
	m, url := newTestManager(t, Config{Clock: clock, IdleTimeout: time.Hour})
	ctx := testCtx(t)
	idle, err := m.Create(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	busy, err := m.Create(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, ctx, url, &DialOptions{Session: busy.ID()})
	waitFor(t, "client attached", func() bool { return busy.Info().Clients == 1 })

	clock.Advance(59 * time.Minute)
	if n := m.ReapIdle(); n != 0 {
		t.Fatalf("reaped %d sessions before the idle timeout", n)
	}
	idle.mu.Lock()
	killed := idle.killed
	idle.mu.Unlock()
	if killed {
		t.Fatal("session killed before the idle timeout")
	}
	clock.Advance(2 * time.Minute)
	m.ReapIdle() // the reaper loop may have been first
	select {
	case <-idle.Done():
	case <-ctx.Done():
		t.Fatal("reaped session did not exit")
	}
	if _, ok := m.Get(idle.ID()); ok {
		t.Fatal("reaped session still listed")
	}
	if _, ok := m.Get(busy.ID()); !ok {
		t.Fatal("session with a client was reaped")
	}
	// Once its client leaves, the reaper loop (driven by the clock) gets it.
	c.Close()
	waitFor(t, "client detached", func() bool { return busy.Info().Clients == 0 })
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-busy.Done():
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("reaper loop did not reap the idle session")
		}
		clock.Advance(time.Minute)
		time.Sleep(time.Millisecond)
	}
}

func TestExitCodeIsDelivered(t *testing.T) {
	t.Parallel()
	m, url := newTestManager(t, Config{})
	ctx := testCtx(t)
	c := dial(t, ctx, url, nil)
	ro := dial(t, ctx, url, &DialOptions{Session: c.Hello.Session, Mode: ModeRO})
	run(t, ctx, c, "echo bye-$((1+1))", "bye-2")
	if err := c.Send(ctx, []byte("exit 7\n")); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*Client{c, ro} {
		code, err := cl.WaitExit(ctx)
		if err != nil || code != 7 {
			t.Fatalf("exit = %d, %v", code, err)
		}
	}
	if _, ok := m.Get(c.Hello.Session); ok {
		t.Fatal("exited session still listed")
	}
	// A client reconnecting late learns the exit code.
	_, err := Dial(ctx, url, &DialOptions{Session: c.Hello.Session, Offset: c.Offset()})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 7 {
		t.Fatalf("late dial: %v", err)
	}
}

func TestKillDeliversExitToClients(t *testing.T) {
	t.Parallel()
	m, url := newTestManager(t, Config{})
	ctx := testCtx(t)
	c := dial(t, ctx, url, nil)
	run(t, ctx, c, "echo up-$((1+1))", "up-2")
	if err := m.Kill(c.Hello.Session); err != nil {
		t.Fatal(err)
	}
	code, err := c.WaitExit(ctx)
	if err != nil || code != 128+1 { // SIGHUP
		t.Fatalf("exit = %d, %v", code, err)
	}
	if err := m.Kill("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("kill unknown: %v", err)
	}
}

func TestUnknownSessionClosesWith4404(t *testing.T) {
	t.Parallel()
	_, url := newTestManager(t, Config{})
	ctx := testCtx(t)
	_, err := Dial(ctx, url, &DialOptions{Session: "doesnotexist"})
	if CloseStatus(err) != CloseNotFound {
		t.Fatalf("dial unknown session: %v", err)
	}
}

func TestOversizedMessageClosesWith1009(t *testing.T) {
	t.Parallel()
	_, url := newTestManager(t, Config{})
	ctx := testCtx(t)
	c := dial(t, ctx, url, nil)
	big := make([]byte, MaxInputFrame+1)
	big[0] = OpInput
	_ = c.write(ctx, big)
	var err error
	for err == nil {
		_, err = c.Next(ctx)
	}
	if CloseStatus(err) != 1009 {
		t.Fatalf("oversized message: %v", err)
	}
}

func TestPings(t *testing.T) {
	t.Parallel()
	_, url := newTestManager(t, Config{PingInterval: 20 * time.Millisecond})
	ctx := testCtx(t)
	c := dial(t, ctx, url, nil)
	if c.Hello.Ping != 20 {
		t.Fatalf("hello ping interval %d", c.Hello.Ping)
	}
	// The server pings on its own...
	for {
		f, err := c.readFrame(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.Op == OpPingS && len(f.Data) == 8 {
			break
		}
	}
	// ...and answers ours with the same payload.
	if err := c.Ping(ctx, []byte("latency-probe")); err != nil {
		t.Fatal(err)
	}
}

// TestSilentClientIsClosed: a client that answers the server's pings stays
// however long it lasts; one that answers nothing is closed with 4408 after
// three unanswered pings.
func TestSilentClientIsClosed(t *testing.T) {
	t.Parallel()
	_, url := newTestManager(t, Config{PingInterval: 10 * time.Millisecond})
	ctx := testCtx(t)
	answering := dial(t, ctx, url, nil)
	for pings := 0; pings < 10; {
		f, err := answering.readFrame(ctx)
		if err != nil {
			t.Fatalf("a client answering every ping, after %d pings: %v", pings, err)
		}
		if f.Op == OpPingS {
			pings++
			if err := answering.write(ctx, append([]byte{OpPongC}, f.Data...)); err != nil {
				t.Fatal(err)
			}
		}
	}
	silent := dial(t, ctx, url, nil)
	pings := 0
	for {
		f, err := silent.readFrame(ctx)
		if err != nil {
			if CloseStatus(err) != CloseStalled {
				t.Fatalf("a silent client ended with %v, want close %d", err, CloseStalled)
			}
			break
		}
		if f.Op == OpPingS {
			pings++
		}
	}
	if pings != 3 {
		t.Fatalf("a silent client was closed after %d pings, want 3", pings)
	}
}

func TestNewestSessionIsReused(t *testing.T) {
	t.Parallel()
	m, url := newTestManager(t, Config{})
	ctx := testCtx(t)
	a := dial(t, ctx, url, nil)
	b := dial(t, ctx, url, nil)
	if a.Hello.Session != b.Hello.Session {
		t.Fatalf("two sessions: %s %s", a.Hello.Session, b.Hello.Session)
	}
	s2, err := m.Create(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, ctx, url, nil)
	if c.Hello.Session != s2.ID() {
		t.Fatalf("attached to %s, newest is %s", c.Hello.Session, s2.ID())
	}
	if l := m.List(); len(l) != 2 || l[0].ID != a.Hello.Session {
		t.Fatalf("list %+v", l)
	}
}

func TestWithoutClientsTheShellKeepsRunning(t *testing.T) {
	t.Parallel()
	m, url := newTestManager(t, Config{RingSize: 4096})
	ctx := testCtx(t)
	s, err := m.Create(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Nobody attached: output is read and the ring keeps only the newest.
	if _, err := s.Write([]byte("seq 1 5000; echo fin-$((1+1))\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the output to overflow the ring", func() bool { return s.Stats().End > 5*4096 })
	c := dial(t, ctx, url, &DialOptions{Session: s.ID()})
	if out, err := c.ReadUntil(ctx, "fin-2"); err != nil || c.Resets() != 1 {
		t.Fatalf("late attach: resets %d, %v (%q)", c.Resets(), err, out)
	}
	if st := s.Stats(); st.Allocated > 4096 {
		t.Fatalf("ring allocated %d", st.Allocated)
	}
}

// TestKillWhileStarting: a shell killed right after it was started ends by
// SIGHUP (exit 129), as any other. bash can drop a SIGHUP that arrives
// during its start-up; a lost one used to leave the shell running until the
// 3 s SIGKILL (137). The race shows mostly on a loaded machine (CI).
func TestKillWhileStarting(t *testing.T) {
	t.Parallel()
	m, _ := newTestManager(t, Config{})
	for i := range 60 {
		s, err := m.Create(80, 24)
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 1 {
			time.Sleep(time.Duration(i%7) * time.Millisecond) // kill at various points of the start-up
		}
		s.Kill()
		select {
		case <-s.Done():
		case <-time.After(2500 * time.Millisecond): // before the SIGKILL at 3 s
			t.Fatalf("kill %d: shell still running", i)
		}
		if code, ok := m.ExitCode(s.ID()); !ok || code != 129 {
			t.Fatalf("kill %d: exit code %d (known %v), want 129 (SIGHUP)", i, code, ok)
		}
	}
}
