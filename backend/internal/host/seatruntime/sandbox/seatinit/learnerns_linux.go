//go:build linux

package seatinit

// The learner's namespaces (Config.LearnerRoot): the learner is root, but
// of namespaces of their own, nested in the seat's, so that the seat's
// init and daemon stay out of their reach.
//
//   - user: U2, a child of the seat's user namespace mapping all of its
//     uids to themselves (so the image's root-owned files are the
//     learner's to change), owned by the daemon's effective uid (the
//     learner's, 1000): the daemon's root launcher may enter it
//     (rootlauncher_linux.go), the learner's processes have capabilities
//     in it and in nothing of the seat's.
//   - pid: P2, owned by U2. Its pid 1 is the learner's own init (below);
//     the seat's init, daemon and the launchers' parents are in the
//     seat's pid namespace, which the learner cannot see: no pid to
//     signal, trace or open, and kill -9 -1 reaches only their own.
//   - mount: M3, owned by U2, a copy of the seat's with a /proc of P2. A
//     copy made for a less privileged user namespace has every mount
//     locked (mount_namespaces(7)): the learner cannot unmount /proc (to
//     find the seat's below it), their home's file system (to get under
//     its size) or anything else, nor lift read-only, nosuid or nodev.
//
// Making them takes three short-lived steps, in processes started from
// the daemon's binary (every such binary calls Main):
//
//  1. setup, a child of the init in a mount namespace of its own (M2,
//     the seat root's, so its mounts are not locked for it) with /proc
//     shared: it starts the learner's init with CLONE_NEWUSER|NEWPID|NEWNS
//     as uid 1000 (the new user namespace's owner), maps its uids, then
//  2. proc, a child it starts in P2 (setns on a locked thread) as the
//     seat's root, mounts P2's proc on /proc in M2 (mountLearnerProcHere);
//     the mount propagates into M3, where it arrives locked;
//  3. the learner's init ignores every signal (a pid 1 cannot be sent
//     SIGKILL from inside its namespace) and stays.
//
// The seat's init then binds the three namespaces' files into
// LearnerNSDir for the root launcher (reachable from its own mount
// namespace only) and puts a fresh /run over the learner's (seatRun):
// the learner, root over every file of the seat, must find nothing there
// that the daemon or the init runs or trusts.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// LearnerNSDir holds the learner's namespaces' files in the seat's own
// mount namespace (not in the learner's), for the root launcher.
const LearnerNSDir = RunDir + "/learner"

// LearnerNSMarker starts the daemon's binary as one step of making the
// learner's namespaces: "setup", "proc" or "init".
const LearnerNSMarker = "_CLARATEACH_SANDBOX_LEARNERNS"

// learnerIDMap maps the seat's uids (and gids) to themselves.
const learnerIDMap = "0 0 65536\n"

func learnerNSMain(step string) {
	os.Unsetenv(LearnerNSMarker)
	var err error
	switch step {
	case "setup":
		err = learnerNSSetup()
	case "proc":
		err = mountLearnerProcHere()
	case "init":
		learnerInit() // never returns
	default:
		err = fmt.Errorf("unknown step %q", step)
	}
	if err != nil {
		fmt.Printf("error: learner namespaces: %s: %v\n", step, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// learnerNSSetup is step 1: it prints "ok <pid>" (the learner's init's,
// in the seat's pid namespace) on success.
func learnerNSSetup() error {
	if err := mount("", "/proc", "", unix.MS_SHARED, ""); err != nil {
		return err
	}
	goR, goW, err := os.Pipe()
	if err != nil {
		return err
	}
	// The new user namespace belongs to the effective uid that makes it;
	// the real one too, so that the learner's init is dumpable and its
	// uid_map ours to write.
	if err := syscall.Setresuid(LearnerUID, LearnerUID, 0); err != nil {
		return fmt.Errorf("setresuid: %w", err)
	}
	pid, err := syscall.ForkExec(DaemonPath, []string{"learner-init"}, &syscall.ProcAttr{
		Dir:   "/",
		Env:   []string{LearnerNSMarker + "=init"},
		Files: []uintptr{goR.Fd(), 1, 2},
		Sys:   &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNS},
	})
	if rerr := syscall.Setresuid(0, 0, 0); err == nil && rerr != nil {
		err = fmt.Errorf("setresuid back: %w", rerr)
	}
	goR.Close()
	defer goW.Close()
	if err != nil {
		return fmt.Errorf("start the learner's init: %w", err)
	}
	for _, f := range []string{"uid_map", "gid_map"} {
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/%s", pid, f), []byte(learnerIDMap), 0); err != nil {
			return fmt.Errorf("learner's %s: %w", f, err)
		}
	}
	if err := mountLearnerProc(pid); err != nil {
		return err
	}
	if _, err := goW.WriteString("go\n"); err != nil {
		return err
	}
	fmt.Printf("ok %d\n", pid)
	return nil
}

// mountLearnerProc is step 2: a child in the learner's pid namespace,
// still the seat's root, mounts that namespace's proc on /proc.
func mountLearnerProc(initPID int) error {
	errc := make(chan error, 1)
	go func() {
		// setns(CLONE_NEWPID) moves this thread's children only; the
		// thread is never unlocked, so it ends with this goroutine.
		runtime.LockOSThread()
		errc <- func() error {
			fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/pid", initPID), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			if err := unix.Setns(fd, unix.CLONE_NEWPID); err != nil {
				return fmt.Errorf("setns pid: %w", err)
			}
			pid, err := syscall.ForkExec(DaemonPath, []string{"learner-proc"}, &syscall.ProcAttr{
				Dir: "/", Env: []string{LearnerNSMarker + "=proc"}, Files: []uintptr{0, 1, 2},
			})
			if err != nil {
				return err
			}
			var ws syscall.WaitStatus
			if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
				return err
			}
			if ws.ExitStatus() != 0 {
				return fmt.Errorf("mount the learner's /proc: %v", ws)
			}
			return nil
		}()
	}()
	return <-errc
}

