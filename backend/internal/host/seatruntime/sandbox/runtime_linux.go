//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clarateach/backend/internal/egress"
	"github.com/clarateach/backend/internal/host/netlink"
	"github.com/clarateach/backend/internal/host/procinfo"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatinit"
)

// Runtime is the sandbox seat seatruntime. It is safe for concurrent use.
type Runtime struct {
	cfg      Config
	log      *slog.Logger
	rootless bool // not root: single-uid mapping, no network
	network  bool
	subnet   netip.Prefix
	blocked  []netip.Prefix
	cgroups  *cgroupSet // nil: no limits (rootless without delegation)
	prio     *startPrio // CPU weights of seats being started; nil without cgroups
	capacity int        // most seats at once (MaxSeats, or slots)
	slots    int        // slot numbers: uid ranges (and /30s), shared host-wide
	masks    []string
	// spawner is the seat spawner, or "": the agent forks each seat's
	// init itself (spawner_linux.go).
	spawner string
	// usernsSpawner is the spawner's user-namespace variant, or "": the
	// agent forks a placeholder for each uid range's namespace.
	usernsSpawner string

	starts chan struct{} // bounds seats being started at once
	pool   *warmPool     // nil without warm seats
	beat   *heartbeat    // nil without an orphan timeout
	images *diskImages   // nil: seats have no disk limit
	homes  *homePool     // blank homes made ahead; nil without a disk limit
	layers *layerPool    // system layers made ahead for an image; nil without a disk limit
	// starting counts the seat starts in progress (start_linux.go): the
	// system layers are made ahead only while there is none.
	starting atomic.Int32
	userns   usernsCache // per uid range, for seats on an image
	// closeDetached closes a detached mount an image seat's overlay was
	// made from (releaseDetached); nil: unix.Close. Tests hold it.
	closeDetached func(fd int)
	// staticOnce/staticErr: whether the daemon can run in an image
	// (daemonStatic).
	staticOnce sync.Once
	staticErr  error

	// health keeps the seat watcher's connection to each seat's daemon
	// open between checks (Alive).
	health seatruntime.HealthClients

	mu   sync.Mutex
	next int // allocation hint
}

var _ seatruntime.Runtime = (*Runtime)(nil)

// extra is the runtime-specific part of a persisted seat.
type extra struct {
	Slot      int         `json:"slot"`
	StartTime uint64      `json:"start_time"` // of Seat.PID, clock ticks since boot
	UIDBase   int         `json:"uid_base"`
	Veth      string      `json:"veth,omitempty"`
	Cgroup    *seatCgroup `json:"cgroup,omitempty"`
	Key       string      `json:"key"`
	Disk      *diskLimit  `json:"disk,omitempty"`
	// Image: the seat runs on an OCI image (image_linux.go).
	Image *seatruntime.Image `json:"image,omitempty"`
	// LearnerRoot: the learner is root of namespaces of their own
	// (seatinit's learnerns_linux.go).
	LearnerRoot bool `json:"learner_root,omitempty"`
	// Egress: the seat's own allow rules ("CIDR[:port]", egress_linux.go),
	// kept so a repair in place opens them again.
	Egress []string `json:"egress,omitempty"`
}

// New checks the configuration and the machine and returns a seatruntime. With
// networking on (root), it installs the seat firewall rules.
func New(cfg Config) (*Runtime, error) {
	if cfg.DaemonPath == "" || cfg.BaseDir == "" {
		return nil, errors.New("sandbox: DaemonPath and BaseDir are required")
	}
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	r := &Runtime{cfg: cfg, log: cfg.Logger, starts: make(chan struct{}, cfg.MaxParallelStarts)}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.log = r.log.With("runtime", Name)
	// Named steps, in order; none leaves anything to undo (the directories
	// stay for the next start, and what runs in the background starts
	// last).
	for _, step := range []struct {
		name string
		run  func() error
	}{
		{"dirs", r.prepareBaseDir},
		{"access", r.checkAccess},
		{"spawner", r.writeSpawner},
		{"slots", r.planSlots},
		{"cgroups", r.setupCgroups},
		{"disk", func() error { return wrap(r.checkDisk()) }},
		{"firewall", r.installFirewallAtStart},
		{"heartbeat", r.startHeartbeat},
	} {
		if err := step.run(); err != nil {
			r.log.Debug("sandbox runtime set-up failed", "step", step.name, "err", err)
			return nil, err
		}
	}
	if err := r.startHomePool(cfg.MaxParallelStarts); err != nil {
		return nil, fmt.Errorf("sandbox: disk: %w", err)
	}
	if err := r.startLayerPool(); err != nil {
		r.homes.close()
		return nil, fmt.Errorf("sandbox: disk: %w", err)
	}
	r.startPool()
	return r, nil
}

