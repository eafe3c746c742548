//go:build linux

package sandbox

// Network tests never touch the host's network: the test binary re-runs
// itself under `unshare --net`, so the "host" side (veths, iptables rules,
// ip_forward) lives in a throwaway namespace that vanishes with the
// process. The "internet" is one more namespace behind a veth, holding a
// public-looking test address (198.51.100.1, TEST-NET-2) and a fake
// metadata server on 169.254.169.254. Nothing is sent off this machine.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/egress"
	"github.com/clarateach/backend/internal/host/netlink"
	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatpid1"
)

// privateLabs are lab servers on private, shared and other special
// addresses behind the fake internet: seats must not reach them unless a
// workshop's allowlist opens one (labAllowed, port 8080 only).
var privateLabs = []string{"10.9.8.7", "172.16.9.9", "192.168.77.1", "100.64.3.3", "198.18.0.9"}

const labAllowed = "10.9.8.7"

const (
	inetAddr     = "198.51.100.1"
	inetHostAddr = "198.51.100.2" // the fake host's address towards the internet
	metadataAddr = "169.254.169.254"
)

// inNetns re-runs the calling test inside a fresh network namespace and
// reports false in the outer process (which should then return), true in
// the inner one.
func inNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(envInNetns) == "1" {
		return true
	}
	needRoot(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare(1) not found")
	}
	for _, tool := range []string{"ip", "nsenter", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found (apt-get install -y iproute2 util-linux iptables)", tool)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--net", "--", exe, "-test.run", "^" + t.Name() + "$", "-test.count=1", "-test.v"}
	cmd := exec.Command(unshare, args...)
	cmd.Env = append(os.Environ(), envInNetns+"=1")
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		t.Log(line)
	}
	if err != nil {
		t.Fatalf("in a network namespace: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatal("the test did not pass inside the network namespace")
	}
	return false
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// internetMain runs in the "internet" namespace: once its address is up it
// greets on inetAddr:8080 and on the fake metadata server, until stdin
// closes.
func internetMain() int {
	deadline := time.Now().Add(10 * time.Second)
	var inet, meta net.Listener
	labs := map[string]net.Listener{} // "addr:port" of every lab server
	for {
		var err error
		if inet == nil {
			inet, _ = net.Listen("tcp", inetAddr+":8080")
		}
		if meta == nil {
			meta, err = net.Listen("tcp", metadataAddr+":80")
		}
		for _, a := range privateLabs {
			for _, port := range []string{"8080", "9090"} {
				if labs[a+":"+port] == nil {
					if l, lerr := net.Listen("tcp", a+":"+port); lerr == nil {
						labs[a+":"+port] = l
					} else {
						err = lerr
					}
				}
			}
		}
		if inet != nil && meta != nil && len(labs) == 2*len(privateLabs) {
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "internet: addresses never came up:", err)
			return 1
		}
		time.Sleep(2 * time.Millisecond) // polling for addresses set up from outside
	}
	go serveGreeting(inet, "internet")
	go serveGreeting(meta, "metadata")
	for _, l := range labs {
		go serveGreeting(l, "lab")
	}
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
}

// fakeInternet starts the internet namespace and routes the current
// (throwaway) namespace's default route through it.
func fakeInternet(t *testing.T) {
	t.Helper()
	run(t, "ip", "link", "set", "lo", "up")
	cmd := exec.Command(testBin)
	cmd.Env = append(os.Environ(), envInternet+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	pid := fmt.Sprint(cmd.Process.Pid)
	run(t, "ip", "link", "add", "ctinet0", "type", "veth", "peer", "name", "eth0", "netns", pid)
	run(t, "ip", "addr", "add", inetHostAddr+"/24", "dev", "ctinet0")
	run(t, "ip", "link", "set", "ctinet0", "up")
	run(t, "ip", "route", "add", "default", "via", inetAddr)
	run(t, "nsenter", "-t", pid, "-n", "sh", "-ec",
		"ip link set lo up; ip addr add "+inetAddr+"/24 dev eth0; ip link set eth0 up; ip addr add "+metadataAddr+"/32 dev lo; "+
			"for a in "+strings.Join(privateLabs, " ")+"; do ip addr add $a/32 dev lo; done")
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("internet namespace: %q %v", line, err)
	}
}

func TestNetworkIsolation(t *testing.T) {
	if !inNetns(t) {
		return
	}
	fakeInternet(t)
	// The agent's port, on every host address.
	agent, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	go serveGreeting(agent, "agent")
	agentPort := fmt.Sprint(agent.Addr().(*net.TCPAddr).Port)

	// Controls: every target answers when no seat firewall is involved, so
	// the failures below are the firewall's doing.
	controls := []string{inetAddr + ":8080", metadataAddr + ":80", inetHostAddr + ":" + agentPort}
	for _, a := range privateLabs {
		controls = append(controls, a+":8080")
	}
	for _, addr := range controls {
		if res := dialOnce(addr, 2*time.Second); !res.OK {
			t.Fatalf("control: host cannot reach %s: %s", addr, res.Error)
		}
	}

	// Seat a is started from scratch, then (second round) a claimed warm
	// seat: both must be as isolated.
	for _, warm := range []bool{false, true} {
		t.Run(fmt.Sprintf("warm=%v", warm), func(t *testing.T) {
			testSeatNetwork(t, agentPort, warm)
		})
	}
}

