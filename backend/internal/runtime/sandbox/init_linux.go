//go:build linux

package sandbox

// The seat's init: the first process in the seat's namespaces (pid 1 of its
// pid namespace, root of its user namespace). It builds the seat's file
// system and network from the inside, starts the workspace daemon as the
// learner, reports to the agent, and then only reaps orphans. When the
// daemon exits, init exits and the kernel kills the rest of the seat.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// initConfig is what the agent sends the seat init on fd 3.
type initConfig struct {
	Root      string            `json:"root"`   // host dir: mount point of the new root
	RootFS    string            `json:"rootfs"` // host dir shown read-only as /
	Home      string            `json:"home"`   // host dir mounted at /home/learner
	Sock      string            `json:"sock"`   // host dir mounted at /run/clarateach/sock
	Daemon    string            `json:"daemon"` // host path of the daemon binary
	Args      []string          `json:"args"`
	Env       []string          `json:"env"`
	Hostname  string            `json:"hostname"`
	TmpSizeMB int               `json:"tmp_size_mb"`
	Masks     []string          `json:"masks"`
	Etc       map[string]string `json:"etc"` // seat path -> content (generated files)
	Net       *initNet          `json:"net,omitempty"`
	Rootless  bool              `json:"rootless,omitempty"`
	// HomeFD, when set, is the inherited fd of the home's detached mount
	// (a disk-limited image), moved onto /home/learner instead of binding
	// Home.
	HomeFD int `json:"home_fd,omitempty"`
	// Warm: the seat is started ahead of demand and does not know yet
	// whose it will be. Its init keeps reading fd 3 for one initClaim and
	// answers it on fd 4.
	Warm bool `json:"warm,omitempty"`
}

// initClaim gives a warm seat its identity when Create claims it: the
// hostname and the generated /etc files that name the seat.
type initClaim struct {
	Hostname string            `json:"hostname"`
	Etc      map[string]string `json:"etc"`
}

type initNet struct {
	Addr    string `json:"addr"` // seat address with prefix, on eth0
	Gateway string `json:"gateway"`
}

// IsInit reports whether this process was started as a seat init.
func IsInit() bool { return os.Getenv(initMarker) == "1" }

// InitMain runs the seat init and never returns when this process is one
// (IsInit); otherwise it returns at once. Call it first thing in main of
// every binary used as Config.InitPath (by default the workspace daemon).
func InitMain() {
	if !IsInit() {
		return
	}
	debug.SetGCPercent(20)
	cfgFile, status := os.NewFile(3, "seat-config"), os.NewFile(4, "seat-status")
	unix.CloseOnExec(3)
	unix.CloseOnExec(4)
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "seat init: %v\n", err)
		fmt.Fprintf(status, "error: %v\n", err)
		os.Exit(1)
	}
	var cfg initConfig
	dec := json.NewDecoder(cfgFile)
	if err := dec.Decode(&cfg); err != nil {
		fail(fmt.Errorf("read config: %w", err))
	}
	if !cfg.Warm {
		cfgFile.Close()
	}
	if err := setupSeat(&cfg); err != nil {
		fail(err)
	}
	// Nothing started from here on may gain privileges (setuid binaries,
	// file capabilities).
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail(fmt.Errorf("no_new_privs: %w", err))
	}
	cred := &syscall.Credential{Uid: learnerUID, Gid: learnerUID, Groups: []uint32{}}
	if cfg.Rootless {
		cred.NoSetGroups = true
	}
	daemon, err := syscall.ForkExec(seatDaemon, cfg.Args, &syscall.ProcAttr{
		Dir:   seatHome,
		Env:   cfg.Env,
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Credential: cred, Setsid: true},
	})
	if err != nil {
		fail(fmt.Errorf("start daemon: %w", err))
	}
	fmt.Fprintln(status, "ok")
	if cfg.Warm {
		go awaitClaim(dec, cfgFile, status)
	} else {
		status.Close()
	}
	debug.FreeOSMemory()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			os.Exit(1)
		}
		if pid == daemon {
			fmt.Fprintf(os.Stderr, "seat init: daemon exited (%v)\n", ws)
			if ws.Exited() {
				os.Exit(ws.ExitStatus())
			}
			os.Exit(128 + int(ws.Signal()))
		}
	}
}