// wrap prefixes a set-up error with the package name (nil stays nil).
func wrap(err error) error {
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	return nil
}

// withDefaults fills cfg's defaults and checks what cannot work.
func withDefaults(cfg Config) (Config, error) {
	if cfg.InitPath == "" {
		cfg.InitPath = cfg.DaemonPath
	}
	if cfg.Shell == "" {
		cfg.Shell = "/bin/bash"
		if _, err := os.Stat(filepath.Join(orRoot(cfg.RootFS), "bin/bash")); err != nil {
			cfg.Shell = "/bin/sh"
		}
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MemoryMB, 512)
	def(&cfg.VCPUs, 1)
	def(&cfg.PidsMax, 512)
	def(&cfg.TmpSizeMB, 256)
	def(&cfg.UIDBase, 1<<30)
	if cfg.DiskMB == 0 {
		cfg.DiskMB = DefaultDiskMB
	}
	if cfg.UIDBase%idRange != 0 {
		return cfg, fmt.Errorf("sandbox: UIDBase %d is not a multiple of %d", cfg.UIDBase, idRange)
	}
	if cfg.UIDLockDir == "" {
		cfg.UIDLockDir = uidLockDir
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = "/clarateach"
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 15 * time.Second
	}
	if cfg.Network.Subnet == "" {
		cfg.Network.Subnet = "10.222.0.0/16"
	}
	if cfg.Network.Blocked == nil {
		cfg.Network.Blocked = egress.Blocked
	}
	if cfg.MaxParallelStarts <= 0 {
		cfg.MaxParallelStarts = 2 * runtime.NumCPU()
	}
	return cfg, nil
}

// prepareBaseDir makes the paths absolute and creates the base directory
// with its slot locks and the seats' shared root mount point, and the uid
// lock directory.
func (r *Runtime) prepareBaseDir() error {
	var err error
	for _, p := range []*string{&r.cfg.DaemonPath, &r.cfg.InitPath, &r.cfg.PID1Path, &r.cfg.BaseDir} {
		if *p == "" {
			continue
		}
		if *p, err = filepath.Abs(*p); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(r.cfg.BaseDir, 0o711); err != nil {
		return fmt.Errorf("sandbox: base dir: %w", err)
	}
	if r.cfg.BaseDir, err = filepath.EvalSymlinks(r.cfg.BaseDir); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(r.cfg.BaseDir, ".slots"), 0o700); err != nil {
		return fmt.Errorf("sandbox: base dir: %w", err)
	}
	// One empty mount point for every seat's new root: each seat mounts on
	// it only in its own mount namespace, so they never see each other's,
	// and no seat pays for creating (and deleting) its own.
	if err := os.MkdirAll(filepath.Join(r.cfg.BaseDir, rootDirName), 0o755); err != nil {
		return fmt.Errorf("sandbox: base dir: %w", err)
	}
	r.rootless = os.Geteuid() != 0
	if !r.rootless {
		if err := os.MkdirAll(r.cfg.UIDLockDir, 0o700); err != nil {
			return fmt.Errorf("sandbox: uid lock dir: %w", err)
		}
	}
	return nil
}

