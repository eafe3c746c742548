// Package firecracker is the production seat runtime: each seat is a
// Firecracker microVM on a KVM host. The seat boots a shared read-only base
// image plus a small sparse per-seat disk, gets a TAP device on the bridge
// fcbr0 and the address 192.168.100.(10+seat), and runs the workspace daemon,
// which the agent reaches at 192.168.100.(10+seat):7000.
//
// The VMM is driven through its API socket (package fcapi); the host network
// is set up by package hostnet. See README.md for the host requirements,
// boot arguments, disk layout and firewall rules.
package firecracker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/egress"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/host/seatruntime/firecracker/fcapi"
	"github.com/clarateach/backend/internal/host/seatruntime/firecracker/hostnet"
)

// Name is the runtime's name.
const Name = "firecracker"

// Defaults.
const (
	DefaultVCPUs           = 2
	DefaultMemoryMB        = 512
	DefaultSeatDiskMB      = 2048
	DefaultDaemonPort      = 7000
	DefaultStateDir        = "/var/lib/clarateach/firecracker"
	DefaultLogDir          = "/var/log"
	DefaultGuestInit       = "/sbin/clarateach-init"
	DefaultDNS             = "1.1.1.1"
	DefaultBootTimeout     = 60 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
	// MaxSeat keeps 192.168.100.(10+slot) a valid host address: a host
	// holds at most this many seats at once.
	MaxSeat = 240
	// GuestIPOffset: the seat in slot N is 192.168.100.(GuestIPOffset+N).
	GuestIPOffset = 10
)

// Config configures the seatruntime. Kernel and BaseImage are required.
type Config struct {
	Kernel    string // uncompressed guest kernel (vmlinux)
	BaseImage string // shared read-only root filesystem image (ext4), never copied or written
	Binary    string // firecracker executable for the default launcher; default "firecracker"

	StateDir string // per-seat directories (API socket, seat disk, seat.json); default /var/lib/clarateach/firecracker
	LogDir   string // firecracker-<workshop>-<seat>.log goes here; default /var/log

	VCPUs      int // default 2
	MemoryMB   int // default 512
	SeatDiskMB int // apparent size of the sparse per-seat disk; default 2048
	DaemonPort int // workspace daemon port in the guest; default 7000
	MaxSeats   int // live seats on this host before ErrCapacity; 0 = no limit but MaxSeat

	GuestInit     string // init= for the guest; default /sbin/clarateach-init
	DNS           string // nameserver handed to the guest via ip=; default 1.1.1.1
	ExtraBootArgs string // appended to the kernel command line

	BootTimeout     time.Duration // launch to daemon /health answering; default 60s
	ShutdownTimeout time.Duration // SendCtrlAltDel to SIGKILL; default 10s

	Network hostnet.Config // bridge fcbr0, 192.168.100.1/24 by default

	// Launcher starts Firecracker; its Binary defaults to Binary.
	Launcher ExecLauncher
	// Dial reaches the workspace daemon (for the health check); default a
	// net.Dialer. Tests redirect it.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// NetRunner runs ip/iptables; default hostnet.Exec.
	NetRunner hostnet.Runner
	Logger    *slog.Logger
}

// Runtime implements seatruntime.Runtime with Firecracker microVMs.
type Runtime struct {
	cfg  Config
	net  *hostnet.Net
	log  *slog.Logger
	http *http.Client

	netMu    sync.Mutex
	netReady bool

	seatMu sync.Mutex
	seats  map[string]*sync.Mutex // per-seat locks
}

var (
	_ seatruntime.Runtime  = (*Runtime)(nil)
	_ seatruntime.Repairer = (*Runtime)(nil)
)

