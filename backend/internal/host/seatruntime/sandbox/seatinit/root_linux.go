//go:build linux

package seatinit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Root scripts (a lab's setup) run as the seat's own root: uid 0 of the
// seat's user namespace, an unprivileged uid on the host, with the
// capabilities that root has inside its namespaces only. The seat's init
// (pid 1, that root) serves them on a second socket, root.sock, beside the
// daemon's in the seat's sock/ directory: only the seat's root uid and the
// host's root can enter it, and it is not mounted in the seat, so the
// learner cannot reach it. The daemon, which has no uid 0 left, could not
// run them. One request per connection: a JSON RootRequest, answered by a
// JSON RootResult (the agent sends and reads seatruntime.ExecRequest and
// ExecResult, the same JSON).

// Limits of a root script, as the agent's (seatruntime's).
const (
	MaxRootScript   = 64 << 10
	MaxRootOutput   = 16 << 10 // each of stdout and stderr
	DefaultRootTime = 10 * time.Second
	MaxRootTime     = 2 * time.Minute
)

// RootRequest is a script to run as the seat's root; TimeoutMS 0 means
// DefaultRootTime.
type RootRequest struct {
	Script    string `json:"script"`
	TimeoutMS int    `json:"timeout_ms,omitempty"`
}

// RootResult is what a root script did.
type RootResult struct {
	ExitCode   int    `json:"exit_code"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	Truncated  bool   `json:"truncated"`
	TimedOut   bool   `json:"timed_out"`
	DurationMS int64  `json:"duration_ms"`
	// Error is set when the script could not be run at all.
	Error string `json:"error,omitempty"`
}

// RootSockPath is the root socket's path beside the daemon's socket.
func RootSockPath(daemonSock string) string {
	return filepath.Join(filepath.Dir(daemonSock), RootSockName)
}

// rootEnv is a root script's environment.
var rootEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root", "USER=root", "LOGNAME=root", "LANG=C.UTF-8",
	"LEARNER=learner", "LEARNER_HOME=" + Home,
}

// rootRunScript saves the script from standard input to a private file
// and runs it (its #! line picks the interpreter), then removes it.
const rootRunScript = `f=$(mktemp) || exit 126; trap 'rm -f "$f"' EXIT; cat >"$f" && chmod 700 "$f" && "$f"`

// serveRoot answers root scripts on the listening socket ln until it
// fails. It runs in the seat's init, which links no net package (it
// starts once per seat); the socket goes through Go's poller all the
// same (non-blocking, accept on readiness), so waiting for a root script
// takes no thread of its own.
func (s *supervisor) serveRoot(ln int) {
	if err := unix.SetNonblock(ln, true); err != nil {
		fmt.Fprintf(os.Stderr, "seat init: root socket: %v\n", err)
		return
	}
	lf := os.NewFile(uintptr(ln), "root-listener")
	rc, err := lf.SyscallConn()
	if err != nil {
		fmt.Fprintf(os.Stderr, "seat init: root socket: %v\n", err)
		return
	}
	for {
		var fd int
		var aerr error
		err := rc.Read(func(ln uintptr) bool {
			fd, _, aerr = unix.Accept4(int(ln), unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
			return !errors.Is(aerr, unix.EAGAIN)
		})
		if err == nil {
			err = aerr
		}
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ECONNABORTED) {
			continue
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "seat init: root socket: %v\n", err)
			return
		}
		// Non-blocking, so os.File uses the poller and deadlines work.
		go s.serveRootConn(os.NewFile(uintptr(fd), "root-conn"))
	}
}

func (s *supervisor) serveRootConn(c *os.File) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var req RootRequest
	if err := json.NewDecoder(io.LimitReader(c, MaxRootScript+4096)).Decode(&req); err != nil {
		_ = json.NewEncoder(c).Encode(RootResult{Error: fmt.Sprintf("read the request: %v", err)})
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	res := s.runRoot(req)
	_ = json.NewEncoder(c).Encode(res)
}

// runRoot runs one root script with a deadline and capped output. Its
// process is the init's child, so the init's reaper collects it and hands
// its status over (children).
func (s *supervisor) runRoot(req RootRequest) RootResult {
	timeout := DefaultRootTime
	if req.TimeoutMS > 0 {
		timeout = min(time.Duration(req.TimeoutMS)*time.Millisecond, MaxRootTime)
	}
	if strings.TrimSpace(req.Script) == "" || len(req.Script) > MaxRootScript {
		return RootResult{Error: fmt.Sprintf("the script is empty or larger than %d bytes", MaxRootScript)}
	}
	inR, inW, err1 := os.Pipe()
	outR, outW, err2 := os.Pipe()
	errR, errW, err3 := os.Pipe()
	if err := firstErr(err1, err2, err3); err != nil {
		return RootResult{Error: fmt.Sprintf("pipes: %v", err)}
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
	path, argv := "/bin/sh", []string{"sh", "-c", rootRunScript}
	if s.cfg.LearnerRoot {
		// As root of the learner's namespaces: the learner, root over
		// the seat's files, may have replaced /bin/sh.
		path, argv = s.cfg.Launcher, append([]string{s.cfg.Launcher, path}, argv...)
	}
	pid, err := syscall.ForkExec(path, argv, attr)
	if err == nil && s.ownWait {
		go waitChild(pid, done)
	} else if err == nil {
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
		return RootResult{Error: fmt.Sprintf("start /bin/sh: %v", err)}
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
	res := RootResult{}
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

// rootConnMain is the whole life of the helper that an init which is not
// a Go program (clarateach-seat-pid1, package seatpid1) starts for each root
// script's connection: the daemon binary, as the seat's root, with the
// connection on fd 3. It serves that one request as the Go init does;
// the script is its own child, which it waits for itself.
func rootConnMain() {
	os.Unsetenv(RootConnMarker)
	os.Unsetenv("GOMAXPROCS")
	_ = unix.SetNonblock(3, true) // through the poller, for the deadline
	s := &supervisor{cfg: &Config{}, ownWait: true, restarted: make(chan struct{}, 1)}
	s.serveRootConn(os.NewFile(3, "root-conn"))
	os.Exit(0)
}

// waitChild sends pid's wait status on done once it has exited.
func waitChild(pid int, done chan<- syscall.WaitStatus) {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	done <- ws
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// cappedRead is output read up to MaxRootOutput bytes.
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
		n, _ := io.Copy(&buf, io.LimitReader(f, MaxRootOutput+1))
		out := cappedRead{data: buf.Bytes(), over: n > MaxRootOutput}
		if out.over {
			out.data = out.data[:MaxRootOutput]
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