// checkAccess checks that the seat's init, which runs as an unprivileged
// host uid, can reach its binaries and the base directory, the root file
// system (or the paths masked in the host's), and the namespaces.
func (r *Runtime) checkAccess() error {
	for _, c := range []struct {
		path string
		mode fs.FileMode
	}{{r.cfg.InitPath, 0o005}, {r.cfg.DaemonPath, 0o005}, {r.cfg.PID1Path, 0o005}, {r.cfg.BaseDir, 0o001}} {
		if c.path == "" {
			continue
		}
		if err := othersCanReach(c.path, c.mode); err != nil && !r.rootless {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	if r.cfg.RootFS != "" {
		if st, err := os.Stat(r.cfg.RootFS); err != nil || !st.IsDir() {
			return fmt.Errorf("sandbox: rootfs %q is not a directory", r.cfg.RootFS)
		}
	} else {
		for _, m := range append([]string{r.cfg.BaseDir}, r.cfg.MaskPaths...) {
			if p, err := filepath.EvalSymlinks(m); err == nil {
				r.masks = append(r.masks, p)
			}
		}
	}
	if err := checkNamespaces(); err != nil {
		return fmt.Errorf("sandbox: %w: %w", ErrUnsupported, err)
	}
	return nil
}

// planSlots sizes the seat slots: one /30 of the subnet and one uid range
// each.
func (r *Runtime) planSlots() error {
	cfg := r.cfg
	r.slots = (1<<31 - cfg.UIDBase) / idRange
	if r.slots <= 0 {
		return errors.New("sandbox: UIDBase leaves no room for seats")
	}
	r.network = !r.rootless && !cfg.Network.Disabled
	if r.network {
		var err error
		if r.subnet, err = netip.ParsePrefix(cfg.Network.Subnet); err != nil || !r.subnet.Addr().Is4() || r.subnet.Bits() > 30 {
			return fmt.Errorf("sandbox: subnet %q must be an IPv4 prefix of /30 or larger", cfg.Network.Subnet)
		}
		r.subnet = r.subnet.Masked()
		if n := 1 << (30 - r.subnet.Bits()); n < r.slots {
			r.slots = n
		}
		for _, b := range cfg.Network.Blocked {
			p, err := netip.ParsePrefix(b)
			if err != nil {
				return fmt.Errorf("sandbox: blocked range %q: %w", b, err)
			}
			r.blocked = append(r.blocked, p.Masked())
		}
	}
	r.capacity = r.slots
	if cfg.MaxSeats > 0 && cfg.MaxSeats < r.capacity {
		r.capacity = cfg.MaxSeats
	}
	return nil
}

// setupCgroups finds and prepares the cgroup hierarchy; without root,
// seats run without limits.
func (r *Runtime) setupCgroups() error {
	if cs, err := detectCgroups(r.cfg.CgroupParent); err != nil {
		if !r.rootless {
			return fmt.Errorf("sandbox: cgroups: %w", err)
		}
		r.log.Warn("seats run without cgroup limits", "reason", err)
	} else if err := cs.prepare(); err != nil {
		if !r.rootless {
			return fmt.Errorf("sandbox: cgroups: %w", err)
		}
		r.log.Warn("seats run without cgroup limits", "reason", err)
	} else {
		r.cgroups = cs
		r.prio = newStartPrio(cs)
	}
	if r.rootless {
		r.log.Warn("not root: seats have no network (loopback only) and a single mapped uid")
	}
	return nil
}

// installFirewallAtStart installs the seats' firewall (unless the caller
// manages it).
func (r *Runtime) installFirewallAtStart() error {
	if !r.network || r.cfg.Network.SkipFirewall {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.InstallFirewall(ctx); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	return nil
}

// Name implements seatruntime.Runtime.
func (r *Runtime) Name() string { return Name }

// Capacity is the number of seats this runtime can hold at once.
func (r *Runtime) Capacity() int { return r.capacity }

// NetworkEnabled reports whether seats get a network (else loopback only).
func (r *Runtime) NetworkEnabled() bool { return r.network }

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// othersCanReach checks that path has the given "other" permission bits
// and that every parent directory is searchable by others.
func othersCanReach(path string, mode fs.FileMode) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&mode != mode {
		return fmt.Errorf("%s must be accessible to other users (mode %v): the seat's init runs as an unprivileged uid", path, st.Mode().Perm())
	}
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("directory %s must be searchable by other users (o+x): the seat's init runs as an unprivileged uid", d)
		}
		if d == "/" {
			return nil
		}
	}
}

// checkNamespaces reports whether this kernel lets us create the seat's
// namespaces.
func checkNamespaces() error {
	for _, ns := range []string{"user", "pid", "mnt", "uts", "ipc", "net"} {
		if _, err := os.Stat("/proc/self/ns/" + ns); err != nil {
			return fmt.Errorf("kernel lacks %s namespaces", ns)
		}
	}
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil && strings.TrimSpace(string(b)) == "0" {
		return errors.New("user namespaces are disabled (user.max_user_namespaces=0)")
	}
	return nil
}

