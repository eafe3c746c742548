package workspace

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/seat/terminal"
)

// Limits of POST /exec: lab check and solve scripts, run as the learner.
const (
	MaxExecScript   = 64 << 10
	MaxExecOutput   = 16 << 10 // each of stdout and stderr
	DefaultExecTime = 10 * time.Second
	MaxExecTime     = 2 * time.Minute
)

// ExecRequest is the body of POST /exec.
type ExecRequest struct {
	Script    string `json:"script"`     // any file with a #! line, or shell commands
	TimeoutMS int    `json:"timeout_ms"` // default 10 s, at most 2 min
}

// ExecResult is the answer of POST /exec. A script that ran answers 200
// whatever its exit code; TimedOut says it was killed at the deadline.
type ExecResult struct {
	ExitCode   int    `json:"exit_code"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	Truncated  bool   `json:"truncated"`
	TimedOut   bool   `json:"timed_out"`
	DurationMS int64  `json:"duration_ms"`
}

// runScript is the shell program that runs a script given on standard
// input: it is saved to a private temporary file and executed, so its #!
// line picks the interpreter, then removed.
const runScript = `f=$(mktemp) || exit 126; trap 'rm -f "$f"' EXIT; cat >"$f" && chmod 700 "$f" && "$f"`

// capped keeps the first n bytes written and counts the rest.
type capped struct {
	buf  bytes.Buffer
	n    int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.n - c.buf.Len(); room > 0 {
		if len(p) > room {
			c.buf.Write(p[:room])
			c.over = true
		} else {
			c.buf.Write(p)
		}
	} else if len(p) > 0 {
		c.over = true
	}
	return len(p), nil
}

// handleExec runs a script in the seat as the learner (the same user,
// environment and directory as the learner's shells), with a deadline and
// capped output. The agent calls it for lab checks; learners cannot reach it
// through the agent's proxy.
func (s *Server) handleExec(w http.ResponseWriter, r *http.Request) {
	var req ExecRequest
	if err := apierror.Decode(w, r, &req, MaxExecScript+4096); err != nil {
		apierror.Write(w, r, err)
		return
	}
	if strings.TrimSpace(req.Script) == "" {
		apierror.Write(w, r, apierror.BadRequest("script is empty"))
		return
	}
	if len(req.Script) > MaxExecScript {
		apierror.Write(w, r, apierror.BadRequest("script is %d bytes; the limit is %d", len(req.Script), MaxExecScript))
		return
	}
	timeout := DefaultExecTime
	if req.TimeoutMS < 0 || time.Duration(req.TimeoutMS)*time.Millisecond > MaxExecTime {
		apierror.Write(w, r, apierror.BadRequest("timeout_ms must be between 0 and %d", MaxExecTime.Milliseconds()))
		return
	}
	if req.TimeoutMS > 0 {
		timeout = time.Duration(req.TimeoutMS) * time.Millisecond
	}
	res, err := s.Exec(r.Context(), req.Script, timeout)
	if err != nil {
		apierror.Write(w, r, err)
		return
	}
	apierror.JSON(w, http.StatusOK, res)
}

// Exec runs script as the learner and waits for it, at most timeout. The
// whole process group is killed at the deadline.
func (s *Server) Exec(ctx context.Context, script string, timeout time.Duration) (ExecResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := terminal.Command(ctx, s.cfg.ShellLauncher, s.cfg.Shell, s.cfg.Shell, "-c", runScript)
	cmd.Dir = s.files.Dir()
	cmd.Env = s.term.Env()
	cmd.Stdin = strings.NewReader(script)
	var stdout, stderr = &capped{n: MaxExecOutput}, &capped{n: MaxExecOutput}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Something the script left running in the background may hold the
	// output pipes: stop waiting for them soon after the script ends.
	cmd.WaitDelay = time.Second
	start := time.Now()
	err := cmd.Run()
	res := ExecResult{
		Stdout:     stdout.buf.String(),
		Stderr:     stderr.buf.String(),
		Truncated:  stdout.over || stderr.over,
		DurationMS: time.Since(start).Milliseconds(),
		TimedOut:   ctx.Err() == context.DeadlineExceeded,
	}
	// The script's leftovers go with it.
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
		if res.ExitCode < 0 { // killed by a signal
			res.ExitCode = 128 + int(exitErr.Sys().(syscall.WaitStatus).Signal())
		}
	case errors.Is(err, exec.ErrWaitDelay):
	case res.TimedOut:
		res.ExitCode = 137
	default:
		return res, apierror.New(http.StatusInternalServerError, "exec_failed", "run the script: %v", err)
	}
	return res, nil
}
