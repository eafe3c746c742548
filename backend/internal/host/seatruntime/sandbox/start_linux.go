//go:build linux

package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clarateach/backend/internal/host/netlink"
	"github.com/clarateach/backend/internal/host/procinfo"
	"github.com/clarateach/backend/internal/host/seatruntime"
)

// A seat's start is a list of named steps, the way the firecracker SDK
// runs its handler lists. Each step may push cleanups on the start's
// stack: always (a file the init has its own copy of) or only on failure
// (undoing what the step made). When start returns, the stack runs in
// reverse order, the failure-only entries only when a step failed.
var startSteps = []struct {
	name string
	run  func(*seatStart) error
}{
	{"queue", (*seatStart).queue},
	{"slot", (*seatStart).allocSlot},
	{"cgroups", (*seatStart).cgroup},
	{"dirs", (*seatStart).dirs},
	{"disk", (*seatStart).disk},
	{"rootfs", (*seatStart).rootfs},
	{"config", (*seatStart).config},
	{"pipes", (*seatStart).pipes},
	{"spawn", (*seatStart).spawn},
	{"join", (*seatStart).join},
	{"network", (*seatStart).network},
	{"configure", (*seatStart).configure},
	{"init", (*seatStart).waitInit},
	{"ready", (*seatStart).waitReady},
}

// seatStart is one start in progress: what the steps share.
type seatStart struct {
	r         *Runtime
	ctx       context.Context
	w         seatWant
	warm      bool
	dir, sock string

	stack []cleanup

	t0      time.Time
	timings []any
	release func() // gives the start slot back (idempotent)
	prio    uint64 // the start's number for its CPU weight (startprio_linux.go)
	prioOn  bool

	slot     int
	uidLock  *os.File
	ex       *extra
	owner    seatOwner
	cleanDir string // the seat directory, once this start prepared it
	home     *os.File
	root     *os.File // a seat on an image: its root (image_linux.go)
	ic       initConfig
	hostAddr netip.Prefix
	seatAddr netip.Prefix

	initPath   string   // the init's binary: cfg.InitPath, or cfg.PID1Path (choosePID1)
	initName   string   // its argv[0]
	cfgR, cfgW *os.File // the init's configuration
	stR, stW   *os.File // the init's status
	exited     chan struct{}
	pid        int
	status     *bufio.Reader
	deadline   time.Time
}

type cleanup struct {
	fn            func()
	onFailureOnly bool
}

// always pushes fn, run when start returns.
func (s *seatStart) always(fn func()) { s.stack = append(s.stack, cleanup{fn: fn}) }

// onFailure pushes fn, run when a later step (or this one) fails.
func (s *seatStart) onFailure(fn func()) {
	s.stack = append(s.stack, cleanup{fn: fn, onFailureOnly: true})
}

func (s *seatStart) unwind(failed bool) {
	for i := len(s.stack) - 1; i >= 0; i-- {
		if c := s.stack[i]; failed || !c.onFailureOnly {
			c.fn()
		}
	}
}

func (s *seatStart) mark(step string) {
	s.timings = append(s.timings, step, time.Since(s.t0).Round(10*time.Microsecond))
}

// start starts a seat from scratch. A warm seat (warm) gets a generic
// hostname and keeps its init's pipes open, in the returned warmSeat, for
// the claim that will name it.
func (r *Runtime) start(ctx context.Context, w seatWant, warm bool) (*seatruntime.Seat, *warmSeat, error) {
	r.starting.Add(1)
	defer func() {
		if r.starting.Add(-1) == 0 {
			r.layers.poke() // refill once the burst is over
		}
	}()
	dir := filepath.Join(r.cfg.BaseDir, w.key)
	s := &seatStart{r: r, ctx: ctx, w: w, warm: warm, dir: dir, sock: filepath.Join(dir, "sock", sockName)}
	if len(s.sock) > 107 {
		return nil, nil, fmt.Errorf("sandbox: socket path %q is too long for a unix socket; use a shorter BaseDir", s.sock)
	}
	for _, step := range startSteps {
		if err := step.run(s); err != nil {
			r.log.Debug("seat start failed", "seat", w.key, "step", step.name, "err", err)
			s.unwind(true)
			return nil, nil, err
		}
	}
	seat, ws := s.result()
	s.unwind(false)
	if s.prioOn {
		seq, key := s.prio, w.key
		time.AfterFunc(settleAfter, func() { r.prio.leave(key, &seq, true) })
	}
	return seat, ws, nil
}