// validWorkshopID: 1 to 64 of [A-Za-z0-9_.-], starting with a letter or
// digit, without "..". Checked by hand, not with a regexp: this package
// is in the seat binary, and a package-level regexp.MustCompile of this
// pattern (the {0,63} repeat unrolled) cost every start of it, the
// learner wrapper's at each shell included, ~860 allocations.
func validWorkshopID(id string) bool {
	if len(id) == 0 || len(id) > 64 || strings.Contains(id, "..") {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func seatKey(spec seatruntime.Spec) (string, error) {
	if !validWorkshopID(spec.WorkshopID) {
		return "", fmt.Errorf("sandbox: invalid workshop id %q", spec.WorkshopID)
	}
	if spec.Seat < 0 || spec.Seat > 1<<20 {
		return "", fmt.Errorf("sandbox: invalid seat %d", spec.Seat)
	}
	return spec.WorkshopID + "-" + strconv.Itoa(spec.Seat), nil
}

// allocSlot reserves a free slot with an O_EXCL file in <base>/.slots, so
// that allocations survive agent restarts without any other state, and
// (as root) the slot's host uid range, host-wide: the returned lock file is
// flock'ed, and the seat's init inherits it and holds the lock for as long
// as it lives. Another runtime on the host (another agent, a test) skips a
// range whose lock is held, so no two live seats ever share a uid.
//
// A seat on an image (onImage) first tries the free slots whose user
// namespace is already made (usernsCache): the idmap of the image needs
// one per range, and making it is a process of its own, so a class on an
// image reuses the ranges of earlier image seats instead of a new one at
// each start. Other seats take the slots in rotation.
func (r *Runtime) allocSlot(key string, onImage bool) (int, *os.File, error) {
	dir := filepath.Join(r.cfg.BaseDir, ".slots")
	// Slot numbers are host-wide (other runtimes hold some), so MaxSeats
	// counts this runtime's slots rather than bounding the numbers.
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.capacity < r.slots {
		if held, err := os.ReadDir(dir); err == nil && len(held) >= r.capacity {
			return 0, nil, seatruntime.ErrCapacity
		}
	}
	if onImage && !r.rootless {
		for _, base := range r.userns.ready() {
			n := (base - r.cfg.UIDBase) / idRange
			if n < 0 || n >= r.slots {
				continue
			}
			if lock, ok, err := r.takeSlot(dir, n, key); err != nil || ok {
				return n, lock, err
			}
		}
	}
	for i := 0; i < r.slots; i++ {
		n := (r.next + i) % r.slots
		lock, ok, err := r.takeSlot(dir, n, key)
		if err != nil {
			return 0, nil, err
		}
		if ok {
			r.next = n + 1
			return n, lock, nil
		}
	}
	return 0, nil, seatruntime.ErrCapacity
}

// takeSlot reserves slot n for key if it is free (ok), with its uid lock.
// The host-wide uid lock is taken first and the slot's file made after it,
// so a file in .slots always names a seat that holds its slot: made first,
// a slot whose range another runtime held had a file naming key until it
// was removed again (TestSlotFileOnlyForAHeldRange).
func (r *Runtime) takeSlot(dir string, n int, key string) (lock *os.File, ok bool, err error) {
	lock, err = r.lockUIDs(n)
	if errors.Is(err, errUIDsTaken) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	p := filepath.Join(dir, strconv.Itoa(n))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		closeLock(lock)
		if errors.Is(err, os.ErrExist) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("sandbox: slot: %w", err)
	}
	_, err = f.WriteString(key)
	f.Close()
	if err != nil {
		closeLock(lock)
		_ = os.Remove(p)
		return nil, false, fmt.Errorf("sandbox: slot: %w", err)
	}
	return lock, true, nil
}

// closeLock lets go of a uid lock from lockUIDs (nil when rootless).
func closeLock(lock *os.File) {
	if lock != nil {
		lock.Close()
	}
}

func (r *Runtime) releaseSlot(n int, key string) {
	p := filepath.Join(r.cfg.BaseDir, ".slots", strconv.Itoa(n))
	if b, err := os.ReadFile(p); err == nil && string(b) == key {
		_ = os.Remove(p)
	}
}

var errUIDsTaken = errors.New("uid range in use")

// lockUIDs takes the host-wide lock on slot n's uid range (nil when
// rootless: there is no range). errUIDsTaken: a live seat of some runtime
// on this host has it.
func (r *Runtime) lockUIDs(n int) (*os.File, error) {
	if r.rootless {
		return nil, nil
	}
	p := filepath.Join(r.cfg.UIDLockDir, strconv.Itoa(r.cfg.UIDBase+n*idRange))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sandbox: uid lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errUIDsTaken
		}
		return nil, fmt.Errorf("sandbox: uid lock %s: %w", p, err)
	}
	return f, nil
}