// New checks cfg and returns a seatruntime. It touches nothing on the host; the
// bridge and firewall are set up by the first Create (or by SetupNetwork).
func New(cfg Config) (*Runtime, error) {
	if cfg.Kernel == "" || cfg.BaseImage == "" {
		return nil, errors.New("firecracker: Kernel and BaseImage are required")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.VCPUs, DefaultVCPUs)
	def(&cfg.MemoryMB, DefaultMemoryMB)
	def(&cfg.SeatDiskMB, DefaultSeatDiskMB)
	def(&cfg.DaemonPort, DefaultDaemonPort)
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir
	}
	if cfg.LogDir == "" {
		cfg.LogDir = DefaultLogDir
	}
	if cfg.GuestInit == "" {
		cfg.GuestInit = DefaultGuestInit
	}
	if cfg.DNS == "" {
		cfg.DNS = DefaultDNS
	}
	if cfg.BootTimeout == 0 {
		cfg.BootTimeout = DefaultBootTimeout
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.Launcher.Binary == "" {
		cfg.Launcher.Binary = cfg.Binary
	}
	if cfg.Dial == nil {
		d := &net.Dialer{Timeout: 2 * time.Second}
		cfg.Dial = d.DialContext
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if _, err := netip.ParseAddr(cfg.DNS); err != nil {
		return nil, fmt.Errorf("firecracker: DNS %q is not an IP address", cfg.DNS)
	}
	if cfg.VCPUs < 1 || cfg.VCPUs > 32 || cfg.MemoryMB < 128 || cfg.SeatDiskMB < 16 || cfg.DaemonPort < 1 || cfg.DaemonPort > 65535 {
		return nil, errors.New("firecracker: VCPUs must be 1..32, MemoryMB >= 128, SeatDiskMB >= 16, DaemonPort 1..65535")
	}
	n, err := hostnet.New(cfg.Network, cfg.NetRunner)
	if err != nil {
		return nil, fmt.Errorf("firecracker: %w", err)
	}
	if n.Subnet().Bits() > 24 {
		return nil, fmt.Errorf("firecracker: subnet %s is too small for %d seats", n.Subnet(), MaxSeat)
	}
	tr := &http.Transport{DialContext: cfg.Dial, DisableKeepAlives: true}
	return &Runtime{
		cfg:   cfg,
		net:   n,
		log:   cfg.Logger.With("runtime", Name),
		http:  &http.Client{Transport: tr, Timeout: 2 * time.Second},
		seats: map[string]*sync.Mutex{},
	}, nil
}

// Name implements seatruntime.Runtime.
func (r *Runtime) Name() string { return Name }

// Net is the host network manager (for an operator command that sets up or
// tears down the host).
func (r *Runtime) Net() *hostnet.Net { return r.net }

// SetupNetwork sets up the bridge and the firewall now (idempotent).
func (r *Runtime) SetupNetwork(ctx context.Context) error {
	r.netMu.Lock()
	defer r.netMu.Unlock()
	if err := r.net.Setup(ctx); err != nil {
		return err
	}
	r.netReady = true
	r.repinSeats(ctx)
	return nil
}

// repinSeats pins the ports of the seats recorded in the state directory
// again (hostnet.PinPort): a new bridge address flushes the host's
// neighbour entries, and seats made before ports were pinned get pinned
// when an agent starts. A seat whose TAP is gone is left to its repair.
func (r *Runtime) repinSeats(ctx context.Context) {
	seats, err := r.Seats()
	if err != nil {
		r.log.Warn("pin the seats' ports: list seats", "err", err)
		return
	}
	for _, s := range seats {
		l, err := r.layout(s.WorkshopID, s.Seat)
		if err != nil {
			continue
		}
		if _, err := net.InterfaceByName(l.tap); err != nil {
			continue
		}
		if err := r.net.PinPort(ctx, l.tap, l.mac, l.ip); err != nil {
			r.log.Warn("pin a seat's port", "workshop", l.ws, "seat", l.seat, "err", err)
		}
	}
}

func (r *Runtime) ensureNetwork(ctx context.Context) error {
	r.netMu.Lock()
	ready := r.netReady
	r.netMu.Unlock()
	if ready {
		return nil
	}
	return r.SetupNetwork(ctx)
}

// Extra is the runtime-specific part of seatruntime.Seat, kept in Seat.Extra and
// in <StateDir>/<workshop>-<seat>/seat.json.
type Extra struct {
	VMID      string `json:"vm_id"`
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"` // /proc/PID/stat field 22, guards against PID reuse
	APISocket string `json:"api_socket"`
	Tap       string `json:"tap"`
	MAC       string `json:"mac"`
	SeatDisk  string `json:"seat_disk"`
	BaseImage string `json:"base_image"`
	// SystemDisk is the seat's writable root layer (system.ext4), empty
	// for a seat whose root is the read-only base image; Image and
	// ImageDisk the image a seat runs on (its digest and shared ext4 disk).
	SystemDisk string `json:"system_disk,omitempty"`
	Image      string `json:"image,omitempty"`
	ImageDisk  string `json:"image_disk,omitempty"`
	LogPath    string `json:"log_path"`
	VMMLog     string `json:"vmm_log"`
	BootArgs   string `json:"boot_args"`
	// Egress is the seat's allowlist (egress.Rule text form), applied on
	// the host's forward rules (hostnet.AllowSeat) and again on a repair.
	Egress []string `json:"egress,omitempty"`
}

var workshopIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// layout is everything derived from (workshop, seat).
type layout struct {
	ws      string
	seat    int
	slot    int // the host-local number: guest address, TAP device, lock
	dir     string
	sock    string
	disk    string // home.ext4: the learner's home
	system  string // system.ext4: the overlay's upper layer (seats on an image, learner root)
	record  string // seat.json
	logPath string
	vmmLog  string
	tap     string
	mac     string
	vmID    string
	ip      netip.Addr
}

func (r *Runtime) layout(ws string, seat int) (layout, error) {
	if !workshopIDRe.MatchString(ws) {
		return layout{}, fmt.Errorf("firecracker: bad workshop id %q", ws)
	}
	if seat < 1 || seat > 1<<20 {
		return layout{}, fmt.Errorf("firecracker: invalid seat %d", seat)
	}
	slot := Slot(seat)
	ip, mac := GuestAddr(r.net.Subnet(), slot)
	dir := filepath.Join(r.cfg.StateDir, ws+"-"+strconv.Itoa(seat))
	base := fmt.Sprintf("firecracker-%s-%d", ws, seat)
	return layout{
		ws: ws, seat: seat, slot: slot, dir: dir,
		sock:    filepath.Join(dir, "api.sock"),
		disk:    filepath.Join(dir, "home.ext4"),
		system:  filepath.Join(dir, systemDiskName),
		record:  filepath.Join(dir, "seat.json"),
		logPath: filepath.Join(r.cfg.LogDir, base+".log"),
		vmmLog:  filepath.Join(r.cfg.LogDir, base+".vmm.log"),
		tap:     TapName(ws, slot),
		mac:     mac,
		vmID:    VMID(ws, seat),
		ip:      ip,
	}, nil
}

// Slot is the host-local number of a workshop's seat: 1..MaxSeat. A
// multi-host workshop's host holds a contiguous run of at most MaxSeat of
// its seats (host 2 at 30 per host: seats 31..60), so their slots differ;
// two workshops whose seats share a slot cannot run on one host at once
// (checkRoom refuses the second).
func Slot(seat int) int {
	return (seat-1)%MaxSeat + 1
}

// TapName is the TAP device of the seat in a slot: "fc-" + 8 hex digits of
// the workshop id's SHA-256 + "-" + slot, at most 15 characters (the
// kernel's limit), distinct for two workshops on one host.
func TapName(ws string, slot int) string {
	h := sha256.Sum256([]byte(ws))
	return "fc-" + hex.EncodeToString(h[:4]) + "-" + strconv.Itoa(slot)
}

// VMID is the seat's Firecracker instance id (--id: letters, digits and '-',
// at most 64 characters): "ct-<workshop>-<seat>", with '_' turned into '-'
// and a long workshop id replaced by 16 hex digits of its SHA-256.
func VMID(ws string, seat int) string {
	suffix := "-" + strconv.Itoa(seat)
	id := "ct-" + strings.ReplaceAll(ws, "_", "-")
	if len(id)+len(suffix) > 64 {
		h := sha256.Sum256([]byte(ws))
		id = "ct-" + hex.EncodeToString(h[:8])
	}
	return id + suffix
}

// GuestAddr is the address of the seat in a slot (subnet base + 10 + slot) and its MAC,
// 06:00 (locally administered, unicast) followed by the four address bytes.
func GuestAddr(subnet netip.Prefix, slot int) (netip.Addr, string) {
	b := subnet.Masked().Addr().As4()
	b[3] += byte(GuestIPOffset + slot)
	return netip.AddrFrom4(b), fmt.Sprintf("06:00:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

// BootArgs is the guest kernel command line for a seat. Firecracker appends
// "root=/dev/vda ro" for the read-only root drive. learnerRoot
// (Spec.LearnerRoot) adds clarateach.learner_root=1: the guest init then runs
// the workspace daemon, and so the learner's shells, as the guest's root.
// g names the seat's other drives (image.go): clarateach.system for the
// writable root layer, clarateach.image for an image's disk.
func (r *Runtime) BootArgs(l layout, learnerRoot bool, g guestDisks) string {
	mask := net.CIDRMask(r.net.Subnet().Bits(), 32)
	netmask := net.IP(mask).String()
	// ip=<client>:<server>:<gateway>:<netmask>:<hostname>:<device>:<autoconf>:<dns0>
	ipArg := fmt.Sprintf("ip=%s::%s:%s:seat-%d:eth0:off:%s", l.ip, r.net.Gateway(), netmask, l.seat, r.cfg.DNS)
	args := []string{
		"console=ttyS0", "reboot=k", "panic=1", "pci=off",
		ipArg,
		"init=" + r.cfg.GuestInit,
		"clarateach.workshop=" + l.ws,
		"clarateach.seat=" + strconv.Itoa(l.seat),
		"clarateach.port=" + strconv.Itoa(r.cfg.DaemonPort),
		"clarateach.home=" + homeDevice,
	}
	if learnerRoot {
		args = append(args, "clarateach.learner_root=1")
	}
	if g.system {
		args = append(args, "clarateach.system="+systemDevice)
	}
	if g.image != "" {
		args = append(args, "clarateach.image="+imageDevice)
	}
	if r.cfg.ExtraBootArgs != "" {
		args = append(args, r.cfg.ExtraBootArgs)
	}
	return strings.Join(args, " ")
}

// lockSeat serialises Create and Destroy per slot: the slot fixes the
// guest address, which two workshops must not take at once.
func (r *Runtime) lockSeat(slot int) func() {
	key := strconv.Itoa(slot)
	r.seatMu.Lock()
	m, ok := r.seats[key]
	if !ok {
		m = &sync.Mutex{}
		r.seats[key] = m
	}
	r.seatMu.Unlock()
	m.Lock()
	return m.Unlock
}

func (r *Runtime) daemonAddr(l layout) string {
	return net.JoinHostPort(l.ip.String(), strconv.Itoa(r.cfg.DaemonPort))
}

// Create implements seatruntime.Runtime. It is idempotent: if the seat is already
// running it returns it.
func (r *Runtime) Create(ctx context.Context, spec seatruntime.Spec) (*seatruntime.Seat, error) {
	l, err := r.layout(spec.WorkshopID, spec.Seat)
	if err != nil {
		return nil, err
	}
	b, err := r.bootSpecOf(spec)
	if err != nil {
		return nil, err
	}
	unlock := r.lockSeat(l.slot)
	defer unlock()

	// Already there? Return it, or clear what a dead one left behind.
	if old, err := r.readRecord(l); err == nil {
		if r.Alive(ctx, old) {
			return old, nil
		}
		r.log.Warn("clearing a dead seat before re-creating it", "workshop", l.ws, "seat", l.seat)
		if err := r.destroy(ctx, l, old); err != nil {
			return nil, err
		}
	} else if _, statErr := os.Stat(l.dir); statErr == nil {
		if err := r.destroy(ctx, l, nil); err != nil {
			return nil, err
		}
	}
	if err := r.checkRoom(l); err != nil {
		return nil, err
	}
	files := []string{r.cfg.Kernel, r.cfg.BaseImage}
	if b.disks.image != "" {
		files = append(files, b.disks.image)
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("firecracker: %w", err)
		}
	}
	if err := r.ensureNetwork(ctx); err != nil {
		return nil, err
	}

	start := time.Now()
	seat, err := r.create(ctx, l, b)
	if err != nil {
		// Clean up everything but the logs, which say what went wrong.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		var procs []Process
		if ex, derr := decodeExtra(seat); derr == nil {
			procs = append(procs, Process{PID: ex.PID, StartTime: ex.StartTime})
		}
		if cerr := r.cleanup(cctx, l, procs...); cerr != nil {
			r.log.Error("cleanup after failed create", "workshop", l.ws, "seat", l.seat, "err", cerr)
		}
		return nil, err
	}
	r.log.Info("seat started", "workshop", l.ws, "seat", l.seat, "ip", seat.IP, "pid", seat.PID, "image", b.disks.digest, "took", time.Since(start))
	return seat, nil
}

// bootSpecOf checks a Create's spec and fills in the defaults.
func (r *Runtime) bootSpecOf(spec seatruntime.Spec) (bootSpec, error) {
	b := bootSpec{vcpus: spec.VCPUs, mem: spec.MemoryMB, disk: seatDisk{mb: spec.DiskMB, inodes: spec.DiskInodes},
		egress: spec.Egress, learnerRoot: spec.LearnerRoot, created: time.Now().UTC()}
	if b.vcpus == 0 {
		b.vcpus = r.cfg.VCPUs
	}
	if b.mem == 0 {
		b.mem = r.cfg.MemoryMB
	}
	if b.vcpus < 1 || b.vcpus > 32 || b.mem < 128 {
		return b, fmt.Errorf("firecracker: vcpus must be 1..32 and memory_mb >= 128 (got %d, %d)", b.vcpus, b.mem)
	}
	if b.disk.mb == 0 {
		b.disk.mb = r.cfg.SeatDiskMB
	}
	if b.disk.mb < 16 || b.disk.inodes < 0 {
		return b, fmt.Errorf("firecracker: disk_mb must be >= 16 (got %d)", b.disk.mb)
	}
	disks, err := seatDisks(spec)
	if err != nil {
		return b, err
	}
	b.disks = disks
	return b, nil
}

// bootSpec is what create starts a seat with.
type bootSpec struct {
	vcpus, mem int
	disk       seatDisk
	// disks: the writable root layer and the image's disk, if the seat
	// has them (image.go).
	disks    guestDisks
	keepDisk bool // a repair: boot the seat's existing disks (the learner's home and system layer)
	egress   []egress.Rule
	// learnerRoot: the learner is the guest's root (BootArgs); kept in the
	// seat's record so that a repair boots the same way.
	learnerRoot bool
	created     time.Time
}

// create does the work of Create and Repair. On error it returns the seat
// as far as it got (for cleanup).
func (r *Runtime) create(ctx context.Context, l layout, b bootSpec) (*seatruntime.Seat, error) {
	if err := r.seatNet(ctx, l, b.egress); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return nil, fmt.Errorf("firecracker: %w", err)
	}
	if err := r.seatDiskFiles(ctx, l, b); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.cfg.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("firecracker: %w", err)
	}
	// Firecracker opens the logger's file but does not create it.
	if f, err := os.OpenFile(l.vmmLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640); err != nil {
		return nil, fmt.Errorf("firecracker: %w", err)
	} else {
		f.Close()
	}
	os.Remove(l.sock) // Firecracker refuses an existing socket path

	ex := &Extra{
		VMID: l.vmID, APISocket: l.sock, Tap: l.tap, MAC: l.mac, SeatDisk: l.disk,
		BaseImage: r.cfg.BaseImage, LogPath: l.logPath, VMMLog: l.vmmLog, BootArgs: r.BootArgs(l, b.learnerRoot, b.disks),
		Image: b.disks.digest, ImageDisk: b.disks.image,
	}
	if b.disks.system {
		ex.SystemDisk = l.system
	}
	for _, ru := range b.egress {
		ex.Egress = append(ex.Egress, ru.String())
	}
	seat := &seatruntime.Seat{
		WorkshopID: l.ws, Seat: l.seat, Runtime: Name, VCPUs: b.vcpus, MemoryMB: b.mem, DiskMB: b.disk.mb,
		IP: l.ip.String(), Dir: l.dir, CreatedAt: b.created, LearnerRoot: b.learnerRoot, Image: b.disks.digest,
		Network: "tcp", Address: r.daemonAddr(l),
	}
	proc, err := r.cfg.Launcher.Launch(ctx, LaunchSpec{ID: l.vmID, APISocket: l.sock, LogPath: l.logPath})
	if err != nil {
		return nil, err
	}
	ex.PID, ex.StartTime = proc.PID, proc.StartTime
	seat.PID = proc.PID
	if err := setExtra(seat, ex); err != nil {
		return seat, err
	}
	// Record it at once: if the agent dies during boot, its successor finds
	// the process and can clean it up.
	if err := r.writeRecord(l, seat); err != nil {
		return seat, err
	}

	bootCtx, cancel := context.WithTimeout(ctx, r.cfg.BootTimeout)
	defer cancel()
	c := fcapi.New(l.sock, 10*time.Second)
	defer c.Close()
	if err := waitAPI(bootCtx, c, proc); err != nil {
		return seat, err
	}
	if err := r.configure(bootCtx, c, l, ex, b); err != nil {
		return seat, err
	}
	if err := r.waitDaemon(bootCtx, seat.Address, proc); err != nil {
		return seat, fmt.Errorf("firecracker: seat %s/%d: workspace daemon at %s: %w (see %s)", l.ws, l.seat, seat.Address, err, l.logPath)
	}
	return seat, nil
}

