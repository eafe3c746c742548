//go:build linux

package firecracker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/egress"
	"github.com/clarateach/backend/internal/host/procinfo"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/host/seatruntime/firecracker/fcfake"
	"github.com/clarateach/backend/internal/host/seatruntime/firecracker/internal/nstest"
)

// The test binary doubles as the firecracker executable (see fcfake.Main).
const envFakeMain = "CLARATEACH_FCFAKE_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envFakeMain) == "1" {
		os.Exit(fcfake.Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// --- pure functions (no root needed) ---

func TestNames(t *testing.T) {
	t.Parallel()
	r, err := New(Config{Kernel: "/k", BaseImage: "/b"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ws   string
		seat int
		ip   string
		mac  string
	}{
		{"ws1", 1, "192.168.100.11", "06:00:c0:a8:64:0b"},
		{"ws1", 240, "192.168.100.250", "06:00:c0:a8:64:fa"},
		{"0d6f6c1c-3f5a-4b63-9a53-4a4cbd0a8a11", 30, "192.168.100.40", "06:00:c0:a8:64:28"},
	} {
		l, err := r.layout(tc.ws, tc.seat)
		if err != nil {
			t.Fatal(err)
		}
		if l.ip.String() != tc.ip || l.mac != tc.mac {
			t.Errorf("%s/%d: ip %s mac %s, want %s %s", tc.ws, tc.seat, l.ip, l.mac, tc.ip, tc.mac)
		}
		if len(l.tap) > 15 || !strings.HasPrefix(l.tap, "fc-") || !strings.HasSuffix(l.tap, "-"+strconv.Itoa(tc.seat)) {
			t.Errorf("tap %q", l.tap)
		}
		if want := "/var/log/firecracker-" + tc.ws + "-" + strconv.Itoa(tc.seat) + ".log"; l.logPath != want {
			t.Errorf("log %q, want %q", l.logPath, want)
		}
	}
	for _, tc := range []struct {
		ws   string
		seat int
		want string
	}{
		{"ws1", 1, "ct-ws1-1"},
		{"my_ws", 12, "ct-my-ws-12"},
		{strings.Repeat("a", 64), 240, ""},
	} {
		got := VMID(tc.ws, tc.seat)
		if (tc.want != "" && got != tc.want) || len(got) > 64 || strings.ContainsAny(got, "_") {
			t.Errorf("VMID(%q, %d) = %q", tc.ws, tc.seat, got)
		}
	}
	if TapName("a", 1) == TapName("b", 1) {
		t.Error("two workshops share a TAP name")
	}
	for _, tc := range []struct {
		ws   string
		seat int
	}{{"ws", 0}, {"ws", -1}, {"ws", 1<<20 + 1}, {"", 1}, {"../x", 1}, {"a b", 1}, {strings.Repeat("a", 65), 1}} {
		if _, err := r.layout(tc.ws, tc.seat); err == nil {
			t.Errorf("layout(%q, %d) accepted", tc.ws, tc.seat)
		}
	}
	// A multi-host workshop's seats past MaxSeat (host 17 of a 30-per-host
	// workshop holds seats 481..510) take the host-local slots 1..MaxSeat:
	// a valid guest address and a TAP name within the kernel's 15 bytes.
	for _, tc := range []struct{ seat, slot int }{{1, 1}, {240, 240}, {241, 1}, {481, 1}, {510, 30}, {1000, 40}} {
		l, err := r.layout("ws1", tc.seat)
		if err != nil {
			t.Fatalf("layout(ws1, %d): %v", tc.seat, err)
		}
		wantIP, _ := GuestAddr(r.net.Subnet(), tc.slot)
		if l.slot != tc.slot || l.ip != wantIP || len(l.tap) > 15 || l.tap != TapName("ws1", tc.slot) || l.seat != tc.seat {
			t.Errorf("seat %d: slot %d ip %s tap %q, want slot %d ip %s", tc.seat, l.slot, l.ip, l.tap, tc.slot, wantIP)
		}
	}
	l, _ := r.layout("ws1", 1)
	want := "console=ttyS0 reboot=k panic=1 pci=off ip=192.168.100.11::192.168.100.1:255.255.255.0:seat-1:eth0:off:1.1.1.1 " +
		"init=/sbin/clarateach-init clarateach.workshop=ws1 clarateach.seat=1 clarateach.port=7000 clarateach.home=/dev/vdb"
	if got := r.BootArgs(l, false, guestDisks{}); got != want {
		t.Errorf("boot args\n got %q\nwant %q", got, want)
	}
	// A root learner's seat has a writable root layer (the system drive).
	if got := r.BootArgs(l, true, guestDisks{system: true}); got != want+" clarateach.learner_root=1 clarateach.system=/dev/vdc" {
		t.Errorf("learner-root boot args %q", got)
	}
	// A seat on an image: the system layer over the image's drive.
	if got := r.BootArgs(l, false, guestDisks{system: true, image: "/img/rootfs.ext4"}); got != want+" clarateach.system=/dev/vdc clarateach.image=/dev/vdd" {
		t.Errorf("image seat boot args %q", got)
	}
	if _, err := New(Config{Kernel: "/k"}); err == nil {
		t.Error("New without a base image accepted")
	}
	if _, err := New(Config{Kernel: "/k", BaseImage: "/b", DNS: "dns.example"}); err == nil {
		t.Error("New with a DNS name accepted")
	}
	ip, _ := GuestAddr(netip.MustParsePrefix("10.20.30.1/24"), 5)
	if ip.String() != "10.20.30.15" {
		t.Errorf("GuestAddr = %s", ip)
	}
}

func TestCreateRejectsBadSpecs(t *testing.T) {
	t.Parallel()
	r, err := New(Config{Kernel: "/k", BaseImage: "/b", StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []seatruntime.Spec{
		{WorkshopID: "ws", Seat: 0},
		{WorkshopID: "ws", Seat: 241},
		{WorkshopID: "../../etc", Seat: 1},
		{WorkshopID: "ws", Seat: 1, VCPUs: 64},
		{WorkshopID: "ws", Seat: 1, MemoryMB: 64},
	} {
		if _, err := r.Create(context.Background(), spec); err == nil {
			t.Errorf("Create(%+v) accepted", spec)
		}
	}
	// Destroying something that never existed is fine... once it is valid.
	if err := r.Destroy(context.Background(), &seatruntime.Seat{WorkshopID: "ws", Seat: 0}); err == nil {
		t.Error("Destroy of seat 0 accepted")
	}
}

// --- the runtime against the fake Firecracker, in a network namespace ---

type env struct {
	t       *testing.T
	dir     string
	cfg     Config
	r       *Runtime
	kernel  string
	base    string
	baseSum [32]byte
}

type envOpt func(*Config, *[]string)

func withFaults(f ...fcfake.Fault) envOpt {
	return func(_ *Config, e *[]string) {
		b, _ := json.Marshal(f)
		*e = append(*e, fcfake.EnvFaults+"="+string(b))
	}
}

func withoutGuest() envOpt {
	return func(_ *Config, e *[]string) {
		for i, v := range *e {
			if strings.HasPrefix(v, fcfake.EnvGuestSock+"=") {
				(*e)[i] = fcfake.EnvGuestSock + "="
			}
		}
	}
}

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, kernel: filepath.Join(dir, "vmlinux"), base: filepath.Join(dir, "images", "rootfs.ext4")}
	if err := os.WriteFile(e.kernel, []byte("not really a kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(e.base), 0o755) //nolint:errcheck
	base := bytes.Repeat([]byte("base image block "), 4096)
	if err := os.WriteFile(e.base, base, 0o444); err != nil {
		t.Fatal(err)
	}
	e.baseSum = sha256.Sum256(base)
	state := filepath.Join(dir, "state")
	fakeEnv := []string{
		envFakeMain + "=1",
		fcfake.EnvRecord + "=" + filepath.Join(dir, "calls-{id}.jsonl"),
		fcfake.EnvGuestSock + "=guest.sock",
		fcfake.EnvCheckTap + "=1",
	}
	e.cfg = Config{
		Kernel:          e.kernel,
		BaseImage:       e.base,
		StateDir:        state,
		LogDir:          filepath.Join(dir, "log"),
		SeatDiskMB:      1024,
		BootTimeout:     10 * time.Second,
		ShutdownTimeout: 5 * time.Second,
		// The "guest daemon" of seat N is the fake's unix socket in the seat dir.
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return nil, err
			}
			seat := int(ip.As4()[3]) - GuestIPOffset
			socks, _ := filepath.Glob(filepath.Join(state, "*-"+strconv.Itoa(seat), "guest.sock"))
			if len(socks) != 1 {
				return nil, fmt.Errorf("no guest at %s", addr)
			}
			var d net.Dialer
			return d.DialContext(ctx, "unix", socks[0])
		},
	}
	for _, o := range opts {
		o(&e.cfg, &fakeEnv)
	}
	e.cfg.Launcher = ExecLauncher{Binary: os.Args[0], Env: fakeEnv}
	r, err := New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.r = r
	t.Cleanup(e.killLeftovers)
	return e
}

// killLeftovers makes sure no stand-in firecracker outlives the test, and
// fails the test if one had to be killed.
func (e *env) killLeftovers() {
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if bytes.Contains(cmd, []byte(e.dir)) && pid != os.Getpid() {
			if f, err := procinfo.Stat(pid); err == nil && f[0] != "Z" {
				e.t.Errorf("left-over process %d: %q", pid, cmd)
			}
			syscall.Kill(pid, syscall.SIGKILL) //nolint:errcheck
		}
	}
}

func (e *env) calls(ws string, seat int) []string {
	e.t.Helper()
	cs, err := fcfake.ReadRecord(filepath.Join(e.dir, fmt.Sprintf("calls-ct-%s-%d.jsonl", ws, seat)))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.String())
	}
	return out
}

