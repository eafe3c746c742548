// Package process is the seat runtime without any isolation: each seat is the
// workspace daemon started as a plain child process of the agent, with a
// per-seat directory as the learner's home. It exists for macOS and local
// development only. A learner's shell runs as the agent's own user and can
// read everything that user can, so the agent allows this runtime only when
// it listens on loopback.
//
// A seat lives in <BaseDir>/<workshop>/<seat>/:
//
//	home/               the learner's workspace (--root of the daemon)
//	run/workspace.sock  the daemon's unix socket
//	run/daemon.pid      "PID STARTTIME" of the daemon, to adopt it again
//	daemon.log          the daemon's stdout and stderr
//
// The daemon runs in its own session (setsid), so it and its shells survive
// an agent restart or crash; a new agent finds it through the persisted
// seatruntime.Seat and Alive.
package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clarateach/backend/internal/host/seatruntime"
)

// Name is the runtime's name in configuration.
const Name = "process"

// Config configures the process seatruntime.
type Config struct {
	// DaemonCommand is the workspace daemon command: the binary and any
	// leading arguments (e.g. ["/usr/local/bin/clarateach", "workspace"]).
	// The runtime appends --listen, --root and --shell.
	DaemonCommand []string
	// BaseDir holds one directory per seat.
	BaseDir string
	// Shell is the learner's shell (passed as --shell; empty = daemon default).
	Shell string
	// ReadyTimeout bounds how long Create waits for the daemon to answer
	// GET /health (default 10 s).
	ReadyTimeout time.Duration
	// Logger receives the runtime's logs (default slog.Default()).
	Logger *slog.Logger
}

// Runtime implements seatruntime.Runtime with plain child processes.
type Runtime struct {
	cfg Config
	log *slog.Logger
}

var (
	_ seatruntime.Runtime    = (*Runtime)(nil)
	_ seatruntime.HomeKeeper = (*Runtime)(nil)
)

// extra is the runtime-specific part of seatruntime.Seat.
type extra struct {
	StartTime uint64 `json:"start_time,omitempty"` // /proc/PID/stat starttime (Linux), to detect PID reuse
	PGID      int    `json:"pgid,omitempty"`
}