// seatDiskFiles makes the seat's disks (the home, and the system layer
// when it has one), or, for a repair, checks that they are there.
func (r *Runtime) seatDiskFiles(ctx context.Context, l layout, b bootSpec) error {
	if b.keepDisk {
		files := []string{l.disk}
		if b.disks.system {
			files = append(files, l.system)
		}
		if b.disks.image != "" {
			files = append(files, b.disks.image) // the image, unless pruned meanwhile
		}
		for _, f := range files {
			if fi, err := os.Stat(f); err != nil || !fi.Mode().IsRegular() {
				return fmt.Errorf("firecracker: seat %s/%d: no seat disk %s to boot again: %v", l.ws, l.seat, filepath.Base(f), err)
			}
		}
		return nil
	}
	if err := makeSeatDisk(ctx, l.disk, b.disk); err != nil {
		return err
	}
	if b.disks.system {
		return makeSystemDisk(ctx, l.system, b.disk, b.disks.env)
	}
	return nil
}

// configure makes the API calls that set the microVM up and start it:
// logger, machine, kernel, drives (image.go: driveList), network, start.
func (r *Runtime) configure(ctx context.Context, c *fcapi.Client, l layout, ex *Extra, b bootSpec) error {
	type step struct {
		what string
		do   func() error
	}
	steps := []step{
		{"logger", func() error { return c.PutLogger(ctx, fcapi.Logger{LogPath: l.vmmLog, Level: "Warning"}) }},
		{"machine config", func() error {
			return c.PutMachineConfig(ctx, fcapi.MachineConfig{VCPUCount: b.vcpus, MemSizeMiB: b.mem, SMT: false})
		}},
		{"boot source", func() error {
			return c.PutBootSource(ctx, fcapi.BootSource{KernelImagePath: r.cfg.Kernel, BootArgs: ex.BootArgs})
		}},
	}
	for _, d := range r.driveList(l, b.disks) {
		steps = append(steps, step{d.what, func() error { return c.PutDrive(ctx, d.Drive) }})
	}
	steps = append(steps, []step{
		{"network interface", func() error {
			return c.PutNetworkInterface(ctx, fcapi.NetworkInterface{IfaceID: "eth0", HostDevName: l.tap, GuestMAC: l.mac})
		}},
		{"start", func() error { return c.InstanceStart(ctx) }},
	}...)
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("firecracker: seat %s/%d: %s: %w", l.ws, l.seat, s.what, err)
		}
	}
	return nil
}

