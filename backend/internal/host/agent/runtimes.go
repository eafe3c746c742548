package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/host/seatruntime/firecracker"
	"github.com/clarateach/backend/internal/host/seatruntime/process"
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox"
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatpid1"
)

// DaemonBinaryName is the workspace daemon's file name, looked up next to the
// agent's executable and then in PATH.
const DaemonBinaryName = "clarateach-workspace"

// SeatInitBinaryName is the sandbox seats' init (cmd/seatinit), looked up
// next to the workspace daemon: without it, the daemon binary plays the
// init.
const SeatInitBinaryName = "clarateach-seat-init"

// ErrRuntimeUnavailable is returned for a runtime this build or machine
// cannot run.
var ErrRuntimeUnavailable = errors.New("runtime not available")

// RuntimeOptions is what the seat runtimes are built from.
type RuntimeOptions struct {
	// StateDir is the agent's state directory (hidden from sandbox seats).
	StateDir string
	// SeatsDir holds the seats' directories (learners' files, sockets).
	// Default: <StateDir>/process for the process runtime and
	// <dir of StateDir>/seats for the sandbox (it must be reachable by
	// the seats' unprivileged uids, which the 0700 state dir is not).
	SeatsDir string
	// DaemonCommand is the workspace daemon: binary and leading arguments.
	DaemonCommand []string
	Shell         string
	// Capacity caps the runtime's own seat count (0 = its default).
	Capacity int
	// WarmSeats keeps that many sandbox seats started ahead of demand (0 =
	// none); see sandbox.Config.WarmSeats. Other runtimes ignore it.
	WarmSeats int
	// OrphanTimeout ends a sandbox seat whose agent has been gone that long
	// (0 = never); see sandbox.Config.OrphanTimeout.
	OrphanTimeout time.Duration
	// NoNetwork gives sandbox seats loopback only (no veth, no NAT, and no
	// host firewall rules are installed).
	NoNetwork bool
	// DiskMB is the size of a sandbox seat's home when its Spec sets none
	// (0: sandbox.DefaultDiskMB; negative: no limit, a directory on the
	// host's disk). The process runtime has no limit; firecracker has its
	// own default (FC's SeatDiskMB).
	DiskMB int
	Logger *slog.Logger
	// Firecracker is where the firecracker runtime finds its files.
	Firecracker FirecrackerPaths
}

// FirecrackerPaths are the firecracker runtime's files and directories.
type FirecrackerPaths struct {
	Kernel   string // FC_KERNEL
	RootFS   string // FC_ROOTFS
	Binary   string // FC_BINARY
	StateDir string // FC_STATE_DIR
	LogDir   string // FC_LOG_DIR
}

// NewRuntime builds the seat runtime called name.
func NewRuntime(name string, o RuntimeOptions) (seatruntime.Runtime, error) {
	switch name {
	case "process":
		dir := o.SeatsDir
		if dir == "" {
			dir = filepath.Join(o.StateDir, "process")
		}
		return process.New(process.Config{
			DaemonCommand: o.DaemonCommand,
			BaseDir:       dir,
			Shell:         o.Shell,
			Logger:        o.Logger,
		})
	case "sandbox":
		if runtime.GOOS != "linux" {
			return nil, fmt.Errorf("%w: the sandbox runtime needs Linux; use --runtime process", ErrRuntimeUnavailable)
		}
		if len(o.DaemonCommand) == 0 {
			return nil, fmt.Errorf("%w: no workspace daemon", ErrRuntimeUnavailable)
		}
		dir := o.SeatsDir
		if dir == "" {
			dir = filepath.Join(filepath.Dir(filepath.Clean(o.StateDir)), "seats")
		}
		// Seats bind-mount the daemon as an unprivileged uid: give them a
		// world-readable copy beside the seats directory, whatever the
		// original's location (a 0700 home or temp dir) and permissions.
		binDir := filepath.Join(filepath.Dir(filepath.Clean(dir)), "clarateach-seat-bin")
		daemon, err := stageDaemon(o.DaemonCommand[0], binDir)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRuntimeUnavailable, err)
		}
		seatInit, err := stageSeatInit(o.DaemonCommand[0], binDir)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRuntimeUnavailable, err)
		}
		pid1, err := stageSeatPID1(o.DaemonCommand[0], binDir)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRuntimeUnavailable, err)
		}
		rt, err := sandbox.New(sandbox.Config{
			DaemonPath:    daemon,
			InitPath:      seatInit,
			PID1Path:      pid1,
			DaemonArgs:    o.DaemonCommand[1:],
			BaseDir:       dir,
			Shell:         o.Shell,
			MaxSeats:      o.Capacity,
			WarmSeats:     o.WarmSeats,
			OrphanTimeout: o.OrphanTimeout,
			MaskPaths:     []string{o.StateDir},
			Network:       sandbox.NetworkConfig{Disabled: o.NoNetwork},
			DiskMB:        o.DiskMB,
			Logger:        o.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRuntimeUnavailable, err)
		}
		return rt, nil
	case "firecracker":
		fc := o.Firecracker
		rt, err := firecracker.New(firecracker.Config{
			Kernel:    fc.Kernel,
			BaseImage: fc.RootFS,
			Binary:    fc.Binary,
			StateDir:  fc.StateDir,
			LogDir:    fc.LogDir,
			MaxSeats:  o.Capacity,
			Logger:    o.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRuntimeUnavailable, err)
		}
		// Restore the bridge and firewall now, so seats that survived an
		// agent restart are isolated again before anything else happens.
		if err := rt.SetupNetwork(context.Background()); err != nil {
			return nil, fmt.Errorf("firecracker: host network setup: %w", err)
		}
		return rt, nil
	}
	return nil, fmt.Errorf("%w: unknown runtime %q (want sandbox, firecracker or process)", ErrRuntimeUnavailable, name)
}