// queue waits for a start slot. Starting a seat is CPU-bound; past a few
// at once they only slow each other down. Waiting in line (FIFO) makes a
// burst of 30 finish in order instead of all at the end. The slot is
// given back once the init has built the seat (waitInit): the daemon's
// own start-up then overlaps with the next seat's instead of holding a
// slot idle while we wait for its socket.
func (s *seatStart) queue() error {
	tq := time.Now()
	select {
	case s.r.starts <- struct{}{}:
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
	var once sync.Once
	s.release = func() { once.Do(func() { <-s.r.starts }) }
	s.always(s.release)
	s.t0 = time.Now()
	s.timings = []any{"queued", s.t0.Sub(tq).Round(10 * time.Microsecond)}
	return nil
}

// allocSlot takes the seat's slot (its uid range and addresses). From
// here a failure undoes the seat: its process, cgroup, link, slot and,
// once prepared, its socket.
func (s *seatStart) allocSlot() error {
	slot, uidLock, err := s.r.allocSlot(s.w.key, s.w.image != nil)
	if err != nil {
		return err
	}
	s.slot, s.uidLock = slot, uidLock
	if uidLock != nil {
		// The init holds it from its start; ours goes once it has its copy
		// (or the start failed: the range is free again).
		s.always(func() { uidLock.Close() })
	}
	s.ex = &extra{Slot: slot, Key: s.w.key}
	s.onFailure(func() { s.r.cleanup(context.Background(), s.ex, s.cleanDir, false) })
	s.owner = seatOwner{root: os.Geteuid(), learner: os.Geteuid(), rootGID: os.Getegid(), learnerGID: os.Getegid()}
	if !s.r.rootless {
		s.ex.UIDBase = s.r.cfg.UIDBase + slot*idRange
		s.owner = seatOwner{root: s.ex.UIDBase, learner: s.ex.UIDBase + learnerUID, rootGID: s.ex.UIDBase, learnerGID: s.ex.UIDBase + learnerUID}
	}
	return nil
}

// cgroup creates the seat's cgroup, first: it fails if a seat of that
// name is running. A seat whose socket answers is running too.
func (s *seatStart) cgroup() error {
	if s.r.cgroups != nil {
		cg, err := s.r.cgroups.create(s.w.key, s.w.limits())
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		s.ex.Cgroup = cg
		if s.r.prio != nil && !s.warm {
			// A warm seat is started in the background: no priority.
			s.prio, s.prioOn = s.r.prio.enter(s.w.key), true
		}
	}
	s.mark("cgroups")
	if c, err := net.DialTimeout("unix", s.sock, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("sandbox: seat %s is already running", s.w.key)
	}
	return nil
}

func (s *seatStart) dirs() error {
	if err := s.r.prepareDir(s.dir, s.owner, !s.w.disk.on()); err != nil {
		return err
	}
	s.cleanDir = s.dir
	s.mark("dirs")
	return nil
}

// disk mounts the seat's home file system, with its disk limit. The
// seat's mount namespace holds it from its init's fd; ours goes.
func (s *seatStart) disk() error {
	if !s.w.disk.on() {
		return nil
	}
	home, pooled, err := s.r.mountHomeImage(s.dir, *s.w.disk, s.owner.learner, s.owner.learnerGID)
	if err != nil {
		return err
	}
	s.home = home
	s.always(func() { home.Close() })
	s.ex.Disk = s.w.disk
	s.mark("disk")
	if pooled {
		s.mark("disk-pooled") // a blank home made ahead (homepool_linux.go)
	}
	return nil
}

// config is what the init is told, and the seat's addresses.
func (s *seatStart) config() error {
	r := s.r
	s.ic = initConfig{
		Root:      filepath.Join(r.cfg.BaseDir, rootDirName),
		RootFS:    orRoot(r.cfg.RootFS),
		Home:      filepath.Join(s.dir, "home"),
		Sock:      s.sock,
		Daemon:    r.cfg.DaemonPath,
		Args:      r.daemonArgs(),
		Env:       r.daemonEnv(),
		Hostname:  hostname(s.w.seat),
		TmpSizeMB: r.cfg.TmpSizeMB,
		Masks:     r.masks,
		Rootless:  r.rootless,
		Etc:       r.etcFiles(hostname(s.w.seat)),
		Warm:      s.warm,
	}
	if img := s.w.image; img != nil {
		shell := imageShell(img.RootFS, r.cfg.Shell)
		s.ic.Args, s.ic.Env = imageArgs(s.ic.Args, shell), imageEnv(s.ic.Env, img.Env, shell)
		s.ic.Etc, s.ic.ImageRoot = r.etcFilesFor(hostname(s.w.seat), shell), true
	}
	if r.launcher() {
		s.ic.Launcher = seatLauncher
	}
	s.ic.LearnerRoot, s.ex.LearnerRoot = s.w.learnerRoot, s.w.learnerRoot
	s.choosePID1()
	if r.network {
		s.hostAddr, s.seatAddr = r.slotAddrs(s.slot)
		s.ic.Net = &initNet{Addr: s.seatAddr.String(), Gateway: s.hostAddr.Addr().String()}
		s.ex.Veth = vethPrefix + strconv.Itoa(s.slot)
		_ = netlink.DeleteLink(s.ex.Veth) // a leftover from a crash
	}
	return nil
}

// pipes opens the init's configuration and status pipes. The init's ends
// are closed once it has its copies (spawn; closing an *os.File twice is
// harmless); ours go on failure, or with a warm seat's claim.
func (s *seatStart) pipes() error {
	var err error
	if s.cfgR, s.cfgW, err = os.Pipe(); err != nil {
		return err
	}
	s.always(func() { s.cfgR.Close() })
	s.onFailure(func() { s.cfgW.Close() })
	if s.stR, s.stW, err = os.Pipe(); err != nil {
		return err
	}
	s.always(func() { s.stW.Close() })
	s.onFailure(func() { s.stR.Close() })
	return nil
}

// spawn starts the seat's init in its new namespaces, in its own session
// and process group, with no parent-death signal: the seat outlives the
// agent. A failure from here kills it. The init is the agent's child
// either way (spawner_linux.go).
func (s *seatStart) spawn() error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "seat.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	s.always(func() { logf.Close() })
	attr, err := s.procAttr()
	if err != nil {
		return err
	}
	extraFiles, err := s.extraFiles()
	if err != nil {
		return err
	}
	proc, err := s.spawnInit([]string{s.initName, s.w.key},
		[]string{initMarker + "=1", "GOMAXPROCS=1"}, logf, extraFiles, attr)
	s.cfgR.Close()
	s.stW.Close()
	if err != nil {
		return fmt.Errorf("sandbox: start seat init: %w", err)
	}
	s.exited = make(chan struct{})
	go func() {
		_, _ = proc.Wait() // reap it while this agent lives
		close(s.exited)
	}()
	s.onFailure(func() {
		_ = proc.Kill()
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
		}
	})
	s.pid = proc.Pid
	s.mark("started")
	return nil
}

