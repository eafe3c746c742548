package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/seat/terminal"
)

// agentProc is cmd/agent running as a real child process.
type agentProc struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

// listeningRE finds the agent's "listening" record in its stderr, one JSON
// object a line (logging.New: stderr is a pipe, not a terminal).
var listeningRE = regexp.MustCompile(`"msg":"agent listening".*"listen":"([^"]+)"`)

// startAgentProc runs the agent binary with runtime rt on a loopback port
// of its choosing and waits until it listens. Sandbox seats get no network
// (no host firewall rules are installed).
func startAgentProc(t *testing.T, rt, state, seats string, extra ...string) *agentProc {
	t.Helper()
	cmd := exec.Command(agentBin, append([]string{"--runtime", rt, "--listen", "127.0.0.1:0", "--state-dir", state, "--seats-dir", seats,
		"--seat-network", "off", "--daemon-path", daemonBin, "--shell", "/bin/sh", "--metadata", "off", "--capacity", "4"}, extra...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + state, "AGENT_TOKEN=" + testToken, "WORKSPACE_TOKEN_SECRET=" + testSecret}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &agentProc{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	var logTail strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if logTail.Len() < 1<<16 {
				logTail.WriteString(line + "\n")
			}
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-p.done:
		t.Fatalf("agent exited before listening:\n%s", logTail.String())
	case <-time.After(15 * time.Second):
		t.Fatal("agent did not start listening")
	}
	return p
}

func (p *agentProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// shellPID runs `echo $$` in the terminal and returns the shell's PID.
func shellPID(ctx context.Context, t *testing.T, term *terminal.Client, tag string) string {
	t.Helper()
	// The marker is split so that the echoed command line does not match.
	if err := term.Send(ctx, []byte(fmt.Sprintf("echo %s-\"\"$$-pid\n", tag))); err != nil {
		t.Fatal(err)
	}
	out, err := term.ReadUntil(ctx, "-pid")
	re := regexp.MustCompile(tag + `-(\d+)-pid`)
	for err == nil && !re.Match(out) {
		var more []byte
		more, err = term.ReadUntil(ctx, "-pid")
		out = append(out, more...)
	}
	if err != nil {
		t.Fatal(err)
	}
	return re.FindStringSubmatch(string(out))[1]
}

// TestSeatsSurviveAgentSIGKILL is the fix for the seed's "VM not found after
// agent restart": SIGKILL the agent, start a new one on the same state
// directory, and the seat, its shell and its terminal session are all there.
// It runs with the process runtime, and with the sandbox where it works
// (Linux, root: CI).
func TestSeatsSurviveAgentSIGKILL(t *testing.T) {
	t.Parallel()
	for _, rt := range []string{"process", "sandbox", "sandbox-warm"} {
		t.Run(rt, func(t *testing.T) {
			t.Parallel()
			name, warm := strings.CutSuffix(rt, "-warm")
			testSurviveSIGKILL(t, name, warm)
		})
	}
}

// warmSeatPIDs are the init pids of the sandbox's ready warm seats.
func warmSeatPIDs(t *testing.T, seats string) map[int]bool {
	t.Helper()
	out := map[int]bool{}
	dirs, _ := filepath.Glob(filepath.Join(seats, ".warm-*", "warm.json"))
	for _, d := range dirs {
		var s struct {
			PID int `json:"pid"`
		}
		if b, err := os.ReadFile(d); err == nil && json.Unmarshal(b, &s) == nil {
			out[s.PID] = true
		}
	}
	return out
}

// waitWarmSeats polls the agent's /health until it reports n warm seats.
func waitWarmSeats(ctx context.Context, t *testing.T, c *agentclient.Client, n int) {
	t.Helper()
	for {
		h, err := c.Health(ctx)
		if err == nil && h.WarmSeats == n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("warm seats: %+v %v, want %d", h, err, n)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// With warm (sandbox only), the seat is a claimed warm seat, and the
// restarted agent removes the warm seats the killed one left unclaimed.
func testSurviveSIGKILL(t *testing.T, rtName string, warm bool) {
	state := shortTempDir(t)
	// Seat directories must be reachable by the sandbox's unprivileged uids.
	seats := filepath.Join(shortTempDir(t), "seats")
	if err := os.Chmod(filepath.Dir(seats), 0o755); err != nil {
		t.Fatal(err)
	}
	// The runtime, built here too, cleans up whatever the test leaves.
	rt, err := NewRuntime(rtName, RuntimeOptions{StateDir: state, SeatsDir: seats, DaemonCommand: []string{daemonBin},
		Shell: "/bin/sh", NoNetwork: true, Logger: quietLog})
	if err != nil {
		if rtName == "sandbox" {
			t.Skipf("sandbox runtime not usable here: %v", err)
		}
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if warm {
		// Runs after the agents are killed (cleanups run last first): a
		// new runtime on the seats directory removes the warm seats they
		// leave behind, as a restarted agent does.
		t.Cleanup(func() {
			if _, err := NewRuntime(rtName, RuntimeOptions{StateDir: state, SeatsDir: seats, DaemonCommand: []string{daemonBin},
				Shell: "/bin/sh", NoNetwork: true, Logger: quietLog}); err != nil {
				t.Errorf("sweep warm seats: %v", err)
			}
		})
	}

	warmFlags := []string{"--warm-seats", "0"}
	if warm {
		warmFlags = []string{"--warm-seats", "2"}
	}
	a1 := startAgentProc(t, rtName, state, seats, warmFlags...)
	c1 := agentclient.New(a1.url, testToken, nil)
	var warm1 map[int]bool
	if warm {
		waitWarmSeats(ctx, t, c1, 2)
		warm1 = warmSeatPIDs(t, seats)
	}
	var opts agentclient.SeatOptions
	limited := rtName == "sandbox" && !warm // warm seats have the default size
	if limited {
		opts.DiskMB = 64
	}
	seat, created, err := c1.CreateSeat(ctx, "wsk", 2, opts)
	if err != nil || !created {
		t.Fatalf("create: %v (created=%v)", err, created)
	}
	if warm {
		if !warm1[seat.PID] {
			t.Fatalf("seat pid %d is not one of the warm seats %v", seat.PID, warm1)
		}
		delete(warm1, seat.PID)
	}
	if seat.Runtime != rtName {
		t.Fatalf("seat runtime %q, want %q", seat.Runtime, rtName)
	}
	rtSeat := seatFromState(t, state, "wsk", 2)
	t.Cleanup(func() {
		// Whatever happens, do not leave the seat behind.
		_ = rt.Destroy(context.Background(), rtSeat)
	})
	tok := learnerToken(t, "wsk", 2, "", 0)
	term := dialTerminal(t, a1.url, "wsk", 2, tok, &terminal.DialOptions{Cols: 80, Rows: 24})
	pid1 := shellPID(ctx, t, term, "before")
	if rtName == "sandbox" { // named as its seat (a claimed warm seat too)
		if err := term.Send(ctx, []byte("echo host-$(hostname)-end\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := term.ReadUntil(ctx, "host-seat-2-end"); err != nil {
			t.Fatalf("hostname: %v", err)
		}
	}
	session := term.Hello.Session
	// A file the learner is working on.
	if err := term.Send(ctx, []byte("echo draft > notes.txt; echo saved-''ok\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := term.ReadUntil(ctx, "saved-ok"); err != nil {
		t.Fatal(err)
	}
	offset := term.Offset()

	a1.kill(t)
	term.Close()

	a2 := startAgentProc(t, rtName, state, seats, warmFlags...)
	c2 := agentclient.New(a2.url, testToken, nil)
	if warm {
		// The killed agent's unclaimed warm seats are gone; new ones come.
		for pid := range warm1 {
			if syscall.Kill(pid, 0) == nil && !isZombie(pid) {
				t.Errorf("warm seat %d of the killed agent still runs", pid)
			}
		}
		waitWarmSeats(ctx, t, c2, 2)
	}
	h, err := c2.Health(ctx)
	if err != nil || h.VMCount != 1 {
		t.Fatalf("health after restart: %+v %v", h, err)
	}
	got, err := c2.GetSeat(ctx, "wsk", 2)
	if err != nil || got.PID != seat.PID || got.Status != "running" {
		t.Fatalf("seat after restart: %+v %v", got, err)
	}
	// Reattach to the same session from the last offset seen: nothing is
	// replayed twice (the client checks offsets), and the shell is the same.
	term2 := dialTerminal(t, a2.url, "wsk", 2, tok, &terminal.DialOptions{Session: session, Offset: offset})
	if term2.Hello.Session != session {
		t.Fatalf("reattached to session %q, want %q", term2.Hello.Session, session)
	}
	if pid2 := shellPID(ctx, t, term2, "after"); pid2 != pid1 {
		t.Fatalf("shell PID %s after restart, want %s", pid2, pid1)
	}
	if term2.Resets() != 0 {
		t.Fatalf("reattach needed %d resets", term2.Resets())
	}
	resp, body := proxyReq(t, "GET", a2.url, "/proxy/wsk/2/files/content?path=notes.txt", tok, "", nil)
	if resp.StatusCode != 200 || string(body) != "draft\n" {
		t.Fatalf("file after restart: %d %q", resp.StatusCode, body)
	}
	if limited { // the home's disk limit holds after the restart
		if got.DiskMB != 64 {
			t.Errorf("seat disk_mb after restart = %d, want 64", got.DiskMB)
		}
		if err := term2.Send(ctx, []byte("dd if=/dev/zero of=big bs=1M count=300 status=none; rm -f big; echo dd-''done\n")); err != nil {
			t.Fatal(err)
		}
		out, err := term2.ReadUntil(ctx, "dd-done")
		if err != nil || !strings.Contains(string(out), "No space left on device") {
			t.Fatalf("300 MiB into a 64 MiB home after the restart: %q %v", out, err)
		}
	}

	// A clean delete through the new agent removes it all.
	if err := c2.DeleteSeat(ctx, "wsk", 2); err != nil {
		t.Fatal(err)
	}
	if syscall.Kill(seat.PID, 0) == nil && !isZombie(seat.PID) {
		t.Fatal("seat process survived DELETE")
	}
	if rt.Alive(ctx, rtSeat) {
		t.Fatal("seat alive after DELETE")
	}
}

// seatFromState is the runtime's seat ws/n as the agent's seat file in
// state records it: how to reach and destroy it, which the agent's API
// does not tell.
func seatFromState(t *testing.T, state, ws string, n int) *seatruntime.Seat {
	t.Helper()
	st, err := openStateDir(state, 0)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.loadSeats(quietLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range recs {
		if s.WorkshopID == ws && s.Seat == n {
			return s
		}
	}
	t.Fatalf("no seat file for %s/%d in %s", ws, n, state)
	return nil
}
