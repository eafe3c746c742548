//go:build linux

package seatinit

// The seat's init: the first process in the seat's namespaces (pid 1 of its
// pid namespace, root of its user namespace). It builds the seat's file
// system and network from the inside, creates the daemon's socket, starts
// the workspace daemon (which takes its own unprivileged identity, see
// becomeDaemon), reports to the agent, and then restarts the daemon
// whenever it dies and reaps orphans.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clarateach/backend/internal/host/netlink"
)

// IsInit reports whether this process was started as a seat init.
func IsInit() bool { return os.Getenv(InitMarker) == "1" }

// Main plays the sandbox's parts inside a seat and returns at once in
// every other process. Call it first thing in main of every binary used as
// sandbox.Config.InitPath (clarateach-seat-init) or DaemonPath (the
// workspace daemon):
//
//   - as a seat's init (IsInit) it never returns;
//   - as the seat's daemon, started as the seat's root, it takes the
//     daemon's identity (real and saved uid DaemonUID, effective uid and
//     gid the learner's, no capabilities) and returns;
//   - started by the daemon to run a program as the learner, it becomes
//     the learner entirely and execs the program (never returns).
func Main() {
	defaultIgnoredSignals()
	if os.Getenv(ProcsMarker) == "1" {
		// The runtime has read it already: this process keeps one P.
		os.Unsetenv("GOMAXPROCS")
		os.Unsetenv(ProcsMarker)
	}
	switch {
	case os.Getenv(DaemonMarker) == "1":
		becomeDaemon()
	case os.Getenv(LearnerMarker) != "":
		execAsLearner()
	case IsInit():
		initMain()
	case os.Getenv(RootConnMarker) == "1":
		rootConnMain()
	case os.Getenv(UsernsMarker) == "1":
		usernsPlaceholder()
	case os.Getenv(LearnerNSMarker) != "":
		learnerNSMain(os.Getenv(LearnerNSMarker))
	}
}

// becomeDaemon drops the seat root's identity for the daemon's: real and
// saved uid DaemonUID, effective uid (and with it file access) the
// learner's. With no uid 0 left the kernel clears every capability, and
// the learner, whose uids are all LearnerUID, can neither signal nor trace
// the daemon.
func becomeDaemon() {
	os.Unsetenv(DaemonMarker)
	fail := func(what string, err error) {
		fmt.Fprintf(os.Stderr, "seat daemon: %s: %v\n", what, err)
		os.Exit(1)
	}
	if err := syscall.Setgroups(nil); err != nil {
		fail("setgroups", err)
	}
	if err := syscall.Setresgid(LearnerUID, LearnerUID, LearnerUID); err != nil {
		fail("setresgid", err)
	}
	if err := syscall.Setresuid(DaemonUID, LearnerUID, DaemonUID); err != nil {
		fail("setresuid", err)
	}
}

// execAsLearner runs in a child of the daemon (real uid DaemonUID,
// effective uid the learner's): it sets all three uids and gids to the
// effective ones, which needs no privilege, and execs the program named by
// LearnerMarker with this process's arguments. A login shell's "-" in
// argv[0] is kept.
func execAsLearner() {
	prog := os.Getenv(LearnerMarker)
	os.Unsetenv(LearnerMarker)
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "seat: run %s: %v\n", prog, err)
		os.Exit(127)
	}
	euid, egid := os.Geteuid(), os.Getegid()
	if err := syscall.Setresgid(egid, egid, egid); err != nil {
		fail(err)
	}
	if err := syscall.Setresuid(euid, euid, euid); err != nil {
		fail(err)
	}
	path, err := exec.LookPath(prog)
	if err != nil {
		fail(err)
	}
	argv := append([]string{path}, os.Args[1:]...)
	if strings.HasPrefix(os.Args[0], "-") {
		argv[0] = "-" + filepath.Base(path)
	}
	if os.Getenv("SHELL") == DaemonPath {
		os.Setenv("SHELL", path) // the daemon's --shell is this wrapper
	}
	fail(syscall.Exec(path, argv, os.Environ()))
}