// procAttr is the init's namespaces, id mappings and cgroup.
func (s *seatStart) procAttr() (*syscall.SysProcAttr, error) {
	attr := &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID |
			syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWNET,
		Setsid: true,
	}
	if s.r.rootless {
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: learnerUID, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: learnerUID, HostID: os.Getegid(), Size: 1}}
	} else {
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: s.ex.UIDBase, Size: idRange}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: s.ex.UIDBase, Size: idRange}}
		attr.GidMappingsEnableSetgroups = true
		// Become the namespace's root (host uid UIDBase) before exec; as the
		// host's root we would be unmapped there and lose every capability.
		attr.Credential = &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}}
	}
	if s.ex.Cgroup != nil && s.ex.Cgroup.V2 {
		fd, err := unix.Open(s.ex.Cgroup.Dirs[0], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("sandbox: open cgroup: %w", err)
		}
		s.always(func() { unix.Close(fd) })
		attr.UseCgroupFD, attr.CgroupFD = true, fd
	}
	return attr, nil
}

// extraFiles are the fds the init inherits (3, 4, ...): its pipes, its
// home, its uid lock and the agent's heartbeat; the init is told which
// is which.
func (s *seatStart) extraFiles() ([]*os.File, error) {
	files := []*os.File{s.cfgR, s.stW}
	if s.home != nil {
		files = append(files, s.home)
		s.ic.HomeFD = 3 + len(files) - 1
	}
	if s.root != nil {
		files = append(files, s.root)
		s.ic.RootFD = 3 + len(files) - 1
	}
	if s.uidLock != nil {
		files = append(files, s.uidLock)
		s.ic.UIDLockFD = 3 + len(files) - 1
	}
	if s.r.beat != nil {
		f, err := s.r.beat.open()
		if err != nil {
			return nil, err
		}
		s.always(func() { f.Close() })
		files = append(files, f)
		s.ic.Heartbeat = &initHeartbeat{FD: 3 + len(files) - 1, TimeoutMS: s.r.cfg.OrphanTimeout.Milliseconds(), CheckMS: s.r.beat.every.Milliseconds()}
	}
	return files, nil
}

