// Package hostnet sets up the host side of Firecracker seat networking: the
// bridge the seats' TAP devices hang off, IP forwarding, and the iptables
// rules that give seats NAT egress while keeping them away from each other,
// from the host's own services (the agent port included) and from the cloud
// metadata server.
//
// Everything is done with the ordinary tools (`ip` from iproute2,
// `iptables`, `iptables-restore`) so an operator can read, repeat and undo
// it by hand. Every operation is idempotent.
package hostnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/clarateach/backend/internal/egress"
)

// Defaults.
const (
	DefaultBridge   = "fcbr0"
	DefaultHostCIDR = "192.168.100.1/24"
	// Chain names (iptables allows 28 characters).
	ChainInput   = "CLARATEACH-FC-IN"
	ChainForward = "CLARATEACH-FC-FWD"
	ChainNAT     = "CLARATEACH-FC-NAT"
	// ChainAllow holds the per-seat allowlist rules (a workshop's lab
	// servers, AllowSeat). Setup creates it but never empties it, so the
	// rules of seats that outlive an agent restart stay in force.
	ChainAllow = "CLARATEACH-FC-ALLOW"
	// MetadataCIDR is the link-local range holding the cloud metadata
	// server 169.254.169.254.
	MetadataCIDR = "169.254.0.0/16"
)

// Config describes the host network.
type Config struct {
	Bridge   string // bridge name; default fcbr0
	HostCIDR string // the bridge's address and the seats' subnet; default 192.168.100.1/24
	// Uplink, if set, is the interface NAT egress leaves by. Empty means any
	// interface but the bridge.
	Uplink string
	// TapUser, if set, owns the TAP devices (for a Firecracker that runs as
	// that user, e.g. under the jailer).
	TapUser string
}

func (c Config) withDefaults() Config {
	if c.Bridge == "" {
		c.Bridge = DefaultBridge
	}
	if c.HostCIDR == "" {
		c.HostCIDR = DefaultHostCIDR
	}
	return c
}

// Runner runs a command and returns its combined output.
type Runner func(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error)

// Exec is the default Runner.
func Exec(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// Net manages the host network. It is safe for concurrent use.
type Net struct {
	cfg    Config
	prefix netip.Prefix
	run    Runner
	mu     sync.Mutex // serialises bridge and firewall changes
}

// New checks cfg. run may be nil (Exec).
func New(cfg Config, run Runner) (*Net, error) {
	cfg = cfg.withDefaults()
	p, err := netip.ParsePrefix(cfg.HostCIDR)
	if err != nil || !p.Addr().Is4() {
		return nil, fmt.Errorf("hostnet: bad host CIDR %q", cfg.HostCIDR)
	}
	if len(cfg.Bridge) > 15 || len(cfg.Uplink) > 15 {
		return nil, errors.New("hostnet: interface names are at most 15 characters")
	}
	if run == nil {
		run = Exec
	}
	return &Net{cfg: cfg, prefix: p, run: run}, nil
}

// Bridge is the bridge name.
func (n *Net) Bridge() string { return n.cfg.Bridge }

// Gateway is the bridge's address, the seats' default gateway.
func (n *Net) Gateway() netip.Addr { return n.prefix.Addr() }

// Subnet is the seats' subnet, e.g. 192.168.100.0/24.
func (n *Net) Subnet() netip.Prefix { return n.prefix.Masked() }

// linkExists asks the kernel over netlink, which (unlike /sys/class/net)
// always answers for the caller's network namespace.
func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

func writeSysctl(path, val string, optional bool) error {
	err := os.WriteFile(path, []byte(val), 0o644)
	if err != nil && optional && errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("hostnet: sysctl %s: %w", path, err)
	}
	return nil
}