func (e *env) checkBaseIntact() {
	e.t.Helper()
	b, err := os.ReadFile(e.base)
	if err != nil || sha256.Sum256(b) != e.baseSum {
		e.t.Fatalf("base image changed or gone: %v", err)
	}
}

func linkDetails(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("ip", "-d", "link", "show", "dev", name).CombinedOutput()
	if err != nil {
		return ""
	}
	return string(out)
}

func q(s string) string { b, _ := json.Marshal(s); return string(b) }

func TestCreateAndDestroy(t *testing.T) {
	t.Parallel()
	if !nstest.Enter(t, "iptables", "iptables-restore", "mkfs.ext4") {
		return
	}
	e := newEnv(t)
	ctx := context.Background()

	s1, err := e.r.Create(ctx, seatruntime.Spec{WorkshopID: "ws1", Seat: 1})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := e.r.Create(ctx, seatruntime.Spec{WorkshopID: "ws1", Seat: 2, VCPUs: 4, MemoryMB: 1024, DiskMB: 300})
	if err != nil {
		t.Fatal(err)
	}
	if s1.Runtime != "firecracker" || s1.Network != "tcp" || s1.Address != "192.168.100.11:7000" || s1.IP != "192.168.100.11" ||
		s1.VCPUs != 2 || s1.MemoryMB != 512 || s1.PID <= 0 || s1.WorkshopID != "ws1" || s1.Seat != 1 {
		t.Fatalf("seat 1 = %+v", s1)
	}
	if s2.Address != "192.168.100.12:7000" || s2.VCPUs != 4 || s2.MemoryMB != 1024 || s2.DiskMB != 300 || s1.DiskMB != 1024 {
		t.Fatalf("seat 2 = %+v", s2)
	}
	if !e.r.Alive(ctx, s1) || !e.r.Alive(ctx, s2) {
		t.Fatal("fresh seats not alive")
	}

	l, _ := e.r.layout("ws1", 1)
	want := []string{
		`GET /`,
		`PUT /logger {"log_path":` + q(l.vmmLog) + `,"level":"Warning"}`,
		`PUT /machine-config {"vcpu_count":2,"mem_size_mib":512,"smt":false}`,
		`PUT /boot-source {"kernel_image_path":` + q(e.kernel) + `,"boot_args":` + q(e.r.BootArgs(l, false, guestDisks{})) + `}`,
		`PUT /drives/rootfs {"drive_id":"rootfs","path_on_host":` + q(e.base) + `,"is_root_device":true,"is_read_only":true}`,
		`PUT /drives/home {"drive_id":"home","path_on_host":` + q(l.disk) + `,"is_root_device":false,"is_read_only":false}`,
		`PUT /network-interfaces/eth0 {"iface_id":"eth0","host_dev_name":` + q(l.tap) + `,"guest_mac":"06:00:c0:a8:64:0b"}`,
		`PUT /actions {"action_type":"InstanceStart"}`,
	}
	if got := e.calls("ws1", 1); !slices.Equal(got, want) {
		t.Fatalf("seat 1 calls:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	if got := e.calls("ws1", 2); len(got) != len(want) || got[2] != `PUT /machine-config {"vcpu_count":4,"mem_size_mib":1024,"smt":false}` {
		t.Fatalf("seat 2 calls: %q", got)
	}
	if !strings.Contains(e.r.BootArgs(l, false, guestDisks{}), "ip=192.168.100.11::192.168.100.1:255.255.255.0:") {
		t.Fatalf("boot args %q", e.r.BootArgs(l, false, guestDisks{}))
	}

	// The TAP hangs off fcbr0 as an isolated port; the firewall is in place.
	d := linkDetails(t, l.tap)
	for _, w := range []string{"tun type tap", "master fcbr0", "isolated on", "flood off", "mcast_flood off"} {
		if !strings.Contains(d, w) {
			t.Errorf("TAP %s lacks %q:\n%s", l.tap, w, d)
		}
	}
	// Pinned (hostnet.PinPort): the seat's MAC is a static entry of its port,
	// and the host's neighbour entry for its address is permanent.
	if out, _ := exec.Command("bridge", "fdb", "show", "dev", l.tap).CombinedOutput(); !strings.Contains(string(out), l.mac+" master fcbr0 static") {
		t.Errorf("bridge fdb of %s:\n%s", l.tap, out)
	}
	if out, _ := exec.Command("ip", "neigh", "show", "dev", "fcbr0").CombinedOutput(); !strings.Contains(string(out), "192.168.100.11 lladdr "+l.mac+" PERMANENT") {
		t.Errorf("neighbour 192.168.100.11: %s", out)
	}
	if out, err := exec.Command("iptables", "-w", "-S", "CLARATEACH-FC-IN").CombinedOutput(); err != nil || !strings.Contains(string(out), "-j DROP") {
		t.Errorf("firewall: %v %s", err, out)
	}

	// The per-seat disk: an ext4 file, sparse, of the configured apparent size.
	// No copy of the base image anywhere in the seat dir.
	var st syscall.Stat_t
	if err := syscall.Stat(l.disk, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != 1024<<20 || st.Blocks*512 > 48<<20 {
		t.Errorf("seat disk: size %d, allocated %d bytes; want 1 GiB apparent and little allocated", st.Size, st.Blocks*512)
	}
	magic := make([]byte, 2)
	if f, err := os.Open(l.disk); err == nil {
		f.ReadAt(magic, 1080) //nolint:errcheck
		f.Close()
	}
	if magic[0] != 0x53 || magic[1] != 0xEF {
		t.Errorf("seat disk has no ext4 superblock magic: % x", magic)
	}
	// A seat that asks for its own size (the workshop's disk_mb) gets it.
	l2, _ := e.r.layout("ws1", 2)
	if err := syscall.Stat(l2.disk, &st); err != nil || st.Size != 300<<20 {
		t.Errorf("seat 2 disk: size %d (%v), want 300 MiB", st.Size, err)
	}
	var total int64
	filepath.Walk(l.dir, func(_ string, fi os.FileInfo, _ error) error { //nolint:errcheck
		if fi != nil && fi.Mode().IsRegular() {
			total += fi.Sys().(*syscall.Stat_t).Blocks * 512
		}
		return nil
	})
	if total > 48<<20 {
		t.Errorf("seat dir holds %d bytes", total)
	}

	// Logs: the process's output lands in firecracker-<ws>-<seat>.log.
	if b, err := os.ReadFile(l.logPath); err != nil || !strings.Contains(string(b), "listening on "+l.sock) {
		t.Errorf("log %s: %v %q", l.logPath, err, b)
	}

	// Create again: idempotent, same process.
	again, err := e.r.Create(ctx, seatruntime.Spec{WorkshopID: "ws1", Seat: 1})
	if err != nil || again.PID != s1.PID {
		t.Fatalf("second Create: %+v %v", again, err)
	}

	// Destroy: Ctrl-Alt-Del, the guest shuts down, everything per seat goes.
	pid := s1.PID
	if err := e.r.Destroy(ctx, s1); err != nil {
		t.Fatal(err)
	}
	if got := e.calls("ws1", 1); got[len(got)-1] != `PUT /actions {"action_type":"SendCtrlAltDel"}` {
		t.Fatalf("last call %q", got[len(got)-1])
	}
	if (Process{PID: pid, StartTime: mustExtra(t, s1).StartTime}).running() {
		t.Error("process still running")
	}
	if linkDetails(t, l.tap) != "" {
		t.Error("TAP still there")
	}
	if _, err := os.Stat(l.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("seat dir still there: %v", err)
	}
	if _, err := os.Stat(l.logPath); err != nil {
		t.Errorf("log removed: %v", err)
	}
	if e.r.Alive(ctx, s1) {
		t.Error("destroyed seat alive")
	}
	if err := e.r.Destroy(ctx, s1); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	e.checkBaseIntact()
	if !e.r.Alive(ctx, s2) {
		t.Error("seat 2 died with seat 1")
	}
	if err := e.r.Destroy(ctx, s2); err != nil {
		t.Fatal(err)
	}
	e.checkBaseIntact()
}

func mustExtra(t *testing.T, s *seatruntime.Seat) *Extra {
	t.Helper()
	ex, err := decodeExtra(s)
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

func TestCreateFailsWithFaultMessage(t *testing.T) {
	t.Parallel()
	if !nstest.Enter(t, "iptables", "iptables-restore", "mkfs.ext4") {
		return
	}
	for _, tc := range []struct {
		fault   fcfake.Fault
		wantMsg string
		opts    []envOpt
	}{
		{fcfake.Fault{Method: "PUT", Path: "/drives/rootfs", Status: 400, FaultMessage: "Unable to open the block device backing file"}, "root drive", nil},
		{fcfake.Fault{Method: "PUT", Path: "/actions", Status: 400, FaultMessage: "Cannot start microvm: KVM unavailable"}, "start", nil},
		{fcfake.Fault{Method: "PUT", Path: "/none", Status: 400, FaultMessage: ""}, "workspace daemon", []envOpt{withoutGuest()}},
	} {
		opts := append([]envOpt{withFaults(tc.fault)}, tc.opts...)
		e := newEnv(t, opts...)
		e.r.cfg.BootTimeout = 2 * time.Second
		_, err := e.r.Create(context.Background(), seatruntime.Spec{WorkshopID: "ws1", Seat: 3})
		if err == nil || !strings.Contains(err.Error(), tc.fault.FaultMessage) || !strings.Contains(err.Error(), tc.wantMsg) {
			t.Fatalf("Create error = %v, want %q and %q", err, tc.fault.FaultMessage, tc.wantMsg)
		}
		l, _ := e.r.layout("ws1", 3)
		if linkDetails(t, l.tap) != "" {
			t.Error("TAP left after failed Create")
		}
		if _, err := os.Stat(l.dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("seat dir left after failed Create: %v", err)
		}
		e.killLeftovers() // fails the test if a process was left
		e.checkBaseIntact()
	}
}

func TestDestroyKillsAStuckGuest(t *testing.T) {
	t.Parallel()
	if !nstest.Enter(t, "iptables", "iptables-restore", "mkfs.ext4") {
		return
	}
	e := newEnv(t, func(_ *Config, env *[]string) { *env = append(*env, fcfake.EnvIgnoreCtrlAltDel+"=1") })
	e.r.cfg.ShutdownTimeout = 300 * time.Millisecond
	s, err := e.r.Create(context.Background(), seatruntime.Spec{WorkshopID: "ws1", Seat: 4})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := e.r.Destroy(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("Destroy took %v: did not wait for the guest", took)
	}
	if (Process{PID: s.PID, StartTime: mustExtra(t, s).StartTime}).running() {
		t.Fatal("stuck guest survived Destroy")
	}
	got := e.calls("ws1", 4)
	if got[len(got)-1] != `PUT /actions {"action_type":"SendCtrlAltDel"}` {
		t.Fatalf("calls %q", got)
	}
}

// TestReattach: a seat created by one agent process is found, reported alive
// and destroyed by the next (a new Runtime reading the persisted JSON).
func TestReattach(t *testing.T) {
	t.Parallel()
	if !nstest.Enter(t, "iptables", "iptables-restore", "mkfs.ext4") {
		return
	}
	e := newEnv(t)
	ctx := context.Background()
	s, err := e.r.Create(ctx, seatruntime.Spec{WorkshopID: "ws1", Seat: 5})
	if err != nil {
		t.Fatal(err)
	}
	persisted, _ := json.Marshal(s)

	r2, err := New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var back seatruntime.Seat
	if err := json.Unmarshal(persisted, &back); err != nil {
		t.Fatal(err)
	}
	if !r2.Alive(ctx, &back) {
		t.Fatal("restarted runtime does not see the seat alive")
	}
	list, err := r2.Seats()
	if err != nil || len(list) != 1 || list[0].PID != s.PID {
		t.Fatalf("Seats() = %v, %v", list, err)
	}
	// The seat's port lost its pins (a seat made before ports were pinned,
	// or the bridge's address changed): the next agent's network setup
	// pins it again.
	l, _ := e.r.layout("ws1", 5)
	sh := func(args ...string) {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	sh("bridge", "fdb", "del", l.mac, "dev", l.tap, "master")
	sh("ip", "link", "set", "dev", l.tap, "type", "bridge_slave", "flood", "on", "mcast_flood", "on")
	sh("ip", "neigh", "del", l.ip.String(), "dev", "fcbr0")
	if err := r2.SetupNetwork(ctx); err != nil {
		t.Fatal(err)
	}
	if d := linkDetails(t, l.tap); !strings.Contains(d, "flood off") || !strings.Contains(d, "mcast_flood off") {
		t.Errorf("TAP %s not pinned again:\n%s", l.tap, d)
	}
	if out, _ := exec.Command("bridge", "fdb", "show", "dev", l.tap).CombinedOutput(); !strings.Contains(string(out), l.mac+" master fcbr0 static") {
		t.Errorf("bridge fdb of %s after SetupNetwork:\n%s", l.tap, out)
	}
	if out, _ := exec.Command("ip", "neigh", "show", "dev", "fcbr0").CombinedOutput(); !strings.Contains(string(out), l.ip.String()+" lladdr "+l.mac+" PERMANENT") {
		t.Errorf("neighbours after SetupNetwork: %s", out)
	}
	again, err := r2.Create(ctx, seatruntime.Spec{WorkshopID: "ws1", Seat: 5})
	if err != nil || again.PID != s.PID {
		t.Fatalf("Create after restart = %+v, %v; want the existing seat", again, err)
	}
	// A stale copy without Extra still destroys the seat (the record on disk wins).
	if err := r2.Destroy(ctx, &seatruntime.Seat{WorkshopID: "ws1", Seat: 5, Runtime: "firecracker"}); err != nil {
		t.Fatal(err)
	}
	if r2.Alive(ctx, &back) || e.r.Alive(ctx, s) {
		t.Fatal("seat alive after Destroy by the restarted runtime")
	}
	e.checkBaseIntact()
}

// TestDeadSeat: a seat whose VMM died is not alive, and Create replaces it.
func TestDeadSeat(t *testing.T) {
	t.Parallel()
	if !nstest.Enter(t, "iptables", "iptables-restore", "mkfs.ext4") {
		return
	}
	e := newEnv(t)
	ctx := context.Background()
	s, err := e.r.Create(ctx, seatruntime.Spec{WorkshopID: "ws1", Seat: 6})
	if err != nil {
		t.Fatal(err)
	}
	p := Process{PID: s.PID, StartTime: mustExtra(t, s).StartTime}
	if err := p.kill(ctx); err != nil {
		t.Fatal(err)
	}
	if e.r.Alive(ctx, s) {
		t.Fatal("killed seat alive")
	}
	// A PID reused by another process does not count either.
	fake := *s
	ex := *mustExtra(t, s)
	ex.PID, ex.StartTime = os.Getpid(), 1
	setExtra(&fake, &ex) //nolint:errcheck
	if e.r.Alive(ctx, &fake) {
		t.Fatal("seat alive on a reused PID")
	}
	s2, err := e.r.Create(ctx, seatruntime.Spec{WorkshopID: "ws1", Seat: 6})
	if err != nil || s2.PID == s.PID || !e.r.Alive(ctx, s2) {
		t.Fatalf("re-create: %+v %v", s2, err)
	}
	if err := e.r.Destroy(ctx, s2); err != nil {
		t.Fatal(err)
	}
}

// TestTwoWorkshopsAndCapacity: a second workshop on the host gets its own
// TAPs but cannot take a guest address in use; MaxSeats gives ErrCapacity.
func TestTwoWorkshopsAndCapacity(t *testing.T) {
	t.Parallel()
	if !nstest.Enter(t, "iptables", "iptables-restore", "mkfs.ext4") {
		return
	}
	e := newEnv(t)
	e.r.cfg.MaxSeats = 2
	ctx := context.Background()
	a1, err := e.r.Create(ctx, seatruntime.Spec{WorkshopID: "wsA", Seat: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.r.Create(ctx, seatruntime.Spec{WorkshopID: "wsB", Seat: 1}); !errors.Is(err, seatruntime.ErrCapacity) || !strings.Contains(err.Error(), "192.168.100.11") {
		t.Fatalf("second workshop on the same address: %v", err)
	}
	b2, err := e.r.Create(ctx, seatruntime.Spec{WorkshopID: "wsB", Seat: 2})
	if err != nil {
		t.Fatal(err)
	}
	if mustExtra(t, a1).Tap == mustExtra(t, b2).Tap {
		t.Fatal("TAP names collide")
	}
	if _, err := e.r.Create(ctx, seatruntime.Spec{WorkshopID: "wsA", Seat: 3}); !errors.Is(err, seatruntime.ErrCapacity) {
		t.Fatalf("third seat with MaxSeats=2: %v", err)
	}
	for _, s := range []*seatruntime.Seat{a1, b2} {
		if err := e.r.Destroy(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConcurrentCreate(t *testing.T) {
	t.Parallel()
	if !nstest.Enter(t, "iptables", "iptables-restore", "mkfs.ext4") {
		return
	}
	e := newEnv(t)
	ctx := context.Background()
	const n = 6
	seats := make([]*seatruntime.Seat, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			var err error
			seats[i], err = e.r.Create(ctx, seatruntime.Spec{WorkshopID: "ws1", Seat: i + 1})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range seats {
		if !e.r.Alive(ctx, s) {
			t.Fatalf("seat %d not alive", s.Seat)
		}
	}
	for _, s := range seats {
		go func() { errs <- e.r.Destroy(ctx, s) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if left, _ := e.r.Seats(); len(left) != 0 {
		t.Fatalf("seats left: %d", len(left))
	}
	e.checkBaseIntact()
}

// TestRepairInPlace: a seat whose microVM died boots again in place with the
// same seat disk (the learner's home), address, TAP, sizes and allowlist; a
// seat whose VM still runs but whose daemon does not answer is shut down
// first. Destroy then removes the allow rules with the seat.
func TestRepairInPlace(t *testing.T) {
	t.Parallel()
	if !nstest.Enter(t, "iptables", "iptables-restore", "mkfs.ext4") {
		return
	}
	e := newEnv(t)
	ctx := context.Background()
	lab := []egress.Rule{{Prefix: netip.MustParsePrefix("10.99.0.0/24"), Port: 5432}}
	s, err := e.r.Create(ctx, seatruntime.Spec{WorkshopID: "ws1", Seat: 7, VCPUs: 4, MemoryMB: 768, DiskMB: 200, Egress: lab})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := e.r.layout("ws1", 7)
	wantAllow := e.r.net.SeatAllowRules(l.vmID, l.ip, lab)
	if got := allowRules(t); !slices.Equal(got, wantAllow) {
		t.Fatalf("allow rules after Create:\n got %q\nwant %q", got, wantAllow)
	}
	if ex := mustExtra(t, s); !slices.Equal(ex.Egress, []string{"10.99.0.0/24:5432"}) {
		t.Fatalf("Extra.Egress = %q", ex.Egress)
	}
	// The learner's files: a mark written into the seat disk.
	mark := []byte("the learner's work")
	writeAt(t, l.disk, mark, 5<<20)
	var before syscall.Stat_t
	if err := syscall.Stat(l.disk, &before); err != nil {
		t.Fatal(err)
	}

	// The VM dies (kill -9 of the Firecracker process).
	old := Process{PID: s.PID, StartTime: mustExtra(t, s).StartTime}
	if err := old.kill(ctx); err != nil {
		t.Fatal(err)
	}
	if e.r.Alive(ctx, s) {
		t.Fatal("killed seat alive")
	}
	calls := len(e.calls("ws1", 7))
	s2, err := e.r.Repair(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if s2.PID == s.PID || !e.r.Alive(ctx, s2) {
		t.Fatalf("repaired seat: pid %d (was %d), alive %v", s2.PID, s.PID, e.r.Alive(ctx, s2))
	}
	if s2.Address != s.Address || s2.VCPUs != 4 || s2.MemoryMB != 768 || s2.DiskMB != 200 || !s2.CreatedAt.Equal(s.CreatedAt) {
		t.Fatalf("repaired seat %+v, was %+v", s2, s)
	}
	var after syscall.Stat_t
	if err := syscall.Stat(l.disk, &after); err != nil || after.Ino != before.Ino || after.Size != 200<<20 {
		t.Fatalf("seat disk replaced: inode %d→%d, size %d (%v)", before.Ino, after.Ino, after.Size, err)
	}
	if got := readAt(t, l.disk, len(mark), 5<<20); !bytes.Equal(got, mark) {
		t.Fatalf("learner's data after the repair: %q", got)
	}
	// The new process was configured like the first: same disk, TAP, sizes.
	got := e.calls("ws1", 7)[calls:]
	for _, w := range []string{
		`PUT /machine-config {"vcpu_count":4,"mem_size_mib":768,"smt":false}`,
		`PUT /drives/home {"drive_id":"home","path_on_host":` + q(l.disk) + `,"is_root_device":false,"is_read_only":false}`,
		`PUT /network-interfaces/eth0 {"iface_id":"eth0","host_dev_name":` + q(l.tap) + `,"guest_mac":"06:00:c0:a8:64:11"}`,
		`PUT /actions {"action_type":"InstanceStart"}`,
	} {
		if !slices.Contains(got, w) {
			t.Errorf("repair calls lack %s:\n%s", w, strings.Join(got, "\n"))
		}
	}
	if got := allowRules(t); !slices.Equal(got, wantAllow) {
		t.Fatalf("allow rules after Repair:\n got %q\nwant %q", got, wantAllow)
	}
	if rec, err := e.r.readRecord(l); err != nil || rec.PID != s2.PID {
		t.Fatalf("record after Repair: %+v %v", rec, err)
	}

	// A VM that runs but whose daemon is gone is shut down and booted again.
	os.Remove(filepath.Join(l.dir, "guest.sock"))
	if e.r.Alive(ctx, s2) {
		t.Fatal("seat without a daemon alive")
	}
	s3, err := e.r.Repair(ctx, s2)
	if err != nil {
		t.Fatal(err)
	}
	if (Process{PID: s2.PID, StartTime: mustExtra(t, s2).StartTime}).running() || !e.r.Alive(ctx, s3) {
		t.Fatal("hung VM not replaced")
	}
	if got := readAt(t, l.disk, len(mark), 5<<20); !bytes.Equal(got, mark) {
		t.Fatalf("learner's data after the second repair: %q", got)
	}

	if err := e.r.Destroy(ctx, s3); err != nil {
		t.Fatal(err)
	}
	if got := allowRules(t); len(got) != 0 {
		t.Fatalf("allow rules left after Destroy: %q", got)
	}
	if _, err := e.r.Repair(ctx, s3); err == nil {
		t.Fatal("Repair of a destroyed seat succeeded")
	}
	e.checkBaseIntact()
}

// TestRepairWithoutDiskFails: a seat whose disk is gone is not booted with an
// empty one (that would lose the learner's files silently).
func TestRepairWithoutDiskFails(t *testing.T) {
	t.Parallel()
	if !nstest.Enter(t, "iptables", "iptables-restore", "mkfs.ext4") {
		return
	}
	e := newEnv(t)
	ctx := context.Background()
	s, err := e.r.Create(ctx, seatruntime.Spec{WorkshopID: "ws1", Seat: 8})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := e.r.layout("ws1", 8)
	(Process{PID: s.PID, StartTime: mustExtra(t, s).StartTime}).kill(ctx) //nolint:errcheck
	if err := os.Remove(l.disk); err != nil {
		t.Fatal(err)
	}
	if _, err := e.r.Repair(ctx, s); err == nil || !strings.Contains(err.Error(), "no seat disk") {
		t.Fatalf("Repair without a disk: %v", err)
	}
	if _, err := os.Stat(l.disk); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Repair made a new disk: %v", err)
	}
	if err := e.r.Destroy(ctx, s); err != nil {
		t.Fatal(err)
	}
}

func allowRules(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("iptables", "-w", "-S", "CLARATEACH-FC-ALLOW").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables -S: %v: %s", err, out)
	}
	var rules []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "-A ") {
			rules = append(rules, l)
		}
	}
	return rules
}

func writeAt(t *testing.T, path string, b []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func readAt(t *testing.T, path string, n int, off int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLearnerRootBoot: a seat made with Spec.LearnerRoot boots with
// clarateach.learner_root=1 on its kernel command line (the guest init's
// cue to run the workspace daemon as the guest's root), says so in its
// record, and boots the same way after a repair; a seat without it has no
// such argument.
func TestLearnerRootBoot(t *testing.T) {
	t.Parallel()
	if !nstest.Enter(t, "iptables", "iptables-restore", "mkfs.ext4") {
		return
	}
	e := newEnv(t)
	ctx := context.Background()
	bootArgs := func(calls []string) []string {
		var out []string
		for _, c := range calls {
			if rest, ok := strings.CutPrefix(c, "PUT /boot-source "); ok {
				var b struct {
					BootArgs string `json:"boot_args"`
				}
				if err := json.Unmarshal([]byte(rest), &b); err != nil {
					t.Fatalf("%s: %v", c, err)
				}
				out = append(out, b.BootArgs)
			}
		}
		return out
	}
	root, err := e.r.Create(ctx, seatruntime.Spec{WorkshopID: "ws1", Seat: 1, LearnerRoot: true})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := e.r.Create(ctx, seatruntime.Spec{WorkshopID: "ws1", Seat: 2})
	if err != nil {
		t.Fatal(err)
	}
	args := bootArgs(e.calls("ws1", 1))
	if len(args) != 1 || !slices.Contains(strings.Fields(args[0]), "clarateach.learner_root=1") {
		t.Fatalf("learner-root seat booted with %q", args)
	}
	if !root.LearnerRoot || plain.LearnerRoot {
		t.Fatalf("LearnerRoot: root seat %v, plain seat %v", root.LearnerRoot, plain.LearnerRoot)
	}
	if got := bootArgs(e.calls("ws1", 2)); len(got) != 1 || strings.Contains(got[0], "learner_root") || strings.Contains(got[0], "clarateach.system") {
		t.Fatalf("plain seat booted with %q", got)
	}
	// The root learner's root is writable: a system disk (the overlay's
	// upper layer over the base image, clarateach.system) of its own.
	l1, _ := e.r.layout("ws1", 1)
	sysDrive := `PUT /drives/system {"drive_id":"system","path_on_host":` + q(l1.system) + `,"is_root_device":false,"is_read_only":false}`
	if !slices.Contains(e.calls("ws1", 1), sysDrive) || !slices.Contains(strings.Fields(args[0]), "clarateach.system=/dev/vdc") {
		t.Fatalf("learner-root seat has no system drive: %q", e.calls("ws1", 1))
	}
	checkSystemDisk(t, l1.system, 1024, "")
	if mustExtra(t, root).SystemDisk != l1.system {
		t.Errorf("record: %+v", mustExtra(t, root))
	}
	l2, _ := e.r.layout("ws1", 2)
	if _, err := os.Stat(l2.system); !os.IsNotExist(err) || slices.ContainsFunc(e.calls("ws1", 2), func(c string) bool { return strings.Contains(c, "/drives/system") }) {
		t.Errorf("a plain seat has a system disk: %v", err)
	}
	if err := (Process{PID: root.PID, StartTime: mustExtra(t, root).StartTime}).kill(ctx); err != nil {
		t.Fatal(err)
	}
	fixed, err := e.r.Repair(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	args = bootArgs(e.calls("ws1", 1))
	if len(args) != 2 || args[1] != args[0] || !fixed.LearnerRoot {
		t.Fatalf("after the repair: boot args %q, LearnerRoot %v", args, fixed.LearnerRoot)
	}
	for _, s := range []*seatruntime.Seat{fixed, plain} {
		if err := e.r.Destroy(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
}