// New checks cfg and returns the seatruntime. It logs, loudly, that seats are not
// isolated.
func New(cfg Config) (*Runtime, error) {
	if len(cfg.DaemonCommand) == 0 || cfg.DaemonCommand[0] == "" {
		return nil, errors.New("process runtime: no workspace daemon command configured")
	}
	if _, err := exec.LookPath(cfg.DaemonCommand[0]); err != nil {
		return nil, fmt.Errorf("process runtime: workspace daemon %q: %w", cfg.DaemonCommand[0], err)
	}
	if cfg.BaseDir == "" {
		return nil, errors.New("process runtime: no base directory configured")
	}
	abs, err := filepath.Abs(cfg.BaseDir)
	if err != nil {
		return nil, fmt.Errorf("process runtime: base dir: %w", err)
	}
	cfg.BaseDir = abs
	if err := os.MkdirAll(cfg.BaseDir, 0o700); err != nil {
		return nil, fmt.Errorf("process runtime: base dir: %w", err)
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Runtime{cfg: cfg, log: cfg.Logger.With("runtime", Name)}
	r.log.Warn("UNSAFE: the process runtime does not isolate seats; every learner shell runs as this user " +
		"with full access to this machine. Use it for local development only (the agent serves it on loopback only); " +
		"use the sandbox or firecracker runtime for real workshops")
	return r, nil
}

// Name returns "process".
func (r *Runtime) Name() string { return Name }

// SeatDir is the directory of one seat.
func (r *Runtime) SeatDir(workshopID string, seat int) string {
	return filepath.Join(r.cfg.BaseDir, workshopID, strconv.Itoa(seat))
}

// maxSocketPath is the longest unix socket path every supported OS accepts
// (sun_path is 108 bytes on Linux, 104 on macOS, including the NUL).
const maxSocketPath = 103

// Create starts the seat's workspace daemon and waits until it answers. If a
// daemon of an earlier agent still runs for this seat, it is adopted, so the
// learner's shells survive.
func (r *Runtime) Create(ctx context.Context, spec seatruntime.Spec) (*seatruntime.Seat, error) {
	if err := checkWorkshopID(spec.WorkshopID); err != nil {
		return nil, err
	}
	if spec.Seat <= 0 {
		return nil, fmt.Errorf("process runtime: invalid seat %d", spec.Seat)
	}
	dir := r.SeatDir(spec.WorkshopID, spec.Seat)
	home := filepath.Join(dir, "home")
	run := filepath.Join(dir, "run")
	sock := filepath.Join(run, "workspace.sock")
	if len(sock) > maxSocketPath {
		return nil, fmt.Errorf("process runtime: socket path %s is longer than %d bytes; use a shorter state directory", sock, maxSocketPath)
	}
	for _, d := range []string{home, run} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("process runtime: %w", err)
		}
	}
	seat := &seatruntime.Seat{
		WorkshopID: spec.WorkshopID,
		Seat:       spec.Seat,
		Runtime:    Name,
		VCPUs:      spec.VCPUs,
		MemoryMB:   spec.MemoryMB,
		Dir:        dir,
		Network:    "unix",
		Address:    sock,
	}
	if spec.VCPUs != 0 || spec.MemoryMB != 0 {
		r.log.Warn("process runtime does not enforce CPU or memory limits", "workshop", spec.WorkshopID, "seat", spec.Seat,
			"vcpus", spec.VCPUs, "memory_mb", spec.MemoryMB)
	}

	// Adopt a daemon that an earlier agent started for this seat.
	if pid, start, err := readPIDFile(filepath.Join(run, "daemon.pid")); err == nil {
		old := *seat
		old.PID = pid
		old.Extra = mustJSON(extra{StartTime: start, PGID: pid})
		if r.Alive(ctx, &old) {
			old.CreatedAt = time.Now().UTC()
			r.log.Info("adopted running workspace daemon", "workshop", spec.WorkshopID, "seat", spec.Seat, "pid", pid)
			return &old, nil
		}
		if processMatches(pid, start) {
			// Running but not answering: replace it.
			killTree(pid, pid)
		}
	}

	logf, err := os.OpenFile(filepath.Join(dir, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("process runtime: daemon log: %w", err)
	}
	defer logf.Close()
	args := append([]string{}, r.cfg.DaemonCommand[1:]...)
	args = append(args, "--listen", "unix:"+sock, "--root", home)
	if r.cfg.Shell != "" {
		args = append(args, "--shell", r.cfg.Shell)
	}
	// Not exec.CommandContext: the daemon must outlive the request (and the agent).
	cmd := exec.Command(r.cfg.DaemonCommand[0], args...)
	cmd.Dir = home
	cmd.Env = daemonEnv(home)
	cmd.Stdin = nil // /dev/null
	// A file, never a pipe: a pipe to a dead agent would kill the daemon with SIGPIPE.
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("process runtime: start workspace daemon: %w", err)
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // reap it if it dies while we are its parent
	start, _ := processStartTime(pid)
	seat.PID = pid
	seat.Extra = mustJSON(extra{StartTime: start, PGID: pid})
	if err := writePIDFile(filepath.Join(run, "daemon.pid"), pid, start); err != nil {
		killTree(pid, pid)
		return nil, fmt.Errorf("process runtime: %w", err)
	}

	if err := waitReady(ctx, sock, r.cfg.ReadyTimeout, exited); err != nil {
		killTree(pid, pid)
		return nil, fmt.Errorf("process runtime: workspace daemon for %s/%d did not become ready (see %s): %w",
			spec.WorkshopID, spec.Seat, filepath.Join(dir, "daemon.log"), err)
	}
	seat.CreatedAt = time.Now().UTC()
	r.log.Info("seat started", "workshop", spec.WorkshopID, "seat", spec.Seat, "pid", pid, "socket", sock)
	return seat, nil
}