func initMain() {
	// The config pipe goes through Go's poller (non-blocking): a warm
	// seat's init waits on it for its claim without a thread of its own.
	_ = unix.SetNonblock(3, true)
	cfgFile, status := os.NewFile(3, "seat-config"), os.NewFile(4, "seat-status")
	unix.CloseOnExec(3)
	unix.CloseOnExec(4)
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "seat init: %v\n", err)
		fmt.Fprintf(status, "error: %v\n", err)
		os.Exit(1)
	}
	// The wire format, not JSON (wire.go): decoding JSON by reflection
	// cost every seat's start page faults.
	cfgp, err := ReadConfig(cfgFile)
	if err != nil {
		fail(err)
	}
	cfg := *cfgp
	if !cfg.Warm {
		cfgFile.Close()
	}
	if cfg.UIDLockFD > 0 {
		unix.CloseOnExec(cfg.UIDLockFD)
	}
	if cfg.Heartbeat != nil {
		unix.CloseOnExec(cfg.Heartbeat.FD)
		go watchAgent(cfg.Heartbeat)
	}
	// The daemon's socket, made here (as the seat's root, in a directory
	// only that uid and the host's root can enter) and kept open by the
	// init: a restarted daemon serves the same socket, and connections made
	// meanwhile wait in its backlog.
	ln, err := listenUnix(cfg.Sock)
	if err != nil {
		fail(err)
	}
	// Root scripts (root_linux.go): not in a rootless seat, whose root
	// is the agent's own host uid.
	rootLn := -1
	if !cfg.Rootless {
		if rootLn, err = listenUnix(RootSockPath(cfg.Sock)); err != nil {
			fail(err)
		}
	}
	if err := setupSeat(&cfg); err != nil {
		fail(err)
	}
	if cfg.LearnerRoot {
		// Defence in depth: nothing without the seat's root capabilities
		// may trace the init or open its /proc files.
		if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
			fail(fmt.Errorf("dumpable: %w", err))
		}
	}
	// Nothing started from here on may gain privileges (setuid binaries,
	// file capabilities).
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail(fmt.Errorf("no_new_privs: %w", err))
	}
	sup := &supervisor{cfg: &cfg, ln: ln, restarted: make(chan struct{}, 1)}
	if err := sup.start(); err != nil {
		fail(fmt.Errorf("start daemon: %w", err))
	}
	if rootLn >= 0 {
		go sup.serveRoot(rootLn)
	}
	fmt.Fprintln(status, "ok")
	if cfg.Warm {
		go awaitClaim(cfgFile, status)
	} else {
		status.Close()
	}
	// A small heap from here on (the init then only waits), set only now:
	// at 20 % during the set-up its few hundred KiB of allocations ran
	// garbage collections, and a forced one (debug.FreeOSMemory) here cost
	// page faults and TLB flushes worth more than the memory it gave back.
	debug.SetGCPercent(20)
	sup.reap()
}

// listenUnix creates the daemon's listening socket at path (mode 0600).
func listenUnix(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("daemon socket: %w", err)
	}
	if err := unix.Unlink(path); err != nil && !errors.Is(err, unix.ENOENT) {
		unix.Close(fd)
		return -1, fmt.Errorf("daemon socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("daemon socket: bind %s: %w", path, err)
	}
	if err := unix.Chmod(path, 0o600); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("daemon socket: %w", err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("daemon socket: listen: %w", err)
	}
	return fd, nil
}

// supervisor starts the seat's daemon, restarts it whenever it dies (an
// OOM kill, a crash: the learner cannot signal it), and reaps orphans.
type supervisor struct {
	cfg       *Config
	ln        int
	restarted chan struct{} // a daemon was started after the last one died

	mu  sync.Mutex
	pid int // the running daemon; 0 while none is
	// children are the root scripts running (rootexec_linux.go): the
	// reaper hands each its wait status.
	children map[int]chan syscall.WaitStatus
	since    time.Time
	backoff  time.Duration
	// ownWait: this process is not the seat's pid 1 but a root script
	// helper (rootConnMain), which waits for its scripts itself.
	ownWait bool
}

func (s *supervisor) start() error {
	attr := &syscall.ProcAttr{
		Dir:   Home,
		Env:   daemonProcEnv(s.cfg.Env),
		Files: []uintptr{0, 1, 2, uintptr(s.ln)},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	}
	if s.cfg.Rootless {
		// One mapped uid: the daemon is the learner, as everything is.
		attr.Sys.Credential = &syscall.Credential{Uid: LearnerUID, Gid: LearnerUID, NoSetGroups: true}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pid, err := syscall.ForkExec(DaemonPath, s.cfg.Args, attr)
	if err != nil {
		return err
	}
	s.pid, s.since = pid, time.Now()
	return nil
}

// daemonProcEnv is env with GOMAXPROCS=1 (and ProcsMarker, which makes
// Main take both out again) unless env sets GOMAXPROCS: the daemon's
// Go runtime then starts with the one P it runs on (workspace.Procs)
// instead of two that it gives up after start-up.
func daemonProcEnv(env []string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOMAXPROCS=") {
			return env
		}
	}
	return append(env[:len(env):len(env)], "GOMAXPROCS=1", ProcsMarker+"=1")
}

