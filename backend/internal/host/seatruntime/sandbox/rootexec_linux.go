package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/clarateach/backend/internal/host/seatruntime"
)

// Root scripts (a lab's setup) run as the seat's own root: uid 0 of the
// seat's user namespace, an unprivileged uid on the host, with the
// capabilities that root has inside its namespaces only. The seat's init
// (pid 1, that root) serves them on a second socket, root.sock, beside the
// daemon's in the seat's sock/ directory: only the seat's root uid and the
// host's root can enter it, and it is not mounted in the seat, so the
// learner cannot reach it. The daemon, which has no uid 0 left, could not
// run them. One request per connection: a JSON seatruntime.ExecRequest,
// answered by a JSON seatruntime.ExecResult.

// rootSockName is the root socket's name beside the daemon's socket.
const rootSockName = "root.sock"

func rootSockPath(daemonSock string) string {
	return filepath.Join(filepath.Dir(daemonSock), rootSockName)
}

// rootEnv is a root script's environment.
var rootEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root", "USER=root", "LOGNAME=root", "LANG=C.UTF-8",
	"LEARNER=learner", "LEARNER_HOME=" + seatHome,
}

// rootRunScript saves the script from standard input to a private file
// and runs it (its #! line picks the interpreter), then removes it.
const rootRunScript = `f=$(mktemp) || exit 126; trap 'rm -f "$f"' EXIT; cat >"$f" && chmod 700 "$f" && "$f"`

// serveRoot answers root scripts on ln until it fails. It runs in the seat's
// init.
func (s *supervisor) serveRoot(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "seat init: root socket: %v\n", err)
			return
		}
		go s.serveRootConn(c)
	}
}

func (s *supervisor) serveRootConn(c net.Conn) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var req seatruntime.ExecRequest
	if err := json.NewDecoder(io.LimitReader(c, seatruntime.MaxRootScript+4096)).Decode(&req); err != nil {
		_ = json.NewEncoder(c).Encode(seatruntime.ExecResult{Error: fmt.Sprintf("read the request: %v", err)})
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	res := s.runRoot(req)
	_ = json.NewEncoder(c).Encode(res)
}

// runRoot runs one root script with a deadline and capped output. Its
// process is the init's child, so the init's reaper collects it and hands
// its status over (children).
func (s *supervisor) runRoot(req seatruntime.ExecRequest) seatruntime.ExecResult {
	timeout := seatruntime.DefaultRootTime
	if req.TimeoutMS > 0 {
		timeout = min(time.Duration(req.TimeoutMS)*time.Millisecond, seatruntime.MaxRootTime)
	}
	if strings.TrimSpace(req.Script) == "" || len(req.Script) > seatruntime.MaxRootScript {
		return seatruntime.ExecResult{Error: fmt.Sprintf("the script is empty or larger than %d bytes", seatruntime.MaxRootScript)}
	}
	inR, inW, err1 := os.Pipe()
	outR, outW, err2 := os.Pipe()
	errR, errW, err3 := os.Pipe()
	if err := firstErr(err1, err2, err3); err != nil {
		return seatruntime.ExecResult{Error: fmt.Sprintf("pipes: %v", err)}
	}
	attr := &syscall.ProcAttr{
		Dir:   "/",
		Env:   rootEnv,
		Files: []uintptr{inR.Fd(), outW.Fd(), errW.Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	}
	done := make(chan syscall.WaitStatus, 1)
	start := time.Now()
	s.mu.Lock()
	pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", rootRunScript}, attr)
	if err == nil {
		if s.children == nil {
			s.children = map[int]chan syscall.WaitStatus{}
		}
		s.children[pid] = done
	}
	s.mu.Unlock()
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return seatruntime.ExecResult{Error: fmt.Sprintf("start /bin/sh: %v", err)}
	}
	select { // the reaper may be waiting for a child to exist
	case s.restarted <- struct{}{}:
	default:
	}
	go func() {
		_, _ = io.WriteString(inW, req.Script)
		inW.Close()
	}()
	stdout, stderr := readCapped(outR), readCapped(errR)
	res := seatruntime.ExecResult{}
	var ws syscall.WaitStatus
	select {
	case ws = <-done:
	case <-time.After(timeout):
		res.TimedOut = true
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		ws = <-done
	}
	res.DurationMS = time.Since(start).Milliseconds()
	// Whatever the script left running goes with it; output still held
	// open by something that escaped the group is not waited for long.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	o, e := stdout.wait(time.Second), stderr.wait(time.Second)
	res.Stdout, res.Stderr = string(o.data), string(e.data)
	res.Truncated = o.over || e.over
	switch {
	case res.TimedOut:
		res.ExitCode = 137
	case ws.Signaled():
		res.ExitCode = 128 + int(ws.Signal())
	default:
		res.ExitCode = ws.ExitStatus()
	}
	return res
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// cappedRead is output read up to seatruntime.MaxRootOutput bytes.
type cappedRead struct {
	data []byte
	over bool
}

type pendingRead struct {
	f  *os.File
	ch chan cappedRead
}

func readCapped(f *os.File) pendingRead {
	p := pendingRead{f: f, ch: make(chan cappedRead, 1)}
	go func() {
		var buf bytes.Buffer
		n, _ := io.Copy(&buf, io.LimitReader(f, seatruntime.MaxRootOutput+1))
		out := cappedRead{data: buf.Bytes(), over: n > seatruntime.MaxRootOutput}
		if out.over {
			out.data = out.data[:seatruntime.MaxRootOutput]
			_, _ = io.Copy(io.Discard, f)
		}
		p.ch <- out
	}()
	return p
}

// wait returns what was read once the writers are gone, or what is there
// after grace (a background process still holds the pipe).
func (p pendingRead) wait(grace time.Duration) cappedRead {
	select {
	case r := <-p.ch:
		p.f.Close()
		return r
	case <-time.After(grace):
		_ = p.f.SetReadDeadline(time.Now())
		r := <-p.ch
		p.f.Close()
		return r
	}
}

// ExecRoot runs a script as the seat's own root (seatruntime.RootExecer),
// through the seat init's root socket.
func (r *Runtime) ExecRoot(ctx context.Context, s *seatruntime.Seat, req seatruntime.ExecRequest) (*seatruntime.ExecResult, error) {
	if s.Network != "unix" || s.Address == "" {
		return nil, fmt.Errorf("sandbox: seat %s/%d has no socket", s.WorkshopID, s.Seat)
	}
	timeout := seatruntime.DefaultRootTime
	if req.TimeoutMS > 0 {
		timeout = min(time.Duration(req.TimeoutMS)*time.Millisecond, seatruntime.MaxRootTime)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", rootSockPath(s.Address))
	if err != nil {
		return nil, fmt.Errorf("sandbox: seat %s/%d root socket: %w", s.WorkshopID, s.Seat, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return nil, fmt.Errorf("sandbox: send root script: %w", err)
	}
	var res seatruntime.ExecResult
	if err := json.NewDecoder(io.LimitReader(c, 4*seatruntime.MaxRootOutput+4096)).Decode(&res); err != nil {
		return nil, fmt.Errorf("sandbox: root script answer: %w", err)
	}
	if res.Error != "" {
		return nil, fmt.Errorf("sandbox: seat %s/%d: %s", s.WorkshopID, s.Seat, res.Error)
	}
	return &res, nil
}

var _ seatruntime.RootExecer = (*Runtime)(nil)