// Repair implements seatruntime.Repairer: Create replaces a daemon that does
// not answer and keeps the seat's home.
func (r *Runtime) Repair(ctx context.Context, s *seatruntime.Seat) (*seatruntime.Seat, error) {
	return r.Create(ctx, seatruntime.Spec{WorkshopID: s.WorkshopID, Seat: s.Seat, VCPUs: s.VCPUs, MemoryMB: s.MemoryMB})
}

// Alive reports whether the seat's daemon process is the one that was started
// (same PID and start time) and answers GET /health.
func (r *Runtime) Alive(ctx context.Context, s *seatruntime.Seat) bool {
	if s == nil || s.PID <= 0 || s.Network != "unix" || s.Address == "" {
		return false
	}
	var x extra
	if len(s.Extra) > 0 {
		_ = json.Unmarshal(s.Extra, &x)
	}
	if !processMatches(s.PID, x.StartTime) {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return health(ctx, s.Address) == nil
}

// Destroy kills the daemon and every process below it, then removes the
// seat's directory (the learner's files go with it). A seat already gone is
// not an error.
func (r *Runtime) Destroy(ctx context.Context, s *seatruntime.Seat) error {
	if s == nil {
		return nil
	}
	if err := r.kill(ctx, s); err != nil {
		return err
	}
	dir := s.Dir
	if dir == "" {
		dir = r.SeatDir(s.WorkshopID, s.Seat)
	}
	if err := r.removeDir(dir); err != nil {
		return err
	}
	r.log.Info("seat destroyed", "workshop", s.WorkshopID, "seat", s.Seat, "pid", s.PID)
	return nil
}

// Stop implements seatruntime.HomeKeeper: it kills the seat's processes and
// keeps its directory; the next Create of the seat uses the same home.
func (r *Runtime) Stop(ctx context.Context, s *seatruntime.Seat) error {
	if s == nil {
		return nil
	}
	if err := r.kill(ctx, s); err != nil {
		return err
	}
	r.log.Info("seat stopped; home kept", "workshop", s.WorkshopID, "seat", s.Seat, "pid", s.PID)
	return nil
}

// Homes implements seatruntime.HomeKeeper: every <BaseDir>/<workshop>/<seat>/home.
func (r *Runtime) Homes() ([]seatruntime.Home, error) {
	wss, err := os.ReadDir(r.cfg.BaseDir)
	if err != nil {
		return nil, fmt.Errorf("process runtime: list homes: %w", err)
	}
	var out []seatruntime.Home
	for _, w := range wss {
		if !w.IsDir() || checkWorkshopID(w.Name()) != nil {
			continue
		}
		seats, err := os.ReadDir(filepath.Join(r.cfg.BaseDir, w.Name()))
		if err != nil {
			continue
		}
		for _, s := range seats {
			n, err := strconv.Atoi(s.Name())
			if err != nil || n <= 0 || !s.IsDir() {
				continue
			}
			if fi, err := os.Stat(filepath.Join(r.SeatDir(w.Name(), n), "home")); err == nil && fi.IsDir() {
				out = append(out, seatruntime.Home{WorkshopID: w.Name(), Seat: n})
			}
		}
	}
	return out, nil
}

// RemoveHome implements seatruntime.HomeKeeper.
func (r *Runtime) RemoveHome(ctx context.Context, workshopID string, seat int) error {
	if err := checkWorkshopID(workshopID); err != nil {
		return err
	}
	return r.removeDir(r.SeatDir(workshopID, seat))
}

// kill ends the seat's daemon and every process below it.
func (r *Runtime) kill(ctx context.Context, s *seatruntime.Seat) error {
	var x extra
	if len(s.Extra) > 0 {
		_ = json.Unmarshal(s.Extra, &x)
	}
	if s.PID <= 0 || !processMatches(s.PID, x.StartTime) {
		return nil
	}
	pgid := x.PGID
	if pgid == 0 {
		pgid = s.PID
	}
	killTree(s.PID, pgid)
	deadline := time.Now().Add(5 * time.Second)
	for processMatches(s.PID, x.StartTime) && !isZombie(s.PID) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// removeDir deletes a seat directory, and its workshop's directory once
// the last seat is gone.
func (r *Runtime) removeDir(dir string) error {
	if !within(r.cfg.BaseDir, dir) {
		return fmt.Errorf("process runtime: refusing to remove %s: not under %s", dir, r.cfg.BaseDir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("process runtime: remove seat dir: %w", err)
	}
	_ = os.Remove(filepath.Dir(dir))
	return nil
}

// within reports whether p is strictly below base.
func within(base, p string) bool {
	rel, err := filepath.Rel(base, p)
	return err == nil && rel != "." && !strings.HasPrefix(rel, "..") && !filepath.IsAbs(rel)
}

func checkWorkshopID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("process runtime: invalid workshop id %q", id)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("process runtime: invalid workshop id %q", id)
		}
	}
	return nil
}