// BridgeMAC is the bridge's own address: 06:00 (locally administered)
// followed by the gateway's four address bytes, as a seat's MAC is made
// from its address.
func (n *Net) BridgeMAC() string {
	b := n.Gateway().As4()
	return fmt.Sprintf("06:00:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

func hasMAC(name, mac string) bool {
	i, err := net.InterfaceByName(name)
	return err == nil && i.HardwareAddr.String() == mac
}

// Setup creates the bridge, enables forwarding and installs the firewall.
// Running it again changes nothing (and repairs drift in our own chains).
func (n *Net) Setup(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	br := n.cfg.Bridge
	if !linkExists(br) {
		if _, err := n.run(ctx, nil, "ip", "link", "add", "name", br, "type", "bridge"); err != nil && !linkExists(br) {
			return fmt.Errorf("hostnet: create bridge: %w", err)
		}
	}
	// Seats reach the host only over IPv4 and only where the firewall says;
	// no IPv6 link-local side door.
	if err := writeSysctl("/proc/sys/net/ipv6/conf/"+br+"/disable_ipv6", "1", true); err != nil {
		return err
	}
	steps := [][]string{
		{"ip", "addr", "replace", n.cfg.HostCIDR, "dev", br},
		{"ip", "link", "set", "dev", br, "up"},
	}
	// A bridge without an address of its own takes its lowest port's, and
	// each change of it flushes the bridge's neighbour entries, permanent
	// ones too (PinPort's): it gets a fixed one, set only when it differs.
	if mac := n.BridgeMAC(); !hasMAC(br, mac) {
		steps = append([][]string{{"ip", "link", "set", "dev", br, "address", mac}}, steps...)
	}
	for _, s := range steps {
		if _, err := n.run(ctx, nil, s[0], s[1:]...); err != nil {
			return fmt.Errorf("hostnet: %w", err)
		}
	}
	if err := writeSysctl("/proc/sys/net/ipv4/ip_forward", "1", false); err != nil {
		return err
	}
	return n.firewall(ctx)
}

// Rules returns the rules of our chains as `iptables -S` prints them, by table.
func (n *Net) Rules() map[string][]string {
	br := n.cfg.Bridge
	nat := "! -o " + br
	if n.cfg.Uplink != "" {
		nat = "-o " + n.cfg.Uplink
	}
	filter := []string{
		// From a seat to the host itself: only answers to connections the
		// host opened (the agent dialling the workspace daemon).
		"-A " + ChainInput + " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
		"-A " + ChainInput + " -j DROP",
		// Seat to seat (when bridged frames are seen by iptables through
		// br_netfilter, or routed back out of the bridge).
		"-A " + ChainForward + " -i " + br + " -o " + br + " -j DROP",
		// A workshop's allowlist (AllowSeat) comes before the blocked
		// ranges; it cannot open seat to seat (the rule above).
		"-A " + ChainForward + " -i " + br + " -j " + ChainAllow,
	}
	// Cloud metadata, the VPC and every other private, shared, link-local,
	// multicast or reserved range (scripts/lib/host-firewall.sh installs the
	// same list at boot; a test compares the two).
	for _, cidr := range egress.Blocked {
		filter = append(filter, "-A "+ChainForward+" -i "+br+" -d "+cidr+" -j DROP")
	}
	filter = append(filter,
		"-A "+ChainForward+" -o "+br+" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
		"-A "+ChainForward+" -o "+br+" -j DROP",
		"-A "+ChainForward+" -i "+br+" -j ACCEPT",
	)
	return map[string][]string{
		"filter": filter,
		"nat": {
			"-A " + ChainNAT + " " + nat + " -j MASQUERADE",
		},
	}
}

// Jumps returns the rules that hook our chains into the built-in ones, as
// `iptables -S` prints them, by table.
func (n *Net) Jumps() map[string][]string {
	br := n.cfg.Bridge
	return map[string][]string{
		"filter": {
			"-A INPUT -i " + br + " -j " + ChainInput,
			"-A FORWARD -i " + br + " -j " + ChainForward,
			"-A FORWARD -o " + br + " -j " + ChainForward,
		},
		"nat": {
			"-A POSTROUTING -s " + n.Subnet().String() + " -j " + ChainNAT,
		},
	}
}

func (n *Net) firewall(ctx context.Context) error {
	// iptables-restore --noflush declares (creating or emptying) our chains
	// and fills them in one transaction: no window without the DROP rules,
	// and no duplicates however often it runs.
	// The allow chain is created, never declared below: declaring a chain
	// in iptables-restore empties it.
	if _, err := n.run(ctx, nil, "iptables", "-w", "-t", "filter", "-S", ChainAllow); err != nil {
		if _, err := n.run(ctx, nil, "iptables", "-w", "-t", "filter", "-N", ChainAllow); err != nil {
			return fmt.Errorf("hostnet: firewall: %w", err)
		}
	}
	rules := n.Rules()
	var b strings.Builder
	b.WriteString("*filter\n:" + ChainInput + " - [0:0]\n:" + ChainForward + " - [0:0]\n")
	for _, r := range rules["filter"] {
		b.WriteString(r + "\n")
	}
	b.WriteString("COMMIT\n*nat\n:" + ChainNAT + " - [0:0]\n")
	for _, r := range rules["nat"] {
		b.WriteString(r + "\n")
	}
	b.WriteString("COMMIT\n")
	if _, err := n.run(ctx, []byte(b.String()), "iptables-restore", "-w", "--noflush"); err != nil {
		return fmt.Errorf("hostnet: firewall: %w", err)
	}
	// Hook the chains in first, ahead of anything (e.g. Docker) that might
	// accept the traffic earlier, unless already hooked.
	jumps := n.Jumps()
	for _, table := range []string{"filter", "nat"} {
		for _, j := range jumps[table] {
			spec := strings.Fields(j)[1:] // chain + match
			chain, match := spec[0], spec[1:]
			check := append([]string{"-w", "-t", table, "-C", chain}, match...)
			if _, err := n.run(ctx, nil, "iptables", check...); err == nil {
				continue
			}
			ins := append([]string{"-w", "-t", table, "-I", chain, "1"}, match...)
			if _, err := n.run(ctx, nil, "iptables", ins...); err != nil {
				return fmt.Errorf("hostnet: firewall: %w", err)
			}
		}
	}
	return nil
}

// AddTap creates the TAP device name (if missing) and attaches it to the
// bridge as an isolated port, then brings it up.
func (n *Net) AddTap(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if !linkExists(name) {
		args := []string{"tuntap", "add", "dev", name, "mode", "tap"}
		if n.cfg.TapUser != "" {
			args = append(args, "user", n.cfg.TapUser)
		}
		if _, err := n.run(ctx, nil, "ip", args...); err != nil && !linkExists(name) {
			return fmt.Errorf("hostnet: create tap: %w", err)
		}
	}
	return n.AttachPort(ctx, name)
}

// AttachPort makes an existing link an isolated, IPv6-less port of the
// bridge and brings it up. Isolated ports cannot exchange frames with each
// other (only with the bridge itself, i.e. the host), which keeps seats apart
// even where br_netfilter is not loaded.
func (n *Net) AttachPort(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := writeSysctl("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", "1", true); err != nil {
		return err
	}
	steps := [][]string{
		{"ip", "link", "set", "dev", name, "master", n.cfg.Bridge},
		{"ip", "link", "set", "dev", name, "type", "bridge_slave", "isolated", "on", "learning", "off"},
		{"ip", "link", "set", "dev", name, "up"},
	}
	for _, s := range steps {
		if _, err := n.run(ctx, nil, s[0], s[1:]...); err != nil {
			return fmt.Errorf("hostnet: port %s: %w", name, err)
		}
	}
	return nil
}

// PinPort binds a seat's guest address and MAC to its port, so that a
// guest whose user is root (learner_root) cannot hear or take another
// seat's traffic: a static bridge entry sends frames for mac to port only,
// unknown unicast and multicast are no longer flooded to the port (with
// learning off, the bridge flooded the host's frames for every seat to
// every port), and the host's neighbour entry for ip is permanent (an ARP
// from a guest claiming ip cannot redirect the host's packets for it). The
// neighbour entry outlives the port: the next seat on the slot has the
// same address and MAC (GuestAddr). Idempotent.
func (n *Net) PinPort(ctx context.Context, name, mac string, ip netip.Addr) error {
	if err := checkName(name); err != nil {
		return err
	}
	if _, err := net.ParseMAC(mac); err != nil {
		return fmt.Errorf("hostnet: pin %s: %w", name, err)
	}
	if !n.Subnet().Contains(ip) || ip == n.Gateway() {
		return fmt.Errorf("hostnet: pin %s: %s is not a seat address of %s", name, ip, n.Subnet())
	}
	steps := [][]string{
		{"bridge", "fdb", "replace", mac, "dev", name, "master", "static"},
		{"ip", "link", "set", "dev", name, "type", "bridge_slave", "flood", "off", "mcast_flood", "off"},
		{"ip", "neigh", "replace", ip.String(), "lladdr", mac, "dev", n.cfg.Bridge, "nud", "permanent"},
	}
	for _, s := range steps {
		if _, err := n.run(ctx, nil, s[0], s[1:]...); err != nil {
			return fmt.Errorf("hostnet: pin %s: %w", name, err)
		}
	}
	return nil
}

// RemoveTap deletes a TAP device. A missing device is not an error.
func (n *Net) RemoveTap(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if !linkExists(name) {
		return nil
	}
	if _, err := n.run(ctx, nil, "ip", "link", "del", "dev", name); err != nil && linkExists(name) {
		return fmt.Errorf("hostnet: remove tap: %w", err)
	}
	return nil
}

// Teardown removes the firewall hooks and chains and the bridge. It is for
// decommissioning a host; seats' TAPs are removed by RemoveTap.
func (n *Net) Teardown(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	jumps := n.Jumps()
	for _, table := range []string{"filter", "nat"} {
		for _, j := range jumps[table] {
			spec := strings.Fields(j)[1:]
			del := append([]string{"-w", "-t", table, "-D"}, spec...)
			for i := 0; i < 16; i++ { // remove duplicates someone else added too
				if _, err := n.run(ctx, nil, "iptables", del...); err != nil {
					break
				}
			}
		}
	}
	// The forward chain (which jumps to the allow chain) goes first.
	for table, chains := range map[string][]string{"filter": {ChainInput, ChainForward, ChainAllow}, "nat": {ChainNAT}} {
		for _, c := range chains {
			if _, err := n.run(ctx, nil, "iptables", "-w", "-t", table, "-S", c); err != nil {
				continue // absent
			}
			if _, err := n.run(ctx, nil, "iptables", "-w", "-t", table, "-F", c); err != nil {
				errs = append(errs, err)
			}
			if _, err := n.run(ctx, nil, "iptables", "-w", "-t", table, "-X", c); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if linkExists(n.cfg.Bridge) {
		if _, err := n.run(ctx, nil, "ip", "link", "del", "dev", n.cfg.Bridge); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("hostnet: teardown: %w", err)
	}
	return nil
}

func checkName(name string) error {
	if name == "" || len(name) > 15 || strings.ContainsAny(name, "/ \t\n:") || name == "." || name == ".." {
		return fmt.Errorf("hostnet: bad interface name %q", name)
	}
	return nil
}
