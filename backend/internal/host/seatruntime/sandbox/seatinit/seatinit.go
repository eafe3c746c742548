// Package seatinit is what runs inside a sandbox seat (package sandbox,
// README.md there): the seat's init, pid 1 of its namespaces, which builds
// the seat from the inside and supervises the workspace daemon; the
// daemon's change of identity; and the placeholder process whose user
// namespace the runtime borrows. It is kept apart from the runtime, and
// free of net/http and every other large package, because its binary
// (cmd/seatinit, clarateach-seat-init) starts once per seat: a Go program's
// start costs page faults in proportion to what it links (on the 2-core
// build machine ~470 for the 11 MB workspace daemon, ~230 for a 3 MB one).
//
// Every binary that may be started as a seat's init or daemon must call
// Main first thing in main; it returns at once in any other process.
package seatinit

// The environment markers by which the runtime tells Main what to be.
const (
	InitMarker = "_CLARATEACH_SANDBOX_INIT"
	// DaemonMarker tells Main it is the daemon, started as the seat's
	// root: it switches to DaemonUID/LearnerUID and returns.
	DaemonMarker = "_CLARATEACH_SANDBOX_DAEMON"
	// LearnerMarker names the program that Main, started by the daemon,
	// execs as the learner (real, effective and saved uid), on machines
	// without a seat launcher.
	LearnerMarker = "_CLARATEACH_SANDBOX_AS_LEARNER"
	// ProcsMarker: the init added GOMAXPROCS=1 to the daemon's
	// environment (so that its Go runtime starts with one P instead of
	// setting it later); Main removes both again, so that the learner's
	// shells do not inherit them.
	ProcsMarker = "_CLARATEACH_SANDBOX_PROCS"
	// UsernsMarker starts the init binary as a placeholder process whose
	// user namespace the runtime opens and keeps (image seats).
	UsernsMarker = "_CLARATEACH_SANDBOX_USERNS"
	// RootConnMarker starts the daemon binary as the helper that serves
	// one root script's connection (fd 3) for an init that is not a Go
	// program (clarateach-seat-pid1): root_linux.go's rootConnMain.
	RootConnMarker = "_CLARATEACH_SANDBOX_ROOTCONN"
)

// Identities and paths inside a seat.
const (
	LearnerUID  = 1000
	LearnerName = "learner"
	// DaemonUID is the workspace daemon's real and saved uid inside the
	// seat (its effective uid is the learner's, for the learner's files):
	// the learner cannot signal or trace a process whose real and saved
	// uids are not its own.
	DaemonUID    = 999
	DaemonName   = "clarateach"
	ListenFD     = 3 // the daemon's listening socket, created by the init
	Home         = "/home/" + LearnerName
	RunDir       = "/run/clarateach"
	DaemonPath   = RunDir + "/workspace"
	LauncherPath = RunDir + "/launcher" // launcher_linux.go
	HostEtc      = RunDir + "/host-etc" // the system's /etc, read-only, behind the seat's own
	// RootSockName is the root socket's name beside the daemon's socket
	// (root_linux.go).
	RootSockName = "root.sock"
)

// Config is what the agent sends the seat init on fd 3.
type Config struct {
	Root      string            `json:"root"`   // host dir: mount point of the new root
	RootFS    string            `json:"rootfs"` // host dir shown read-only as /
	Home      string            `json:"home"`   // host dir mounted at /home/learner
	Sock      string            `json:"sock"`   // host path of the daemon's socket, which the init creates
	Daemon    string            `json:"daemon"` // host path of the daemon binary
	Args      []string          `json:"args"`
	Env       []string          `json:"env"`
	Hostname  string            `json:"hostname"`
	TmpSizeMB int               `json:"tmp_size_mb"`
	Masks     []string          `json:"masks"`
	Etc       map[string]string `json:"etc"` // seat path -> content (generated files)
	Net       *Net              `json:"net,omitempty"`
	Rootless  bool              `json:"rootless,omitempty"`
	// HomeFD, when set, is the inherited fd of the home's detached mount
	// (a disk-limited image), moved onto /home/learner instead of binding
	// Home.
	HomeFD int `json:"home_fd,omitempty"`
	// RootFD, when set, is the inherited fd of the seat's root (an image's
	// overlay, image_linux.go), moved onto Root instead of binding RootFS.
	RootFD int `json:"root_fd,omitempty"`
	// ImageRoot: the root is an image's; /etc is its own, the generated
	// files are written into it after pivot_root.
	ImageRoot bool `json:"image_root,omitempty"`
	// UIDLockFD, when set, is the inherited flock on the seat's host uid
	// range: the init holds it for as long as it lives and passes it on to
	// no one.
	UIDLockFD int `json:"uid_lock_fd,omitempty"`
	// Launcher, when set, is where the init writes the seat launcher
	// (launcher_linux.go) for the daemon's --shell-launcher.
	Launcher string `json:"launcher,omitempty"`
	// LauncherELF is the launcher's executable, for an init that has no
	// copy of its own (clarateach-seat-pid1, package seatpid1); the Go init
	// writes LauncherELF() and ignores it.
	LauncherELF string `json:"-"`
	// Warm: the seat is started ahead of demand and does not know yet
	// whose it will be. Its init keeps reading fd 3 for one Claim and
	// answers it on fd 4.
	Warm bool `json:"warm,omitempty"`
	// LearnerRoot: the learner is root of namespaces of their own
	// (learnerns_linux.go); Launcher is then the root launcher.
	LearnerRoot bool `json:"learner_root,omitempty"`
	// Heartbeat, when set, makes the init end the seat once its agent's
	// heartbeat file is older than the timeout.
	Heartbeat *Heartbeat `json:"heartbeat,omitempty"`
}

// Claim gives a warm seat its identity when Create claims it: the
// hostname and the generated /etc files that name the seat.
type Claim struct {
	Hostname string            `json:"hostname"`
	Etc      map[string]string `json:"etc"`
}

type Net struct {
	Addr    string `json:"addr"` // seat address with prefix, on eth0
	Gateway string `json:"gateway"`
}

// Heartbeat tells a seat's init how to watch its agent.
type Heartbeat struct {
	FD        int   `json:"fd"`
	TimeoutMS int64 `json:"timeout_ms"`
	CheckMS   int64 `json:"check_ms"`
}