// seatNet makes the seat's TAP, pins it and applies its allowlist.
func (r *Runtime) seatNet(ctx context.Context, l layout, allow []egress.Rule) error {
	if err := r.net.AddTap(ctx, l.tap); err != nil {
		return err
	}
	// The port carries this seat's address and MAC only, so that a guest's
	// root (learner_root) cannot hear or take another seat's traffic.
	if err := r.net.PinPort(ctx, l.tap, l.mac, l.ip); err != nil {
		return fmt.Errorf("firecracker: %w", err)
	}
	// The allowlist replaces whatever the seat had (a repair re-applies
	// its own); with none, a dead seat's leftovers go.
	if err := r.net.AllowSeat(ctx, l.vmID, l.ip, allow); err != nil {
		return fmt.Errorf("firecracker: %w", err)
	}
	return nil
}

// waitAPI polls GET / until the API socket answers.
func waitAPI(ctx context.Context, c *fcapi.Client, p Process) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		_, err := c.InstanceInfo(ctx)
		if err == nil {
			return nil
		}
		if !p.running() {
			return fmt.Errorf("firecracker: process %d exited before its API came up: %w", p.PID, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("firecracker: API socket %s: %w (last error: %v)", c.Socket(), ctx.Err(), err)
		case <-t.C:
		}
	}
}