// restart starts the daemon again after a pause that grows while it keeps
// dying young (50 ms, doubling to 2 s; back to 50 ms once one lived 10 s).
func (s *supervisor) restart(lived time.Duration) {
	s.mu.Lock()
	switch {
	case lived >= 10*time.Second || s.backoff == 0:
		s.backoff = 50 * time.Millisecond
	case s.backoff < 2*time.Second:
		s.backoff *= 2
	}
	wait := s.backoff
	s.mu.Unlock()
	for {
		time.Sleep(wait) // the pause itself: nothing to wait on
		err := s.start()
		if err == nil {
			break
		}
		fmt.Fprintf(os.Stderr, "seat init: restart daemon: %v\n", err)
		wait = 2 * time.Second
	}
	select {
	case s.restarted <- struct{}{}:
	default:
	}
}

// reap waits for every child forever: the daemon is restarted, orphans
// are just reaped. With no child at all (the daemon is between restarts)
// it waits for the next start.
func (s *supervisor) reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.ECHILD) {
			<-s.restarted
			continue
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "seat init: wait: %v\n", err)
			os.Exit(1)
		}
		s.mu.Lock()
		daemon := pid == s.pid
		lived := time.Since(s.since)
		if daemon {
			s.pid = 0
		}
		if ch, ok := s.children[pid]; ok {
			delete(s.children, pid)
			ch <- ws
		}
		s.mu.Unlock()
		if daemon {
			fmt.Fprintf(os.Stderr, "seat init: daemon exited (%v) after %v; restarting it\n", describe(ws), lived.Round(time.Millisecond))
			go s.restart(lived)
		}
	}
}

func describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return "status " + strconv.Itoa(ws.ExitStatus())
}

// awaitClaim applies the one claim a warm seat gets, then closes both
// pipes. If the agent goes away first (EOF), the seat stays unclaimed and
// the next agent removes it.
func awaitClaim(cfgFile, status *os.File) {
	defer cfgFile.Close()
	defer status.Close()
	var c Claim
	if err := json.NewDecoder(cfgFile).Decode(&c); err != nil {
		return
	}
	if err := applyClaim(&c); err != nil {
		fmt.Fprintf(os.Stderr, "seat init: claim: %v\n", err)
		fmt.Fprintf(status, "error: %v\n", err)
		return
	}
	fmt.Fprintln(status, "ok")
}

// applyClaim runs inside the seat, after pivot_root: the generated /etc
// files are the seat's own, on its /etc tmpfs, and are rewritten in place.
func applyClaim(c *Claim) error {
	if err := unix.Sethostname([]byte(c.Hostname)); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	for target, content := range c.Etc {
		if err := os.WriteFile(target, []byte(content), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", target, err)
		}
	}
	return nil
}

func mount(src, target, fstype string, flags uintptr, data string) error {
	if err := unix.Mount(src, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s (%s): %w", src, target, fstype, err)
	}
	return nil
}

func setAttr(path string, attrs uint64, recursive bool) error {
	flags := uint(0)
	if recursive {
		flags = unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(unix.AT_FDCWD, path, flags, &unix.MountAttr{Attr_set: attrs}); err != nil {
		return fmt.Errorf("mount_setattr %s: %w", path, err)
	}
	return nil
}

func bindFile(src, target string, attrs uint64) error {
	if err := mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return err
	}
	return setAttr(target, attrs, false)
}