// slotAddrs returns the host and seat addresses of slot n.
func (r *Runtime) slotAddrs(n int) (host, seat netip.Prefix) {
	base := r.subnet.Addr().As4()
	v := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	v += uint32(n) * 4
	mk := func(x uint32) netip.Prefix {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}), 30)
	}
	return mk(v + 1), mk(v + 2)
}

// seatWant is what a seat is started or claimed as.
type seatWant struct {
	workshop, key    string
	seat             int
	vcpus, mem, pids int
	disk             *diskLimit // nil: no limit
	image            *seatruntime.Image
	learnerRoot      bool
}

func (w seatWant) limits() limits {
	return limits{memoryBytes: int64(w.mem) << 20, cpuQuotaUS: int64(w.vcpus) * cpuPeriodUS, pidsMax: w.pids}
}

// Create implements seatruntime.Runtime. With warm seats configured it claims
// one (a rename and a few writes) and only starts a seat from scratch when
// none is ready.
func (r *Runtime) Create(ctx context.Context, spec seatruntime.Spec) (*seatruntime.Seat, error) {
	key, err := seatKey(spec)
	if err != nil {
		return nil, err
	}
	w := seatWant{workshop: spec.WorkshopID, key: key, seat: spec.Seat, vcpus: spec.VCPUs, mem: spec.MemoryMB, pids: spec.PidsMax, image: spec.Image, learnerRoot: spec.LearnerRoot}
	if w.vcpus <= 0 {
		w.vcpus = r.cfg.VCPUs
	}
	if w.mem <= 0 {
		w.mem = r.cfg.MemoryMB
	}
	if w.pids <= 0 {
		w.pids = r.cfg.PidsMax
	}
	if w.learnerRoot && !r.rootLauncher() {
		return nil, errors.New("sandbox: learner root needs a root runtime on amd64 (it has no root launcher here)")
	}
	w.disk = r.diskFor(spec.DiskMB, spec.DiskInodes)
	if w.disk.on() && w.disk.MB < minDiskMB {
		return nil, fmt.Errorf("sandbox: a seat's disk must be at least %d MiB, not %d", minDiskMB, w.disk.MB)
	}
	s, err := r.create(ctx, w)
	if err != nil || len(spec.Egress) == 0 {
		return s, err
	}
	if err := r.openEgress(ctx, s, spec.Egress); err != nil {
		_ = r.Stop(context.WithoutCancel(ctx), s) // keeps the home (a kept one may be back)
		return nil, err
	}
	return s, nil
}

// create starts the seat, from the warm pool when there is one.
func (r *Runtime) create(ctx context.Context, w seatWant) (*seatruntime.Seat, error) {
	if r.pool == nil {
		s, _, err := r.start(ctx, w, false)
		return s, err
	}
	r.pool.demand()
	if s, ok := r.claimWarm(ctx, w, false); ok {
		return s, nil
	}
	s, _, err := r.start(ctx, w, false)
	if errors.Is(err, seatruntime.ErrCapacity) {
		// Every slot is taken, some by warm seats still starting: wait
		// for one of those instead.
		if s, ok := r.claimWarm(ctx, w, true); ok {
			return s, nil
		}
	}
	return s, err
}

