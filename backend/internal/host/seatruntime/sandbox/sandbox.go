// Package sandbox is the default seat runtime on Linux: each seat is a set
// of fresh namespaces (user, pid, mount, uts, ipc, net) with a read-only
// view of the host system (or of a rootfs directory), a private writable
// home, cgroup limits, and its own network namespace with NAT egress. The
// workspace daemon runs inside as an unprivileged user and is reached from
// the host through a unix socket. See README.md for the design.
//
// What runs inside a seat is package seatinit, which links none of this
// package's dependencies: its binary, cmd/seatinit, is every seat's init
// (Config.InitPath). Every binary that may be started as a seat's init or
// daemon (Config.DaemonPath) must call seatinit.Main (or InitMain) first
// thing in main:
//
//	func main() {
//		seatinit.Main() // returns at once unless this process is a seat's init or daemon
//		...
//	}
package sandbox

import (
	"errors"
	"log/slog"
	"time"

	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatinit"
)

// InitMain plays the sandbox's parts inside a seat (seatinit.Main) and
// returns at once in every other process. A binary that links this package
// anyway (the one clarateach binary) may call it instead of seatinit.Main;
// the workspace daemon and the seat init call seatinit.Main, which links
// far less.
func InitMain() { seatinit.Main() }

// Name is the runtime's name in runtime.Seat.Runtime.
const Name = "sandbox"

// DefaultDiskMB is the size of a seat's home when neither the Config nor
// the Spec sets one.
const DefaultDiskMB = 2048

// Config configures the sandbox runtime. Zero values take the defaults
// documented on each field.
type Config struct {
	// DaemonPath is the workspace daemon binary (required). It is
	// bind-mounted read-only into every seat, so it and all its parent
	// directories must be readable/traversable by an unprivileged user.
	DaemonPath string
	// DaemonArgs go before the daemon's flags, e.g. ["workspace"] when
	// DaemonPath is the one `clarateach` binary.
	DaemonArgs []string
	// DaemonEnv is added to the daemon's environment.
	DaemonEnv []string
	// InitPath is the binary started as each seat's init (it must call
	// seatinit.Main early in main), e.g. clarateach-seat-init
	// (cmd/seatinit). Default: DaemonPath. Smaller is faster: it starts
	// once per seat.
	InitPath string
	// PID1Path, when set, is clarateach-seat-pid1 (package seatpid1): an
	// init written in C, started instead of InitPath for a seat started
	// from scratch (on the host's root or on an image), with no root
	// learner, for an agent running as root (every other seat, warm or
	// with a root learner, gets InitPath). It saves a Go runtime's start
	// per such seat.
	PID1Path string
	// BaseDir holds one directory per seat, <BaseDir>/<workshop>-<seat>
	// (required). It and its parents must be traversable by others (o+x).
	BaseDir string
	// RootFS is a directory used as the seats' read-only root file system.
	// Empty means the host's own root, read-only.
	RootFS string
	// Shell is the learners' shell (default /bin/bash, else /bin/sh).
	Shell string
	// Per-seat defaults when the Spec leaves them 0.
	MemoryMB int // default 512
	VCPUs    int // default 1
	PidsMax  int // default 512
	// DiskMB is the default size of a seat's home (default DefaultDiskMB;
	// negative: no limit, the home is a directory on the host's disk). The
	// home is an ext4 image on a loop device: writing past it fails inside
	// the seat with ENOSPC. Needs root, mkfs.ext4 and loop devices.
	DiskMB int
	// DiskInodes is the default number of files a home can hold (default
	// one per 16 KiB of DiskMB).
	DiskInodes int
	// TmpSizeMB bounds the seat's private /tmp (tmpfs; default 256). Its
	// pages also count against the seat's memory limit.
	TmpSizeMB int
	// MaxSeats caps the number of seats (0 = what the subnet and uid
	// space allow). Create returns runtime.ErrCapacity beyond it.
	MaxSeats int
	// CgroupParent is where seat cgroups go: absolute (default
	// "/clarateach") or relative to the agent's own cgroup.
	CgroupParent string
	// UIDBase is the first host uid of the seats' id ranges: seat slot n
	// maps its uids 0..65535 to UIDBase+n*65536... (default 1<<30; a
	// multiple of 65536).
	UIDBase int
	// UIDLockDir holds one lock file per host uid range in use, shared by
	// every sandbox runtime on the host (default /run/clarateach/uids):
	// a range is taken while a seat's init holds the flock on its file.
	UIDLockDir string
	// MaskPaths are host directories hidden inside seats (an empty
	// read-only tmpfs over them), e.g. the agent's state directory.
	// BaseDir is always hidden.
	MaskPaths []string
	// KeepDirs keeps a seat's directory (the learner's files) on Destroy.
	KeepDirs bool
	// OrphanTimeout ends a seat whose runtime (its agent) has been gone
	// that long: the runtime touches <BaseDir>/.heartbeat every
	// HeartbeatEvery while it lives, and each seat's init watches that
	// file's time through an inherited descriptor. The seat's home stays.
	// 0 = seats never end on their own.
	OrphanTimeout time.Duration
	// HeartbeatEvery is how often the heartbeat is touched (default 1
	// minute, at most OrphanTimeout/4).
	HeartbeatEvery time.Duration
	// MaxParallelStarts bounds how many seats start at the same time;
	// more Creates wait in line (default 2 per CPU).
	MaxParallelStarts int
	// WarmSeats is how many seats are kept started ahead of demand (0 =
	// none). Create claims one when it can, which takes about a
	// millisecond instead of a full start; the pool refills in the
	// background. Warm seats hold seat slots (MaxSeats) and cost what an
	// idle seat costs (a few MiB each).
	WarmSeats int
	// WarmRefillDelay is how long Creates must have been quiet before the
	// pool refills (default 300ms; negative: at once), so that a burst of
	// claims is not slowed by the refill.
	WarmRefillDelay time.Duration
	// ReadyTimeout bounds Create's wait for the daemon (default 15s).
	ReadyTimeout time.Duration
	Network      NetworkConfig
	Logger       *slog.Logger
}