// DefaultRuntime is "sandbox" on Linux (as root, or rootless where user
// namespaces work), else "process". ChooseRuntime falls back to process
// only where sandbox seats cannot exist.
func DefaultRuntime() string {
	if runtime.GOOS == "linux" {
		return "sandbox"
	}
	return "process"
}

// Isolated reports whether seats of the named runtime are isolated from
// the host and from each other. Only the process runtime is not; the web
// app shows its learners and instructors a banner for it.
func Isolated(name string) bool { return name != "process" }

// ChooseRuntime builds the seat runtime named requested, or, when requested
// is empty, the safest one this machine can run: the sandbox on Linux, and
// the unisolated process runtime only where sandbox seats cannot exist (not
// Linux, no user namespaces). A sandbox asked to give seats a network on a
// host without iptables gets seats with loopback only, said in one line:
// never a silent fall back to unisolated seats. It returns the runtime and
// its name.
func ChooseRuntime(requested string, o RuntimeOptions) (seatruntime.Runtime, string, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	name := requested
	if name == "" {
		name = DefaultRuntime()
	}
	if name == "sandbox" && !o.NoNetwork && os.Geteuid() == 0 {
		if _, err := lookPath("iptables"); err != nil {
			o.NoNetwork = true
			log.Warn("seat network off: iptables is not installed, so seats get loopback only (apt-get install -y iptables, then restart, to give seats internet)")
		}
	}
	rt, err := NewRuntime(name, o)
	if err != nil && requested == "" && name == "sandbox" && errors.Is(err, sandbox.ErrUnsupported) {
		log.Warn("UNSAFE: sandbox seats cannot exist here; seats are unisolated development processes (set AGENT_RUNTIME=process to choose this without the warning)", "reason", err)
		name = "process"
		o.SeatsDir = ""
		rt, err = NewRuntime(name, o)
	}
	if err != nil {
		return nil, "", err
	}
	if !Isolated(name) {
		log.Warn("development seats: not isolated — learner shells run as this user on this machine", "runtime", name)
	}
	return rt, name, nil
}

// lookPath is exec.LookPath, replaceable in tests.
var lookPath = exec.LookPath

// LocalSeatsDir is where a control plane's in-process agent with state
// directory stateDir keeps sandbox seats: under /var/lib/clarateach, which
// seat uids can always traverse (a project's ./data, or a home directory,
// may be private).
func LocalSeatsDir(stateDir string) string {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		abs = stateDir
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join("/var/lib/clarateach", "local-"+hex.EncodeToString(sum[:4]), "seats")
}

// stageSeatInit stages clarateach-seat-init (cmd/seatinit) from beside the
// daemon binary into dir, as stageDaemon does the daemon, and returns the
// copy's path; "" when there is none, and seats' inits are the daemon
// binary (a larger program to start once more per seat).
func stageSeatInit(daemon, dir string) (string, error) {
	return stageBeside(daemon, dir, SeatInitBinaryName)
}

// stageSeatPID1 stages clarateach-seat-pid1 (package seatpid1: a seat
// init in C, for the seats it serves) from beside the daemon binary in
// the same way; "" when there is none, and every seat's init is the Go
// one.
func stageSeatPID1(daemon, dir string) (string, error) {
	return stageBeside(daemon, dir, seatpid1.BinaryName)
}

// stageBeside stages the executable called name beside daemon into dir;
// "" when there is none.
func stageBeside(daemon, dir, name string) (string, error) {
	src := filepath.Join(filepath.Dir(daemon), name)
	if fi, err := os.Stat(src); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", nil
	}
	return stageBinary(src, dir, name)
}

// stageDaemon copies the workspace daemon into dir (mode 0755; dir 0755, its
// parent made traversable) unless an identical copy is there, and returns the copy's
// path. A new binary is renamed into place, so running seats keep the one
// they started with.
func stageDaemon(src, dir string) (string, error) {
	return stageBinary(src, dir, DaemonBinaryName)
}

// stageBinary is stageDaemon for the file name name.
func stageBinary(src, dir, name string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("stage %s: %w", name, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		return "", fmt.Errorf("stage %s: %w", name, err)
	}
	// The parent must be traversable; add o+x, keeping every other bit
	// (it may be /tmp, with its sticky bit).
	if fi, err := os.Stat(filepath.Dir(dir)); err == nil && fi.Mode().Perm()&0o001 == 0 {
		if err := os.Chmod(filepath.Dir(dir), fi.Mode()&(os.ModePerm|os.ModeSticky|os.ModeSetgid)|0o011); err != nil {
			return "", fmt.Errorf("stage %s: %w", name, err)
		}
	}
	want, err := fileSum(src)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	dst := filepath.Join(dir, name)
	if have, err := fileSum(dst); err == nil && have == want {
		return dst, nil
	}
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, ".daemon-*")
	if err != nil {
		return "", fmt.Errorf("stage %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return "", fmt.Errorf("stage %s: %w", name, err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("stage %s: %w", name, err)
	}
	return dst, nil
}

func fileSum(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