// hostNet creates the seat's veth pair (the peer goes straight into the
// seat's network namespace as eth0) and configures the host end.
func (r *Runtime) hostNet(veth string, pid int, hostAddr netip.Prefix) error {
	if err := netlink.CreateVeth(veth, "eth0", pid); err != nil {
		return err
	}
	// No IPv6 on the host end (no link-local address a seat could use to
	// reach the host), strict reverse-path filtering (no spoofing of other
	// seats' addresses).
	if err := netlink.SetIfSysctl("ipv6", veth, "disable_ipv6", "1"); err != nil {
		return err
	}
	if err := netlink.SetIfSysctl("ipv4", veth, "rp_filter", "1"); err != nil {
		return err
	}
	if err := netlink.AddAddr(veth, hostAddr); err != nil {
		return err
	}
	return netlink.LinkUp(veth)
}

// seatOwner are the host ids owning a seat's directory (its root's) and
// home (its learner's).
type seatOwner struct{ root, rootGID, learner, learnerGID int }

// prepareDir lays out the seat's host directory:
//
//	<dir>           owned by the seat's root uid, mode 0700: no other seat's
//	                uid (nor this seat's learner) can enter it
//	<dir>/home      the learner's files (owned by the learner's host uid)
//	<dir>/sock      the daemon's socket directory (the seat root's, 0700;
//	                the init creates the socket; the agent, root, dials it)
//	<dir>/seat.log  the seat init's and daemon's stdout/stderr
//
// With a disk limit (withHome false) the home is an image file instead,
// made by mountHomeImage.
func (r *Runtime) prepareDir(dir string, o seatOwner, withHome bool) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("sandbox: seat dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chown(dir, o.root, o.rootGID); err != nil {
		return fmt.Errorf("sandbox: chown seat dir: %w", err)
	}
	if withHome {
		if err := prepareHomeDir(filepath.Join(dir, "home"), o.learner, o.learnerGID); err != nil {
			return err
		}
	}
	sockDir := filepath.Join(dir, "sock")
	if err := os.Mkdir(sockDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("sandbox: sock dir: %w", err)
	}
	if err := os.Chmod(sockDir, 0o700); err != nil {
		return err
	}
	if err := os.Chown(sockDir, o.root, o.rootGID); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(sockDir, sockName))
	return nil
}

// prepareHomeDir makes the learner's home directory (no disk limit).
func prepareHomeDir(home string, uid, gid int) error {
	if err := os.Mkdir(home, 0o755); err == nil {
		if err := os.Chown(home, uid, gid); err != nil {
			return fmt.Errorf("sandbox: chown home: %w", err)
		}
	} else if errors.Is(err, os.ErrExist) {
		// A kept home from an earlier seat may carry another slot's uids.
		if st, err := os.Stat(home); err == nil && int(st.Sys().(*syscall.Stat_t).Uid) != uid {
			if err := chownTree(home, uid, gid); err != nil {
				return fmt.Errorf("sandbox: chown home: %w", err)
			}
		}
	} else {
		return fmt.Errorf("sandbox: home: %w", err)
	}
	return nil
}

// daemonArgs is the daemon's command line: it serves the socket the init
// made (fd 3) and, as root, starts shells through the learner wrapper
// (InitMain with learnerMarker), which drops the daemon's real uid.
func (r *Runtime) daemonArgs() []string {
	args := append(append([]string{seatDaemon}, r.cfg.DaemonArgs...),
		"--listen", "fd:"+strconv.Itoa(listenFD), "--root", seatHome)
	switch {
	case r.rootless: // the daemon is the learner already
		return append(args, "--shell", r.cfg.Shell)
	case r.launcher():
		return append(args, "--shell", r.cfg.Shell, "--shell-launcher", seatLauncher)
	default: // the daemon binary is the launcher (learnerMarker)
		return append(args, "--shell", seatDaemon)
	}
}

// launcher reports whether seats get the seat launcher (launcher_linux.go)
// for the learner's shells: as root, where there is one for this machine.
func (r *Runtime) launcher() bool { return !r.rootless && seatinit.LauncherELF() != nil }

// rootLauncher reports whether seats can have a root learner (the root
// launcher, seatinit's rootlauncher_linux.go, and a full uid range).
func (r *Runtime) rootLauncher() bool { return r.launcher() && seatinit.RootLauncherELF() != nil }