func touch(p string) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// setupSeat makes the seat's world in the new namespaces, in named steps:
// private mounts, network, host name, the root, the system file systems,
// /run, /home, /etc, then pivot_root into it.
func setupSeat(cfg *Config) error {
	if os.Getenv("CTSB_DEBUG") != "" {
		for _, f := range []string{"/proc/self/uid_map", "/proc/self/status"} {
			b, _ := os.ReadFile(f)
			os.Stderr.Write(b)
		}
	}
	// Nothing we mount may propagate back to the host.
	if err := mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	if err := setupNet(cfg.Net); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	at := func(p string) string { return filepath.Join(cfg.Root, p) }
	for _, step := range []func(*Config, func(string) string) error{
		mountSeatRoot, mountSeatSystem, mountSeatRun, mountSeatHome,
	} {
		if err := step(cfg, at); err != nil {
			return err
		}
	}
	if !cfg.ImageRoot {
		if err := setupEtc(at, cfg.Etc); err != nil {
			return err
		}
	}
	if err := pivotInto(cfg.Root); err != nil {
		return err
	}
	if cfg.ImageRoot {
		if err := writeImageEtc(cfg.Etc); err != nil {
			return err
		}
	}
	if cfg.LearnerRoot {
		if err := startLearnerNS(); err != nil {
			return err
		}
		if err := writeLauncher(cfg.Launcher, RootLauncherELF()); err != nil {
			return err
		}
	}
	// No further user namespaces in the seat (they widen the kernel
	// surface a seat can reach; a root learner has theirs already); this
	// limit is per user namespace.
	if err := os.WriteFile("/proc/sys/user/max_user_namespaces", []byte("0"), 0o644); err != nil {
		return fmt.Errorf("limit nested user namespaces: %w", err)
	}
	return nil
}

// writeLauncher writes a launcher executable (root's, mode 0555).
func writeLauncher(path string, elf []byte) error {
	if path == "" || elf == nil {
		return errors.New("seat launcher: none for this machine")
	}
	if err := os.WriteFile(path, elf, 0o555); err != nil {
		return fmt.Errorf("seat launcher: %w", err)
	}
	return nil
}

// nosuidNodev are the flags of every file system mounted in a seat.
const nosuidNodev = unix.MS_NOSUID | unix.MS_NODEV