// awaitClaim applies the one claim a warm seat gets, then closes both
// pipes. If the agent goes away first (EOF), the seat stays unclaimed and
// the next agent removes it.
func awaitClaim(dec *json.Decoder, cfgFile, status *os.File) {
	defer cfgFile.Close()
	defer status.Close()
	var c initClaim
	if err := dec.Decode(&c); err != nil {
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
// files live on /run's tmpfs and are rewritten in place, so the read-only
// binds over /etc see the new content.
func applyClaim(c *initClaim) error {
	if err := unix.Sethostname([]byte(c.Hostname)); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	for target, content := range c.Etc {
		src := filepath.Join(seatEtcDir, filepath.Base(target))
		f, err := os.OpenFile(src, os.O_WRONLY|os.O_TRUNC, 0)
		if errors.Is(err, os.ErrNotExist) {
			continue // the system has no such file: nothing was bound over it
		}
		if err != nil {
			return err
		}
		_, err = f.WriteString(content)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
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

func setupSeat(cfg *initConfig) error {
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

	root := cfg.Root
	// The system, read-only, with everything mounted below it.
	if err := mount(cfg.RootFS, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := setAttr(root, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV, true); err != nil {
		return err
	}
	at := func(p string) string { return filepath.Join(root, p) }
	const nosuidNodev = unix.MS_NOSUID | unix.MS_NODEV

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
	// No nested user namespaces for the learner (they widen the kernel
	// surface a seat can reach); this limit is per user namespace.
	if err := os.WriteFile(at("/proc/sys/user/max_user_namespaces"), []byte("0"), 0o644); err != nil {
		return fmt.Errorf("limit nested user namespaces: %w", err)
	}
	if err := mount("sysfs", at("/sys"), "sysfs", nosuidNodev|unix.MS_NOEXEC|unix.MS_RDONLY, ""); err != nil {
		if err := mount("tmpfs", at("/sys"), "tmpfs", nosuidNodev|unix.MS_NOEXEC|unix.MS_RDONLY, "size=4k,mode=755"); err != nil {
			return err
		}
	}
	if err := setupDev(at("/dev"), cfg.Rootless); err != nil {
		return err
	}
	if err := mount("tmpfs", at("/tmp"), "tmpfs", nosuidNodev, "mode=1777,size="+strconv.Itoa(cfg.TmpSizeMB)+"m"); err != nil {
		return err
	}
	// /run: the daemon binary and its socket directory (shared with the host).
	if err := mount("tmpfs", at("/run"), "tmpfs", nosuidNodev, "mode=755,size=1m"); err != nil {
		return err
	}
	if err := os.MkdirAll(at(seatSockDir), 0o755); err != nil {
		return err
	}
	if err := mount(cfg.Sock, at(seatSockDir), "", unix.MS_BIND, ""); err != nil {
		return err
	}
	if err := setAttr(at(seatSockDir), unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC, false); err != nil {
		return err
	}
	if err := touch(at(seatDaemon)); err != nil {
		return err
	}
	if err := bindFile(cfg.Daemon, at(seatDaemon), unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV); err != nil {
		return err
	}
	// /home: only the learner's own.
	if err := mount("tmpfs", at("/home"), "tmpfs", nosuidNodev, "mode=755,size=16k"); err != nil {
		return err
	}
	if err := os.Mkdir(at(seatHome), 0o755); err != nil {
		return err
	}
	if cfg.HomeFD > 0 {
		if err := moveHome(cfg.HomeFD, at(seatHome)); err != nil {
			return err
		}
	} else if err := mount(cfg.Home, at(seatHome), "", unix.MS_BIND, ""); err != nil {
		return err
	}
	if err := setAttr(at(seatHome), unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV, false); err != nil {
		return err
	}
	// The generated /etc files: written on /run's tmpfs (root-owned, so
	// read-only to the learner), bound read-only over the system's.
	if len(cfg.Etc) > 0 {
		if err := os.Mkdir(at(seatEtcDir), 0o755); err != nil {
			return err
		}
	}
	for target, content := range cfg.Etc {
		if st, err := os.Stat(at(target)); err != nil || !st.Mode().IsRegular() {
			continue
		}
		src := at(filepath.Join(seatEtcDir, filepath.Base(target)))
		if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
			return err
		}
		if err := bindFile(src, at(target), unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV); err != nil {
			return err
		}
	}
	// Switch to the new root and drop the old one entirely.
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("chdir new root: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	return nil
}

// setupDev builds a minimal /dev: a few host device nodes bound in, a
// private devpts, /dev/shm and the usual symlinks.
func setupDev(dev string, rootless bool) error {
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
	for name, target := range map[string]string{
		"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	return nil
}

// setupNet configures the seat's own network namespace: loopback always,
// eth0 (already moved in by the agent) when the seat has a network.
func setupNet(n *initNet) error {
	if err := linkUp("lo"); err != nil {
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
		if err := setIfSysctl("ipv6", ifn, "disable_ipv6", "1"); err != nil {
			return fmt.Errorf("disable ipv6: %w", err)
		}
	}
	if err := addAddr("eth0", addr); err != nil {
		return err
	}
	if err := linkUp("eth0"); err != nil {
		return err
	}
	return addDefaultRoute("eth0", gw)
}