func (r *Runtime) daemonEnv() []string {
	env := []string{"HOME=" + seatHome, "USER=" + learnerName, "LOGNAME=" + learnerName, "SHELL=" + r.cfg.Shell,
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm-256color", "LANG=C.UTF-8"}
	if !r.rootless {
		env = append(env, daemonMarker+"=1")
		if !r.launcher() {
			env = append(env, learnerMarker+"="+r.cfg.Shell)
		}
	}
	return append(env, r.cfg.DaemonEnv...)
}

// hostname is a seat's host name. A warm seat is made with the name of
// the seat number it is meant for, and renamed if claimed under another.
func hostname(seat int) string {
	return "seat-" + strconv.Itoa(seat)
}

// etcFiles are the seat's generated /etc files (seat path -> content). The
// init writes them on its own tmpfs and binds them read-only over the
// system's: nothing per seat on the host's disk.
func (r *Runtime) etcFiles(host string) map[string]string {
	return r.etcFilesFor(host, r.cfg.Shell)
}

// etcFilesFor is etcFiles with the learner's login shell.
func (r *Runtime) etcFilesFor(host, shell string) map[string]string {
	files := map[string]string{
		"/etc/passwd": "root:x:0:0:root:/root:/bin/sh\n" +
			fmt.Sprintf("%s:x:%d:%d:Learner:%s:%s\n", learnerName, learnerUID, learnerUID, seatHome, shell) +
			fmt.Sprintf("%s:x:%d:%d:workspace daemon:/nonexistent:/usr/sbin/nologin\n", daemonName, daemonUID, learnerUID) +
			"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"/etc/group":    fmt.Sprintf("root:x:0:\ntty:x:5:\n%s:x:%d:\nnogroup:x:65534:\n", learnerName, learnerUID),
		"/etc/hosts":    "127.0.0.1\tlocalhost\n127.0.1.1\t" + host + "\n::1\tlocalhost ip6-localhost ip6-loopback\n",
		"/etc/hostname": host + "\n",
	}
	if r.network && len(r.cfg.Network.DNS) > 0 {
		var b strings.Builder
		for _, ns := range r.cfg.Network.DNS {
			fmt.Fprintf(&b, "nameserver %s\n", ns)
		}
		files["/etc/resolv.conf"] = b.String()
	}
	return files
}

func chownTree(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// waitReady waits until the daemon answers GET /health on sock. The init
// made the socket before the daemon started, so a request waits in its
// backlog until the daemon serves it; one that fails (the seat is still
// being built, the daemon died and is being restarted) is retried.
func waitReady(ctx context.Context, sock string, deadline time.Time, exited <-chan struct{}) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	c := seatruntime.UnixClient(sock)
	delay := 200 * time.Microsecond
	for {
		err := seatruntime.DaemonHealth(ctx, c, "http://workspace")
		if err == nil {
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("daemon not ready: %w", err)
		case <-exited:
			t.Stop()
			return errors.New("seat exited before its daemon was ready")
		case <-t.C:
		}
		if delay < 10*time.Millisecond {
			delay *= 2
		}
	}
}

func tailFile(p string, n int64) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return strings.TrimSpace(string(bytes.ToValidUTF8(b, nil)))
}

func parseExtra(s *seatruntime.Seat) (*extra, error) {
	ex := &extra{}
	if len(s.Extra) == 0 {
		return nil, errors.New("sandbox: seat has no runtime state")
	}
	if err := json.Unmarshal(s.Extra, ex); err != nil {
		return nil, fmt.Errorf("sandbox: seat state: %w", err)
	}
	return ex, nil
}