// NetworkConfig configures seat networking. It needs root; without root,
// or with Disabled, a seat has only a loopback interface.
type NetworkConfig struct {
	Disabled bool
	// Subnet is cut into one /30 per seat (default 10.222.0.0/16; must not
	// overlap Firecracker's 192.168.100.0/24 or the host's networks).
	Subnet string
	// Blocked are destinations seats may not reach unless a seat's
	// Spec.Egress opens one (default egress.Blocked: every private,
	// shared, link-local — the metadata server —, multicast and reserved
	// range). The seat subnet and every host-local address are always
	// blocked, whatever the allowlist says.
	Blocked []string
	// DNS, when set, replaces /etc/resolv.conf inside seats (needed when
	// the host resolver is on loopback or on the blocked metadata server).
	DNS []string
	// SkipFirewall leaves iptables alone (the caller manages the rules).
	SkipFirewall bool
}

// ErrUnsupported is returned (wrapped) by New where sandbox seats cannot
// exist at all: not Linux, or a kernel without the namespaces they need.
// Any other error from New is a fault to fix, not a reason to run seats
// without isolation.
var ErrUnsupported = errors.New("sandbox seats are not supported here")

// The seat's side (package seatinit) names these; the runtime's code uses
// them under its own names.
const (
	initMarker    = seatinit.InitMarker
	daemonMarker  = seatinit.DaemonMarker
	learnerMarker = seatinit.LearnerMarker
	procsMarker   = seatinit.ProcsMarker
	usernsMarker  = seatinit.UsernsMarker
	learnerUID    = seatinit.LearnerUID
	learnerName   = seatinit.LearnerName
	daemonUID     = seatinit.DaemonUID
	daemonName    = seatinit.DaemonName
	listenFD      = seatinit.ListenFD
	seatHome      = seatinit.Home
	seatRunDir    = seatinit.RunDir
	seatDaemon    = seatinit.DaemonPath
	seatLauncher  = seatinit.LauncherPath
	seatHostEtc   = seatinit.HostEtc
)

// What the runtime sends a seat's init.
type (
	initConfig    = seatinit.Config
	initClaim     = seatinit.Claim
	initNet       = seatinit.Net
	initHeartbeat = seatinit.Heartbeat
)

const (
	vethPrefix  = "ctsb"
	idRange     = 65536
	sockName    = "workspace.sock"
	rootDirName = ".root" // <BaseDir>/.root: every seat's root mount point
	uidLockDir  = "/run/clarateach/uids"
)