// mountLearnerProcHere runs in step 2's process. The mount that
// propagates into the learner's namespace arrives locked only below the
// top of what propagates (mount_namespaces(7)): the top they could
// unmount, and find the seat's /proc under it. So what moves onto /proc
// is an empty tmpfs with this pid namespace's proc over it: unmounting
// /proc then meets the locked proc, and no path leads to the tmpfs.
func mountLearnerProcHere() error {
	dir, err := os.MkdirTemp("/tmp", ".learner-proc-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := mount("tmpfs", dir, "tmpfs", nosuidNodev|unix.MS_NOEXEC|unix.MS_RDONLY, "size=4k,mode=555"); err != nil {
		return err
	}
	// The tmpfs itself, not what will cover it: that is what moves.
	tmp, err := unix.Open(dir, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(tmp)
	if err := mount("proc", dir, "proc", nosuidNodev|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	if err := unix.MoveMount(tmp, "", unix.AT_FDCWD, "/proc", unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move the learner's /proc: %w", err)
	}
	return nil
}

// learnerInit is step 3, pid 1 of the learner's pid namespace (uid 1000
// there, without capabilities). It waits until the namespaces are ready
// and then only holds them: orphans are reaped by the kernel (SIGCHLD
// ignored), and every other signal is ignored too.
func learnerInit() {
	signal.Ignore()
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		os.Exit(1)
	}
	os.Stdin.Close()
	for {
		_ = unix.Pause()
	}
}

// startLearnerNS runs in the seat's init after pivot_root: it makes the
// learner's namespaces (steps above) and binds their files into
// LearnerNSDir.
func startLearnerNS() error {
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	pid, err := syscall.ForkExec(DaemonPath, []string{"learner-setup"}, &syscall.ProcAttr{
		Dir:   "/",
		Env:   []string{LearnerNSMarker + "=setup"},
		Files: []uintptr{0, outW.Fd(), 2},
		Sys:   &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS},
	})
	outW.Close()
	if err != nil {
		outR.Close()
		return fmt.Errorf("learner namespaces: %w", err)
	}
	line, _ := bufio.NewReader(outR).ReadString('\n')
	outR.Close()
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		return fmt.Errorf("learner namespaces: %w", err)
	}
	line = strings.TrimSpace(line)
	initPID, err := strconv.Atoi(strings.TrimPrefix(line, "ok "))
	if !strings.HasPrefix(line, "ok ") || err != nil || ws.ExitStatus() != 0 {
		return fmt.Errorf("learner namespaces: %s (%v)", line, ws)
	}
	return seatRun(initPID)
}

// seatRun puts a fresh /run over the seat's in the init's mount namespace
// (the learner's keeps the old one, where their root may change anything)
// with the daemon's binary, the host's /etc (on the host's root) and the
// learner's namespaces' files; the root launcher is written into it
// later, as the seat launcher is.
func seatRun(initPID int) error {
	var trees []struct {
		fd   int
		path string
	}
	for _, p := range []string{DaemonPath, HostEtc} {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			continue
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, p, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err != nil {
			return fmt.Errorf("clone %s: %w", p, err)
		}
		defer unix.Close(fd)
		trees = append(trees, struct {
			fd   int
			path string
		}{fd, p})
	}
	if err := mount("tmpfs", "/run", "tmpfs", nosuidNodev, "mode=755,size=1m"); err != nil {
		return err
	}
	for _, d := range []string{RunDir, LearnerNSDir, HostEtc} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	for _, t := range trees {
		if t.path == DaemonPath {
			if err := touch(t.path); err != nil {
				return err
			}
		}
		if err := unix.MoveMount(t.fd, "", unix.AT_FDCWD, t.path, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("move %s: %w", t.path, err)
		}
	}
	// Links, not bind mounts (the kernel refuses to bind a mount
	// namespace's file at times); the learner's init lives as long as
	// the namespaces are any use, and a pid of the seat's own reused
	// after it would only make the launcher fail (setns into the
	// namespaces it is in already).
	for _, ns := range []string{"user", "mnt", "pid"} {
		if err := os.Symlink(fmt.Sprintf("/proc/%d/ns/%s", initPID, ns), filepath.Join(LearnerNSDir, ns)); err != nil {
			return err
		}
	}
	return nil
}