func testSeatNetwork(t *testing.T, agentPort string, warm bool) {
	cfg := testConfig(t)
	if cfg.Network.Disabled {
		t.Fatal("network disabled inside the test namespace")
	}
	var r *Runtime
	var warmSeats map[int]string
	if warm {
		cfg.WarmSeats, cfg.WarmRefillDelay = 1, -1
		r = newWarmRuntime(t, cfg)
		waitWarm(t, r, 1)
		warmSeats = warmPIDs(t, cfg.BaseDir)
	} else {
		r = newRuntime(t, cfg)
	}
	a := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-net", Seat: 1})
	if _, claimed := warmSeats[a.PID]; claimed != warm {
		t.Fatalf("seat a claimed from the warm pool: %v, want %v", claimed, warm)
	}
	b := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-net", Seat: 2})
	// Seat b, started from scratch, gets the C init where the tests have
	// it, which sets its network up as the Go init does (all that follows).
	wantInit := filepath.Base(cfg.InitPath)
	if cfg.PID1Path != "" {
		wantInit = seatpid1.BinaryName
	}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", b.PID)); err != nil || filepath.Base(exe) != wantInit {
		t.Errorf("seat b's init runs %q (%v), want %s", exe, err, wantInit)
	}
	if a.IP == "" || b.IP == "" || a.IP == b.IP {
		t.Fatalf("seat IPs %q %q", a.IP, b.IP)
	}

	// NAT egress: the internet sees the host's address, not the seat's.
	res := seatDial(t, a, inetAddr+":8080", 3*time.Second)
	if !res.OK || !strings.HasPrefix(res.Data, "internet "+inetHostAddr+":") {
		t.Fatalf("egress from seat: %+v", res)
	}

	// Seat b listens; the host reaches it, seat a must not.
	var bAddr string
	seatPost(t, b, "/listen?addr=0.0.0.0:7000", nil, &bAddr)
	if res := dialOnce(b.IP+":7000", 2*time.Second); !res.OK {
		t.Fatalf("control: host cannot reach seat b's listener: %s", res.Error)
	}
	exA := seatExtra(t, a)
	exB := seatExtra(t, b)
	gwA, _ := r.slotAddrs(exA.Slot)
	gwB, _ := r.slotAddrs(exB.Slot)
	for _, target := range []string{
		metadataAddr + ":80",                  // cloud metadata
		inetHostAddr + ":" + agentPort,        // the agent, on the host's address
		gwA.Addr().String() + ":" + agentPort, // the agent, on the seat's gateway
		gwB.Addr().String() + ":" + agentPort, // the agent, on another seat's gateway
		b.IP + ":7000",                        // another seat
		"127.0.0.1:" + agentPort,              // (the seat's own loopback)
	} {
		if res := seatDial(t, a, target, 700*time.Millisecond); res.OK {
			t.Errorf("seat reached %s: %q", target, res.Data)
		}
	}
	// Private, shared and reserved ranges (the VPC, other hosts, internal
	// services) are closed by default.
	for _, lab := range privateLabs {
		if res := seatDial(t, a, lab+":8080", 700*time.Millisecond); res.OK {
			t.Errorf("seat reached private lab server %s: %q", lab, res.Data)
		}
	}
	// A workshop's allowlist opens exactly one lab server and port, for
	// its own seats only.
	c := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-lab", Seat: 1,
		Egress: []egress.Rule{{Prefix: netip.MustParsePrefix(labAllowed + "/32"), Port: 8080}}})
	if res := seatDial(t, c, labAllowed+":8080", 3*time.Second); !res.OK || !strings.HasPrefix(res.Data, "lab ") {
		t.Errorf("allowlisted lab server from seat c: %+v", res)
	}
	for _, target := range []string{labAllowed + ":9090", "172.16.9.9:8080", metadataAddr + ":80", b.IP + ":7000", inetHostAddr + ":" + agentPort} {
		if res := seatDial(t, c, target, 700*time.Millisecond); res.OK {
			t.Errorf("seat c (allowlist %s:8080) reached %s: %q", labAllowed, target, res.Data)
		}
	}
	if res := seatDial(t, a, labAllowed+":8080", 700*time.Millisecond); res.OK {
		t.Errorf("seat a reached the other workshop's lab server: %q", res.Data)
	}
	// A seat repaired in place (its daemon died) keeps its allowlist.
	c2, err := r.Repair(context.Background(), c)
	if err != nil {
		t.Fatalf("Repair: %v", err)
	}
	c = c2
	if res := seatDial(t, c, labAllowed+":8080", 3*time.Second); !res.OK {
		t.Errorf("allowlisted lab server after a repair: %+v", res)
	}
	exC := seatExtra(t, c)
	if err := r.Destroy(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("iptables", "-S", chainAllow).CombinedOutput(); strings.Contains(string(out), exC.Key) {
		t.Errorf("allow rules left after Destroy:\n%s", out)
	}

	// No IPv6 beyond loopback.
	if got := seatSh(t, a, "cat /proc/net/if_inet6 | grep -v ' lo$' | wc -l"); got != "0" {
		t.Errorf("seat has IPv6 addresses: %s", seatSh(t, a, "cat /proc/net/if_inet6"))
	}

	// Destroy removes the seat's interface.
	if err := r.Destroy(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if netlink.LinkExists(exA.Veth) {
		t.Errorf("veth %s left after Destroy", exA.Veth)
	}
	// And RemoveFirewall takes every rule away.
	if err := r.RemoveFirewall(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"filter", "nat"} {
		out, _ := exec.Command("iptables", "-t", table, "-S").CombinedOutput()
		if strings.Contains(string(out), "CLARATEACH") {
			t.Errorf("iptables %s after RemoveFirewall:\n%s", table, out)
		}
	}
}

// TestNoNetwork: with networking off a seat has loopback only.
func TestNoNetwork(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	cfg.Network.Disabled = true
	r := newRuntime(t, cfg)
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-nonet", Seat: 1})
	if s.IP != "" {
		t.Errorf("seat without network has IP %s", s.IP)
	}
	ifaces := seatSh(t, s, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '")
	if ifaces != "lo" {
		t.Errorf("interfaces in the seat: %q", ifaces)
	}
	if res := seatDial(t, s, inetAddr+":8080", 500*time.Millisecond); res.OK || !strings.Contains(res.Error, "unreachable") {
		t.Errorf("dial out without network: %+v", res)
	}
	// Loopback works inside.
	seatPost(t, s, "/listen?addr=127.0.0.1:7000", nil, new(string))
	if res := seatDial(t, s, "127.0.0.1:7000", time.Second); !res.OK {
		t.Errorf("loopback in seat: %+v", res)
	}
}

// createConcurrently creates n seats at once and reports Create latency.
func createConcurrently(t *testing.T, r *Runtime, n int) {
	t.Helper()
	durs := make([]time.Duration, n)
	seats := make([]*seatruntime.Seat, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	busy0 := cpuBusy()
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			t0 := time.Now()
			seats[i], errs[i] = r.Create(context.Background(), seatruntime.Spec{WorkshopID: "ws-load", Seat: i + 1})
			durs[i] = time.Since(t0)
		}(i)
	}
	wg.Wait()
	total := time.Since(start)
	busy := cpuBusy() - busy0
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, s := range seats {
			if s == nil {
				continue
			}
			wg.Add(1)
			go func(s *seatruntime.Seat) {
				defer wg.Done()
				if err := r.Destroy(context.Background(), s); err != nil {
					t.Errorf("Destroy: %v", err)
				}
			}(s)
		}
		wg.Wait()
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("seat %d: %v", i+1, err)
		}
	}
	sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
	p := func(q float64) time.Duration { return durs[int(q*float64(n-1)+0.5)] }
	t.Logf("%d seats created concurrently (network=%v) in %v: p50 %v, p99 %v, min %v, max %v",
		n, r.network, total.Round(time.Millisecond), p(0.5).Round(100*time.Microsecond),
		p(0.99).Round(100*time.Microsecond), durs[0].Round(100*time.Microsecond), durs[n-1].Round(100*time.Microsecond))
	if busy > 0 {
		t.Logf("machine CPU busy during the burst: %v (%v per seat) of %v available on %d CPUs",
			busy.Round(time.Millisecond), (busy / time.Duration(n)).Round(100*time.Microsecond),
			(total * time.Duration(runtime.NumCPU())).Round(time.Millisecond), runtime.NumCPU())
	}
	for _, s := range seats {
		if !r.Alive(context.Background(), s) {
			t.Errorf("seat %d not alive", s.Seat)
		}
	}
}

// TestConcurrentCreate: 30 seats at once, loopback-only seats.
func TestConcurrentCreate(t *testing.T) {
	needRoot(t)
	r := newRuntime(t, testConfig(t))
	createConcurrently(t, r, 30)
}

// TestConcurrentCreateNetwork: 30 seats at once with veths and NAT, inside
// a throwaway network namespace.
func TestConcurrentCreateNetwork(t *testing.T) {
	if !inNetns(t) {
		return
	}
	r := newRuntime(t, testConfig(t))
	createConcurrently(t, r, 30)
}

// BenchmarkCreate measures Create (to daemon ready) of one seat at a time.
func BenchmarkCreate(b *testing.B) {
	needRoot(b)
	r := newRuntime(b, testConfig(b))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := r.Create(context.Background(), seatruntime.Spec{WorkshopID: "ws-bench", Seat: i})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := r.Destroy(context.Background(), s); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// cpuBusy is the machine's total non-idle CPU time so far (all CPUs, from
// /proc/stat), or 0 if unknown: the CPU cost of a burst of creates,
// including the kernel's work and every seat process.
func cpuBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already in user
			break
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / 100) // USER_HZ
}