// daemonEnv is a small, predictable environment for the learner's shell.
func daemonEnv(home string) []string {
	env := []string{"HOME=" + home, "TERM=xterm-256color", "LANG=C.UTF-8"}
	for _, k := range []string{"PATH", "USER", "LOGNAME", "SHELL", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// health asks the daemon at sock for GET /health.
func health(ctx context.Context, sock string) error {
	return seatruntime.DaemonHealth(ctx, seatruntime.UnixClient(sock), "http://workspace")
}

// waitReady polls the daemon's /health until it answers, the daemon exits,
// or the timeout passes.
func waitReady(ctx context.Context, sock string, timeout time.Duration, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := 2 * time.Millisecond
	for {
		if _, err := os.Stat(sock); err == nil {
			hctx, hcancel := context.WithTimeout(ctx, time.Second)
			err := health(hctx, sock)
			hcancel()
			if err == nil {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("daemon exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		if delay < 10*time.Millisecond {
			delay *= 2
		}
	}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func writePIDFile(path string, pid int, start uint64) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d %d\n", pid, start)), 0o600); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

func readPIDFile(path string) (int, uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("pid file %s: malformed", path)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return 0, 0, fmt.Errorf("pid file %s: malformed", path)
	}
	start, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("pid file %s: malformed", path)
	}
	return pid, start, nil
}

// processMatches reports whether pid runs and (where the OS tells) was
// started at start, so a recycled PID is not mistaken for the daemon.
func processMatches(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if start == 0 {
		return true
	}
	got, err := processStartTime(pid)
	if err != nil {
		return !hasProcFS()
	}
	return got == start
}

// killTree sends SIGTERM, then SIGKILL after a grace period, to pid's process
// group and every descendant of pid (terminal sessions run in sessions of
// their own, so the group alone would miss them).
func killTree(pid, pgid int) {
	desc := descendants(pid)
	// Interactive shells ignore SIGTERM but exit on SIGHUP, as on a hang-up.
	signalAll(desc, 0, syscall.SIGHUP)
	procs := append(desc, pid)
	signalAll(procs, pgid, syscall.SIGTERM)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if !anyAlive(procs) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	signalAll(append(descendants(pid), procs...), pgid, syscall.SIGKILL)
}

func signalAll(pids []int, pgid int, sig syscall.Signal) {
	if pgid > 0 {
		_ = syscall.Kill(-pgid, sig)
	}
	for _, p := range pids {
		_ = syscall.Kill(p, sig)
	}
}

func anyAlive(pids []int) bool {
	for _, p := range pids {
		if syscall.Kill(p, 0) == nil && !isZombie(p) {
			return true
		}
	}
	return false
}
