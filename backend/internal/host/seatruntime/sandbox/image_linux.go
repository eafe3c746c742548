//go:build linux

package sandbox

// Seats on an OCI image (seatruntime.Spec.Image). The agent builds the
// seat's root as an overlay mount, detached, before the init starts:
//
//   - lower: the image's unpacked tree from the host's image cache,
//     cloned (open_tree) and idmapped into the seat's user namespace
//     (mount_setattr MOUNT_ATTR_IDMAP), read-only: the image's root is the
//     seat's root, its uid 1000 the learner;
//   - upper and work: the seat's own, in <seat>/system.img (an ext4 image
//     of the seat's disk size, like the home; made ahead for the image the
//     agent last pulled, layerpool_linux.go) or, without a disk limit,
//     <seat>/system/ on the host's disk. Files there carry the seat's host
//     uids, like the home.
//
// The init inherits the overlay's mount fd and moves it onto the seat's
// root in its own mount namespace (as it does with the home), then builds
// the seat on top as usual; /etc holds the image's files with the seat's
// users merged in, written after pivot_root.

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	systemImage = "system.img" // the seat's upper layer, with a disk limit
	systemDir   = "system"     // the same without one
)

// rootfs builds the seat's root from its image: nothing for a seat on the
// host's root.
func (s *seatStart) rootfs() error {
	if s.w.image == nil {
		return nil
	}
	if s.r.rootless {
		return errors.New("sandbox: seats on an image need the agent to run as root")
	}
	if err := s.r.daemonStatic(); err != nil {
		return err
	}
	ns, err := s.r.userns.get(s.ex.UIDBase, s.r.newUserns)
	if err != nil {
		return err
	}
	lower, err := idmappedTree(s.w.image.RootFS, ns)
	if err != nil {
		return err
	}
	sys, pooled, err := s.r.systemLayer(s.dir, s.w.disk, s.owner, s.w.image.Digest)
	if err != nil {
		s.releaseDetached(lower)
		return err
	}
	root, err := overlayMount(lower, sys)
	s.releaseDetached(lower, sys)
	if err != nil {
		return err
	}
	s.root = os.NewFile(uintptr(root), "seat-root")
	s.always(func() { s.root.Close() })
	s.ex.Image = s.w.image
	s.mark("rootfs")
	if pooled {
		s.mark("rootfs-pooled") // a system layer made ahead (layerpool_linux.go)
	}
	return nil
}

// releaseDetached closes the detached mounts the seat's overlay was made
// from (the image's idmapped clone, the system layer's mount: the overlay
// holds clones of its own), outside the seat's start slot. The last close
// of a detached mount unmounts it, and an unmount waits for an RCU grace
// period (synchronize_rcu_expedited): during a burst of 30 image seats on
// 2 CPUs, ~1.6 ms per seat asleep while holding the start slot the seats
// behind it queue for (bench/images README, 2026-12-06 04:10). The start
// waits for the closes only when it ends, after its slot went to the next
// seat, so none of them outlives the start.
func (s *seatStart) releaseDetached(fds ...int) {
	closeFD := s.r.closeDetached
	if closeFD == nil {
		closeFD = func(fd int) { _ = unix.Close(fd) }
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, fd := range fds {
			closeFD(fd)
		}
	}()
	s.always(func() { <-done })
}

// daemonStatic says why the workspace daemon cannot run in an image: one
// linked dynamically would need the host's libraries, which the image's
// root does not have (exec fails with a bare "no such file or directory").
func (r *Runtime) daemonStatic() error {
	r.staticOnce.Do(func() {
		f, err := elf.Open(r.cfg.DaemonPath)
		if err != nil {
			r.staticErr = fmt.Errorf("sandbox: workspace daemon %s: %w", r.cfg.DaemonPath, err)
			return
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				r.staticErr = fmt.Errorf("sandbox: the workspace daemon %s is linked dynamically: seats on an image need a static one (build it with CGO_ENABLED=0, as make build does)", r.cfg.DaemonPath)
				return
			}
		}
	})
	return r.staticErr
}