// join records the init's identity and, on cgroup v1, moves it into the
// seat's cgroup (v2 starts it there).
func (s *seatStart) join() error {
	var err error
	if s.ex.StartTime, err = procinfo.StartTime(s.pid); err != nil {
		return fmt.Errorf("sandbox: seat init: %w", err)
	}
	if s.ex.Cgroup != nil && !s.ex.Cgroup.V2 {
		if err := s.ex.Cgroup.join(s.pid); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	s.mark("joined")
	return nil
}

func (s *seatStart) network() error {
	if s.r.network {
		if err := s.r.hostNet(s.ex.Veth, s.pid, s.hostAddr); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	s.mark("network")
	return nil
}

// configure sends the init its configuration. A warm seat's pipe stays
// open for its claim.
func (s *seatStart) configure() error {
	msg, err := s.ic.MarshalBinary()
	if err == nil {
		_, err = s.cfgW.Write(msg)
	}
	if err != nil {
		return fmt.Errorf("sandbox: configure seat init: %w", err)
	}
	if !s.warm {
		s.cfgW.Close()
	}
	return nil
}

// waitInit waits for the init's "ok": the seat is built. Its start slot
// goes to the next seat.
func (s *seatStart) waitInit() error {
	s.deadline = time.Now().Add(s.r.cfg.ReadyTimeout)
	if d, ok := s.ctx.Deadline(); ok && d.Before(s.deadline) {
		s.deadline = d
	}
	_ = s.stR.SetReadDeadline(s.deadline)
	s.status = bufio.NewReader(s.stR)
	line, _ := s.status.ReadString('\n')
	s.mark("init-done")
	if st := strings.TrimSpace(line); st != "ok" {
		rest, _ := io.ReadAll(io.LimitReader(s.status, 4096))
		if st = strings.TrimSpace(st + "\n" + string(rest)); st == "" {
			st = "seat init exited"
		}
		return fmt.Errorf("sandbox: seat %s: %s (log: %s)", s.w.key, st, tailFile(filepath.Join(s.dir, "seat.log"), 2048))
	}
	s.release()
	return nil
}

// waitReady waits for the seat's daemon to answer on its socket.
func (s *seatStart) waitReady() error {
	if err := waitReady(s.ctx, s.sock, s.deadline, s.exited); err != nil {
		return fmt.Errorf("sandbox: seat %s: %w (log: %s)", s.w.key, err, tailFile(filepath.Join(s.dir, "seat.log"), 512))
	}
	s.mark("ready")
	s.r.log.Debug("seat created", append([]any{"seat", s.w.key, "pid", s.pid}, s.timings...)...)
	return nil
}

// result is the started seat; a warm one keeps its init's pipes.
func (s *seatStart) result() (*seatruntime.Seat, *warmSeat) {
	raw, _ := json.Marshal(s.ex)
	seat := &seatruntime.Seat{
		WorkshopID: s.w.workshop,
		Seat:       s.w.seat,
		Runtime:    Name,
		VCPUs:      s.w.vcpus,
		MemoryMB:   s.w.mem,
		PID:        s.pid,
		Dir:        s.dir,
		CreatedAt:  time.Now().UTC(),
		Network:    "unix",
		Address:    s.sock,
		Extra:      raw,
	}
	if s.r.network {
		seat.IP = s.seatAddr.Addr().String()
	}
	if s.ex.Disk != nil {
		seat.DiskMB = s.ex.Disk.MB
	}
	if s.warm {
		return seat, &warmSeat{seat: seat, ex: s.ex, cfgW: s.cfgW, stR: s.stR, status: s.status}
	}
	s.stR.Close()
	return seat, nil
}