// mountSeatRoot mounts the seat's root at cfg.Root: an image's writable
// overlay, or the system read-only.
func mountSeatRoot(cfg *Config, at func(string) string) error {
	root := cfg.Root
	if cfg.RootFD > 0 {
		// An image: the seat's own writable overlay (image_linux.go).
		if err := moveRoot(cfg.RootFD, root); err != nil {
			return err
		}
		return prepareImageRoot(at)
	}
	// The system, read-only, with everything mounted below it.
	if err := mount(cfg.RootFS, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	return setAttr(root, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV, true)
}

// mountSeatSystem hides the masked paths and mounts /proc, /sys, /dev and
// /tmp.
func mountSeatSystem(cfg *Config, at func(string) string) error {
	// Hide the seats' base dir, the agent's state and anything else asked
	// for, before the per-seat mounts (some may sit below a mask).
	for _, m := range cfg.Masks {
		if st, err := os.Stat(at(m)); err == nil && st.IsDir() {
			if err := mount("tmpfs", at(m), "tmpfs", nosuidNodev|unix.MS_NOEXEC|unix.MS_RDONLY, "size=4k,mode=755"); err != nil {
				return err
			}
		}
	}
	if err := mount("proc", at("/proc"), "proc", nosuidNodev|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	if err := mount("sysfs", at("/sys"), "sysfs", nosuidNodev|unix.MS_NOEXEC|unix.MS_RDONLY, ""); err != nil {
		if err := mount("tmpfs", at("/sys"), "tmpfs", nosuidNodev|unix.MS_NOEXEC|unix.MS_RDONLY, "size=4k,mode=755"); err != nil {
			return err
		}
	}
	if err := setupDev(at("/dev"), cfg.Rootless, cfg.LearnerRoot); err != nil {
		return err
	}
	return mount("tmpfs", at("/tmp"), "tmpfs", nosuidNodev, "mode=1777,size="+strconv.Itoa(cfg.TmpSizeMB)+"m")
}

// mountSeatRun mounts /run with the workspace daemon's binary (its socket
// stays outside the seat) and writes the seat launcher.
func mountSeatRun(cfg *Config, at func(string) string) error {
	if err := mount("tmpfs", at("/run"), "tmpfs", nosuidNodev, "mode=755,size=1m"); err != nil {
		return err
	}
	if err := os.Mkdir(at(RunDir), 0o755); err != nil {
		return err
	}
	if err := touch(at(DaemonPath)); err != nil {
		return err
	}
	if err := bindFile(cfg.Daemon, at(DaemonPath), unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV); err != nil {
		return err
	}
	if cfg.Launcher != "" {
		return writeLauncher(at(cfg.Launcher), LauncherELF())
	}
	return nil
}

// mountSeatHome mounts /home with only the learner's own home in it.
func mountSeatHome(cfg *Config, at func(string) string) error {
	if err := mount("tmpfs", at("/home"), "tmpfs", nosuidNodev, "mode=755,size=16k"); err != nil {
		return err
	}
	if err := os.Mkdir(at(Home), 0o755); err != nil {
		return err
	}
	if cfg.HomeFD > 0 {
		if err := moveHome(cfg.HomeFD, at(Home)); err != nil {
			return err
		}
	} else if err := mount(cfg.Home, at(Home), "", unix.MS_BIND, ""); err != nil {
		return err
	}
	return setAttr(at(Home), unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV, false)
}

// pivotInto switches to the new root and drops the old one entirely.
func pivotInto(root string) error {
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("chdir new root: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	return unix.Chdir("/")
}

// setupEtc gives the seat an /etc of its own: a tmpfs holding the
// generated files (passwd, group, hosts, ...) and, for every other entry of
// the system's /etc, a symlink into a read-only bind of it at HostEtc
// (a symlink found there is copied as it is). Nothing in it is a mount
// point on a host file, so the host replacing one (useradd renames a new
// /etc/passwd into place, which detaches every mount on the old file in all
// namespaces) changes nothing in the seat.
func setupEtc(at func(string) string, gen map[string]string) error {
	etc, hostEtc := at("/etc"), at(HostEtc)
	if err := os.Mkdir(hostEtc, 0o755); err != nil {
		return err
	}
	if err := mount(etc, hostEtc, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := setAttr(hostEtc, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV, true); err != nil {
		return err
	}
	entries, err := os.ReadDir(hostEtc)
	if err != nil {
		return err
	}
	if err := mount("tmpfs", etc, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755,size=2m"); err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if _, ok := gen["/etc/"+name]; ok {
			continue
		}
		target := HostEtc + "/" + name
		if e.Type()&fs.ModeSymlink != 0 {
			if target, err = os.Readlink(filepath.Join(hostEtc, name)); err != nil {
				return err
			}
		}
		if err := os.Symlink(target, filepath.Join(etc, name)); err != nil {
			return err
		}
	}
	for target, content := range gen {
		if err := os.WriteFile(at(target), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// setupDev builds a minimal /dev: a few host device nodes bound in, a
// private devpts, /dev/shm and the usual symlinks.
func setupDev(dev string, rootless, learnerRoot bool) error {
	if err := mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=755,size=64k"); err != nil {
		return err
	}
	for _, n := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		p := filepath.Join(dev, n)
		if err := touch(p); err != nil {
			return err
		}
		if err := mount("/dev/"+n, p, "", unix.MS_BIND, ""); err != nil {
			return err
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(filepath.Join(dev, d), 0o755); err != nil {
			return err
		}
	}
	ptsOpts := "newinstance,ptmxmode=0666,mode=0620,gid=5"
	if rootless {
		ptsOpts = "newinstance,ptmxmode=0666,mode=0620"
	}
	if err := mount("devpts", filepath.Join(dev, "pts"), "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, ptsOpts); err != nil {
		return err
	}
	if err := mount("tmpfs", filepath.Join(dev, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=64m"); err != nil {
		return err
	}
	links := map[string]string{
		"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	}
	if learnerRoot {
		// A root learner may replace any file of /dev, but not a mount
		// point: the daemon's ptmx is one.
		delete(links, "ptmx")
		ptmx := filepath.Join(dev, "ptmx")
		if err := touch(ptmx); err != nil {
			return err
		}
		if err := mount(filepath.Join(dev, "pts/ptmx"), ptmx, "", unix.MS_BIND, ""); err != nil {
			return err
		}
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	return nil
}

// setupNet configures the seat's own network namespace: loopback always,
// eth0 (already moved in by the agent) when the seat has a network.
func setupNet(n *Net) error {
	if err := netlink.LinkUp("lo"); err != nil {
		return err
	}
	if n == nil {
		return nil
	}
	addr, err := netip.ParsePrefix(n.Addr)
	if err != nil {
		return err
	}
	gw, err := netip.ParseAddr(n.Gateway)
	if err != nil {
		return err
	}
	// No IPv6 on eth0 (loopback keeps ::1): nothing would route it, and a
	// link-local address must not reach the host.
	for _, ifn := range []string{"default", "eth0"} {
		if err := netlink.SetIfSysctl("ipv6", ifn, "disable_ipv6", "1"); err != nil {
			return fmt.Errorf("disable ipv6: %w", err)
		}
	}
	if err := netlink.AddAddr("eth0", addr); err != nil {
		return err
	}
	if err := netlink.LinkUp("eth0"); err != nil {
		return err
	}
	return netlink.AddDefaultRoute("eth0", gw)
}