// idmappedTree is a detached, read-only, idmapped clone of dir: files
// owned by uid n appear owned by the namespace's uid n.
func idmappedTree(dir string, userns *os.File) (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("sandbox: image %s: %w", dir, err)
	}
	attr := &unix.MountAttr{
		Attr_set:  unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV,
		Userns_fd: uint64(userns.Fd()),
	}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("sandbox: idmap image %s: %w", dir, err)
	}
	return fd, nil
}

// systemLayer opens the directory holding the seat's upper/ and work/:
// the root of its system image, mounted detached (its own, kept from an
// earlier start; else one made ahead for the image digest, pooled; else
// made now), or <seat>/system.
func (r *Runtime) systemLayer(dir string, d *diskLimit, o seatOwner, digest string) (fd int, pooled bool, err error) {
	if d.on() {
		img := filepath.Join(dir, systemImage)
		var m *os.File
		if _, err := os.Lstat(img); errors.Is(err, fs.ErrNotExist) {
			m = r.pooledLayer(img, digest, *d)
		}
		if pooled = m != nil; !pooled {
			if err := r.imageFile(img, *d); err != nil {
				return -1, false, err
			}
			if m, err = mountExt4(img); err != nil {
				return -1, false, fmt.Errorf("sandbox: system image: %w", err)
			}
		}
		// Close-on-exec: an inheritable copy would go to any seat's init
		// spawned meanwhile (and from a Go init to its daemon and shells).
		fd, err = unix.FcntlInt(m.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		m.Close()
		if err != nil {
			return -1, false, err
		}
	} else {
		p := filepath.Join(dir, systemDir)
		if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return -1, false, fmt.Errorf("sandbox: %w", err)
		}
		if fd, err = unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			return -1, false, fmt.Errorf("sandbox: %w", err)
		}
	}
	if err := prepareUpper(fd, o); err != nil {
		unix.Close(fd)
		return -1, false, fmt.Errorf("sandbox: system layer: %w", err)
	}
	return fd, pooled, nil
}