func (r *Runtime) waitDaemon(ctx context.Context, addr string, p Process) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		err := r.health(ctx, addr)
		if err == nil {
			return nil
		}
		if !p.running() {
			return fmt.Errorf("the microVM exited: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

func (r *Runtime) health(ctx context.Context, addr string) error {
	return seatruntime.DaemonHealth(ctx, r.http, "http://"+addr)
}

// checkRoom enforces MaxSeats and refuses a seat whose guest address is held
// by a live seat of another workshop (normally one workshop runs per host;
// two can share a host as long as their seats' slots differ).
func (r *Runtime) checkRoom(l layout) error {
	ents, err := os.ReadDir(r.cfg.StateDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("firecracker: %w", err)
	}
	live := 0
	for _, e := range ents {
		if !e.IsDir() || e.Name() == filepath.Base(l.dir) {
			continue
		}
		s, err := readSeatFile(filepath.Join(r.cfg.StateDir, e.Name(), "seat.json"))
		if err != nil {
			continue
		}
		ex, err := decodeExtra(s)
		if err != nil || !(Process{PID: ex.PID, StartTime: ex.StartTime}).running() {
			continue
		}
		live++
		if Slot(s.Seat) == l.slot {
			return fmt.Errorf("%w: guest address %s is in use by workshop %s seat %d", seatruntime.ErrCapacity, l.ip, s.WorkshopID, s.Seat)
		}
	}
	if r.cfg.MaxSeats > 0 && live >= r.cfg.MaxSeats {
		return fmt.Errorf("%w: %d of %d seats in use", seatruntime.ErrCapacity, live, r.cfg.MaxSeats)
	}
	return nil
}

// Alive implements seatruntime.Runtime: the Firecracker process recorded in the
// seat is still the same running process, and the daemon answers /health.
func (r *Runtime) Alive(ctx context.Context, s *seatruntime.Seat) bool {
	if s == nil || s.Runtime != Name {
		return false
	}
	ex, err := decodeExtra(s)
	if err != nil {
		return false
	}
	if !(Process{PID: ex.PID, StartTime: ex.StartTime}).running() {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return r.health(ctx, s.Address) == nil
}

// Destroy implements seatruntime.Runtime: SendCtrlAltDel, SIGKILL after
// ShutdownTimeout, then remove the TAP and the seat's directory (API socket,
// seat disk, record). The base image and the logs are kept.
func (r *Runtime) Destroy(ctx context.Context, s *seatruntime.Seat) error {
	if s == nil {
		return nil
	}
	l, err := r.layout(s.WorkshopID, s.Seat)
	if err != nil {
		return err
	}
	unlock := r.lockSeat(l.slot)
	defer unlock()
	if s.Runtime != Name {
		s = nil
	}
	return r.destroy(ctx, l, s)
}

// destroy stops every process known for the seat: the one in the record on
// disk (authoritative) and the one in the caller's copy, if different.
func (r *Runtime) destroy(ctx context.Context, l layout, s *seatruntime.Seat) error {
	procs := r.seatProcs(l, s)
	r.shutdown(ctx, l, procs)
	return r.cleanup(ctx, l, procs...)
}

// seatProcs lists every process known for the seat: the one in the record
// on disk (authoritative) and the one in the caller's copy, if different.
func (r *Runtime) seatProcs(l layout, s *seatruntime.Seat) []Process {
	var procs []Process
	if rec, err := r.readRecord(l); err == nil {
		if ex, err := decodeExtra(rec); err == nil {
			procs = append(procs, Process{PID: ex.PID, StartTime: ex.StartTime})
		}
	}
	if ex, err := decodeExtra(s); err == nil {
		if p := (Process{PID: ex.PID, StartTime: ex.StartTime}); len(procs) == 0 || procs[0] != p {
			procs = append(procs, p)
		}
	}
	return procs
}

// shutdown asks each running process's guest to shut down
// (SendCtrlAltDel: the guest syncs and unmounts its disk) and waits up to
// ShutdownTimeout for it to end. What still runs is killed by the caller.
func (r *Runtime) shutdown(ctx context.Context, l layout, procs []Process) {
	for _, p := range procs {
		if !p.running() {
			continue
		}
		c := fcapi.New(l.sock, 2*time.Second)
		if err := c.SendCtrlAltDel(ctx); err != nil {
			r.log.Warn("SendCtrlAltDel failed; killing", "workshop", l.ws, "seat", l.seat, "pid", p.PID, "err", err)
		} else {
			wctx, cancel := context.WithTimeout(ctx, r.cfg.ShutdownTimeout)
			if !p.waitGone(wctx) {
				r.log.Warn("guest did not shut down in time; killing", "workshop", l.ws, "seat", l.seat, "pid", p.PID)
			}
			cancel()
		}
		c.Close()
	}
}

// cleanup kills the processes if they still run and frees the TAP and the
// seat directory. It never touches the base image or the logs.
func (r *Runtime) cleanup(ctx context.Context, l layout, procs ...Process) error {
	var errs []error
	for _, p := range procs {
		if err := p.kill(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := r.net.RemoveTap(ctx, l.tap); err != nil {
		errs = append(errs, err)
	}
	if err := r.net.RemoveSeat(ctx, l.vmID); err != nil {
		errs = append(errs, err)
	}
	if err := r.removeSeatDir(l); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (r *Runtime) removeSeatDir(l layout) error {
	dir, err := filepath.Abs(l.dir)
	if err != nil {
		return fmt.Errorf("firecracker: %w", err)
	}
	shared := []string{r.cfg.BaseImage}
	if rec, err := r.readRecord(l); err == nil {
		if ex, err := decodeExtra(rec); err == nil && ex.ImageDisk != "" {
			shared = append(shared, ex.ImageDisk)
		}
	}
	for _, f := range shared {
		f, err := filepath.Abs(f)
		if err != nil {
			return fmt.Errorf("firecracker: %w", err)
		}
		if f == dir || strings.HasPrefix(f, dir+string(filepath.Separator)) {
			return fmt.Errorf("firecracker: refusing to remove %s: it holds the shared disk %s", dir, f)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("firecracker: %w", err)
	}
	return nil
}

func decodeExtra(s *seatruntime.Seat) (*Extra, error) {
	if s == nil || len(s.Extra) == 0 {
		return nil, errors.New("firecracker: seat has no runtime state")
	}
	var ex Extra
	if err := json.Unmarshal(s.Extra, &ex); err != nil {
		return nil, fmt.Errorf("firecracker: seat state: %w", err)
	}
	return &ex, nil
}

func setExtra(s *seatruntime.Seat, ex *Extra) error {
	b, err := json.Marshal(ex)
	if err != nil {
		return fmt.Errorf("firecracker: %w", err)
	}
	s.Extra = b
	return nil
}

func (r *Runtime) writeRecord(l layout, s *seatruntime.Seat) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("firecracker: %w", err)
	}
	tmp := l.record + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("firecracker: %w", err)
	}
	if err := os.Rename(tmp, l.record); err != nil {
		return fmt.Errorf("firecracker: %w", err)
	}
	return nil
}

func (r *Runtime) readRecord(l layout) (*seatruntime.Seat, error) {
	s, err := readSeatFile(l.record)
	if err != nil {
		return nil, err
	}
	if s.WorkshopID != l.ws || s.Seat != l.seat {
		return nil, fmt.Errorf("firecracker: %s describes %s/%d", l.record, s.WorkshopID, s.Seat)
	}
	return s, nil
}

func readSeatFile(path string) (*seatruntime.Seat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s seatruntime.Seat
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("firecracker: %s: %w", path, err)
	}
	return &s, nil
}

// Seats lists the seats recorded in the state directory, live or not (for
// an agent that lost its own state, and for garbage collection).
func (r *Runtime) Seats() ([]*seatruntime.Seat, error) {
	ents, err := os.ReadDir(r.cfg.StateDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("firecracker: %w", err)
	}
	var out []*seatruntime.Seat
	for _, e := range ents {
		if s, err := readSeatFile(filepath.Join(r.cfg.StateDir, e.Name(), "seat.json")); err == nil {
			out = append(out, s)
		}
	}
	return out, nil
}

// Repair implements seatruntime.Repairer: a seat whose microVM died (or
// whose daemon stopped answering) boots again in place. What is left of the
// old VM is shut down (Ctrl-Alt-Del, then SIGKILL); the same seat disk (the
// learner's home), TAP, address, sizes and egress allowlist are used for a
// fresh Firecracker process. If the boot fails the seat disk is kept, so a
// later Repair (the agent's watcher tries again) or Destroy decides.
func (r *Runtime) Repair(ctx context.Context, s *seatruntime.Seat) (*seatruntime.Seat, error) {
	if s == nil {
		return nil, errors.New("firecracker: repair: no seat")
	}
	l, err := r.layout(s.WorkshopID, s.Seat)
	if err != nil {
		return nil, err
	}
	unlock := r.lockSeat(l.slot)
	defer unlock()
	rec, err := r.readRecord(l)
	if err != nil {
		return nil, fmt.Errorf("firecracker: repair seat %s/%d: %w", l.ws, l.seat, err)
	}
	ex, err := decodeExtra(rec)
	if err != nil {
		return nil, err
	}
	rules, err := egress.ParseRules(ex.Egress)
	if err != nil {
		return nil, fmt.Errorf("firecracker: repair seat %s/%d: %w", l.ws, l.seat, err)
	}
	procs := r.seatProcs(l, s)
	r.shutdown(ctx, l, procs)
	for _, p := range procs {
		if err := p.kill(ctx); err != nil {
			return nil, err
		}
	}
	if err := r.ensureNetwork(ctx); err != nil {
		return nil, err
	}
	start := time.Now()
	seat, err := r.create(ctx, l, bootSpec{
		vcpus: rec.VCPUs, mem: rec.MemoryMB, disk: seatDisk{mb: rec.DiskMB}, keepDisk: true,
		disks:  guestDisks{system: ex.SystemDisk != "", image: ex.ImageDisk, digest: ex.Image},
		egress: rules, learnerRoot: rec.LearnerRoot, created: rec.CreatedAt,
	})
	if err != nil {
		// Stop the new process; keep the disk and the record.
		if ex, derr := decodeExtra(seat); derr == nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			defer cancel()
			_ = (Process{PID: ex.PID, StartTime: ex.StartTime}).kill(cctx)
		}
		return nil, err
	}
	r.log.Warn("seat restarted in place with its disk", "workshop", l.ws, "seat", l.seat, "pid", seat.PID, "took", time.Since(start))
	return seat, nil
}