// Alive implements seatruntime.Runtime: the seat's init is the same process
// (pid and start time) and its daemon answers GET /health.
func (r *Runtime) Alive(ctx context.Context, s *seatruntime.Seat) bool {
	ex, err := parseExtra(s)
	if err != nil || !procinfo.Running(s.PID, ex.StartTime) {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return r.health.Check(ctx, s.Address) == nil
}

// kill ends what runs of seat s (its init, and with it the seat's pid
// namespace) and drops the seat watcher's connection to its daemon.
func (r *Runtime) kill(s *seatruntime.Seat, ex *extra) {
	if procinfo.Running(s.PID, ex.StartTime) {
		_ = syscall.Kill(s.PID, syscall.SIGKILL)
	}
	r.health.Forget(s.Address)
}

// Destroy implements seatruntime.Runtime. It kills every process of the seat
// (its pid namespace dies with its init; the cgroup is swept as well),
// removes its cgroups, network interface and slot, and, unless KeepDirs,
// its directory. A seat that is already gone is not an error.
func (r *Runtime) Destroy(ctx context.Context, s *seatruntime.Seat) error {
	ex, err := parseExtra(s)
	if err != nil {
		return err
	}
	r.kill(s, ex)
	err = r.cleanup(ctx, ex, s.Dir, !r.cfg.KeepDirs)
	if r.pool != nil {
		r.pool.poke() // a slot may be free for a warm seat again
	}
	return err
}

// Repair implements seatruntime.Repairer: it kills what is left of the seat,
// frees its slot, cgroups and veth but keeps its directory (the learner's
// home, or home image), and starts it again from scratch (never from a warm
// seat: those have no home of their own). The last run's log is kept as
// seat.log.prev.
func (r *Runtime) Repair(ctx context.Context, s *seatruntime.Seat) (*seatruntime.Seat, error) {
	ex, err := parseExtra(s)
	if err != nil {
		return nil, err
	}
	r.kill(s, ex)
	if err := r.cleanup(ctx, ex, s.Dir, false); err != nil {
		return nil, err
	}
	_ = os.Rename(filepath.Join(s.Dir, "seat.log"), filepath.Join(s.Dir, "seat.log.prev"))
	w := seatWant{workshop: s.WorkshopID, key: ex.Key, seat: s.Seat, vcpus: s.VCPUs, mem: s.MemoryMB, pids: r.cfg.PidsMax, disk: ex.Disk, image: ex.Image, learnerRoot: ex.LearnerRoot}
	if w.key == "" || filepath.Join(r.cfg.BaseDir, w.key) != s.Dir {
		return nil, fmt.Errorf("sandbox: seat %s/%d: state does not name its directory", s.WorkshopID, s.Seat)
	}
	ns, _, err := r.start(ctx, w, false)
	if err != nil || len(ex.Egress) == 0 {
		return ns, err
	}
	rules, err := egress.ParseRules(ex.Egress)
	if err == nil {
		err = r.openEgress(ctx, ns, rules)
	}
	if err != nil {
		_ = r.Stop(context.WithoutCancel(ctx), ns) // never lose the home
		return nil, err
	}
	return ns, nil
}

func (r *Runtime) cleanup(ctx context.Context, ex *extra, dir string, removeDir bool) error {
	var errs []error
	if ex.Cgroup != nil {
		if r.prio != nil {
			r.prio.leave(ex.Key, nil, false)
		}
		ex.Cgroup.kill()
		deadline := time.Now().Add(10 * time.Second)
		delay := time.Millisecond
		for {
			err := ex.Cgroup.remove()
			if err == nil {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				errs = append(errs, err)
				break
			}
			ex.Cgroup.kill()
			time.Sleep(delay) // polling the kernel's teardown; no event to wait on
			if delay < 20*time.Millisecond {
				delay *= 2
			}
		}
	}
	if ex.Veth != "" {
		if err := netlink.DeleteLink(ex.Veth); err != nil {
			errs = append(errs, err)
		}
	}
	if len(ex.Egress) > 0 {
		if err := r.closeEgress(ctx, ex.Key); err != nil {
			errs = append(errs, err)
		}
	}
	if ex.Key != "" {
		r.releaseSlot(ex.Slot, ex.Key)
	}
	if dir != "" && filepath.Dir(dir) == r.cfg.BaseDir {
		_ = os.Remove(filepath.Join(dir, "sock", sockName))
		if removeDir {
			if err := removeSeatDir(dir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// removeSeatDir deletes a seat directory, refusing if anything is mounted
// on its root mount point in the host's view (mounts normally exist only in
// the seat's own mount namespace).
func removeSeatDir(dir string) error {
	var a, b unix.Stat_t
	if unix.Stat(dir, &a) == nil && unix.Stat(filepath.Join(dir, "root"), &b) == nil && a.Dev != b.Dev {
		return fmt.Errorf("sandbox: %s/root is a mount point; not removing", dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("sandbox: remove seat dir: %w", err)
	}
	return nil
}