// prepareUpper makes upper/ (the seat root's, like the image's /) and
// work/ (overlay's own). An upper kept from a seat of another slot, or
// made ahead (the host root's), is shifted to this slot's uids.
func prepareUpper(fd int, o seatOwner) error {
	if err := unix.Mkdirat(fd, "work", 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	err := unix.Mkdirat(fd, "upper", 0o755)
	if err == nil {
		return unix.Fchownat(fd, "upper", o.root, o.rootGID, unix.AT_SYMLINK_NOFOLLOW)
	}
	if !errors.Is(err, unix.EEXIST) {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(fd, "upper", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if int(st.Uid) == o.root {
		return nil
	}
	return shiftTree("/proc/self/fd/"+strconv.Itoa(fd)+"/upper", int(st.Uid), o.root)
}

// shiftTree moves every owner in [from, from+idRange) to the same offset
// from to; other owners stay.
func shiftTree(root string, from, to int) error {
	shift := func(id uint32) int {
		if int(id) >= from && int(id) < from+idRange {
			return int(id) - from + to
		}
		return int(id)
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		return os.Lchown(p, shift(st.Uid), shift(st.Gid))
	})
}

// overlayMount mounts the seat's root, detached: lower (the idmapped
// image), sys/upper and sys/work.
func overlayMount(lower, sys int) (int, error) {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("sandbox: fsopen overlay: %w", err)
	}
	defer unix.Close(fsfd)
	fdPath := func(fd int, rest string) string { return "/proc/self/fd/" + strconv.Itoa(fd) + rest }
	for _, o := range [][2]string{
		{"lowerdir", fdPath(lower, "")},
		{"upperdir", fdPath(sys, "/upper")},
		{"workdir", fdPath(sys, "/work")},
	} {
		if err := unix.FsconfigSetString(fsfd, o[0], o[1]); err != nil {
			return -1, fmt.Errorf("sandbox: overlay %s: %w", o[0], err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("sandbox: overlay: %w", err)
	}
	m, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return -1, fmt.Errorf("sandbox: overlay: %w", err)
	}
	return m, nil
}

// imageFile makes the ext4 image at img from the disk template, once.
func (r *Runtime) imageFile(img string, d diskLimit) error {
	if _, err := os.Stat(img); err == nil {
		return nil
	}
	tpl, err := r.images.template(d)
	if err != nil {
		return fmt.Errorf("sandbox: disk image: %w", err)
	}
	if err := copyImage(tpl, img+".tmp"); err != nil {
		os.Remove(img + ".tmp")
		return fmt.Errorf("sandbox: disk image: %w", err)
	}
	return os.Rename(img+".tmp", img)
}

// usernsCache keeps one user namespace per uid range, mapped as a seat of
// that range is: the idmap of an image's tree needs the namespace before
// the seat's init (and its own namespace) exists. A namespace is made once
// per range (Runtime.newUserns) by a process that exits at once; its fd
// keeps it. Seats of different ranges make theirs at the same time (a
// burst of image seats used to wait on one another here); seats of one
// range wait for the one making it.
type usernsCache struct {
	mu sync.Mutex
	ns map[int]*usernsEntry
}

type usernsEntry struct {
	done chan struct{} // closed once f or err is set
	f    *os.File
	err  error
}

func (c *usernsCache) get(base int, mk func(base int) (*os.File, error)) (*os.File, error) {
	c.mu.Lock()
	e := c.ns[base]
	if e == nil {
		if c.ns == nil {
			c.ns = map[int]*usernsEntry{}
		}
		e = &usernsEntry{done: make(chan struct{})}
		c.ns[base] = e
		c.mu.Unlock()
		e.f, e.err = mk(base)
		if e.err != nil {
			c.mu.Lock()
			delete(c.ns, base) // the next seat of the range tries again
			c.mu.Unlock()
		}
		close(e.done)
	} else {
		c.mu.Unlock()
		<-e.done
	}
	if e.err != nil {
		return nil, fmt.Errorf("sandbox: user namespace for uid %d: %w", base, e.err)
	}
	return e.f, nil
}

// usernsAhead is how many uid ranges' user namespaces WarmImage makes
// ahead of a class on an image (at most the runtime's capacity): a class
// of about this size starts on ranges that are made.
const usernsAhead = 32

// prepareUserns makes, in the background, the user namespaces of the uid
// ranges the next seats will take (the free slots from the rotation's
// hint). Without it, each range's first seat on an image makes its own
// while the class waits: the images bench's first burst paid ~18 ms more
// per seat in its rootfs step (33.7 against 14.9-17.9 ms at load 14). A
// range another runtime takes meanwhile only keeps its namespace unused.
func (r *Runtime) prepareUserns() {
	if r.rootless {
		return
	}
	dir := filepath.Join(r.cfg.BaseDir, ".slots")
	r.mu.Lock()
	var bases []int
	for i := 0; i < r.slots && len(bases) < min(r.capacity, usernsAhead); i++ {
		n := (r.next + i) % r.slots
		if _, err := os.Lstat(filepath.Join(dir, strconv.Itoa(n))); err == nil {
			continue // a seat of this runtime has it
		}
		bases = append(bases, r.cfg.UIDBase+n*idRange)
	}
	r.mu.Unlock()
	go func() {
		for _, base := range bases {
			if _, err := r.userns.get(base, r.newUserns); err != nil {
				r.log.Warn("user namespaces for seats on an image: made when the seats start", "err", err)
				return
			}
		}
	}()
}

// UserNamespacesMade is the number of uid ranges whose user namespace is
// made (the images bench waits for prepareUserns with it).
func (r *Runtime) UserNamespacesMade() int {
	return len(r.userns.ready())
}

// ready lists the uid bases whose namespace is made, in increasing order.
func (c *usernsCache) ready() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for base, e := range c.ns {
		select {
		case <-e.done:
			if e.err == nil {
				out = append(out, base)
			}
		default:
		}
	}
	slices.Sort(out)
	return out
}

// newUserns makes a user namespace mapped as a seat with uid base is:
// through the spawner's user-namespace variant, which does not copy the
// agent (a Go fork with CLONE_NEWUSER cannot vfork, and copied the
// agent's page tables: ~11 ms of its CPU per image seat on a new slot),
// else with the init binary started as a placeholder that exits at once.
func (r *Runtime) newUserns(base int) (*os.File, error) {
	if r.usernsSpawner != "" {
		return r.spawnUserns(base)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	defer pw.Close()
	cmd := &exec.Cmd{
		Path:  r.cfg.InitPath,
		Args:  []string{"clarateach-seat-userns"},
		Env:   []string{usernsMarker + "=1", "GOMAXPROCS=1"},
		Stdin: pr,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: base, Size: idRange}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: base, Size: idRange}},
		},
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	f, err := os.Open("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/user")
	pw.Close()
	_ = cmd.Wait()
	return f, err
}

