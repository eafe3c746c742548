//go:build linux

package sandbox

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatinit"
)

// spawnerName is the seat spawner's file in the base directory, and
// usernsSpawnerName its variant that makes only a user namespace.
const (
	spawnerName       = ".spawn"
	usernsSpawnerName = ".spawn-userns"
)

// writeSpawner writes the seat spawner (seatinit's spawner_linux.go) into
// the base directory, where a root runtime starts every seat's init
// through it, and its user-namespace variant, through which it makes the
// user namespaces of seats on an image (usernsCache). Rootless, or where
// there is no spawner for the machine, the agent forks the init itself
// (Runtime.spawner stays empty).
func (r *Runtime) writeSpawner() error {
	elf := seatinit.SpawnerELF()
	if r.rootless || elf == nil {
		return nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(r.cfg.BaseDir, &st); err != nil {
		return fmt.Errorf("sandbox: seat spawner: %w", err)
	}
	if st.Flags&unix.ST_NOEXEC != 0 {
		r.log.Info("the base directory is on a noexec mount: seats start without the seat spawner, each by a fork of the agent", "dir", r.cfg.BaseDir)
		return nil
	}
	p, err := r.writeExec(spawnerName, elf)
	if err != nil {
		return err
	}
	r.spawner = p
	if elf := seatinit.UsernsSpawnerELF(); elf != nil {
		if r.usernsSpawner, err = r.writeExec(usernsSpawnerName, elf); err != nil {
			return err
		}
	}
	return nil
}

// writeExec writes an executable into the base directory as a new file
// renamed into place: another agent on this base directory may be
// executing the old one.
func (r *Runtime) writeExec(name string, elf []byte) (string, error) {
	p := filepath.Join(r.cfg.BaseDir, name)
	tmp, err := os.CreateTemp(r.cfg.BaseDir, name+".*")
	if err != nil {
		return "", fmt.Errorf("sandbox: seat spawner: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(elf)
	cerr := tmp.Close()
	if err := firstErr(werr, cerr, os.Chmod(tmp.Name(), 0o500), os.Rename(tmp.Name(), p)); err != nil {
		return "", fmt.Errorf("sandbox: seat spawner: %w", err)
	}
	return p, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// spawnInit starts the seat's init: through the seat spawner where there
// is one, else with a fork of the agent (Go's, with the namespaces and id
// maps in attr).
func (s *seatStart) spawnInit(argv, env []string, logf *os.File, files []*os.File, attr *syscall.SysProcAttr) (*os.Process, error) {
	if s.r.spawner == "" {
		cmd := &exec.Cmd{
			Path: s.initPath, Args: argv, Env: env, Dir: "/",
			Stdout: logf, Stderr: logf, ExtraFiles: files, SysProcAttr: attr,
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return cmd.Process, nil
	}
	return s.spawnThrough(argv, env, logf, files, attr)
}

// spawnThrough starts the init through the seat spawner: the spawner
// (an ordinary spawn, which does not copy the agent) clones the init in
// its new namespaces as the agent's child and tells us its pid; we write
// its id maps and let it go on. attr's cgroup (v2) is the spawner's and so
// the init's; its namespaces and ids are the spawner's to make.
func (s *seatStart) spawnThrough(argv, env []string, logf *os.File, files []*os.File, attr *syscall.SysProcAttr) (*os.Process, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("seat spawner: %w", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil { // ours, with deadlines
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, fmt.Errorf("seat spawner: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "seat-spawn"), os.NewFile(uintptr(fds[1]), "seat-spawn-init")
	// Closing ours before the init has its byte makes it exit (126).
	defer ours.Close()
	cmd := &exec.Cmd{
		Path: s.r.spawner, Args: append([]string{"clarateach-seat-spawn", s.initPath}, argv...),
		Env: env, Dir: "/", Stdin: theirs, Stdout: logf, Stderr: logf, ExtraFiles: files,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true, UseCgroupFD: attr.UseCgroupFD, CgroupFD: attr.CgroupFD},
	}
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		return nil, fmt.Errorf("seat spawner: %w", err)
	}
	var b [4]byte
	_ = ours.SetReadDeadline(time.Now().Add(s.r.cfg.ReadyTimeout))
	_, rerr := io.ReadFull(ours, b[:])
	if werr := cmd.Wait(); rerr != nil {
		return nil, fmt.Errorf("seat spawner: %w (%v)", rerr, werr)
	}
	proc, err := os.FindProcess(int(binary.LittleEndian.Uint32(b[:])))
	if err != nil {
		return nil, fmt.Errorf("seat spawner: %w", err)
	}
	err = writeIDMaps(proc.Pid, s.ex.UIDBase)
	if err == nil {
		if _, err = ours.Write([]byte{0}); err == nil {
			return proc, nil
		}
	}
	_ = proc.Kill()
	_, _ = proc.Wait()
	return nil, fmt.Errorf("seat spawner: id maps of %d: %w", proc.Pid, err)
}

// writeIDMaps maps the seat's uid and gid range onto pid's new user
// namespace (0 is host uid base), as Go's fork does for UidMappings and
// GidMappings with GidMappingsEnableSetgroups.
func writeIDMaps(pid, base int) error {
	line := []byte(fmt.Sprintf("0 %d %d\n", base, idRange))
	for _, m := range []string{"uid_map", "gid_map"} {
		f, err := os.OpenFile(fmt.Sprintf("/proc/%d/%s", pid, m), os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.Write(line)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
	}
	return nil
}
