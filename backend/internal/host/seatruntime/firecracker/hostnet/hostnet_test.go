//go:build linux

package hostnet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/egress"
	"github.com/clarateach/backend/internal/host/seatruntime/firecracker/internal/nstest"
)

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
	return string(out)
}

// ourRules returns the lines of `iptables -t table -S` that mention us.
func ourRules(t *testing.T, table string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(sh(t, "iptables", "-w", "-t", table, "-S"), "\n") {
		if strings.Contains(l, "CLARATEACH") || strings.Contains(l, "fcbr0") {
			out = append(out, l)
		}
	}
	return out
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{{HostCIDR: "nope"}, {HostCIDR: "fd00::1/64"}, {Bridge: "a-very-long-bridge-name"}} {
		if _, err := New(c, nil); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	n, _ := New(Config{}, nil)
	if n.Bridge() != "fcbr0" || n.Gateway().String() != "192.168.100.1" || n.Subnet().String() != "192.168.100.0/24" {
		t.Fatalf("defaults: %s %s %s", n.Bridge(), n.Gateway(), n.Subnet())
	}
	if err := n.AddTap(context.Background(), "bad/name"); err == nil {
		t.Fatal("bad TAP name accepted")
	}
}

func TestSetupIdempotentAndTeardown(t *testing.T) {
	if !nstest.Enter(t, "iptables", "iptables-restore") {
		return
	}
	ctx := context.Background()
	n, err := New(Config{Uplink: "eth9"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := n.Setup(ctx); err != nil {
			t.Fatalf("Setup #%d: %v", i+1, err)
		}
	}
	want := map[string][]string{
		"filter": {
			"-N CLARATEACH-FC-ALLOW",
			"-N CLARATEACH-FC-FWD",
			"-N CLARATEACH-FC-IN",
			"-A INPUT -i fcbr0 -j CLARATEACH-FC-IN",
			"-A FORWARD -o fcbr0 -j CLARATEACH-FC-FWD",
			"-A FORWARD -i fcbr0 -j CLARATEACH-FC-FWD",
			"-A CLARATEACH-FC-FWD -i fcbr0 -o fcbr0 -j DROP",
			"-A CLARATEACH-FC-FWD -i fcbr0 -j CLARATEACH-FC-ALLOW",
			// egress.Blocked, one DROP each, comes here.
			"-A CLARATEACH-FC-FWD -o fcbr0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
			"-A CLARATEACH-FC-FWD -o fcbr0 -j DROP",
			"-A CLARATEACH-FC-FWD -i fcbr0 -j ACCEPT",
			"-A CLARATEACH-FC-IN -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
			"-A CLARATEACH-FC-IN -j DROP",
		},
		"nat": {
			"-N CLARATEACH-FC-NAT",
			"-A POSTROUTING -s 192.168.100.0/24 -j CLARATEACH-FC-NAT",
			"-A CLARATEACH-FC-NAT -o eth9 -j MASQUERADE",
		},
	}
	var blocked []string
	for _, cidr := range egress.Blocked {
		blocked = append(blocked, "-A CLARATEACH-FC-FWD -d "+cidr+" -i fcbr0 -j DROP")
	}
	fwd := slices.Index(want["filter"], "-A CLARATEACH-FC-FWD -i fcbr0 -j CLARATEACH-FC-ALLOW") + 1
	want["filter"] = slices.Insert(want["filter"], fwd, blocked...)
	for table, w := range want {
		if got := ourRules(t, table); !slices.Equal(got, w) {
			t.Errorf("iptables -t %s -S:\n got %q\nwant %q", table, got, w)
		}
	}
	addr := sh(t, "ip", "-4", "-o", "addr", "show", "dev", "fcbr0")
	if !strings.Contains(addr, "inet 192.168.100.1/24") {
		t.Errorf("bridge address: %s", addr)
	}
	if link := sh(t, "ip", "-o", "link", "show", "dev", "fcbr0"); !strings.Contains(link, "UP") {
		t.Errorf("bridge not up: %s", link)
	}
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) != "1" {
		t.Errorf("ip_forward = %q", b)
	}

	for i := 0; i < 2; i++ {
		if err := n.AddTap(ctx, "fc-abcdef12-1"); err != nil {
			t.Fatalf("AddTap #%d: %v", i+1, err)
		}
	}
	d := sh(t, "ip", "-d", "link", "show", "dev", "fc-abcdef12-1")
	for _, w := range []string{"tun type tap", "master fcbr0", "isolated on", "learning off"} {
		if !strings.Contains(d, w) {
			t.Errorf("tap lacks %q:\n%s", w, d)
		}
	}
	if err := n.RemoveTap(ctx, "fc-abcdef12-1"); err != nil {
		t.Fatal(err)
	}
	if err := n.RemoveTap(ctx, "fc-abcdef12-1"); err != nil {
		t.Fatalf("RemoveTap of a missing TAP: %v", err)
	}
	if linkExists("fc-abcdef12-1") {
		t.Error("tap still exists")
	}

	for i := 0; i < 2; i++ {
		if err := n.Teardown(ctx); err != nil {
			t.Fatalf("Teardown #%d: %v", i+1, err)
		}
	}
	for _, table := range []string{"filter", "nat"} {
		if got := ourRules(t, table); len(got) != 0 {
			t.Errorf("left in %s: %q", table, got)
		}
	}
	if linkExists("fcbr0") {
		t.Error("bridge still exists")
	}
}

// TestIsolation wires two veth "guests" to the bridge exactly like TAPs, plus
// a fake uplink host that also owns 169.254.169.254, and probes with TCP.
func TestIsolation(t *testing.T) {
	if !nstest.Enter(t, "iptables", "iptables-restore", "nsenter") {
		return
	}
	ctx := context.Background()
	n, err := New(Config{Uplink: "up0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	hostNS := fmt.Sprintf("/proc/%d/ns/net", os.Getpid())

	// The fake internet: 198.51.100.2 (a documentation address standing in
	// for a public one), 169.254.169.254 and a private lab server 10.99.0.2
	// (the VPC), with no route back to the seats' subnet, so only NAT lets
	// answers come back. All of it lives in throwaway namespaces.
	inet := nstest.NewHolder(t)
	sh(t, "ip", "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", fmt.Sprint(inet.PID()))
	sh(t, "ip", "addr", "add", "198.51.100.1/24", "dev", "up0")
	sh(t, "ip", "link", "set", "up0", "up")
	sh(t, "ip", "route", "add", "169.254.169.254/32", "via", "198.51.100.2")
	sh(t, "ip", "route", "add", "10.99.0.2/32", "via", "198.51.100.2")
	inet.Run(t, "ip", "addr", "add", "198.51.100.2/24", "dev", "eth0")
	inet.Run(t, "ip", "addr", "add", "169.254.169.254/32", "dev", "eth0")
	inet.Run(t, "ip", "addr", "add", "10.99.0.2/32", "dev", "eth0")
	inet.Run(t, "ip", "link", "set", "eth0", "up")

	guests := map[int]*nstest.Holder{}
	for _, seat := range []int{1, 2} {
		g := nstest.NewHolder(t)
		guests[seat] = g
		port := fmt.Sprintf("vg%d", seat)
		sh(t, "ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", fmt.Sprint(g.PID()))
		if err := n.AttachPort(ctx, port); err != nil {
			t.Fatal(err)
		}
		g.Run(t, "ip", "addr", "add", fmt.Sprintf("192.168.100.%d/24", 10+seat), "dev", "eth0")
		g.Run(t, "ip", "link", "set", "eth0", "up")
		g.Run(t, "ip", "route", "add", "default", "via", "192.168.100.1")
	}

	// Servers that answer with the peer address they saw.
	serve := func(ns, addr string) {
		var ln net.Listener
		if err := nstest.Do(ns, func() (err error) { ln, err = net.Listen("tcp", addr); return }); err != nil {
			t.Fatalf("listen %s: %v", addr, err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				io.WriteString(c, c.RemoteAddr().(*net.TCPAddr).IP.String()+"\n") //nolint:errcheck
				c.Close()
			}
		}()
	}
	serve(inet.NS(), "198.51.100.2:80")
	serve(inet.NS(), "10.99.0.2:80")
	serve(inet.NS(), "10.99.0.2:81")
	serve(inet.NS(), "169.254.169.254:80")
	serve(hostNS, "0.0.0.0:9090") // the agent's port
	serve(guests[2].NS(), "192.168.100.12:7000")

	// dial returns the peer address the server saw, or "" if unreachable.
	dial := func(ns, addr string) string {
		var seen string
		nstest.Do(ns, func() error { //nolint:errcheck
			c, err := net.DialTimeout("tcp", addr, 400*time.Millisecond)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck
			b, _ := io.ReadAll(c)
			seen = strings.TrimSpace(string(b))
			return nil
		})
		return seen
	}
	g1 := guests[1].NS()
	cases := []struct {
		name, from, to, want string // want "" = must fail
	}{
		{"host reaches a seat's daemon", hostNS, "192.168.100.12:7000", "192.168.100.1"},
		{"host reaches metadata (control)", hostNS, "169.254.169.254:80", "198.51.100.1"},
		{"host reaches the private lab server (control)", hostNS, "10.99.0.2:80", "198.51.100.1"},
		{"seat has NAT egress", g1, "198.51.100.2:80", "198.51.100.1"},
		{"seat cannot reach metadata", g1, "169.254.169.254:80", ""},
		{"seat cannot reach a private address (the VPC)", g1, "10.99.0.2:80", ""},
		{"seat cannot reach the agent on the bridge", g1, "192.168.100.1:9090", ""},
		{"seat cannot reach the agent on the uplink", g1, "198.51.100.1:9090", ""},
		{"seat cannot reach another seat", g1, "192.168.100.12:7000", ""},
	}
	for _, brnf := range []string{"1", "0"} {
		// Isolation must hold with and without br_netfilter.
		if err := writeSysctl("/proc/sys/net/bridge/bridge-nf-call-iptables", brnf, true); err != nil {
			t.Logf("cannot set bridge-nf-call-iptables: %v", err)
		}
		for _, c := range cases {
			if got := dial(c.from, c.to); got != c.want {
				t.Errorf("bridge-nf-call-iptables=%s: %s: dial %s saw %q, want %q", brnf, c.name, c.to, got, c.want)
			}
		}
	}

	// A workshop's allowlist opens exactly its lab server and port, for the
	// seat it was given to only; the rest stays closed.
	lab := []egress.Rule{{Prefix: netip.MustParsePrefix("10.99.0.2/32"), Port: 80}, {Prefix: netip.MustParsePrefix("192.168.100.0/24")}}
	seat1 := netip.MustParseAddr("192.168.100.11")
	for i := 0; i < 2; i++ { // idempotent: the second call replaces, never duplicates
		if err := n.AllowSeat(ctx, "ct-ws1-1", seat1, lab); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.AllowSeat(ctx, "ct-ws2-2", netip.MustParseAddr("192.168.100.12"), nil); err != nil {
		t.Fatal(err)
	}
	wantAllow := n.SeatAllowRules("ct-ws1-1", seat1, lab)
	if got := chainRules(t, ChainAllow); !slices.Equal(got, wantAllow) {
		t.Errorf("allow chain:\n got %q\nwant %q", got, wantAllow)
	}
	// An agent restart (Setup again) keeps the seat's rules.
	if err := n.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if got := chainRules(t, ChainAllow); !slices.Equal(got, wantAllow) {
		t.Errorf("allow chain after Setup again:\n got %q\nwant %q", got, wantAllow)
	}
	g2 := guests[2].NS()
	allowCases := []struct {
		name, from, to, want string
	}{
		{"allowlisted lab server", g1, "10.99.0.2:80", "198.51.100.1"},
		{"the lab server's other port", g1, "10.99.0.2:81", ""},
		{"metadata stays closed", g1, "169.254.169.254:80", ""},
		{"the agent stays closed", g1, "192.168.100.1:9090", ""},
		{"an allowed seat subnet does not open another seat", g1, "192.168.100.12:7000", ""},
		{"another seat without the allowlist", g2, "10.99.0.2:80", ""},
	}
	for _, brnf := range []string{"1", "0"} {
		if err := writeSysctl("/proc/sys/net/bridge/bridge-nf-call-iptables", brnf, true); err != nil {
			t.Logf("cannot set bridge-nf-call-iptables: %v", err)
		}
		for _, c := range allowCases {
			if got := dial(c.from, c.to); got != c.want {
				t.Errorf("bridge-nf-call-iptables=%s: %s: dial %s saw %q, want %q", brnf, c.name, c.to, got, c.want)
			}
		}
	}
	// Removing the seat removes exactly its rules.
	for i := 0; i < 2; i++ {
		if err := n.RemoveSeat(ctx, "ct-ws1-1"); err != nil {
			t.Fatal(err)
		}
	}
	if got := chainRules(t, ChainAllow); len(got) != 0 {
		t.Errorf("allow rules left after RemoveSeat: %q", got)
	}
	if got := dial(g1, "10.99.0.2:80"); got != "" {
		t.Errorf("seat reached the lab server after RemoveSeat: %q", got)
	}
	if err := n.AllowSeat(ctx, "bad key", seat1, lab); err == nil {
		t.Error("AllowSeat accepted a bad key")
	}
	if err := n.AllowSeat(ctx, "ct-ws1-1", netip.MustParseAddr("10.0.0.1"), lab); err == nil {
		t.Error("AllowSeat accepted a seat address outside the subnet")
	}
}

// chainRules lists the -A rules of one filter chain.
func chainRules(t *testing.T, chain string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(sh(t, "iptables", "-w", "-S", chain), "\n") {
		if strings.HasPrefix(l, "-A ") {
			out = append(out, l)
		}
	}
	return out
}

// TestPinnedPorts: with PinPort, a guest that is root in its VM (a
// learner_root seat) neither receives the host's frames for another seat
// (the bridge no longer floods them to every port) nor takes another seat's
// address from the host (an ARP claiming it does not move the host's
// neighbour entry): the host still reaches the real seat.
func TestPinnedPorts(t *testing.T) {
	if !nstest.Enter(t, "iptables", "iptables-restore", "nsenter", "bridge") {
		return
	}
	ctx := context.Background()
	n, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	guests := map[int]*nstest.Holder{}
	for _, seat := range []int{1, 2} {
		g := nstest.NewHolder(t)
		guests[seat] = g
		port := fmt.Sprintf("vg%d", seat)
		ip := netip.MustParseAddr(fmt.Sprintf("192.168.100.%d", 10+seat))
		mac := fmt.Sprintf("06:00:c0:a8:64:%02x", 10+seat) // firecracker.GuestAddr's
		sh(t, "ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "address", mac, "netns", fmt.Sprint(g.PID()))
		if err := n.AttachPort(ctx, port); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ { // idempotent
			if err := n.PinPort(ctx, port, mac, ip); err != nil {
				t.Fatal(err)
			}
		}
		g.Run(t, "ip", "addr", "add", ip.String()+"/24", "dev", "eth0")
		g.Run(t, "ip", "link", "set", "eth0", "up")
	}
	// A port with a lower MAC than the bridge's joins: the bridge keeps its
	// own address (Setup fixed it), so the pins stay.
	sh(t, "ip", "link", "add", "vlow", "address", "00:00:00:00:00:01", "type", "veth", "peer", "name", "vlowp")
	if err := n.AttachPort(ctx, "vlow"); err != nil {
		t.Fatal(err)
	}
	neigh := sh(t, "ip", "neigh", "show", "dev", "fcbr0")
	for _, w := range []string{"192.168.100.11 lladdr 06:00:c0:a8:64:0b PERMANENT", "192.168.100.12 lladdr 06:00:c0:a8:64:0c PERMANENT"} {
		if !strings.Contains(neigh, w) {
			t.Errorf("the host's neighbours lack %q:\n%s", w, neigh)
		}
	}
	if err := n.PinPort(ctx, "vg1", "06:00:c0:a8:64:0b", netip.MustParseAddr("10.0.0.1")); err == nil {
		t.Error("PinPort accepted an address outside the seats' subnet")
	}
	// Each guest's daemon port says who answers.
	serve := func(ns, tag string) {
		var ln net.Listener
		if err := nstest.Do(ns, func() (err error) { ln, err = net.Listen("tcp", "0.0.0.0:7000"); return }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				io.WriteString(c, tag) //nolint:errcheck
				c.Close()
			}
		}()
	}
	serve(guests[1].NS(), "impostor")
	serve(guests[2].NS(), "seat 2")
	ask := func() string {
		c, err := net.DialTimeout("tcp", "192.168.100.12:7000", 2*time.Second)
		if err != nil {
			return err.Error()
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck
		b, _ := io.ReadAll(c)
		return string(b)
	}
	// What the bridge sent into seat 1's port (its host end's transmit
	// count; read through netlink, as /sys shows another namespace here).
	rx := func() int {
		var links []struct {
			Stats struct {
				TX struct {
					Packets int `json:"packets"`
				} `json:"tx"`
			} `json:"stats64"`
		}
		if err := json.Unmarshal([]byte(sh(t, "ip", "-s", "-j", "link", "show", "dev", "vg1")), &links); err != nil || len(links) != 1 {
			t.Fatalf("ip -s -j link show vg1: %v", err)
		}
		return links[0].Stats.TX.Packets
	}

	// The host talks to seat 2: seat 1 hears none of it.
	before := rx()
	for i := 0; i < 20; i++ {
		if got := ask(); got != "seat 2" {
			t.Fatalf("the host reached %q at seat 2's address", got)
		}
	}
	if heard := rx() - before; heard > 2 {
		t.Errorf("seat 1 received %d frames while the host talked to seat 2", heard)
	}

	// Seat 1 takes seat 2's address and announces it (an ARP for the
	// gateway with 192.168.100.12 as its sender), after the host's
	// neighbour lock time (1 s) so that an ordinary entry would move.
	time.Sleep(1200 * time.Millisecond) // the kernel's ARP locktime, not a wait for async work
	guests[1].Run(t, "ip", "addr", "add", "192.168.100.12/32", "dev", "eth0")
	nstest.Do(guests[1].NS(), func() error { //nolint:errcheck
		d := net.Dialer{Timeout: 300 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.ParseIP("192.168.100.12")}}
		if c, err := d.Dial("tcp", "192.168.100.1:9090"); err == nil {
			c.Close()
		}
		return nil
	})
	for i := 0; i < 5; i++ {
		if got := ask(); got != "seat 2" {
			t.Fatalf("after seat 1 claimed seat 2's address the host reached %q", got)
		}
	}
}