// spawnUserns makes the namespace through the spawner's user-namespace
// variant: its clone (CLONE_PARENT, so our child) waits on the socket in a
// new user namespace and nothing else; we write its id maps, open its
// namespace and close the socket without the byte that would let it go
// on, so it exits (126) having run nothing, and we reap it.
func (r *Runtime) spawnUserns(base int) (*os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, err
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "userns-spawn"), os.NewFile(uintptr(fds[1]), "userns-holder")
	defer ours.Close()
	// "/" as the program: were the holder ever let go on, its exec fails.
	cmd := &exec.Cmd{Path: r.usernsSpawner, Args: []string{"clarateach-seat-userns", "/", "/"}, Dir: "/", Stdin: theirs}
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		return nil, err
	}
	var b [4]byte
	_ = ours.SetReadDeadline(time.Now().Add(r.cfg.ReadyTimeout))
	_, rerr := io.ReadFull(ours, b[:])
	if werr := cmd.Wait(); rerr != nil {
		return nil, fmt.Errorf("spawner: %w (%v)", rerr, werr)
	}
	proc, err := os.FindProcess(int(binary.LittleEndian.Uint32(b[:])))
	if err != nil {
		return nil, err
	}
	err = writeIDMaps(proc.Pid, base)
	var f *os.File
	if err == nil {
		f, err = os.Open("/proc/" + strconv.Itoa(proc.Pid) + "/ns/user")
	}
	ours.Close()
	_, _ = proc.Wait()
	return f, err
}

// imageShell is the learner's shell in an image: the configured one if
// the image has it, else /bin/sh (every accepted image has one).
func imageShell(rootfs, want string) string {
	fd, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "/bin/sh"
	}
	defer unix.Close(fd)
	f, err := unix.Openat2(fd, strings.TrimPrefix(want, "/"), &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return "/bin/sh"
	}
	unix.Close(f)
	return want
}

// imageEnv is the daemon's environment for a seat on an image: the
// image's variables (PATH first of all), then the seat's own, which win
// (HOME, USER, SHELL, TERM, ...).
func imageEnv(seatEnv, image []string, shell string) []string {
	own := map[string]bool{}
	var out []string
	for _, kv := range seatEnv {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "SHELL", learnerMarker:
			v = shell
		case "PATH":
			continue // the image's, or ours below
		}
		own[k] = true
		out = append(out, k+"="+v)
	}
	path := "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range image {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" {
			path = kv
			continue
		}
		if !own[k] && !strings.HasPrefix(k, "_CLARATEACH") {
			out = append(out, kv)
		}
	}
	return append(out, path)
}

// imageArgs is the daemon's command line with the seat's shell.
func imageArgs(args []string, shell string) []string {
	out := append([]string(nil), args...)
	for i := 0; i+1 < len(out); i++ {
		if out[i] == "--shell" && out[i+1] != seatDaemon {
			out[i+1] = shell
		}
	}
	return out
}
